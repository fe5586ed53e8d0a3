//! `/admin/fleet`: merchants, devices and drinks as stored. Secrets — provider keys,
//! passwords, device report keys — are never shown, only whether and when they were set.
//! An admin gets the links to create, edit and switch off or on (`fleet_edit`).

use super::fleet_edit::{secret_state, segment};
use super::views::rub;
use super::{page, CallerView};
use crate::console::http::{Operator, Rejection};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use coffee_domain::{CaptureMode, ReceiptPolicy, Size};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct MerchantView {
    key: String,
    /// The key as a path segment.
    path: String,
    disabled: bool,
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
    path: String,
    disabled: bool,
    name: String,
    prices: String,
}

#[derive(Serialize)]
struct DeviceView {
    device_uuid: String,
    path: String,
    disabled: bool,
    merchant: String,
    location: String,
    provider: &'static str,
    machine: String,
    report_key: String,
    drinks: Vec<DrinkView>,
}

#[derive(Serialize)]
struct FleetPage {
    caller: CallerView,
    merchants: Vec<MerchantView>,
    devices: Vec<DeviceView>,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FleetQuery {
    #[serde(default)]
    result: String,
}

/// `GET /admin/fleet`.
pub async fn show(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    query: web::Query<FleetQuery>,
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
    let stored: Vec<_> = match caller.role.merchant() {
        Some(own) => state
            .catalog
            .merchant(own)
            .await
            .map_err(unavailable)?
            .into_iter()
            .collect(),
        None => state.catalog.merchants().await.map_err(unavailable)?,
    };
    let mut merchants = Vec::new();
    for m in stored {
        merchants.push(MerchantView {
            key: m.key.to_string(),
            path: segment(m.key.as_str()),
            disabled: m.disabled,
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
                format!(
                    "магазин {}, секретный ключ {}",
                    shop.shop_id,
                    secret_state(Some(&shop.secret_key))
                )
            }),
            tbank: m.tbank.as_ref().map_or_else(String::new, |terminal| {
                format!(
                    "терминал {}, пароль {}",
                    terminal.terminal_key,
                    secret_state(Some(&terminal.password))
                )
            }),
        });
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
            path: segment(device.device_uuid.as_str()),
            disabled: device.disabled,
            merchant: device.merchant.to_string(),
            location: device.location.clone(),
            provider: device.provider.as_str(),
            machine: format!("{:?}", device.machine).to_lowercase(),
            report_key: secret_state(device.events_secret.as_ref()),
            drinks: drinks
                .iter()
                .map(|drink| DrinkView {
                    drink_no: drink.drink_no.to_string(),
                    path: segment(drink.drink_no.as_str()),
                    disabled: drink.disabled,
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
            notice: match query.result.as_str() {
                "created" => Some("Добавлено."),
                "saved" => Some("Сохранено."),
                "disabled" => Some("Отключено: новых заказов не будет."),
                "enabled" => Some("Включено."),
                _ => None,
            },
        },
    ))
}
