//! Parsing and checking fleet files, with the line of every problem.

use super::*;
use coffee_domain::{CaptureMode, ProviderKind};

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
    parse_for(source, text, env, Destination::Demo)
}

fn parse_for(
    source: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    destination: Destination,
) -> Result<Fleet, FleetError> {
    let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
    super::parse(
        source,
        text,
        &Secrets {
            sealer: &sealer,
            env,
        },
        destination,
    )
}

/// A fleet checked for a database, as `coffee-pay fleet apply` with `DATABASE_URL` does.
fn parse_for_database(text: &str, sandbox_allowed: bool) -> Result<Fleet, FleetError> {
    parse_for(
        "f.toml",
        text,
        &|_| None,
        Destination::Database { sandbox_allowed },
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
    assert!(
        !fleet.merchants[0].disabled && !fleet.devices[0].disabled && !fleet.drinks[0].disabled
    );
}

#[test]
fn disabled_must_be_true_or_false_and_is_reported_with_its_line() {
    let text = GOOD.replace(
        "name = \"Капучино\"",
        "name = \"Капучино\"\ndisabled = \"yes\"",
    );
    let problems = parse("fleet.toml", &text).unwrap_err().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("fleet.toml:"), "{problems:?}");
    let switched_off = GOOD.replace(
        "name = \"Капучино\"",
        "name = \"Капучино\"\ndisabled = true",
    );
    assert!(parse("fleet.toml", &switched_off).unwrap().drinks[0].disabled);
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
fn tbank_passwords_are_sealed_and_a_tbank_device_needs_the_terminal() {
    let with_terminal = GOOD.replace(
        "receipt = \"required\"\n",
        "receipt = \"required\"\n[merchants.tbank]\nterminal_key = \"1234567890DEMO\"\npassword_env = \"SHOP_SECRET\"\ntaxation = \"usn_income\"\nvat = \"vat22\"\nsbp = true\n",
    );
    let tbank_device = |text: &str| {
        text.replace(
            "location = \"Офис\"",
            "location = \"Офис\"\nprovider = \"tbank\"",
        )
    };
    let fleet = parse("f.toml", &tbank_device(&with_terminal)).unwrap();
    let terminal = fleet.merchants[0].tbank.clone().unwrap();
    assert_eq!(terminal.terminal_key, "1234567890DEMO");
    assert_eq!(
        (
            terminal.taxation.as_str(),
            terminal.vat.as_str(),
            terminal.sbp
        ),
        ("usn_income", "vat22", true)
    );
    assert!(!terminal.password.as_str().contains("live_abc"));
    assert!(!format!("{terminal:?}").contains(terminal.password.as_str()));
    let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(sealer.open(&terminal.password).unwrap(), "live_abc");

    let without = parse("f.toml", &tbank_device(GOOD)).unwrap_err();
    assert!(
        without.to_string().contains("[merchants.tbank]"),
        "{without}"
    );
    let bad_vat = with_terminal.replace("vat = \"vat22\"", "vat = \"vat18\"");
    assert!(parse("f.toml", &bad_vat)
        .unwrap_err()
        .to_string()
        .contains("tbank.vat"));
    let no_password = with_terminal.replace("password_env = \"SHOP_SECRET\"\n", "");
    assert!(parse("f.toml", &no_password)
        .unwrap_err()
        .to_string()
        .contains("tbank needs password or password_env"));
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

#[test]
fn a_machine_without_a_way_to_report_defaults_to_keeping_the_money_at_its_deadline() {
    use coffee_domain::DeadlinePolicy;
    let tmetr = GOOD.replace(
        "location = \"Офис\"",
        "location = \"Офис\"\nmachine = \"tmetr\"",
    );
    let device = &parse("f.toml", &tmetr).unwrap().devices[0];
    assert_eq!(device.on_dispense_deadline, DeadlinePolicy::AssumeSuccess);

    let reporting = tmetr.replace(
        "machine = \"tmetr\"",
        "machine = \"tmetr\"\nevents_secret = \"device-key\"",
    );
    let device = &parse("f.toml", &reporting).unwrap().devices[0];
    assert_eq!(device.on_dispense_deadline, DeadlinePolicy::FailAndRefund);
    let simulated = &parse("f.toml", GOOD).unwrap().devices[0];
    assert_eq!(
        simulated.on_dispense_deadline,
        DeadlinePolicy::FailAndRefund
    );
}

#[test]
fn a_refund_at_the_deadline_is_refused_for_a_machine_that_cannot_report() {
    let refunding = GOOD.replace(
        "location = \"Офис\"",
        "location = \"Офис\"\nmachine = \"tmetr\"\non_dispense_deadline = \"fail_and_refund\"",
    );
    let error = parse("f.toml", &refunding).unwrap_err();
    assert_eq!(
        error.problems[0],
        "f.toml:10: device demo-1: on_dispense_deadline = \"fail_and_refund\" needs a way for the machine to report: set events_secret, or the drink would be refunded after every deadline"
    );
}

#[test]
fn on_a_database_every_device_names_its_provider_and_machine() {
    let error = parse_for_database(GOOD, true).unwrap_err();
    assert_eq!(
        error.problems[..2],
        [
            "f.toml:10: device demo-1: provider is required on a database: \"yookassa\", \"tbank\" or \"custom\"",
            "f.toml:10: device demo-1: machine is required on a database: \"tmetr\", \"mqtt\" or \"mqtt-legacy\"",
        ]
    );
    let declared = GOOD.replace(
        "location = \"Офис\"",
        "location = \"Офис\"\nprovider = \"custom\"\nredirect_url = \"https://pay.example.com\"\nmachine = \"mqtt\"",
    );
    let fleet = parse_for_database(&declared, false).unwrap();
    assert_eq!(fleet.devices[0].provider, ProviderKind::Custom);
    // Demo fleets keep their defaults.
    assert_eq!(
        parse("f.toml", GOOD).unwrap().devices[0].provider,
        ProviderKind::Sandbox
    );
}

#[test]
fn the_sandbox_provider_and_simulated_machines_reach_a_database_only_when_staging_allows() {
    let sandbox = GOOD.replace(
        "location = \"Офис\"",
        "location = \"Офис\"\nprovider = \"sandbox\"\nmachine = \"simulated\"",
    );
    let error = parse_for_database(&sandbox, false).unwrap_err();
    assert_eq!(
        error.problems[..2],
        [
            "f.toml:10: device demo-1: provider \"sandbox\" takes no real money: refused on a database unless SANDBOX_ALLOW_WITH_DATABASE=true (staging)",
            "f.toml:10: device demo-1: machine \"simulated\" makes no drinks: refused on a database unless SANDBOX_ALLOW_WITH_DATABASE=true (staging)",
        ]
    );
    let staging = parse_for_database(&sandbox, true).unwrap();
    assert_eq!(staging.devices[0].provider, ProviderKind::Sandbox);
}

#[test]
fn a_fleet_file_written_by_the_test_builders_reads_back_as_built() {
    use coffee_domain::{DeadlinePolicy, MachineKind, ReceiptPolicy, SimulatedOutcome};
    use coffee_test_support::fixtures::{day, device, drink, merchant};
    use coffee_test_support::fleet_file::fleet;

    let builders = fleet()
        .merchant(
            merchant("shop")
                .name("Кофе \"Тест\"")
                .contact_email("shop@example.com")
                .valid_until(day(2026, 6, 1))
                .capture(CaptureMode::AfterDispense)
                .receipt(ReceiptPolicy::Required)
                .yookassa("shop-1", "live_abc", 4)
                .tax_system_code(2),
        )
        .merchant(
            merchant("plain")
                .tbank("1234567890DEMO", "tb-pass")
                .tbank_sbp()
                .disabled(),
        )
        .device(
            device("dev-1", "shop")
                .location("Холл")
                .provider(ProviderKind::Yookassa)
                .machine(MachineKind::Tmetr)
                .test_device()
                .dispense_deadline_seconds(120)
                .on_dispense_deadline(DeadlinePolicy::AssumeSuccess)
                .simulated_outcome(SimulatedOutcome::Silent)
                .simulated_delay_ms(20)
                .events_secret("device-key")
                .logo_url("https://cdn.example/logo.png")
                .client_info("Кофейня \"Тест\"\nhttps://coffee.example")
                .client_error_info("Поддержка: tel:+79001234567")
                .status_text(coffee_domain::OrderStatus::MakePending, "Варим…")
                .status_text(coffee_domain::OrderStatus::NotPaid, "Не оплачено"),
        )
        .device(
            device("ext-1", "plain")
                .custom("https://pay.example.com/start?shop=7")
                .disabled(),
        )
        .device(device("dev-2", "plain"))
        .drink(
            drink("dev-1", "1")
                .name("Латте")
                .small(100)
                .medium(200)
                .big(300)
                .receipt_of(2, "piece", "commodity", "full_payment"),
        )
        .drink(drink("dev-2", "2").medium(15000).disabled());

    let parsed = parse("builders.toml", &builders.to_toml()).unwrap();
    assert!(parsed.merchants[1].disabled && !parsed.merchants[0].disabled);
    assert!(parsed.devices[1].disabled && !parsed.devices[0].disabled);
    assert!(parsed.drinks[1].disabled && !parsed.drinks[0].disabled);

    // Secrets come back sealed; opened, they are the ones written.
    let sealer = SecretBox::from_secret_key("0123456789abcdef0123456789abcdef").unwrap();
    let mut expected = builders.build();
    let parsed_shop = parsed.merchants[0].yookassa.clone().unwrap();
    assert_eq!(sealer.open(&parsed_shop.secret_key).unwrap(), "live_abc");
    let parsed_key = parsed.devices[0].events_secret.clone().unwrap();
    assert_eq!(sealer.open(&parsed_key).unwrap(), "device-key");
    if let Some(shop) = expected.merchants[0].yookassa.as_mut() {
        shop.secret_key = parsed_shop.secret_key;
    }
    let parsed_terminal = parsed.merchants[1].tbank.clone().unwrap();
    assert_eq!(sealer.open(&parsed_terminal.password).unwrap(), "tb-pass");
    if let Some(terminal) = expected.merchants[1].tbank.as_mut() {
        terminal.password = parsed_terminal.password;
    }
    expected.devices[0].events_secret = Some(parsed_key);
    assert_eq!(parsed, expected);
}

#[test]
fn a_device_declares_its_branding_and_a_drink_its_receipt_data() {
    let text = format!(
        "{GOOD}{}",
        r#"
[[devices]]
device_uuid = "brand-1"
merchant = "demo"
logo_url = "https://cdn.example/logo.png"
client_info = """
Кофейня «Утро»
Меню: https://coffee.example"""
client_error_info = "Поддержка: tel:+79001234567"

[devices.status_texts]
successful = "Спасибо!"
make_pending = "Варим…"

[[drinks]]
device = "brand-1"
drink_no = "1"
name = "Сироп"
vat_code = 11
measure = "piece"
payment_subject = "service"
payment_mode = "full_payment"
prices = { small = 3000 }
"#
    );
    let fleet = parse("f.toml", &text).unwrap();
    let branded = fleet
        .devices
        .iter()
        .find(|d| d.device_uuid.as_str() == "brand-1")
        .unwrap();
    assert_eq!(
        branded.branding.client_info.as_deref(),
        Some("Кофейня «Утро»\nМеню: https://coffee.example")
    );
    assert_eq!(
        branded
            .branding
            .status_text(coffee_domain::OrderStatus::MakePending),
        Some("Варим…")
    );
    let syrup = fleet.drinks.iter().find(|d| d.name == "Сироп").unwrap();
    assert_eq!(syrup.receipt.vat_code, Some(11));
    assert_eq!(syrup.receipt.payment_subject.as_deref(), Some("service"));
}

#[test]
fn bad_branding_and_receipt_values_are_reported_with_their_line() {
    let text = format!(
        "{GOOD}{}",
        r#"
[[devices]]
device_uuid = "brand-1"
merchant = "demo"
logo_url = "javascript:alert(1)"

[devices.status_texts]
brewing = "Варим"

[[drinks]]
device = "demo-1"
drink_no = "2"
name = "Сироп"
vat_code = 13
measure = "шт"
prices = { small = 3000 }
"#
    );
    let error = parse("f.toml", &text).unwrap_err().to_string();
    assert!(
        error.contains("status_texts.brewing is not a status (one of created, pending"),
        "{error}"
    );
    assert!(error.contains("logo_url must be an http(s) URL"), "{error}");
    assert!(error.contains("vat_code must be 1–12"), "{error}");
    assert!(error.contains("measure must be one of"), "{error}");
}
