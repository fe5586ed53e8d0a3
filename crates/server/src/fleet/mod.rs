//! The fleet file: merchants, devices and drinks declared in TOML and upserted atomically.
//!
//! A file is checked whole before anything is written; every problem is reported with its
//! line. References resolve inside the file: a device names a merchant of the same file, a
//! drink a device of the same file.

mod file;
#[cfg(test)]
mod tests;

use crate::secrets::SecretBox;
use chrono::NaiveDate;
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, Merchant, MerchantKey, Money, ProviderKind,
    SealedSecret, Simulation, SizePrices, YookassaSettings,
};
use file::{DeviceEntry, DrinkEntry, FleetFile, MerchantEntry, YookassaEntry};
use std::collections::HashSet;
use std::ops::Range;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct FleetError {
    /// One line per problem: `<source>:<line>: <message>`.
    pub problems: Vec<String>,
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

/// Parses and checks a fleet file; `source` names it in messages.
pub fn parse(source: &str, text: &str, secrets: &Secrets<'_>) -> Result<Fleet, FleetError> {
    let file: FleetFile = toml::from_str(text).map_err(|e| FleetError {
        problems: vec![format!(
            "{source}:{}: {}",
            e.span().map_or(1, |s| line_of(text, s.start)),
            e.message()
        )],
    })?;
    let mut problems = Problems {
        source,
        text,
        lines: Vec::new(),
    };
    let mut fleet = Fleet::default();
    let merchant_keys = merchants(
        &file.merchants,
        secrets,
        &mut problems,
        &mut fleet.merchants,
    );
    let device_ids = devices(
        &file.devices,
        secrets,
        (&merchant_keys, &fleet.merchants),
        &mut problems,
        &mut fleet.devices,
    );
    drinks(&file.drinks, &device_ids, &mut problems, &mut fleet.drinks);
    if problems.lines.is_empty() {
        Ok(fleet)
    } else {
        Err(FleetError {
            problems: problems.lines,
        })
    }
}

/// Problems found so far, each with its line in the file.
struct Problems<'a> {
    source: &'a str,
    text: &'a str,
    lines: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, span: Range<usize>, message: String) {
        let line = line_of(self.text, span.start);
        self.lines
            .push(format!("{}:{line}: {message}", self.source));
    }
}

/// Checks the merchants; returns every declared key, so that a device naming a merchant with
/// another problem is not reported as naming an undeclared one.
fn merchants(
    entries: &[Spanned<MerchantEntry>],
    secrets: &Secrets<'_>,
    problems: &mut Problems<'_>,
    merchants: &mut Vec<Merchant>,
) -> HashSet<MerchantKey> {
    let mut merchant_keys = HashSet::new();
    for entry in entries {
        let (span, m) = (entry.span(), entry.get_ref());
        let key = match MerchantKey::parse(&m.key) {
            Ok(key) => key,
            Err(e) => {
                problems.add(span, format!("merchant key: {e}"));
                continue;
            }
        };
        if !merchant_keys.insert(key.clone()) {
            problems.add(span.clone(), format!("merchant {key} is declared twice"));
        }
        let valid_until = match &m.valid_until {
            toml::Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            toml::Value::Datetime(dt) => dt.date.and_then(|d| {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
            }),
            _ => None,
        };
        let Some(valid_until) = valid_until else {
            problems.add(
                span,
                format!("merchant {key}: valid_until must be a date like 2099-12-31"),
            );
            continue;
        };
        if coffee_domain::ReceiptContact::email(&m.contact_email).is_err() {
            problems.add(
                span.clone(),
                format!("merchant {key}: contact_email is not a valid email"),
            );
        }
        if m.name.trim().is_empty() {
            problems.add(span.clone(), format!("merchant {key}: name is empty"));
        }
        let yookassa = m
            .yookassa
            .as_ref()
            .and_then(|y| yookassa(&key, y, &span, secrets, problems));
        merchants.push(Merchant {
            key,
            name: m.name.trim().to_owned(),
            contact_email: m.contact_email.trim().to_owned(),
            valid_until,
            capture: m.capture,
            receipt: m.receipt,
            yookassa,
        });
    }
    merchant_keys
}

/// A merchant's `[merchants.yookassa]` table, its secret key sealed; `None` after a problem.
fn yookassa(
    key: &MerchantKey,
    y: &YookassaEntry,
    span: &Range<usize>,
    secrets: &Secrets<'_>,
    problems: &mut Problems<'_>,
) -> Option<YookassaSettings> {
    if y.shop_id.trim().is_empty() {
        problems.add(
            span.clone(),
            format!("merchant {key}: yookassa.shop_id is empty"),
        );
    }
    if !(1..=12).contains(&y.vat_code) {
        problems.add(
            span.clone(),
            format!("merchant {key}: yookassa.vat_code must be 1–12"),
        );
    }
    if y.tax_system_code.is_some_and(|c| !(1..=6).contains(&c)) {
        problems.add(
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
            problems.add(
                span.clone(),
                format!("merchant {key}: yookassa needs secret_key or secret_key_env"),
            );
            None
        }
        Err(why) => {
            problems.add(span.clone(), format!("merchant {key}: yookassa.{why}"));
            None
        }
    }
}

/// Checks the devices against the file's merchants; returns every declared device id.
fn devices(
    entries: &[Spanned<DeviceEntry>],
    secrets: &Secrets<'_>,
    (merchant_keys, merchants): (&HashSet<MerchantKey>, &[Merchant]),
    problems: &mut Problems<'_>,
    devices: &mut Vec<Device>,
) -> HashSet<DeviceUuid> {
    let mut device_ids = HashSet::new();
    for entry in entries {
        let (span, d) = (entry.span(), entry.get_ref());
        let device_uuid = match DeviceUuid::parse(&d.device_uuid) {
            Ok(id) => id,
            Err(e) => {
                problems.add(span, format!("device_uuid: {e}"));
                continue;
            }
        };
        if !device_ids.insert(device_uuid.clone()) {
            problems.add(
                span.clone(),
                format!("device {device_uuid} is declared twice"),
            );
        }
        let merchant = match MerchantKey::parse(&d.merchant) {
            Ok(key) if merchant_keys.contains(&key) => key,
            _ => {
                problems.add(
                    span,
                    format!(
                        "device {device_uuid}: merchant {:?} is not declared in this file",
                        d.merchant
                    ),
                );
                continue;
            }
        };
        let has_yookassa = merchants
            .iter()
            .any(|m| m.key == merchant && m.yookassa.is_some());
        if d.provider == ProviderKind::Yookassa && !has_yookassa {
            problems.add(
                span.clone(),
                format!("device {device_uuid}: provider \"yookassa\" needs [merchants.yookassa] on merchant {merchant}"),
            );
        }
        let redirect_url = d.redirect_url.as_ref().map(|u| u.trim().to_owned());
        match (d.provider, &redirect_url) {
            (ProviderKind::Custom, None) => problems.add(
                span.clone(),
                format!("device {device_uuid}: provider \"custom\" needs redirect_url"),
            ),
            (ProviderKind::Custom, Some(url))
                if !(url.starts_with("https://") || url.starts_with("http://")) =>
            {
                problems.add(
                    span.clone(),
                    format!("device {device_uuid}: redirect_url must be an http(s) URL"),
                )
            }
            (ProviderKind::Sandbox | ProviderKind::Yookassa | ProviderKind::Tbank, Some(_)) => {
                problems.add(
                    span.clone(),
                    format!("device {device_uuid}: redirect_url is only for provider \"custom\""),
                )
            }
            _ => {}
        }
        if d.dispense_deadline_seconds == 0 {
            problems.add(
                span.clone(),
                format!("device {device_uuid}: dispense_deadline_seconds must be positive"),
            );
        }
        let events_secret =
            match secrets.resolve("events_secret", &d.events_secret, &d.events_secret_env) {
                Ok(secret) => secret,
                Err(why) => {
                    problems.add(span.clone(), format!("device {device_uuid}: {why}"));
                    None
                }
            };
        devices.push(Device {
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
    device_ids
}

/// Checks the drinks against the file's devices.
fn drinks(
    entries: &[Spanned<DrinkEntry>],
    device_ids: &HashSet<DeviceUuid>,
    problems: &mut Problems<'_>,
    drinks: &mut Vec<Drink>,
) {
    let mut drink_ids = HashSet::new();
    for entry in entries {
        let (span, d) = (entry.span(), entry.get_ref());
        let device = match DeviceUuid::parse(&d.device) {
            Ok(id) if device_ids.contains(&id) => id,
            _ => {
                problems.add(
                    span,
                    format!("drink: device {:?} is not declared in this file", d.device),
                );
                continue;
            }
        };
        let drink_no = match DrinkNo::parse(&d.drink_no) {
            Ok(no) => no,
            Err(e) => {
                problems.add(span, format!("drink_no: {e}"));
                continue;
            }
        };
        if !drink_ids.insert((device.clone(), drink_no.clone())) {
            problems.add(
                span.clone(),
                format!("drink {drink_no} of device {device} is declared twice"),
            );
        }
        let mut price = |size: &str, kopecks: Option<i64>| match kopecks.map(Money::rub) {
            None => None,
            Some(Ok(money)) if !money.is_zero() => Some(money),
            Some(_) => {
                problems.add(
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
            problems.add(
                span.clone(),
                format!("drink {drink_no}: no size has a price"),
            );
        }
        if d.name.trim().is_empty() {
            problems.add(span, format!("drink {drink_no}: name is empty"));
        }
        drinks.push(Drink {
            device,
            drink_no,
            name: d.name.trim().to_owned(),
            prices,
        });
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}
