//! `PUT /admin/api/v1/fleet/…`: the console's fleet forms for programs. A body is read the way
//! its form is (`fleet_forms`: the same checked constructors, the same sealing of secrets,
//! an absent secret keeping the stored one) and written as a fleet of that one entity. Admin
//! tokens only (anyone else: `404`, as on the pages); every write is audited.

use super::fleet_edit::{
    device_choices, devices_against, may_write, secrets_set, write, Change, Target,
};
use super::fleet_forms::{device_from, drink_from, merchant_from, Editing, Fields};
use crate::console::http::{ApiCaller, Rejection};
use crate::console::{Caller, Console};
use crate::routes::json_failure;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use coffee_domain::ports::RepositoryError;
use coffee_domain::{DeviceUuid, DrinkNo, FleetChanges, MerchantKey, OrderStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

fn unavailable(error: RepositoryError) -> Rejection {
    tracing::error!(%error, "console fleet API failed");
    Rejection::Unavailable
}

fn not_found() -> HttpResponse {
    json_failure(crate::error::NOT_FOUND)
}

/// `422`: what the body breaks; nothing was written.
#[derive(Serialize, ToSchema)]
pub struct FleetProblemsJson {
    /// `invalid_fleet`.
    pub error: &'static str,
    pub message: String,
    /// Every problem: the body's own and every broken fleet rule.
    pub problems: Vec<String>,
}

fn refused(problems: Vec<String>) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(FleetProblemsJson {
        error: "invalid_fleet",
        message: "Не сохранено: нарушены правила парка.".to_owned(),
        problems,
    })
}

/// What the write did.
#[derive(Serialize, ToSchema)]
pub struct FleetWriteJson {
    /// `created`, `updated` or `unchanged`.
    pub result: &'static str,
}

fn written(changes: FleetChanges) -> HttpResponse {
    let (status, result) = if changes.inserted > 0 {
        (StatusCode::CREATED, "created")
    } else if changes.updated > 0 {
        (StatusCode::OK, "updated")
    } else {
        (StatusCode::OK, "unchanged")
    };
    HttpResponse::build(status).json(FleetWriteJson { result })
}

/// A merchant's YooKassa shop.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YookassaBody {
    pub shop_id: String,
    /// Write-only; absent: keep the stored key (required for a new shop).
    pub secret_key: Option<String>,
    /// 1–12.
    pub vat_code: u8,
    /// 1–6.
    pub tax_system_code: Option<u8>,
}

/// A merchant's T-Bank terminal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TbankBody {
    pub terminal_key: String,
    /// Write-only; absent: keep the stored password (required for a new terminal).
    pub password: Option<String>,
    pub taxation: String,
    pub vat: String,
    #[serde(default)]
    pub sbp: bool,
}

/// A merchant as `PUT` declares it: the whole of it (absent provider tables remove them),
/// secrets excepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantBody {
    pub name: String,
    pub contact_email: String,
    /// `YYYY-MM-DD`, inclusive.
    pub valid_until: String,
    /// `immediate` (default) or `after_dispense`.
    pub capture: Option<String>,
    /// `off`, `optional` (default) or `required`.
    pub receipt: Option<String>,
    pub yookassa: Option<YookassaBody>,
    pub tbank: Option<TbankBody>,
    #[serde(default)]
    pub disabled: bool,
}

impl MerchantBody {
    fn fields(&self) -> Fields {
        let mut f = vec![
            ("name", self.name.clone()),
            ("contact_email", self.contact_email.clone()),
            ("valid_until", self.valid_until.clone()),
            (
                "capture",
                self.capture.clone().unwrap_or_else(|| "immediate".into()),
            ),
            (
                "receipt",
                self.receipt.clone().unwrap_or_else(|| "optional".into()),
            ),
        ];
        if let Some(shop) = &self.yookassa {
            f.push(("yookassa_shop_id", shop.shop_id.clone()));
            f.push((
                "yookassa_secret_key",
                shop.secret_key.clone().unwrap_or_default(),
            ));
            f.push(("yookassa_vat_code", shop.vat_code.to_string()));
            f.push((
                "yookassa_tax_system_code",
                shop.tax_system_code
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ));
        }
        if let Some(terminal) = &self.tbank {
            f.push(("tbank_terminal_key", terminal.terminal_key.clone()));
            f.push((
                "tbank_password",
                terminal.password.clone().unwrap_or_default(),
            ));
            f.push(("tbank_taxation", terminal.taxation.clone()));
            f.push(("tbank_vat", terminal.vat.clone()));
            if terminal.sbp {
                f.push(("tbank_sbp", "1".into()));
            }
        }
        Fields(f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// A device as `PUT` declares it, its report key excepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    pub merchant: String,
    #[serde(default)]
    pub location: String,
    /// `sandbox`, `yookassa`, `tbank` or `custom`.
    pub provider: String,
    pub redirect_url: Option<String>,
    /// `simulated`, `tmetr`, `mqtt` or `mqtt-legacy`.
    pub machine: String,
    #[serde(default)]
    pub test: bool,
    /// Default 180.
    pub dispense_deadline_seconds: Option<u32>,
    /// `fail_and_refund` or `assume_success`; absent: the default for the machine.
    pub on_dispense_deadline: Option<String>,
    /// Write-only; absent: keep the stored key.
    pub events_secret: Option<String>,
    pub logo_url: Option<String>,
    pub client_info: Option<String>,
    pub client_error_info: Option<String>,
    /// Our status names to the device's own text.
    #[serde(default)]
    pub status_texts: BTreeMap<String, String>,
    #[serde(default)]
    pub disabled: bool,
}

impl DeviceBody {
    fn fields(&self) -> (Fields, Vec<String>) {
        let mut f = vec![
            ("merchant".to_owned(), self.merchant.clone()),
            ("location".to_owned(), self.location.clone()),
            ("provider".to_owned(), self.provider.clone()),
            (
                "redirect_url".to_owned(),
                self.redirect_url.clone().unwrap_or_default(),
            ),
            ("machine".to_owned(), self.machine.clone()),
            (
                "dispense_deadline_seconds".to_owned(),
                self.dispense_deadline_seconds.unwrap_or(180).to_string(),
            ),
            (
                "on_dispense_deadline".to_owned(),
                self.on_dispense_deadline.clone().unwrap_or_default(),
            ),
            (
                "events_secret".to_owned(),
                self.events_secret.clone().unwrap_or_default(),
            ),
            (
                "logo_url".to_owned(),
                self.logo_url.clone().unwrap_or_default(),
            ),
            (
                "client_info".to_owned(),
                self.client_info.clone().unwrap_or_default(),
            ),
            (
                "client_error_info".to_owned(),
                self.client_error_info.clone().unwrap_or_default(),
            ),
        ];
        if self.test {
            f.push(("test".to_owned(), "1".to_owned()));
        }
        let mut problems = Vec::new();
        for (status, text) in &self.status_texts {
            match OrderStatus::parse(status) {
                Some(status) => f.push((format!("status_text_{}", status.as_str()), text.clone())),
                None => problems.push(format!(
                    "status_texts.{status} is not a status (one of {})",
                    OrderStatus::ALL.map(OrderStatus::as_str).join(", ")
                )),
            }
        }
        (Fields(f), problems)
    }
}

/// Prices in rubles as decimal strings (`"150.00"`), exactly; an absent size is not sold.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricesBody {
    pub small: Option<String>,
    pub medium: Option<String>,
    pub big: Option<String>,
}

/// A drink as `PUT` declares it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrinkBody {
    pub name: String,
    pub prices: PricesBody,
    pub vat_code: Option<u8>,
    pub measure: Option<String>,
    pub payment_subject: Option<String>,
    pub payment_mode: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

impl DrinkBody {
    fn fields(&self) -> Fields {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Fields(
            [
                ("name", self.name.clone()),
                ("price_small", text(&self.prices.small)),
                ("price_medium", text(&self.prices.medium)),
                ("price_big", text(&self.prices.big)),
                (
                    "vat_code",
                    self.vat_code.map(|c| c.to_string()).unwrap_or_default(),
                ),
                ("measure", text(&self.measure)),
                ("payment_subject", text(&self.payment_subject)),
                ("payment_mode", text(&self.payment_mode)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        )
    }
}

/// Writes and audits the entity (`note` names the secrets set), answering as the API does.
async fn saved(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    entity: Target,
    note: &str,
) -> Result<HttpResponse, Rejection> {
    let note = format!("{note} через API");
    match write(state, console, caller, entity, Change::Save, &note).await? {
        Ok(changes) => Ok(written(changes)),
        Err(why) => Ok(refused(vec![why])),
    }
}

/// `PUT /admin/api/v1/fleet/merchants/{key}`: creates or replaces a merchant.
#[utoipa::path(put, path = "/admin/api/v1/fleet/merchants/{key}", tag = "console",
    params(("key" = String, Path, description = "the merchant's key (fixed once created)")),
    request_body = MerchantBody,
    responses(
        (status = 200, body = FleetWriteJson, description = "updated or unchanged"),
        (status = 201, body = FleetWriteJson, description = "created"),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError, description = "not an admin token"),
        (status = 422, body = FleetProblemsJson, description = "broken fleet rules: nothing was written"),
    ),
    security(("bearer" = [])))]
pub async fn put_merchant(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    body: web::Json<MerchantBody>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found());
    }
    let key = match MerchantKey::parse(&path) {
        Ok(key) => key,
        Err(error) => return Ok(refused(vec![format!("ключ: {error}")])),
    };
    let stored = state.catalog.merchant(&key).await.map_err(unavailable)?;
    let fields = body.fields();
    let editing = Editing {
        key: Some(&key),
        stored: stored.as_ref(),
    };
    let mut merchant = match merchant_from(&fields, editing, &state.secrets) {
        Ok(merchant) => merchant,
        Err(problems) => return Ok(refused(problems)),
    };
    merchant.disabled = body.disabled;
    let problems = devices_against(&state, &merchant).await?;
    if !problems.is_empty() {
        return Ok(refused(problems));
    }
    let secrets = secrets_set(&fields, &["yookassa_secret_key", "tbank_password"]);
    let merchant = Target::Merchant(merchant);
    saved(&state, &console, &caller, merchant, &secrets).await
}

/// `PUT /admin/api/v1/fleet/devices/{uuid}`: creates or replaces a device.
#[utoipa::path(put, path = "/admin/api/v1/fleet/devices/{uuid}", tag = "console",
    params(("uuid" = String, Path, description = "the device's uuid (fixed once created)")),
    request_body = DeviceBody,
    responses(
        (status = 200, body = FleetWriteJson, description = "updated or unchanged"),
        (status = 201, body = FleetWriteJson, description = "created"),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError, description = "not an admin token"),
        (status = 422, body = FleetProblemsJson, description = "broken fleet rules: nothing was written"),
    ),
    security(("bearer" = [])))]
pub async fn put_device(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    body: web::Json<DeviceBody>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found());
    }
    let id = match DeviceUuid::parse(&path) {
        Ok(id) => id,
        Err(error) => return Ok(refused(vec![format!("uuid автомата: {error}")])),
    };
    let stored = state.catalog.device(&id).await.map_err(unavailable)?;
    let merchants = state.catalog.merchants().await.map_err(unavailable)?;
    let (fields, mut problems) = body.fields();
    let editing = Editing {
        key: Some(&id),
        stored: stored.as_ref(),
    };
    let checked = device_from(
        &fields,
        editing,
        &merchants,
        device_choices(&state),
        &state.secrets,
    );
    let mut device = match checked {
        Ok(device) if problems.is_empty() => device,
        Ok(_) => return Ok(refused(problems)),
        Err(broken) => {
            problems.extend(broken);
            return Ok(refused(problems));
        }
    };
    device.disabled = body.disabled;
    let secrets = secrets_set(&fields, &["events_secret"]);
    saved(&state, &console, &caller, Target::Device(device), &secrets).await
}

/// `PUT /admin/api/v1/fleet/devices/{uuid}/drinks/{no}`: creates or replaces a drink of a
/// stored device.
#[utoipa::path(put, path = "/admin/api/v1/fleet/devices/{uuid}/drinks/{no}", tag = "console",
    params(
        ("uuid" = String, Path, description = "the device's uuid"),
        ("no" = String, Path, description = "the drink's number (the QR's drinkNo)"),
    ),
    request_body = DrinkBody,
    responses(
        (status = 200, body = FleetWriteJson, description = "updated or unchanged"),
        (status = 201, body = FleetWriteJson, description = "created"),
        (status = 401, body = crate::openapi::ApiError),
        (status = 404, body = crate::openapi::ApiError, description = "unknown device, or not an admin token"),
        (status = 422, body = FleetProblemsJson, description = "broken fleet rules: nothing was written"),
    ),
    security(("bearer" = [])))]
pub async fn put_drink(
    ApiCaller(caller): ApiCaller,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    body: web::Json<DrinkBody>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found());
    }
    let (id, no) = path.into_inner();
    let Ok(id) = DeviceUuid::parse(&id) else {
        return Ok(not_found());
    };
    if state
        .catalog
        .device(&id)
        .await
        .map_err(unavailable)?
        .is_none()
    {
        return Ok(not_found());
    }
    let no = match DrinkNo::parse(&no) {
        Ok(no) => no,
        Err(error) => return Ok(refused(vec![format!("номер напитка: {error}")])),
    };
    let stored = state.catalog.drink(&id, &no).await.map_err(unavailable)?;
    let editing = Editing {
        key: Some(&no),
        stored: stored.as_ref(),
    };
    let mut drink = match drink_from(&body.fields(), &id, editing) {
        Ok(drink) => drink,
        Err(problems) => return Ok(refused(problems)),
    };
    drink.disabled = body.disabled;
    saved(&state, &console, &caller, Target::Drink(drink), "").await
}
