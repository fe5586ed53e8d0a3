//! The console's fleet forms: what an operator typed, read into a merchant, a device or a
//! drink and put through the domain's checked constructors — the same rules the fleet file
//! keeps. A form's problems are worded for the operator: the form's own (a price that is not
//! a sum of rubles, a date that is not a date) in Russian, the fleet rules as the domain
//! words them. Secrets typed in are sealed at once and never shown again; an empty secret
//! field keeps the stored one.

use crate::secrets::SecretBox;
use chrono::NaiveDate;
use coffee_domain::fleet_rules::default_deadline_policy;
use coffee_domain::{
    Branding, CaptureMode, Currency, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo,
    DrinkReceipt, MachineKind, Merchant, MerchantKey, Money, MoneyError, OrderStatus, ProviderKind,
    ReceiptPolicy, SealedSecret, SimulatedOutcome, Simulation, Size, SizePrices, TbankSettings,
    YookassaSettings,
};
use std::collections::BTreeMap;

/// The secret fields of the forms: never put back into a page.
pub const SECRET_FIELDS: [&str; 3] = ["yookassa_secret_key", "tbank_password", "events_secret"];

/// A submitted form, field by field (the first value of a repeated field counts).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    fn trimmed(&self, name: &str) -> &str {
        self.get(name).trim()
    }

    fn optional(&self, name: &str) -> Option<String> {
        Some(self.trimmed(name).to_owned()).filter(|v| !v.is_empty())
    }

    fn ticked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// What the page shows back after a refused submit: everything but the secrets.
    pub fn shown(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter(|(key, _)| !SECRET_FIELDS.contains(&key.as_str()))
            .rev()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

/// A rubles-and-kopecks amount as typed: `150`, `150,5`, `150,50` or `150.50` (spaces
/// allowed between thousands), exactly in kopecks; empty is no price.
pub fn rubles(text: &str) -> Result<Option<Money>, MoneyError> {
    let cleaned: String = text
        .trim()
        .trim_end_matches('₽')
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if cleaned.is_empty() {
        return Ok(None);
    }
    Money::parse_decimal(&cleaned, Currency::Rub).map(Some)
}

/// Kopecks as the form shows them: `150,50`.
pub fn rubles_text(money: Option<Money>) -> String {
    money.map_or_else(String::new, |m| {
        format!("{},{:02}", m.kopecks() / 100, m.kopecks() % 100)
    })
}

fn capture_of(code: &str) -> Option<CaptureMode> {
    match code {
        "immediate" => Some(CaptureMode::Immediate),
        "after_dispense" => Some(CaptureMode::AfterDispense),
        _ => None,
    }
}

pub fn capture_code(capture: CaptureMode) -> &'static str {
    match capture {
        CaptureMode::Immediate => "immediate",
        CaptureMode::AfterDispense => "after_dispense",
    }
}

fn receipt_of(code: &str) -> Option<ReceiptPolicy> {
    match code {
        "off" => Some(ReceiptPolicy::Off),
        "optional" => Some(ReceiptPolicy::Optional),
        "required" => Some(ReceiptPolicy::Required),
        _ => None,
    }
}

pub fn receipt_code(receipt: ReceiptPolicy) -> &'static str {
    match receipt {
        ReceiptPolicy::Off => "off",
        ReceiptPolicy::Optional => "optional",
        ReceiptPolicy::Required => "required",
    }
}

pub const PROVIDERS: [ProviderKind; 4] = [
    ProviderKind::Sandbox,
    ProviderKind::Yookassa,
    ProviderKind::Tbank,
    ProviderKind::Custom,
];

pub const MACHINES: [MachineKind; 4] = [
    MachineKind::Simulated,
    MachineKind::Tmetr,
    MachineKind::Mqtt,
    MachineKind::MqttLegacy,
];

pub fn machine_code(machine: MachineKind) -> &'static str {
    match machine {
        MachineKind::Simulated => "simulated",
        MachineKind::Tmetr => "tmetr",
        MachineKind::Mqtt => "mqtt",
        MachineKind::MqttLegacy => "mqtt-legacy",
    }
}

pub fn deadline_code(policy: DeadlinePolicy) -> &'static str {
    match policy {
        DeadlinePolicy::AssumeSuccess => "assume_success",
        DeadlinePolicy::FailAndRefund => "fail_and_refund",
    }
}

/// What a form is about: a new entity (its key typed in) or a stored one (its key fixed).
pub struct Editing<'a, K, T> {
    pub key: Option<&'a K>,
    pub stored: Option<&'a T>,
}

/// The secret of a field: a new one sealed, an empty field keeping `stored`.
fn secret(
    fields: &Fields,
    name: &str,
    stored: Option<&SealedSecret>,
    sealer: &SecretBox,
    problems: &mut Vec<String>,
) -> Option<SealedSecret> {
    match fields.trimmed(name) {
        "" => stored.cloned(),
        plain => match sealer.seal(plain) {
            Ok(sealed) => Some(sealed),
            Err(error) => {
                problems.push(format!("секрет не удалось зашифровать: {error}"));
                None
            }
        },
    }
}

fn small_number<T: std::str::FromStr>(
    fields: &Fields,
    name: &str,
    label: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let text = fields.trimmed(name);
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(value) => Some(value),
        Err(_) => {
            problems.push(format!("{label}: нужно целое число, а не «{text}»"));
            None
        }
    }
}

/// The merchant the form describes, checked by [`Merchant::checked`], or every problem.
pub fn merchant_from(
    fields: &Fields,
    editing: Editing<'_, MerchantKey, Merchant>,
    sealer: &SecretBox,
) -> Result<Merchant, Vec<String>> {
    let mut problems = Vec::new();
    let key = match editing.key {
        Some(key) => Some(key.clone()),
        None => MerchantKey::parse(fields.get("key"))
            .map_err(|e| problems.push(format!("ключ: {e}")))
            .ok(),
    };
    let valid_until = NaiveDate::parse_from_str(fields.trimmed("valid_until"), "%Y-%m-%d")
        .map_err(|_| problems.push("«Оплачен до»: нужна дата вида 2099-12-31".to_owned()))
        .ok();
    let capture = capture_of(fields.get("capture"));
    if capture.is_none() {
        problems.push("списание: выберите «сразу» или «после выдачи»".to_owned());
    }
    let receipt = receipt_of(fields.get("receipt"));
    if receipt.is_none() {
        problems.push("чек: выберите один из вариантов".to_owned());
    }
    let stored = editing.stored;
    let yookassa = match fields.optional("yookassa_shop_id") {
        None => None,
        Some(shop_id) => {
            let before = stored.and_then(|m| m.yookassa.as_ref());
            let secret_key = secret(
                fields,
                "yookassa_secret_key",
                before.map(|y| &y.secret_key),
                sealer,
                &mut problems,
            );
            if secret_key.is_none() && fields.trimmed("yookassa_secret_key").is_empty() {
                problems.push("ЮKassa: введите секретный ключ магазина".to_owned());
            }
            let vat_code = small_number(
                fields,
                "yookassa_vat_code",
                "ЮKassa, код НДС",
                &mut problems,
            );
            if vat_code.is_none() && fields.trimmed("yookassa_vat_code").is_empty() {
                problems.push("ЮKassa: укажите код НДС (1–12)".to_owned());
            }
            let tax_system_code = small_number(
                fields,
                "yookassa_tax_system_code",
                "ЮKassa, система налогообложения",
                &mut problems,
            );
            match (secret_key, vat_code) {
                (Some(secret_key), Some(vat_code)) => Some(YookassaSettings {
                    shop_id,
                    secret_key,
                    vat_code,
                    tax_system_code,
                }),
                _ => None,
            }
        }
    };
    let tbank = match fields.optional("tbank_terminal_key") {
        None => None,
        Some(terminal_key) => {
            let before = stored.and_then(|m| m.tbank.as_ref());
            let password = secret(
                fields,
                "tbank_password",
                before.map(|t| &t.password),
                sealer,
                &mut problems,
            );
            if password.is_none() && fields.trimmed("tbank_password").is_empty() {
                problems.push("Т-Банк: введите пароль терминала".to_owned());
            }
            password.map(|password| TbankSettings {
                terminal_key,
                password,
                taxation: fields.trimmed("tbank_taxation").to_owned(),
                vat: fields.trimmed("tbank_vat").to_owned(),
                sbp: fields.ticked("tbank_sbp"),
            })
        }
    };
    let (Some(key), Some(valid_until), Some(capture), Some(receipt)) =
        (key, valid_until, capture, receipt)
    else {
        return Err(problems);
    };
    let declared = Merchant {
        key,
        name: fields.get("name").to_owned(),
        contact_email: fields.get("contact_email").to_owned(),
        valid_until,
        capture,
        receipt,
        yookassa,
        tbank,
        disabled: stored.is_some_and(|m| m.disabled),
    };
    checked(declared.checked(), problems)
}

/// The form's problems and the fleet rules' together: the entity only when there are none.
fn checked<T>(
    result: Result<T, Vec<coffee_domain::FleetRuleError>>,
    mut problems: Vec<String>,
) -> Result<T, Vec<String>> {
    match result {
        Ok(entity) if problems.is_empty() => Ok(entity),
        Ok(_) => Err(problems),
        Err(broken) => {
            problems.extend(broken.iter().map(ToString::to_string));
            Err(problems)
        }
    }
}

/// What a device form may choose: the sandbox provider and simulated machines only where the
/// server runs the sandbox (demo, staging).
#[derive(Debug, Clone, Copy)]
pub struct DeviceChoices {
    pub sandbox_allowed: bool,
}

/// The device the form describes, checked by [`Device::checked`] against its merchant as
/// stored (`merchants`), or every problem.
pub fn device_from(
    fields: &Fields,
    editing: Editing<'_, DeviceUuid, Device>,
    merchants: &[Merchant],
    choices: DeviceChoices,
    sealer: &SecretBox,
) -> Result<Device, Vec<String>> {
    let mut problems = Vec::new();
    let device_uuid = match editing.key {
        Some(id) => Some(id.clone()),
        None => DeviceUuid::parse(fields.get("device_uuid"))
            .map_err(|e| problems.push(format!("uuid автомата: {e}")))
            .ok(),
    };
    let merchant = merchants
        .iter()
        .find(|m| m.key.as_str() == fields.trimmed("merchant"));
    if merchant.is_none() {
        problems.push("мерчант: выберите мерчанта из списка".to_owned());
    }
    let provider = PROVIDERS
        .into_iter()
        .find(|p| p.as_str() == fields.get("provider"));
    let machine = MACHINES
        .into_iter()
        .find(|m| machine_code(*m) == fields.get("machine"));
    match provider {
        None => problems.push("оплата: выберите провайдера".to_owned()),
        Some(ProviderKind::Sandbox) if !choices.sandbox_allowed => problems.push(
            "провайдер sandbox не берёт настоящих денег и на этом сервере выключен".to_owned(),
        ),
        Some(_) => {}
    }
    match machine {
        None => problems.push("связь: выберите вид автомата".to_owned()),
        Some(MachineKind::Simulated) if !choices.sandbox_allowed => problems
            .push("автомат simulated не варит напитков и на этом сервере выключен".to_owned()),
        Some(_) => {}
    }
    let dispense_deadline_seconds = small_number(
        fields,
        "dispense_deadline_seconds",
        "срок выдачи",
        &mut problems,
    );
    if fields.trimmed("dispense_deadline_seconds").is_empty() {
        problems.push("срок выдачи: укажите число секунд".to_owned());
    }
    let stored = editing.stored;
    // «Удалить ключ» drops the stored key (a key typed in at the same time wins).
    let kept = stored
        .and_then(|d| d.events_secret.as_ref())
        .filter(|_| !fields.ticked("events_secret_remove"));
    let events_secret = secret(fields, "events_secret", kept, sealer, &mut problems);
    let on_dispense_deadline = match fields.get("on_dispense_deadline") {
        "assume_success" => Some(DeadlinePolicy::AssumeSuccess),
        "fail_and_refund" => Some(DeadlinePolicy::FailAndRefund),
        _ => machine.map(|m| default_deadline_policy(m, events_secret.is_some())),
    };
    let status_texts = OrderStatus::ALL
        .into_iter()
        .filter_map(|status| {
            let text = fields.get(&format!("status_text_{}", status.as_str()));
            (!text.trim().is_empty()).then(|| (status, text.to_owned()))
        })
        .collect();
    let (
        Some(device_uuid),
        Some(merchant),
        Some(provider),
        Some(machine),
        Some(dispense_deadline_seconds),
        Some(on_dispense_deadline),
    ) = (
        device_uuid,
        merchant,
        provider,
        machine,
        dispense_deadline_seconds,
        on_dispense_deadline,
    )
    else {
        return Err(problems);
    };
    let declared = Device {
        device_uuid,
        merchant: merchant.key.clone(),
        location: fields.get("location").to_owned(),
        provider,
        redirect_url: fields.optional("redirect_url"),
        machine,
        test: fields.ticked("test"),
        dispense_deadline_seconds,
        on_dispense_deadline,
        simulation: stored.map_or(
            Simulation {
                outcome: SimulatedOutcome::Dispensed,
                delay_ms: 3000,
            },
            |d| d.simulation,
        ),
        events_secret,
        branding: Branding {
            logo_url: fields.optional("logo_url"),
            client_info: fields.optional("client_info"),
            client_error_info: fields.optional("client_error_info"),
            status_texts,
        },
        disabled: stored.is_some_and(|d| d.disabled),
    };
    checked(declared.checked(Some(merchant)), problems)
}

/// The drink the form describes for `device`, checked by [`Drink::checked`], or every
/// problem.
pub fn drink_from(
    fields: &Fields,
    device: &DeviceUuid,
    editing: Editing<'_, DrinkNo, Drink>,
) -> Result<Drink, Vec<String>> {
    let mut problems = Vec::new();
    let drink_no = match editing.key {
        Some(no) => Some(no.clone()),
        None => DrinkNo::parse(fields.get("drink_no"))
            .map_err(|e| problems.push(format!("номер напитка: {e}")))
            .ok(),
    };
    let mut price = |size: Size| match rubles(fields.get(&format!("price_{}", size.as_str()))) {
        Ok(money) => money,
        Err(error) => {
            problems.push(format!(
                "цена ({}): нужна сумма в рублях, например 150 или 150,50 ({error})",
                size.label_ru()
            ));
            None
        }
    };
    let prices = SizePrices {
        small: price(Size::Small),
        medium: price(Size::Medium),
        big: price(Size::Big),
    };
    let vat_code = small_number(fields, "vat_code", "код НДС в чеке", &mut problems);
    let Some(drink_no) = drink_no else {
        return Err(problems);
    };
    let declared = Drink {
        device: device.clone(),
        drink_no,
        name: fields.get("name").to_owned(),
        prices,
        receipt: DrinkReceipt {
            vat_code,
            measure: fields.optional("measure"),
            payment_subject: fields.optional("payment_subject"),
            payment_mode: fields.optional("payment_mode"),
        },
        disabled: editing.stored.is_some_and(|d| d.disabled),
    };
    checked(declared.checked(), problems)
}

/// A stored merchant as its form shows it (secrets never).
pub fn merchant_values(merchant: Option<&Merchant>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        values.insert(key.to_owned(), value);
    };
    let Some(m) = merchant else {
        set("capture", "immediate".into());
        set("receipt", "optional".into());
        set("yookassa_vat_code", "1".into());
        set("tbank_taxation", "usn_income".into());
        set("tbank_vat", "none".into());
        return values;
    };
    set("key", m.key.to_string());
    set("name", m.name.clone());
    set("contact_email", m.contact_email.clone());
    set("valid_until", m.valid_until.format("%Y-%m-%d").to_string());
    set("capture", capture_code(m.capture).into());
    set("receipt", receipt_code(m.receipt).into());
    if let Some(shop) = &m.yookassa {
        set("yookassa_shop_id", shop.shop_id.clone());
        set("yookassa_vat_code", shop.vat_code.to_string());
        if let Some(code) = shop.tax_system_code {
            set("yookassa_tax_system_code", code.to_string());
        }
    } else {
        set("yookassa_vat_code", "1".into());
    }
    if let Some(terminal) = &m.tbank {
        set("tbank_terminal_key", terminal.terminal_key.clone());
        set("tbank_taxation", terminal.taxation.clone());
        set("tbank_vat", terminal.vat.clone());
        if terminal.sbp {
            set("tbank_sbp", "1".into());
        }
    } else {
        set("tbank_taxation", "usn_income".into());
        set("tbank_vat", "none".into());
    }
    values
}

/// A stored device as its form shows it (its report key never).
pub fn device_values(device: Option<&Device>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        values.insert(key.to_owned(), value);
    };
    let Some(d) = device else {
        set("dispense_deadline_seconds", "180".into());
        return values;
    };
    set("device_uuid", d.device_uuid.to_string());
    set("merchant", d.merchant.to_string());
    set("location", d.location.clone());
    set("provider", d.provider.as_str().into());
    set("redirect_url", d.redirect_url.clone().unwrap_or_default());
    set("machine", machine_code(d.machine).into());
    if d.test {
        set("test", "1".into());
    }
    set(
        "dispense_deadline_seconds",
        d.dispense_deadline_seconds.to_string(),
    );
    set(
        "on_dispense_deadline",
        deadline_code(d.on_dispense_deadline).into(),
    );
    set("logo_url", d.branding.logo_url.clone().unwrap_or_default());
    set(
        "client_info",
        d.branding.client_info.clone().unwrap_or_default(),
    );
    set(
        "client_error_info",
        d.branding.client_error_info.clone().unwrap_or_default(),
    );
    for (status, text) in &d.branding.status_texts {
        set(&format!("status_text_{}", status.as_str()), text.clone());
    }
    values
}

/// A stored drink as its form shows it: prices in rubles.
pub fn drink_values(drink: Option<&Drink>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let Some(d) = drink else {
        return values;
    };
    let mut set = |key: &str, value: String| {
        values.insert(key.to_owned(), value);
    };
    set("drink_no", d.drink_no.to_string());
    set("name", d.name.clone());
    for size in Size::ALL {
        set(
            &format!("price_{}", size.as_str()),
            rubles_text(d.prices.get(size)),
        );
    }
    if let Some(code) = d.receipt.vat_code {
        set("vat_code", code.to_string());
    }
    for (key, value) in [
        ("measure", &d.receipt.measure),
        ("payment_subject", &d.receipt.payment_subject),
        ("payment_mode", &d.receipt.payment_mode),
    ] {
        set(key, value.clone().unwrap_or_default());
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rubles_are_read_exactly_into_kopecks() {
        let kopecks = |text: &str| rubles(text).map(|m| m.map(Money::kopecks));
        assert_eq!(kopecks("150"), Ok(Some(15000)));
        assert_eq!(kopecks("150,50"), Ok(Some(15050)));
        assert_eq!(kopecks("150.5"), Ok(Some(15050)));
        assert_eq!(kopecks(" 1 250,05 ₽"), Ok(Some(125005)));
        assert_eq!(kopecks("0,10"), Ok(Some(10)));
        assert_eq!(kopecks(""), Ok(None));
        assert!(kopecks("1,555").is_err());
        assert!(kopecks("-5").is_err());
        assert!(kopecks("1e3").is_err());
        assert!(kopecks("150,").is_err());
        assert_eq!(rubles_text(Money::rub(15005).ok()), "150,05");
    }

    #[test]
    fn a_secret_field_is_never_shown_back() {
        let fields = Fields(vec![
            ("name".into(), "Кофе".into()),
            ("yookassa_secret_key".into(), "live_123".into()),
            ("events_secret".into(), "k".into()),
        ]);
        let shown = fields.shown();
        assert_eq!(shown.get("name").map(String::as_str), Some("Кофе"));
        assert!(!shown.contains_key("yookassa_secret_key") && !shown.contains_key("events_secret"));
    }
}
