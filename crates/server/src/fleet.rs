//! The fleet file: merchants, devices and drinks declared in TOML and upserted atomically.
//!
//! A file is checked whole before anything is written; every problem is reported with its
//! line. References resolve inside the file: a device names a merchant of the same file, a
//! drink a device of the same file.

use crate::secrets::SecretBox;
use chrono::NaiveDate;
use coffee_domain::{
    CaptureMode, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo, Fleet, MachineKind, Merchant,
    MerchantKey, Money, ProviderKind, ReceiptPolicy, SealedSecret, SimulatedOutcome, Simulation,
    SizePrices, YookassaSettings,
};
use serde::Deserialize;
use std::collections::HashSet;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct FleetError {
    /// One line per problem: `<source>:<line>: <message>`.
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    merchants: Vec<Spanned<MerchantEntry>>,
    #[serde(default)]
    devices: Vec<Spanned<DeviceEntry>>,
    #[serde(default)]
    drinks: Vec<Spanned<DrinkEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantEntry {
    key: String,
    name: String,
    contact_email: String,
    valid_until: toml::Value,
    #[serde(default = "default_capture")]
    capture: CaptureMode,
    #[serde(default = "default_receipt")]
    receipt: ReceiptPolicy,
    yookassa: Option<YookassaEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YookassaEntry {
    shop_id: String,
    secret_key: Option<String>,
    secret_key_env: Option<String>,
    vat_code: u8,
    tax_system_code: Option<u8>,
}

/// Where a fleet file's secrets come from and how they are sealed before storage.
pub struct Secrets<'a> {
    pub sealer: &'a SecretBox,
    /// Resolves `*_env` references (the process environment in production).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Secrets<'_> {
    /// A secret given inline or through an environment variable — exactly one of them.
    fn resolve(
        &self,
        what: &str,
        inline: &Option<String>,
        env_name: &Option<String>,
    ) -> Result<Option<SealedSecret>, String> {
        let plain = match (inline, env_name) {
            (Some(_), Some(_)) => return Err(format!("give {what} or {what}_env, not both")),
            (Some(value), None) => value.clone(),
            (None, Some(name)) => (self.env)(name)
                .ok_or_else(|| format!("{what}_env names {name}, which is not set"))?,
            (None, None) => return Ok(None),
        };
        if plain.trim().is_empty() {
            return Err(format!("{what} is empty"));
        }
        self.sealer
            .seal(plain.trim())
            .map(Some)
            .map_err(|e| format!("{what}: {e}"))
    }
}

fn default_capture() -> CaptureMode {
    CaptureMode::Immediate
}
fn default_receipt() -> ReceiptPolicy {
    ReceiptPolicy::Optional
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    device_uuid: String,
    merchant: String,
    #[serde(default)]
    location: String,
    #[serde(default = "default_provider")]
    provider: ProviderKind,
    redirect_url: Option<String>,
    #[serde(default = "default_machine")]
    machine: MachineKind,
    #[serde(default)]
    test: bool,
    #[serde(default = "default_deadline")]
    dispense_deadline_seconds: u32,
    #[serde(default = "default_deadline_policy")]
    on_dispense_deadline: DeadlinePolicy,
    #[serde(default = "default_outcome")]
    simulated_outcome: SimulatedOutcome,
    #[serde(default = "default_delay")]
    simulated_delay_ms: u64,
    events_secret: Option<String>,
    events_secret_env: Option<String>,
}

fn default_provider() -> ProviderKind {
    ProviderKind::Sandbox
}
fn default_machine() -> MachineKind {
    MachineKind::Simulated
}
fn default_deadline() -> u32 {
    180
}
fn default_deadline_policy() -> DeadlinePolicy {
    DeadlinePolicy::FailAndRefund
}
fn default_outcome() -> SimulatedOutcome {
    SimulatedOutcome::Dispensed
}
fn default_delay() -> u64 {
    3000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrinkEntry {
    device: String,
    drink_no: String,
    name: String,
    prices: PricesEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesEntry {
    small: Option<i64>,
    medium: Option<i64>,
    big: Option<i64>,
}

/// Parses and checks a fleet file; `source` names it in messages.
pub fn parse(source: &str, text: &str, secrets: &Secrets<'_>) -> Result<Fleet, FleetError> {
    let file: FleetFile = toml::from_str(text).map_err(|e| FleetError {
        problems: vec![format!(
            "{source}:{}: {}",
            e.span().map_or(1, |s| line_of(text, s.start)),
            e.message()
        )],
    })?;
    let mut problems = Vec::new();
    let mut problem = |span: std::ops::Range<usize>, message: String| {
        problems.push(format!("{source}:{}: {message}", line_of(text, span.start)));
    };
    let mut fleet = Fleet::default();
    let mut merchant_keys = HashSet::new();
    for entry in &file.merchants {
        let (span, m) = (entry.span(), entry.get_ref());
        let key = match MerchantKey::parse(&m.key) {
            Ok(key) => key,
            Err(e) => {
                problem(span, format!("merchant key: {e}"));
                continue;
            }
        };
        if !merchant_keys.insert(key.clone()) {
            problem(span.clone(), format!("merchant {key} is declared twice"));
        }
        let valid_until = match &m.valid_until {
            toml::Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            toml::Value::Datetime(dt) => dt.date.and_then(|d| {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
            }),
            _ => None,
        };
        let Some(valid_until) = valid_until else {
            problem(
                span,
                format!("merchant {key}: valid_until must be a date like 2099-12-31"),
            );
            continue;
        };
        if coffee_domain::ReceiptContact::email(&m.contact_email).is_err() {
            problem(
                span.clone(),
                format!("merchant {key}: contact_email is not a valid email"),
            );
        }
        if m.name.trim().is_empty() {
            problem(span.clone(), format!("merchant {key}: name is empty"));
        }
        let yookassa = match &m.yookassa {
            None => None,
            Some(y) => {
                if y.shop_id.trim().is_empty() {
                    problem(
                        span.clone(),
                        format!("merchant {key}: yookassa.shop_id is empty"),
                    );
                }
                if !(1..=12).contains(&y.vat_code) {
                    problem(
                        span.clone(),
                        format!("merchant {key}: yookassa.vat_code must be 1–12"),
                    );
                }
                if y.tax_system_code.is_some_and(|c| !(1..=6).contains(&c)) {
                    problem(
                        span.clone(),
                        format!("merchant {key}: yookassa.tax_system_code must be 1–6"),
                    );
                }
                match secrets.resolve("secret_key", &y.secret_key, &y.secret_key_env) {
                    Ok(Some(secret_key)) => Some(YookassaSettings {
                        shop_id: y.shop_id.trim().to_owned(),
                        secret_key,
                        vat_code: y.vat_code,
                        tax_system_code: y.tax_system_code,
                    }),
                    Ok(None) => {
                        problem(
                            span.clone(),
                            format!("merchant {key}: yookassa needs secret_key or secret_key_env"),
                        );
                        None
                    }
                    Err(why) => {
                        problem(span.clone(), format!("merchant {key}: yookassa.{why}"));
                        None
                    }
                }
            }
        };
        fleet.merchants.push(Merchant {
            key,
            name: m.name.trim().to_owned(),
            contact_email: m.contact_email.trim().to_owned(),
            valid_until,
            capture: m.capture,
            receipt: m.receipt,
            yookassa,
        });
    }
    let mut device_ids = HashSet::new();
    for entry in &file.devices {
        let (span, d) = (entry.span(), entry.get_ref());
        let device_uuid = match DeviceUuid::parse(&d.device_uuid) {
            Ok(id) => id,
            Err(e) => {
                problem(span, format!("device_uuid: {e}"));
                continue;
            }
        };
        if !device_ids.insert(device_uuid.clone()) {
            problem(
                span.clone(),
                format!("device {device_uuid} is declared twice"),
            );
        }
        let merchant = match MerchantKey::parse(&d.merchant) {
            Ok(key) if merchant_keys.contains(&key) => key,
            _ => {
                problem(
                    span,
                    format!(
                        "device {device_uuid}: merchant {:?} is not declared in this file",
                        d.merchant
                    ),
                );
                continue;
            }
        };
        let has_yookassa = fleet
            .merchants
            .iter()
            .any(|m| m.key == merchant && m.yookassa.is_some());
        if d.provider == ProviderKind::Yookassa && !has_yookassa {
            problem(
                span.clone(),
                format!("device {device_uuid}: provider \"yookassa\" needs [merchants.yookassa] on merchant {merchant}"),
            );
        }
        let redirect_url = d.redirect_url.as_ref().map(|u| u.trim().to_owned());
        match (d.provider, &redirect_url) {
            (ProviderKind::Custom, None) => problem(
                span.clone(),
                format!("device {device_uuid}: provider \"custom\" needs redirect_url"),
            ),
            (ProviderKind::Custom, Some(url))
                if !(url.starts_with("https://") || url.starts_with("http://")) =>
            {
                problem(
                    span.clone(),
                    format!("device {device_uuid}: redirect_url must be an http(s) URL"),
                )
            }
            (ProviderKind::Sandbox | ProviderKind::Yookassa | ProviderKind::Tbank, Some(_)) => {
                problem(
                    span.clone(),
                    format!("device {device_uuid}: redirect_url is only for provider \"custom\""),
                )
            }
            _ => {}
        }
        if d.dispense_deadline_seconds == 0 {
            problem(
                span.clone(),
                format!("device {device_uuid}: dispense_deadline_seconds must be positive"),
            );
        }
        let events_secret =
            match secrets.resolve("events_secret", &d.events_secret, &d.events_secret_env) {
                Ok(secret) => secret,
                Err(why) => {
                    problem(span.clone(), format!("device {device_uuid}: {why}"));
                    None
                }
            };
        fleet.devices.push(Device {
            events_secret,
            device_uuid,
            merchant,
            location: d.location.trim().to_owned(),
            provider: d.provider,
            redirect_url,
            machine: d.machine,
            test: d.test,
            dispense_deadline_seconds: d.dispense_deadline_seconds,
            on_dispense_deadline: d.on_dispense_deadline,
            simulation: Simulation {
                outcome: d.simulated_outcome,
                delay_ms: d.simulated_delay_ms,
            },
        });
    }
    let mut drink_ids = HashSet::new();
    for entry in &file.drinks {
        let (span, d) = (entry.span(), entry.get_ref());
        let device = match DeviceUuid::parse(&d.device) {
            Ok(id) if device_ids.contains(&id) => id,
            _ => {
                problem(
                    span,
                    format!("drink: device {:?} is not declared in this file", d.device),
                );
                continue;
            }
        };
        let drink_no = match DrinkNo::parse(&d.drink_no) {
            Ok(no) => no,
            Err(e) => {
                problem(span, format!("drink_no: {e}"));
                continue;
            }
        };
        if !drink_ids.insert((device.clone(), drink_no.clone())) {
            problem(
                span.clone(),
                format!("drink {drink_no} of device {device} is declared twice"),
            );
        }
        let mut price = |size: &str, kopecks: Option<i64>| match kopecks.map(Money::rub) {
            None => None,
            Some(Ok(money)) if !money.is_zero() => Some(money),
            Some(_) => {
                problem(
                    span.clone(),
                    format!(
                        "drink {drink_no}: price of {size} must be a positive number of kopecks"
                    ),
                );
                None
            }
        };
        let prices = SizePrices {
            small: price("small", d.prices.small),
            medium: price("medium", d.prices.medium),
            big: price("big", d.prices.big),
        };
        if prices == SizePrices::default() {
            problem(
                span.clone(),
                format!("drink {drink_no}: no size has a price"),
            );
        }
        if d.name.trim().is_empty() {
            problem(span, format!("drink {drink_no}: name is empty"));
        }
        fleet.drinks.push(Drink {
            device,
            drink_no,
            name: d.name.trim().to_owned(),
            prices,
        });
    }
    if problems.is_empty() {
        Ok(fleet)
    } else {
        Err(FleetError { problems })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str, text: &str) -> Result<Fleet, FleetError> {
        parse_with_env(source, text, &|name| {
            (name == "SHOP_SECRET").then(|| "live_abc".to_owned())
        })
    }

    fn parse_with_env(
        source: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Fleet, FleetError> {
        let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
        super::parse(
            source,
            text,
            &Secrets {
                sealer: &sealer,
                env,
            },
        )
    }

    const GOOD: &str = r#"
[[merchants]]
key = "demo"
name = "Демо Кофе"
contact_email = "owner@example.com"
valid_until = "2099-12-31"
capture = "after_dispense"
receipt = "required"

[[devices]]
device_uuid = "demo-1"
merchant = "demo"
location = "Офис"

[[drinks]]
device = "demo-1"
drink_no = "1"
name = "Капучино"
prices = { small = 12000, medium = 15000 }
"#;

    #[test]
    fn a_good_file_parses_with_defaults() {
        let fleet = parse("fleet.toml", GOOD).unwrap();
        assert_eq!(fleet.merchants[0].capture, CaptureMode::AfterDispense);
        assert_eq!(fleet.devices[0].provider, ProviderKind::Sandbox);
        assert_eq!(fleet.devices[0].dispense_deadline_seconds, 180);
        assert_eq!(fleet.drinks[0].prices.big, None);
        assert_eq!(fleet.drinks[0].prices.medium.unwrap().kopecks(), 15000);
    }

    #[test]
    fn unknown_values_are_reported_with_their_line() {
        let bad = GOOD.replace("capture = \"after_dispense\"", "capture = \"later\"");
        let error = parse("fleet.toml", &bad).unwrap_err();
        assert!(error.problems[0].starts_with("fleet.toml:7:"), "{error}");
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_line() {
        let bad = GOOD
            .replace("merchant = \"demo\"", "merchant = \"nobody\"")
            .replace("medium = 15000", "medium = -5");
        let error = parse("f.toml", &bad).unwrap_err();
        assert!(
            error
                .problems
                .iter()
                .any(|p| p.starts_with("f.toml:10:") && p.contains("nobody")),
            "{error}"
        );
        assert!(
            error.problems.iter().any(|p| p.starts_with("f.toml:15:")),
            "{error}"
        );
    }

    #[test]
    fn custom_devices_need_a_redirect_url() {
        let bad = GOOD.replace("location = \"Офис\"", "provider = \"custom\"");
        assert!(parse("f", &bad)
            .unwrap_err()
            .to_string()
            .contains("redirect_url"));
    }

    #[test]
    fn yookassa_credentials_are_sealed_and_may_come_from_the_environment() {
        let with_shop = GOOD.replace(
            "receipt = \"required\"\n",
            "receipt = \"required\"\n[merchants.yookassa]\nshop_id = \"123\"\nsecret_key_env = \"SHOP_SECRET\"\nvat_code = 1\ntax_system_code = 2\n",
        );
        let fleet = parse("f.toml", &with_shop).unwrap();
        let account = fleet.merchants[0].yookassa.clone().unwrap();
        assert_eq!(account.shop_id, "123");
        assert!(!account.secret_key.as_str().contains("live_abc"));
        let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(sealer.open(&account.secret_key).unwrap(), "live_abc");
        assert_eq!(
            parse("f.toml", &with_shop).unwrap(),
            fleet,
            "sealing is stable: re-applying changes nothing"
        );

        let unset = with_shop.replace("SHOP_SECRET", "NOT_SET");
        let error = parse("f.toml", &unset).unwrap_err();
        assert!(
            error.to_string().contains("NOT_SET") && error.problems[0].starts_with("f.toml:2:"),
            "{error}"
        );
        let both = with_shop.replace(
            "secret_key_env = \"SHOP_SECRET\"",
            "secret_key = \"a\"\nsecret_key_env = \"SHOP_SECRET\"",
        );
        assert!(parse("f.toml", &both)
            .unwrap_err()
            .to_string()
            .contains("not both"));
        let bad_vat = with_shop.replace("vat_code = 1", "vat_code = 40");
        assert!(parse("f.toml", &bad_vat)
            .unwrap_err()
            .to_string()
            .contains("vat_code"));
    }

    #[test]
    fn a_yookassa_device_needs_a_merchant_with_a_yookassa_account() {
        let bad = GOOD.replace(
            "location = \"Офис\"",
            "location = \"Офис\"\nprovider = \"yookassa\"",
        );
        let error = parse("f.toml", &bad).unwrap_err();
        assert!(
            error.to_string().contains("[merchants.yookassa]"),
            "{error}"
        );
    }

    #[test]
    fn device_report_keys_are_sealed() {
        let with_key = GOOD.replace(
            "location = \"Офис\"",
            "location = \"Офис\"\nevents_secret = \"device-key\"",
        );
        let fleet = parse("f.toml", &with_key).unwrap();
        let sealed = fleet.devices[0].events_secret.clone().unwrap();
        assert!(!sealed.as_str().contains("device-key"));
        assert!(parse("f.toml", GOOD).unwrap().devices[0]
            .events_secret
            .is_none());
    }
}
