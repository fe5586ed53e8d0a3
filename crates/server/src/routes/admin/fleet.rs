//! `/admin/fleet`: merchants, devices and drinks as stored. Secrets — provider keys,
//! passwords, device report keys — are never shown, only whether they are set.

use super::views::rub;
use super::{page, CallerView};
use crate::console::http::{Operator, Rejection};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use coffee_domain::{CaptureMode, ReceiptPolicy, Size};
use serde::Serialize;

#[derive(Serialize)]
struct MerchantView {
    key: String,
    name: String,
    contact_email: String,
    valid_until: String,
    capture: &'static str,
    receipt: &'static str,
    yookassa: String,
    tbank: String,
}

#[derive(Serialize)]
struct DrinkView {
    drink_no: String,
    name: String,
    prices: String,
}

#[derive(Serialize)]
struct DeviceView {
    device_uuid: String,
    merchant: String,
    location: String,
    provider: &'static str,
    machine: String,
    report_key: &'static str,
    drinks: Vec<DrinkView>,
}

#[derive(Serialize)]
struct FleetPage {
    caller: CallerView,
    merchants: Vec<MerchantView>,
    devices: Vec<DeviceView>,
}

/// `GET /admin/fleet`.
pub async fn show(
    Operator(caller): Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    let unavailable = |error: coffee_domain::ports::RepositoryError| {
        tracing::error!(%error, "console fleet page failed");
        Rejection::Unavailable
    };
    let devices: Vec<_> = state
        .catalog
        .devices()
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|d| caller.role.may_see(&d.merchant))
        .collect();
    let mut keys: Vec<_> = devices.iter().map(|d| d.merchant.clone()).collect();
    if let Some(own) = caller.role.merchant() {
        keys.push(own.clone());
    }
    keys.sort();
    keys.dedup();
    let mut merchants = Vec::new();
    for key in keys {
        if let Some(m) = state.catalog.merchant(&key).await.map_err(unavailable)? {
            merchants.push(MerchantView {
                key: m.key.to_string(),
                name: m.name.clone(),
                contact_email: m.contact_email.clone(),
                valid_until: m.valid_until.format("%Y-%m-%d").to_string(),
                capture: match m.capture {
                    CaptureMode::Immediate => "сразу",
                    CaptureMode::AfterDispense => "после выдачи",
                },
                receipt: match m.receipt {
                    ReceiptPolicy::Off => "нет",
                    ReceiptPolicy::Optional => "по желанию",
                    ReceiptPolicy::Required => "обязателен",
                },
                yookassa: m.yookassa.as_ref().map_or_else(String::new, |shop| {
                    format!("магазин {}, секретный ключ задан", shop.shop_id)
                }),
                tbank: m.tbank.as_ref().map_or_else(String::new, |terminal| {
                    format!("терминал {}, пароль задан", terminal.terminal_key)
                }),
            });
        }
    }
    let mut views = Vec::new();
    for device in devices {
        let drinks = state
            .catalog
            .drinks(&device.device_uuid)
            .await
            .map_err(unavailable)?;
        views.push(DeviceView {
            device_uuid: device.device_uuid.to_string(),
            merchant: device.merchant.to_string(),
            location: device.location.clone(),
            provider: device.provider.as_str(),
            machine: format!("{:?}", device.machine).to_lowercase(),
            report_key: if device.events_secret.is_some() {
                "задан"
            } else {
                "—"
            },
            drinks: drinks
                .iter()
                .map(|drink| DrinkView {
                    drink_no: drink.drink_no.to_string(),
                    name: drink.name.clone(),
                    prices: Size::ALL
                        .into_iter()
                        .filter_map(|size| {
                            drink
                                .prices
                                .get(size)
                                .map(|p| format!("{} {}", size.label_ru(), rub(p.kopecks())))
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                })
                .collect(),
        });
    }
    Ok(page(
        &state,
        "admin/fleet.html",
        &FleetPage {
            caller: CallerView::of(&caller),
            merchants,
            devices: views,
        },
    ))
}
