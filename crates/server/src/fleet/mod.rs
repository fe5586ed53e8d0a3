//! The fleet file: merchants, devices and drinks declared in TOML and upserted atomically.
//!
//! A file is checked whole before anything is written; every problem is reported with its
//! line. References resolve inside the file: a device names a merchant of the same file, a
//! drink a device of the same file.
//!
//! (About 400 lines on purpose: the mapping of all three sections reads top to bottom.)

pub mod export;
mod file;

use crate::secrets::SecretBox;
use chrono::NaiveDate;
use coffee_domain::fleet_rules::default_deadline_policy;
use coffee_domain::{
    Branding, Device, DeviceUuid, Drink, DrinkNo, DrinkReceipt, Fleet, MachineKind, Merchant,
    MerchantKey, Money, OrderStatus, ProviderKind, SealedSecret, Simulation, SizePrices,
    TbankSettings, YookassaSettings,
};
use file::{DeviceEntry, DrinkEntry, FleetFile, MerchantEntry, DEMO_MACHINE, DEMO_PROVIDER};
use std::collections::BTreeMap;

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

/// Where a fleet goes, which decides what a device may leave out and what it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Demo mode's memory: a device without `provider` or `machine` gets the sandbox provider
    /// and a simulated machine.
    Demo,
    /// A database, where money is real: every device names its provider and machine, and the
    /// sandbox provider and simulated machines are refused unless `sandbox_allowed`
    /// (`SANDBOX_ALLOW_WITH_DATABASE=true`, for staging).
    Database { sandbox_allowed: bool },
}

/// Parses and checks a fleet file for `destination`; `source` names it in messages. The file
/// only maps TOML to the domain's checked constructors (the rules live there) and says where
/// each problem is.
pub fn parse(
    source: &str,
    text: &str,
    secrets: &Secrets<'_>,
    destination: Destination,
) -> Result<Fleet, FleetError> {
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
    for entry in &file.merchants {
        let (span, mut found) = (entry.span(), Vec::new());
        let merchant = merchant(entry.get_ref(), secrets, &mut found);
        problems.extend(&span, found);
        if let Some(merchant) = merchant {
            if fleet.merchants.iter().any(|m| m.key == merchant.key) {
                problems.push(
                    &span,
                    format!("merchant {} is declared twice", merchant.key),
                );
            }
            fleet.merchants.push(merchant);
        }
    }
    for entry in &file.devices {
        let (span, mut found) = (entry.span(), Vec::new());
        let device = device(
            entry.get_ref(),
            &fleet.merchants,
            secrets,
            destination,
            &mut found,
        );
        problems.extend(&span, found);
        if let Some(device) = device {
            if fleet
                .devices
                .iter()
                .any(|d| d.device_uuid == device.device_uuid)
            {
                problems.push(
                    &span,
                    format!("device {} is declared twice", device.device_uuid),
                );
            }
            fleet.devices.push(device);
        }
    }
    for entry in &file.drinks {
        let (span, mut found) = (entry.span(), Vec::new());
        let drink = drink(entry.get_ref(), &fleet.devices, &mut found);
        problems.extend(&span, found);
        if let Some(drink) = drink {
            if fleet
                .drinks
                .iter()
                .any(|d| d.device == drink.device && d.drink_no == drink.drink_no)
            {
                problems.push(
                    &span,
                    format!(
                        "drink {} of device {} is declared twice",
                        drink.drink_no, drink.device
                    ),
                );
            }
            fleet.drinks.push(drink);
        }
    }
    if problems.lines.is_empty() {
        Ok(fleet)
    } else {
        Err(FleetError {
            problems: problems.lines,
        })
    }
}

/// Problems found so far, each with `FILE:LINE`.
struct Problems<'a> {
    source: &'a str,
    text: &'a str,
    lines: Vec<String>,
}

impl Problems<'_> {
    fn push(&mut self, span: &std::ops::Range<usize>, message: String) {
        self.lines.push(format!(
            "{}:{}: {message}",
            self.source,
            line_of(self.text, span.start)
        ));
    }

    fn extend(&mut self, span: &std::ops::Range<usize>, messages: Vec<String>) {
        for message in messages {
            self.push(span, message);
        }
    }
}

fn merchant(
    m: &MerchantEntry,
    secrets: &Secrets<'_>,
    problem: &mut Vec<String>,
) -> Option<Merchant> {
    let key = match MerchantKey::parse(&m.key) {
        Ok(key) => key,
        Err(e) => {
            problem.push(format!("merchant key: {e}"));
            return None;
        }
    };
    let Some(valid_until) = date(&m.valid_until) else {
        problem.push(format!(
            "merchant {key}: valid_until must be a date like 2099-12-31"
        ));
        return None;
    };
    let yookassa = m.yookassa.as_ref().and_then(|y| {
        match secrets.resolve("secret_key", &y.secret_key, &y.secret_key_env) {
            Ok(Some(secret_key)) => Some(YookassaSettings {
                shop_id: y.shop_id.clone(),
                secret_key,
                vat_code: y.vat_code,
                tax_system_code: y.tax_system_code,
            }),
            Ok(None) => {
                problem.push(format!(
                    "merchant {key}: yookassa needs secret_key or secret_key_env"
                ));
                None
            }
            Err(why) => {
                problem.push(format!("merchant {key}: yookassa.{why}"));
                None
            }
        }
    });
    let tbank = m.tbank.as_ref().and_then(|t| {
        match secrets.resolve("password", &t.password, &t.password_env) {
            Ok(Some(password)) => Some(TbankSettings {
                terminal_key: t.terminal_key.clone(),
                password,
                taxation: t.taxation.clone(),
                vat: t.vat.clone(),
                sbp: t.sbp,
            }),
            Ok(None) => {
                problem.push(format!(
                    "merchant {key}: tbank needs password or password_env"
                ));
                None
            }
            Err(why) => {
                problem.push(format!("merchant {key}: tbank.{why}"));
                None
            }
        }
    });
    let declared = Merchant {
        key: key.clone(),
        name: m.name.clone(),
        contact_email: m.contact_email.clone(),
        valid_until,
        capture: m.capture,
        receipt: m.receipt,
        yookassa,
        tbank,
        disabled: m.disabled,
    };
    match declared.checked() {
        Ok(merchant) => Some(merchant),
        Err(broken) => {
            broken
                .iter()
                .for_each(|rule| problem.push(format!("merchant {key}: {rule}")));
            None
        }
    }
}

fn date(value: &toml::Value) -> Option<NaiveDate> {
    match value {
        toml::Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
        toml::Value::Datetime(dt) => dt.date.and_then(|d| {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
        }),
        _ => None,
    }
}

fn device(
    d: &DeviceEntry,
    merchants: &[Merchant],
    secrets: &Secrets<'_>,
    destination: Destination,
    problem: &mut Vec<String>,
) -> Option<Device> {
    let device_uuid = match DeviceUuid::parse(&d.device_uuid) {
        Ok(id) => id,
        Err(e) => {
            problem.push(format!("device_uuid: {e}"));
            return None;
        }
    };
    let Ok(merchant_key) = MerchantKey::parse(&d.merchant) else {
        problem.push(format!(
            "device {device_uuid}: merchant {:?} is not declared in this file",
            d.merchant
        ));
        return None;
    };
    let events_secret = secrets
        .resolve("events_secret", &d.events_secret, &d.events_secret_env)
        .unwrap_or_else(|why| {
            problem.push(format!("device {device_uuid}: {why}"));
            None
        });
    let (provider, machine) = match kinds(d, destination) {
        Ok(kinds) => kinds,
        Err(why) => {
            problem.extend(
                why.into_iter()
                    .map(|w| format!("device {device_uuid}: {w}")),
            );
            return None;
        }
    };
    let on_dispense_deadline = d
        .on_dispense_deadline
        .unwrap_or_else(|| default_deadline_policy(machine, events_secret.is_some()));
    let mut status_texts = BTreeMap::new();
    for (name, text) in &d.status_texts {
        match OrderStatus::parse(name) {
            Some(status) => {
                status_texts.insert(status, text.clone());
            }
            None => problem.push(format!(
                "device {device_uuid}: status_texts.{name} is not a status (one of {})",
                OrderStatus::ALL.map(OrderStatus::as_str).join(", ")
            )),
        }
    }
    let declared = Device {
        branding: Branding {
            logo_url: d.logo_url.clone(),
            client_info: d.client_info.clone(),
            client_error_info: d.client_error_info.clone(),
            status_texts,
        },
        events_secret,
        device_uuid: device_uuid.clone(),
        merchant: merchant_key.clone(),
        location: d.location.clone(),
        provider,
        redirect_url: d.redirect_url.clone(),
        machine,
        test: d.test,
        dispense_deadline_seconds: d.dispense_deadline_seconds,
        on_dispense_deadline,
        simulation: Simulation {
            outcome: d.simulated_outcome,
            delay_ms: d.simulated_delay_ms,
        },
        disabled: d.disabled,
    };
    let merchant = merchants.iter().find(|m| m.key == merchant_key);
    match declared.checked(merchant) {
        Ok(device) => Some(device),
        Err(broken) => {
            broken
                .iter()
                .for_each(|rule| problem.push(format!("device {device_uuid}: {rule}")));
            None
        }
    }
}

/// The device's provider and machine as `destination` allows them: demo fleets default them,
/// databases need them declared and take the sandbox ones only when allowed.
fn kinds(
    d: &DeviceEntry,
    destination: Destination,
) -> Result<(ProviderKind, MachineKind), Vec<String>> {
    let Destination::Database { sandbox_allowed } = destination else {
        return Ok((
            d.provider.unwrap_or(DEMO_PROVIDER),
            d.machine.unwrap_or(DEMO_MACHINE),
        ));
    };
    const STAGING: &str = "refused on a database unless SANDBOX_ALLOW_WITH_DATABASE=true (staging)";
    let mut why = Vec::new();
    match d.provider {
        None => why.push(
            "provider is required on a database: \"yookassa\", \"tbank\" or \"custom\"".to_owned(),
        ),
        Some(ProviderKind::Sandbox) if !sandbox_allowed => why.push(format!(
            "provider \"sandbox\" takes no real money: {STAGING}"
        )),
        Some(_) => {}
    }
    match d.machine {
        None => why.push(
            "machine is required on a database: \"tmetr\", \"mqtt\" or \"mqtt-legacy\"".to_owned(),
        ),
        Some(MachineKind::Simulated) if !sandbox_allowed => {
            why.push(format!("machine \"simulated\" makes no drinks: {STAGING}"))
        }
        Some(_) => {}
    }
    match (d.provider, d.machine) {
        (Some(provider), Some(machine)) if why.is_empty() => Ok((provider, machine)),
        _ => Err(why),
    }
}

fn drink(d: &DrinkEntry, devices: &[Device], problem: &mut Vec<String>) -> Option<Drink> {
    let device = match DeviceUuid::parse(&d.device) {
        Ok(id) if devices.iter().any(|known| known.device_uuid == id) => id,
        _ => {
            problem.push(format!(
                "drink: device {:?} is not declared in this file",
                d.device
            ));
            return None;
        }
    };
    let drink_no = match DrinkNo::parse(&d.drink_no) {
        Ok(no) => no,
        Err(e) => {
            problem.push(format!("drink_no: {e}"));
            return None;
        }
    };
    let mut price = |size: &str, kopecks: Option<i64>| match kopecks.map(Money::rub) {
        None => None,
        Some(Ok(money)) => Some(money),
        Some(Err(_)) => {
            problem.push(format!(
                "drink {drink_no}: price of {size} must be a positive number of kopecks"
            ));
            None
        }
    };
    let prices = SizePrices {
        small: price("small", d.prices.small),
        medium: price("medium", d.prices.medium),
        big: price("big", d.prices.big),
    };
    let declared = Drink {
        device,
        drink_no: drink_no.clone(),
        name: d.name.clone(),
        prices,
        receipt: DrinkReceipt {
            vat_code: d.vat_code,
            measure: d.measure.clone(),
            payment_subject: d.payment_subject.clone(),
            payment_mode: d.payment_mode.clone(),
        },
        disabled: d.disabled,
    };
    match declared.checked() {
        Ok(drink) => Some(drink),
        Err(broken) => {
            broken
                .iter()
                .for_each(|rule| problem.push(format!("drink {drink_no}: {rule}")));
            None
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests;
