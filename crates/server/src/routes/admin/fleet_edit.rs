//! `/admin/fleet/…`: an admin creates, edits, switches off and on merchants, devices and
//! drinks. Every form is CSRF-checked and read through the domain's checked constructors
//! (`fleet_forms`); a refused form comes back (422) with every problem and the input kept,
//! secrets excepted. What passes is written with `CatalogRepository::apply_fleet` — a fleet of
//! that one entity, so the store runs the same checks as for a fleet file — and audited.
//! A merchant account may not write: every route answers it 404, like an unknown id.

use super::fleet_forms::{
    device_from, device_values, drink_from, drink_values, machine_code, merchant_from,
    merchant_values, DeviceChoices, Editing, Fields, MACHINES, PROVIDERS,
};
use super::views::msk_day;
use super::{page_with_status, CallerView};
use crate::console::http::{check_csrf, Operator, Rejection};
use crate::console::{Caller, Console};
use crate::routes::html_failure;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use coffee_domain::branding::{RECEIPT_MEASURES, RECEIPT_PAYMENT_MODES, RECEIPT_PAYMENT_SUBJECTS};
use coffee_domain::ports::RepositoryError;
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, Merchant, MerchantKey, OrderStatus,
    SealedSecret, TBANK_TAXATIONS, TBANK_VATS,
};
use serde::Serialize;
use std::collections::BTreeMap;

fn unavailable(error: RepositoryError) -> Rejection {
    tracing::error!(%error, "console fleet change failed");
    Rejection::Unavailable
}

fn not_found(state: &AppState) -> HttpResponse {
    html_failure(state, crate::error::NOT_FOUND)
}

/// A path segment, percent-encoded (keys may hold any printable character). The result
/// holds only `A-Z a-z 0-9 - _ . ~ %`: the templates put paths built of it into `action`
/// attributes unescaped.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// «задан 2026-12-01» (the Moscow day it was set), «задан» when that was not recorded, or
/// «не задан».
pub fn secret_state(secret: Option<&SealedSecret>) -> String {
    match secret {
        None => "не задан".to_owned(),
        Some(secret) => match secret.set_at() {
            Some(at) => format!("задан {}", msk_day(at).format("%Y-%m-%d")),
            None => "задан".to_owned(),
        },
    }
}

fn back_to_fleet(result: &str, anchor: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/admin/fleet?result={result}#{anchor}"),
        ))
        .finish()
}

/// Writes a fleet of one entity. `Ok(Err(why))` when the store refuses it (a rule, or a
/// reference that no longer resolves): nothing was written.
async fn apply(state: &AppState, fleet: Fleet) -> Result<Result<FleetChanges, String>, Rejection> {
    match state.catalog.apply_fleet(&fleet, state.clock.now()).await {
        Ok(changes) => Ok(Ok(changes)),
        Err(RepositoryError::Invalid(why) | RepositoryError::NotFound(why)) => Ok(Err(why)),
        Err(error) => Err(unavailable(error)),
    }
}

/// Only an admin writes the fleet; anyone else is answered 404, like an unknown id.
pub(super) fn may_write(caller: &Caller) -> bool {
    caller.role.is_admin()
}

#[derive(Serialize)]
struct Choice {
    code: String,
    label: String,
}

fn choices<'a>(codes: impl IntoIterator<Item = &'a str>) -> Vec<Choice> {
    codes
        .into_iter()
        .map(|code| Choice {
            code: code.to_owned(),
            label: code.to_owned(),
        })
        .collect()
}

// ---- merchants ---------------------------------------------------------------------------

#[derive(Serialize)]
struct MerchantForm {
    caller: CallerView,
    /// `None` for a new merchant.
    key: Option<String>,
    action: String,
    values: BTreeMap<String, String>,
    problems: Vec<String>,
    yookassa_secret: String,
    tbank_password: String,
    taxations: Vec<Choice>,
    vats: Vec<Choice>,
}

fn merchant_form(
    state: &AppState,
    caller: &Caller,
    stored: Option<&Merchant>,
    values: BTreeMap<String, String>,
    problems: Vec<String>,
) -> HttpResponse {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let key = stored.map(|m| m.key.to_string());
    let action = match &key {
        Some(key) => format!("/admin/fleet/merchants/{}/edit", segment(key)),
        None => "/admin/fleet/merchants/new".to_owned(),
    };
    page_with_status(
        state,
        status,
        "admin/fleet_merchant.html",
        &MerchantForm {
            caller: CallerView::of(caller),
            key,
            action,
            values,
            problems,
            yookassa_secret: secret_state(
                stored
                    .and_then(|m| m.yookassa.as_ref())
                    .map(|y| &y.secret_key),
            ),
            tbank_password: secret_state(
                stored.and_then(|m| m.tbank.as_ref()).map(|t| &t.password),
            ),
            taxations: choices(TBANK_TAXATIONS),
            vats: choices(TBANK_VATS),
        },
    )
}

async fn stored_merchant(state: &AppState, key: &str) -> Result<Option<Merchant>, Rejection> {
    let Ok(key) = MerchantKey::parse(key) else {
        return Ok(None);
    };
    state.catalog.merchant(&key).await.map_err(unavailable)
}

/// `GET /admin/fleet/merchants/new`.
pub async fn new_merchant(
    Operator(caller): Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    Ok(merchant_form(
        &state,
        &caller,
        None,
        merchant_values(None),
        Vec::new(),
    ))
}

/// `GET /admin/fleet/merchants/{key}/edit`.
pub async fn edit_merchant(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    let Some(stored) = stored_merchant(&state, &path).await? else {
        return Ok(not_found(&state));
    };
    Ok(merchant_form(
        &state,
        &caller,
        Some(&stored),
        merchant_values(Some(&stored)),
        Vec::new(),
    ))
}

/// `POST /admin/fleet/merchants/new`.
pub async fn create_merchant(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    save_merchant(&state, &console, &caller, None, Fields(form.into_inner())).await
}

/// `POST /admin/fleet/merchants/{key}/edit`.
pub async fn update_merchant(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    save_merchant(
        &state,
        &console,
        &caller,
        Some(&path),
        Fields(form.into_inner()),
    )
    .await
}

async fn save_merchant(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    key: Option<&str>,
    fields: Fields,
) -> Result<HttpResponse, Rejection> {
    check_csrf(caller, fields.get("csrf"))?;
    if !may_write(caller) {
        return Ok(not_found(state));
    }
    let stored = match key {
        Some(key) => match stored_merchant(state, key).await? {
            Some(stored) => Some(stored),
            None => return Ok(not_found(state)),
        },
        None => None,
    };
    let refused = |problems: Vec<String>| {
        merchant_form(state, caller, stored.as_ref(), fields.shown(), problems)
    };
    if stored.is_none() {
        if let Some(existing) = stored_merchant(state, fields.get("key")).await? {
            return Ok(refused(vec![format!(
                "мерчант с ключом «{}» уже есть",
                existing.key
            )]));
        }
    }
    let editing = Editing {
        key: stored.as_ref().map(|m| &m.key),
        stored: stored.as_ref(),
    };
    let merchant = match merchant_from(&fields, editing, &state.secrets) {
        Ok(merchant) => merchant,
        Err(problems) => return Ok(refused(problems)),
    };
    let problems = match stored {
        Some(_) => devices_against(state, &merchant).await?,
        None => Vec::new(),
    };
    if !problems.is_empty() {
        return Ok(refused(problems));
    }
    let secrets_changed = secrets_set(&fields, &["yookassa_secret_key", "tbank_password"]);
    let merchant = Target::Merchant(merchant);
    let anchor = merchant.anchor();
    match write(
        state,
        console,
        caller,
        merchant,
        Change::Save,
        &secrets_changed,
    )
    .await?
    {
        Ok(changes) => Ok(saved(changes, &anchor)),
        Err(why) => Ok(refused(vec![why])),
    }
}

/// What the merchant's stored devices break with the merchant as it becomes (a YooKassa
/// device needs the shop it pays into).
pub(super) async fn devices_against(
    state: &AppState,
    merchant: &Merchant,
) -> Result<Vec<String>, Rejection> {
    let devices = state.catalog.devices().await.map_err(unavailable)?;
    let mut problems = Vec::new();
    for device in devices.into_iter().filter(|d| d.merchant == merchant.key) {
        let id = device.device_uuid.clone();
        if let Err(broken) = device.checked(Some(merchant)) {
            problems.extend(broken.iter().map(|rule| format!("автомат {id}: {rule}")));
        }
    }
    Ok(problems)
}

/// `, заданы заново: yookassa_secret_key` for the secret fields filled in (never their
/// values), for the audit line.
pub(super) fn secrets_set(fields: &Fields, names: &[&str]) -> String {
    let set: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !fields.get(name).trim().is_empty())
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(", задан заново: {}", set.join(", "))
    }
}

// ---- devices -----------------------------------------------------------------------------

#[derive(Serialize)]
struct DeviceForm {
    caller: CallerView,
    key: Option<String>,
    action: String,
    values: BTreeMap<String, String>,
    problems: Vec<String>,
    events_secret: String,
    merchants: Vec<Choice>,
    providers: Vec<Choice>,
    machines: Vec<Choice>,
    statuses: Vec<Choice>,
}

pub(super) fn device_choices(state: &AppState) -> DeviceChoices {
    DeviceChoices {
        sandbox_allowed: state.sandbox.is_some(),
    }
}

fn device_form(
    state: &AppState,
    caller: &Caller,
    stored: Option<&Device>,
    merchants: &[Merchant],
    values: BTreeMap<String, String>,
    problems: Vec<String>,
) -> HttpResponse {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let key = stored.map(|d| d.device_uuid.to_string());
    let action = match &key {
        Some(key) => format!("/admin/fleet/devices/{}/edit", segment(key)),
        None => "/admin/fleet/devices/new".to_owned(),
    };
    let sandbox = device_choices(state).sandbox_allowed;
    page_with_status(
        state,
        status,
        "admin/fleet_device.html",
        &DeviceForm {
            caller: CallerView::of(caller),
            key,
            action,
            values,
            problems,
            events_secret: secret_state(stored.and_then(|d| d.events_secret.as_ref())),
            merchants: merchants
                .iter()
                .map(|m| Choice {
                    code: m.key.to_string(),
                    label: format!("{} — {}", m.key, m.name),
                })
                .collect(),
            providers: choices(
                PROVIDERS
                    .into_iter()
                    .filter(|p| sandbox || *p != coffee_domain::ProviderKind::Sandbox)
                    .map(coffee_domain::ProviderKind::as_str),
            ),
            machines: choices(
                MACHINES
                    .into_iter()
                    .filter(|m| sandbox || *m != coffee_domain::MachineKind::Simulated)
                    .map(machine_code),
            ),
            statuses: OrderStatus::ALL
                .into_iter()
                .map(|s| Choice {
                    code: s.as_str().to_owned(),
                    label: super::views::status_label(s).to_owned(),
                })
                .collect(),
        },
    )
}

async fn stored_device(state: &AppState, id: &str) -> Result<Option<Device>, Rejection> {
    let Ok(id) = DeviceUuid::parse(id) else {
        return Ok(None);
    };
    state.catalog.device(&id).await.map_err(unavailable)
}

/// `GET /admin/fleet/devices/new`.
pub async fn new_device(
    Operator(caller): Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    let merchants = state.catalog.merchants().await.map_err(unavailable)?;
    Ok(device_form(
        &state,
        &caller,
        None,
        &merchants,
        device_values(None),
        Vec::new(),
    ))
}

/// `GET /admin/fleet/devices/{uuid}/edit`.
pub async fn edit_device(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    let Some(stored) = stored_device(&state, &path).await? else {
        return Ok(not_found(&state));
    };
    let merchants = state.catalog.merchants().await.map_err(unavailable)?;
    Ok(device_form(
        &state,
        &caller,
        Some(&stored),
        &merchants,
        device_values(Some(&stored)),
        Vec::new(),
    ))
}

/// `POST /admin/fleet/devices/new`.
pub async fn create_device(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    save_device(&state, &console, &caller, None, Fields(form.into_inner())).await
}

/// `POST /admin/fleet/devices/{uuid}/edit`.
pub async fn update_device(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    save_device(
        &state,
        &console,
        &caller,
        Some(&path),
        Fields(form.into_inner()),
    )
    .await
}

async fn save_device(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    id: Option<&str>,
    fields: Fields,
) -> Result<HttpResponse, Rejection> {
    check_csrf(caller, fields.get("csrf"))?;
    if !may_write(caller) {
        return Ok(not_found(state));
    }
    let stored = match id {
        Some(id) => match stored_device(state, id).await? {
            Some(stored) => Some(stored),
            None => return Ok(not_found(state)),
        },
        None => None,
    };
    let merchants = state.catalog.merchants().await.map_err(unavailable)?;
    let refused = |problems: Vec<String>| {
        device_form(
            state,
            caller,
            stored.as_ref(),
            &merchants,
            fields.shown(),
            problems,
        )
    };
    if stored.is_none() {
        if let Some(existing) = stored_device(state, fields.get("device_uuid")).await? {
            return Ok(refused(vec![format!(
                "автомат «{}» уже есть",
                existing.device_uuid
            )]));
        }
    }
    let editing = Editing {
        key: stored.as_ref().map(|d| &d.device_uuid),
        stored: stored.as_ref(),
    };
    let device = match device_from(
        &fields,
        editing,
        &merchants,
        device_choices(state),
        &state.secrets,
    ) {
        Ok(device) => device,
        Err(problems) => return Ok(refused(problems)),
    };
    let secrets_changed = secrets_set(&fields, &["events_secret"]);
    let device = Target::Device(device);
    let anchor = device.anchor();
    match write(
        state,
        console,
        caller,
        device,
        Change::Save,
        &secrets_changed,
    )
    .await?
    {
        Ok(changes) => Ok(saved(changes, &anchor)),
        Err(why) => Ok(refused(vec![why])),
    }
}

// ---- drinks ------------------------------------------------------------------------------

#[derive(Serialize)]
struct DrinkForm {
    caller: CallerView,
    device: String,
    key: Option<String>,
    action: String,
    values: BTreeMap<String, String>,
    problems: Vec<String>,
    measures: Vec<Choice>,
    subjects: Vec<Choice>,
    modes: Vec<Choice>,
}

fn drink_form(
    state: &AppState,
    caller: &Caller,
    device: &DeviceUuid,
    stored: Option<&Drink>,
    values: BTreeMap<String, String>,
    problems: Vec<String>,
) -> HttpResponse {
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let key = stored.map(|d| d.drink_no.to_string());
    let base = format!("/admin/fleet/devices/{}/drinks", segment(device.as_str()));
    let action = match &key {
        Some(key) => format!("{base}/{}/edit", segment(key)),
        None => format!("{base}/new"),
    };
    page_with_status(
        state,
        status,
        "admin/fleet_drink.html",
        &DrinkForm {
            caller: CallerView::of(caller),
            device: device.to_string(),
            key,
            action,
            values,
            problems,
            measures: choices(RECEIPT_MEASURES),
            subjects: choices(RECEIPT_PAYMENT_SUBJECTS),
            modes: choices(RECEIPT_PAYMENT_MODES),
        },
    )
}

async fn stored_drink(
    state: &AppState,
    device: &DeviceUuid,
    no: &str,
) -> Result<Option<Drink>, Rejection> {
    let Ok(no) = DrinkNo::parse(no) else {
        return Ok(None);
    };
    state.catalog.drink(device, &no).await.map_err(unavailable)
}

/// `GET /admin/fleet/devices/{uuid}/drinks/new`.
pub async fn new_drink(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    let Some(device) = stored_device(&state, &path).await? else {
        return Ok(not_found(&state));
    };
    Ok(drink_form(
        &state,
        &caller,
        &device.device_uuid,
        None,
        drink_values(None),
        Vec::new(),
    ))
}

/// `GET /admin/fleet/devices/{uuid}/drinks/{no}/edit`.
pub async fn edit_drink(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection> {
    if !may_write(&caller) {
        return Ok(not_found(&state));
    }
    let (device, no) = path.into_inner();
    let Some(device) = stored_device(&state, &device).await? else {
        return Ok(not_found(&state));
    };
    let Some(stored) = stored_drink(&state, &device.device_uuid, &no).await? else {
        return Ok(not_found(&state));
    };
    Ok(drink_form(
        &state,
        &caller,
        &device.device_uuid,
        Some(&stored),
        drink_values(Some(&stored)),
        Vec::new(),
    ))
}

/// `POST /admin/fleet/devices/{uuid}/drinks/new`.
pub async fn create_drink(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    save_drink(
        &state,
        &console,
        &caller,
        &path,
        None,
        Fields(form.into_inner()),
    )
    .await
}

/// `POST /admin/fleet/devices/{uuid}/drinks/{no}/edit`.
pub async fn update_drink(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, Rejection> {
    let (device, no) = path.into_inner();
    save_drink(
        &state,
        &console,
        &caller,
        &device,
        Some(&no),
        Fields(form.into_inner()),
    )
    .await
}

async fn save_drink(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    device: &str,
    no: Option<&str>,
    fields: Fields,
) -> Result<HttpResponse, Rejection> {
    check_csrf(caller, fields.get("csrf"))?;
    if !may_write(caller) {
        return Ok(not_found(state));
    }
    let Some(device) = stored_device(state, device).await? else {
        return Ok(not_found(state));
    };
    let device = device.device_uuid;
    let stored = match no {
        Some(no) => match stored_drink(state, &device, no).await? {
            Some(stored) => Some(stored),
            None => return Ok(not_found(state)),
        },
        None => None,
    };
    let refused = |problems: Vec<String>| {
        drink_form(
            state,
            caller,
            &device,
            stored.as_ref(),
            fields.shown(),
            problems,
        )
    };
    if stored.is_none() {
        if let Some(existing) = stored_drink(state, &device, fields.get("drink_no")).await? {
            return Ok(refused(vec![format!(
                "напиток №{} у этого автомата уже есть",
                existing.drink_no
            )]));
        }
    }
    let editing = Editing {
        key: stored.as_ref().map(|d| &d.drink_no),
        stored: stored.as_ref(),
    };
    let drink = match drink_from(&fields, &device, editing) {
        Ok(drink) => drink,
        Err(problems) => return Ok(refused(problems)),
    };
    let drink = Target::Drink(drink);
    let anchor = drink.anchor();
    match write(state, console, caller, drink, Change::Save, "").await? {
        Ok(changes) => Ok(saved(changes, &anchor)),
        Err(why) => Ok(refused(vec![why])),
    }
}

// ---- switching off and on ----------------------------------------------------------------

/// One merchant, device or drink: what a form, an API call or a switch writes.
pub(super) enum Target {
    Merchant(Merchant),
    Device(Device),
    Drink(Drink),
}

impl Target {
    fn what(&self) -> String {
        match self {
            Target::Merchant(m) => format!("мерчант «{}» ({})", m.name, m.key),
            Target::Device(d) => format!("автомат {}", d.device_uuid),
            Target::Drink(d) => {
                format!("напиток №{} «{}» автомата {}", d.drink_no, d.name, d.device)
            }
        }
    }

    fn path(&self) -> String {
        match self {
            Target::Merchant(m) => format!("/admin/fleet/merchants/{}", segment(m.key.as_str())),
            Target::Device(d) => {
                format!("/admin/fleet/devices/{}", segment(d.device_uuid.as_str()))
            }
            Target::Drink(d) => format!(
                "/admin/fleet/devices/{}/drinks/{}",
                segment(d.device.as_str()),
                segment(d.drink_no.as_str())
            ),
        }
    }

    fn anchor(&self) -> String {
        match self {
            Target::Merchant(m) => format!("m-{}", segment(m.key.as_str())),
            Target::Device(d) => format!("d-{}", segment(d.device_uuid.as_str())),
            Target::Drink(d) => format!("d-{}", segment(d.device.as_str())),
        }
    }

    fn warning(&self, off: bool) -> &'static str {
        match (self, off) {
            (Target::Merchant(_), true) => "Автоматы мерчанта перестанут принимать новые заказы: покупатель увидит ту же страницу, что и при истёкшей подписке. Уже начатые заказы, возвраты и отчёты продолжат работать.",
            (Target::Device(_), true) => "Автомат перестанет принимать новые заказы: покупатель увидит ту же страницу, что и при истёкшей подписке. Уже начатые заказы, возвраты и отчёты продолжат работать.",
            (Target::Drink(_), true) => "Напиток перестанет продаваться, как будто его нет в автомате. Уже начатые заказы не затронуты.",
            (_, false) => "Снова принимает новые заказы.",
        }
    }

    /// The entity switched off (`off`) or on.
    fn switched(&self, off: bool) -> Target {
        match self {
            Target::Merchant(m) => Target::Merchant(Merchant {
                disabled: off,
                ..m.clone()
            }),
            Target::Device(d) => Target::Device(Device {
                disabled: off,
                ..d.clone()
            }),
            Target::Drink(d) => Target::Drink(Drink {
                disabled: off,
                ..d.clone()
            }),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Target::Merchant(_) => "merchant",
            Target::Device(_) => "device",
            Target::Drink(_) => "drink",
        }
    }

    /// The device an audit line names, and the line's text.
    fn audited(&self) -> (Option<DeviceUuid>, String) {
        match self {
            Target::Merchant(m) => (None, format!("мерчант {}", m.key)),
            Target::Device(d) => (
                Some(d.device_uuid.clone()),
                format!("автомат {}, мерчант {}", d.device_uuid, d.merchant),
            ),
            Target::Drink(d) => (
                Some(d.device.clone()),
                format!("напиток {} автомата {}", d.drink_no, d.device),
            ),
        }
    }

    /// The entity as a fleet of one.
    fn into_fleet(self) -> Fleet {
        let mut fleet = Fleet::default();
        match self {
            Target::Merchant(m) => fleet.merchants.push(m),
            Target::Device(d) => fleet.devices.push(d),
            Target::Drink(d) => fleet.drinks.push(d),
        }
        fleet
    }
}

/// What a write does, as its audit line names it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    /// Created or edited (told apart by what the store did).
    Save,
    /// Switched off (`true`) or on.
    Switch(bool),
}

/// Writes one entity — from a form, the API or a switch — and audits it: the action
/// (`fleet_<kind>_create|edit|disable|enable`), the device, and the entity with `note` after
/// it. `Ok(Err(why))` when the store refuses it: nothing was written or audited.
pub(super) async fn write(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    entity: Target,
    change: Change,
    note: &str,
) -> Result<Result<FleetChanges, String>, Rejection> {
    let kind = entity.kind();
    let (device, detail) = entity.audited();
    let changes = match apply(state, entity.into_fleet()).await? {
        Ok(changes) => changes,
        Err(why) => return Ok(Err(why)),
    };
    let verb = match change {
        Change::Save if changes.inserted > 0 => "create",
        Change::Save => "edit",
        Change::Switch(true) => "disable",
        Change::Switch(false) => "enable",
    };
    let action = format!("fleet_{kind}_{verb}");
    console
        .audit(caller, &action, None, device, &format!("{detail}{note}"))
        .await;
    Ok(Ok(changes))
}

/// Where the fleet page goes after a saved form: `created` or `saved`, at the entity.
fn saved(changes: FleetChanges, anchor: &str) -> HttpResponse {
    let result = if changes.inserted > 0 {
        "created"
    } else {
        "saved"
    };
    back_to_fleet(result, anchor)
}

/// `disable` → off, `enable` → on, anything else: no such page.
fn switch_of(word: &str) -> Option<bool> {
    match word {
        "disable" => Some(true),
        "enable" => Some(false),
        _ => None,
    }
}

#[derive(Serialize)]
struct SwitchPage {
    caller: CallerView,
    title: &'static str,
    what: String,
    warning: &'static str,
    action: String,
    alert: Option<String>,
}

fn switch_page(
    state: &AppState,
    caller: &Caller,
    target: &Target,
    off: bool,
    alert: Option<String>,
) -> HttpResponse {
    let status = if alert.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page_with_status(
        state,
        status,
        "admin/fleet_switch.html",
        &SwitchPage {
            caller: CallerView::of(caller),
            title: if off {
                "Отключить"
            } else {
                "Включить"
            },
            what: target.what(),
            warning: target.warning(off),
            action: format!(
                "{}/{}",
                target.path(),
                if off { "disable" } else { "enable" }
            ),
            alert,
        },
    )
}

async fn merchant_target(state: &AppState, key: &str) -> Result<Option<Target>, Rejection> {
    Ok(stored_merchant(state, key).await?.map(Target::Merchant))
}

async fn device_target(state: &AppState, id: &str) -> Result<Option<Target>, Rejection> {
    Ok(stored_device(state, id).await?.map(Target::Device))
}

async fn drink_target(state: &AppState, id: &str, no: &str) -> Result<Option<Target>, Rejection> {
    let Some(device) = stored_device(state, id).await? else {
        return Ok(None);
    };
    Ok(stored_drink(state, &device.device_uuid, no)
        .await?
        .map(Target::Drink))
}

async fn confirm_switch(
    state: &AppState,
    caller: &Caller,
    word: &str,
    target: impl std::future::Future<Output = Result<Option<Target>, Rejection>>,
) -> Result<HttpResponse, Rejection> {
    let (true, Some(off)) = (may_write(caller), switch_of(word)) else {
        return Ok(not_found(state));
    };
    match target.await? {
        Some(target) => Ok(switch_page(state, caller, &target, off, None)),
        None => Ok(not_found(state)),
    }
}

async fn do_switch(
    state: &AppState,
    console: &Console,
    caller: &Caller,
    csrf: &str,
    word: &str,
    target: impl std::future::Future<Output = Result<Option<Target>, Rejection>>,
) -> Result<HttpResponse, Rejection> {
    check_csrf(caller, csrf)?;
    let (true, Some(off)) = (may_write(caller), switch_of(word)) else {
        return Ok(not_found(state));
    };
    let Some(target) = target.await? else {
        return Ok(not_found(state));
    };
    if let Err(why) = write(
        state,
        console,
        caller,
        target.switched(off),
        Change::Switch(off),
        "",
    )
    .await?
    {
        tracing::warn!(%why, what = %target.what(), "a fleet switch was refused");
        return Ok(switch_page(state, caller, &target, off, Some(why)));
    }
    let result = if off { "disabled" } else { "enabled" };
    Ok(back_to_fleet(result, &target.anchor()))
}

#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `GET /admin/fleet/merchants/{key}/{disable|enable}`: what it will do, and the button.
pub async fn confirm_merchant_switch(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection> {
    let (key, word) = path.into_inner();
    confirm_switch(&state, &caller, &word, merchant_target(&state, &key)).await
}

/// `POST /admin/fleet/merchants/{key}/{disable|enable}`.
pub async fn switch_merchant(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, Rejection> {
    let (key, word) = path.into_inner();
    let target = merchant_target(&state, &key);
    do_switch(&state, &console, &caller, &form.csrf, &word, target).await
}

/// `GET /admin/fleet/devices/{uuid}/{disable|enable}`.
pub async fn confirm_device_switch(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Rejection> {
    let (id, word) = path.into_inner();
    confirm_switch(&state, &caller, &word, device_target(&state, &id)).await
}

/// `POST /admin/fleet/devices/{uuid}/{disable|enable}`.
pub async fn switch_device(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, Rejection> {
    let (id, word) = path.into_inner();
    let target = device_target(&state, &id);
    do_switch(&state, &console, &caller, &form.csrf, &word, target).await
}

/// `GET /admin/fleet/devices/{uuid}/drinks/{no}/{disable|enable}`.
pub async fn confirm_drink_switch(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Rejection> {
    let (id, no, word) = path.into_inner();
    confirm_switch(&state, &caller, &word, drink_target(&state, &id, &no)).await
}

/// `POST /admin/fleet/devices/{uuid}/drinks/{no}/{disable|enable}`.
pub async fn switch_drink(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    path: web::Path<(String, String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, Rejection> {
    let (id, no, word) = path.into_inner();
    let target = drink_target(&state, &id, &no);
    do_switch(&state, &console, &caller, &form.csrf, &word, target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_a_path_is_percent_encoded() {
        assert_eq!(segment("shop-1"), "shop-1");
        assert_eq!(segment("a/b c?#"), "a%2Fb%20c%3F%23");
        assert_eq!(segment("кофе"), "%D0%BA%D0%BE%D1%84%D0%B5");
    }

    #[test]
    fn a_secret_says_only_whether_and_when_it_was_set() {
        assert_eq!(secret_state(None), "не задан");
        assert_eq!(secret_state(Some(&SealedSecret::new("v1:x"))), "задан");
        let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 30, 22, 30, 0).unwrap();
        assert_eq!(
            secret_state(Some(&SealedSecret::new("v1:x").with_set_at(Some(at)))),
            "задан 2026-12-01"
        );
    }
}
