//! `coffee-pay fleet export`: the stored fleet written as a fleet file that `fleet apply`
//! accepts. Secrets never leave the database: every provider key, terminal password and
//! device report key is written as a `*_env` reference naming the environment variable to
//! set before applying the file elsewhere.

use coffee_domain::{Device, Drink, Merchant, Size};
use toml::{map::Map, Value};

/// The environment variable a secret of `owner` is referenced by, e.g.
/// `COFFEE_MERCHANT_SHOP_1_YOOKASSA_SECRET_KEY`.
pub fn env_name(kind: &str, owner: &str, secret: &str) -> String {
    let owner: String = owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("COFFEE_{kind}_{owner}_{secret}")
}

fn enum_value<T: serde::Serialize>(value: &T) -> Value {
    Value::try_from(value).unwrap_or_else(|_| Value::String(String::new()))
}

/// `disabled = true` for a switched-off entity; nothing when it is on (the file's default).
fn insert_disabled(table: &mut Map<String, Value>, disabled: bool) {
    if disabled {
        table.insert("disabled".into(), Value::Boolean(true));
    }
}

fn merchant_table(merchant: &Merchant) -> Value {
    let mut table = Map::new();
    let key = merchant.key.as_str();
    table.insert("key".into(), Value::String(key.to_owned()));
    table.insert("name".into(), Value::String(merchant.name.clone()));
    table.insert(
        "contact_email".into(),
        Value::String(merchant.contact_email.clone()),
    );
    table.insert(
        "valid_until".into(),
        Value::String(merchant.valid_until.format("%Y-%m-%d").to_string()),
    );
    table.insert("capture".into(), enum_value(&merchant.capture));
    table.insert("receipt".into(), enum_value(&merchant.receipt));
    insert_disabled(&mut table, merchant.disabled);
    if let Some(shop) = &merchant.yookassa {
        let mut yookassa = Map::new();
        yookassa.insert("shop_id".into(), Value::String(shop.shop_id.clone()));
        yookassa.insert(
            "secret_key_env".into(),
            Value::String(env_name("MERCHANT", key, "YOOKASSA_SECRET_KEY")),
        );
        yookassa.insert("vat_code".into(), Value::Integer(i64::from(shop.vat_code)));
        if let Some(code) = shop.tax_system_code {
            yookassa.insert("tax_system_code".into(), Value::Integer(i64::from(code)));
        }
        table.insert("yookassa".into(), Value::Table(yookassa));
    }
    if let Some(terminal) = &merchant.tbank {
        let mut tbank = Map::new();
        tbank.insert(
            "terminal_key".into(),
            Value::String(terminal.terminal_key.clone()),
        );
        tbank.insert(
            "password_env".into(),
            Value::String(env_name("MERCHANT", key, "TBANK_PASSWORD")),
        );
        tbank.insert("taxation".into(), Value::String(terminal.taxation.clone()));
        tbank.insert("vat".into(), Value::String(terminal.vat.clone()));
        tbank.insert("sbp".into(), Value::Boolean(terminal.sbp));
        table.insert("tbank".into(), Value::Table(tbank));
    }
    Value::Table(table)
}

fn device_table(device: &Device) -> Value {
    let mut table = Map::new();
    let id = device.device_uuid.as_str();
    table.insert("device_uuid".into(), Value::String(id.to_owned()));
    table.insert(
        "merchant".into(),
        Value::String(device.merchant.as_str().to_owned()),
    );
    table.insert("location".into(), Value::String(device.location.clone()));
    table.insert("provider".into(), enum_value(&device.provider));
    if let Some(url) = &device.redirect_url {
        table.insert("redirect_url".into(), Value::String(url.clone()));
    }
    table.insert("machine".into(), enum_value(&device.machine));
    table.insert("test".into(), Value::Boolean(device.test));
    table.insert(
        "dispense_deadline_seconds".into(),
        Value::Integer(i64::from(device.dispense_deadline_seconds)),
    );
    table.insert(
        "on_dispense_deadline".into(),
        enum_value(&device.on_dispense_deadline),
    );
    table.insert(
        "simulated_outcome".into(),
        enum_value(&device.simulation.outcome),
    );
    table.insert(
        "simulated_delay_ms".into(),
        Value::Integer(i64::try_from(device.simulation.delay_ms).unwrap_or(i64::MAX)),
    );
    if device.events_secret.is_some() {
        table.insert(
            "events_secret_env".into(),
            Value::String(env_name("DEVICE", id, "EVENTS_SECRET")),
        );
    }
    insert_disabled(&mut table, device.disabled);
    let face = &device.branding;
    for (key, text) in [
        ("logo_url", &face.logo_url),
        ("client_info", &face.client_info),
        ("client_error_info", &face.client_error_info),
    ] {
        if let Some(text) = text {
            table.insert(key.into(), Value::String(text.clone()));
        }
    }
    if !face.status_texts.is_empty() {
        let texts = face
            .status_texts
            .iter()
            .map(|(status, text)| (status.as_str().to_owned(), Value::String(text.clone())))
            .collect();
        table.insert("status_texts".into(), Value::Table(texts));
    }
    Value::Table(table)
}

fn drink_table(drink: &Drink) -> Value {
    let mut table = Map::new();
    table.insert(
        "device".into(),
        Value::String(drink.device.as_str().to_owned()),
    );
    table.insert(
        "drink_no".into(),
        Value::String(drink.drink_no.as_str().to_owned()),
    );
    table.insert("name".into(), Value::String(drink.name.clone()));
    insert_disabled(&mut table, drink.disabled);
    let mut prices = Map::new();
    for size in Size::ALL {
        if let Some(price) = drink.prices.get(size) {
            prices.insert(size.as_str().into(), Value::Integer(price.kopecks()));
        }
    }
    table.insert("prices".into(), Value::Table(prices));
    let receipt = &drink.receipt;
    if let Some(vat_code) = receipt.vat_code {
        table.insert("vat_code".into(), Value::Integer(i64::from(vat_code)));
    }
    for (key, value) in [
        ("measure", &receipt.measure),
        ("payment_subject", &receipt.payment_subject),
        ("payment_mode", &receipt.payment_mode),
    ] {
        if let Some(value) = value {
            table.insert(key.into(), Value::String(value.clone()));
        }
    }
    Value::Table(table)
}

/// The fleet file's text, and the environment variables its secrets are referenced by.
pub fn fleet_file(
    merchants: &[Merchant],
    devices: &[Device],
    drinks: &[Drink],
) -> Result<(String, Vec<String>), toml::ser::Error> {
    let mut root = Map::new();
    root.insert(
        "merchants".into(),
        Value::Array(merchants.iter().map(merchant_table).collect()),
    );
    root.insert(
        "devices".into(),
        Value::Array(devices.iter().map(device_table).collect()),
    );
    root.insert(
        "drinks".into(),
        Value::Array(drinks.iter().map(drink_table).collect()),
    );
    let mut env = Vec::new();
    for merchant in merchants {
        if merchant.yookassa.is_some() {
            env.push(env_name(
                "MERCHANT",
                merchant.key.as_str(),
                "YOOKASSA_SECRET_KEY",
            ));
        }
        if merchant.tbank.is_some() {
            env.push(env_name(
                "MERCHANT",
                merchant.key.as_str(),
                "TBANK_PASSWORD",
            ));
        }
    }
    for device in devices.iter().filter(|d| d.events_secret.is_some()) {
        env.push(env_name(
            "DEVICE",
            device.device_uuid.as_str(),
            "EVENTS_SECRET",
        ));
    }
    let text = format!(
        "# The fleet as stored, written by `coffee-pay fleet export`. Secrets are not in this\n# file: set the environment variables named by the *_env keys before `fleet apply`.\n\n{}",
        toml::to_string(&Value::Table(root))?
    );
    Ok((text, env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{parse, Destination, Secrets};
    use crate::secrets::SecretBox;
    use coffee_domain::{Fleet, ProviderKind};
    use coffee_test_support::fixtures::{device, drink, merchant};
    use coffee_test_support::fleet_file::fleet;

    fn stored() -> Fleet {
        fleet()
            .merchant(
                merchant("shop-1")
                    .name("Кофе «Тест», \"кавычки\"")
                    .yookassa("s-1", "k", 1),
            )
            .merchant(merchant("tb").tbank("TerminalDEMO", "pw").tbank_sbp())
            .merchant(merchant("idle").disabled())
            .device(
                device("dev-1", "shop-1")
                    .provider(ProviderKind::Yookassa)
                    .location("Холл, 1 этаж")
                    .events_secret("device-key"),
            )
            .device(
                device("dev-2", "tb")
                    .provider(ProviderKind::Tbank)
                    .logo_url("https://cdn.example/logo.png")
                    .client_info("Свежая обжарка.\nМеню: https://example.ru/menu")
                    .client_error_info("Поддержка: tel:+79001234567")
                    .status_text(coffee_domain::OrderStatus::Successful, "Спасибо!")
                    .disabled(),
            )
            .drink(
                drink("dev-1", "1")
                    .name("Капучино")
                    .small(12000)
                    .big(18000)
                    .receipt_of(2, "piece", "commodity", "full_payment"),
            )
            .drink(drink("dev-2", "7").name("Чай").medium(5000).disabled())
            .build()
    }

    #[test]
    fn an_exported_fleet_applies_back_to_the_same_fleet_with_secrets_from_the_environment() {
        let fleet = stored();
        let (text, env) = fleet_file(&fleet.merchants, &fleet.devices, &fleet.drinks).unwrap();
        assert_eq!(
            env,
            [
                "COFFEE_MERCHANT_SHOP_1_YOOKASSA_SECRET_KEY",
                "COFFEE_MERCHANT_TB_TBANK_PASSWORD",
                "COFFEE_DEVICE_DEV_1_EVENTS_SECRET",
            ]
        );
        assert!(!text.contains("device-key") && !text.contains("\"pw\""));
        // Only what is switched off says so.
        assert_eq!(text.matches("disabled = true").count(), 3, "{text}");
        assert!(!text.contains("disabled = false"), "{text}");
        let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
        let from_env = |name: &str| env.iter().any(|e| e == name).then(|| "from-env".to_owned());
        let back = parse(
            "exported.toml",
            &text,
            &Secrets {
                sealer: &sealer,
                env: &from_env,
            },
            Destination::Database {
                sandbox_allowed: true,
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.drinks, fleet.drinks);
        let names = |f: &Fleet| -> Vec<(String, String, bool, bool, bool)> {
            f.merchants
                .iter()
                .map(|m| {
                    (
                        m.key.to_string(),
                        m.name.clone(),
                        m.yookassa.is_some(),
                        m.tbank.as_ref().is_some_and(|t| t.sbp),
                        m.disabled,
                    )
                })
                .collect()
        };
        assert_eq!(names(&back), names(&fleet));
        let devices = |f: &Fleet| -> Vec<String> {
            f.devices
                .iter()
                .map(|d| {
                    format!(
                        "{} {} {} {:?} {:?} {} {:?} {}",
                        d.disabled,
                        d.device_uuid,
                        d.merchant,
                        d.provider,
                        d.machine,
                        d.location,
                        d.on_dispense_deadline,
                        d.events_secret.is_some()
                    )
                })
                .collect()
        };
        assert_eq!(devices(&back), devices(&fleet));
        let opened = back.merchants[0]
            .yookassa
            .as_ref()
            .map(|y| sealer.open(&y.secret_key).unwrap());
        assert_eq!(opened.as_deref(), Some("from-env"));
    }
}
