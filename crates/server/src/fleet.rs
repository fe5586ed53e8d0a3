//! The fleet file: merchants, devices and drinks declared in TOML and upserted atomically.
//!
//! A file is checked whole before anything is written; every problem is reported with its
//! line. References resolve inside the file: a device names a merchant of the same file, a
//! drink a device of the same file.

use chrono::NaiveDate;
use coffee_domain::{
    CaptureMode, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo, Fleet, MachineKind, Merchant,
    MerchantKey, Money, ProviderKind, ReceiptPolicy, SimulatedOutcome, Simulation, SizePrices,
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
pub fn parse(source: &str, text: &str) -> Result<Fleet, FleetError> {
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
        fleet.merchants.push(Merchant {
            key,
            name: m.name.trim().to_owned(),
            contact_email: m.contact_email.trim().to_owned(),
            valid_until,
            capture: m.capture,
            receipt: m.receipt,
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
        fleet.devices.push(Device {
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
}
