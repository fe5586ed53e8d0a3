//! Defaults and refusals, read through `Config::from_vars`.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_give_demo_mode_on_port_8080() {
    let config = Config::from_vars(&vars(&[])).unwrap();
    assert!(config.is_demo());
    assert_eq!(config.bind_addr.port(), 8080);
    assert_eq!(config.base_url, "http://localhost:8080");
    assert_eq!(config.order_expiration_minutes, 15);
}

#[test]
fn rate_limits_default_to_60_per_client_and_120_per_device_and_0_turns_them_off() {
    let config = Config::from_vars(&vars(&[])).unwrap();
    assert_eq!(
        (
            config.rate_limit_per_ip_per_minute,
            config.rate_limit_per_device_per_minute
        ),
        (60, 120)
    );
    let off = Config::from_vars(&vars(&[
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0"),
        ("RATE_LIMIT_PER_DEVICE_PER_MINUTE", "0"),
    ]))
    .unwrap();
    assert_eq!(
        (
            off.rate_limit_per_ip_per_minute,
            off.rate_limit_per_device_per_minute
        ),
        (0, 0)
    );
    let error = Config::from_vars(&vars(&[("RATE_LIMIT_PER_IP_PER_MINUTE", "-1")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"configuration error: RATE_LIMIT_PER_IP_PER_MINUTE: "-1" is not a number between 0 and 100000"#
    );
}

#[test]
fn production_mode_needs_a_secret_key() {
    let error = Config::from_vars(&vars(&[(
        "DATABASE_URL",
        "postgres://db/coffee?sslmode=verify-full",
    )]))
    .unwrap_err();
    assert_eq!(error.variable, "SECRET_KEY");
    let config = Config::from_vars(&vars(&[
        ("DATABASE_URL", "postgres://db/coffee?sslmode=verify-full"),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ("BASE_URL", "https://pay.example.ru"),
    ]))
    .unwrap();
    assert!(!config.is_demo());
    assert!(config.migrate_on_start);
}

const PRODUCTION: [(&str, &str); 3] = [
    ("DATABASE_URL", "postgres://db/coffee?sslmode=verify-full"),
    ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    ("BASE_URL", "https://pay.example.ru"),
];

fn production_with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut pairs = PRODUCTION.to_vec();
    pairs.extend_from_slice(extra);
    Config::from_vars(&vars(&pairs))
}

#[test]
fn a_remote_database_needs_an_sslmode_that_cannot_fall_back_to_plain_text() {
    let remote = |url: &str| {
        let mut pairs = PRODUCTION.to_vec();
        pairs[0] = ("DATABASE_URL", url);
        Config::from_vars(&vars(&pairs))
    };
    let error = remote("postgres://coffee:secret@db.example.ru/coffee").unwrap_err();
    assert_eq!(error.variable, "DATABASE_URL");
    assert!(
        error
            .to_string()
            .contains("db.example.ru is not on this machine")
            && error.to_string().contains("sslmode=verify-full")
            && !error.to_string().contains("secret"),
        "{error}"
    );
    assert!(remote("postgres://u@db.example.ru/coffee?sslmode=prefer").is_err());
    let error = remote("postgres://u@db.example.ru/coffee?sslmode=sometimes").unwrap_err();
    assert!(error.to_string().contains("\"sometimes\""), "{error}");
    for good in [
        "postgres://u@db.example.ru/coffee?sslmode=verify-full",
        "postgres://u@db.example.ru/coffee?sslmode=require",
        "postgres://u@db.example.ru/coffee?sslmode=disable",
        "postgres://u@127.0.0.1:5432/coffee",
    ] {
        assert!(remote(good).is_ok(), "{good}");
    }
}

#[test]
fn production_mode_needs_a_public_base_url() {
    let error = Config::from_vars(&vars(&PRODUCTION[..2])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration error: BASE_URL: required with DATABASE_URL: the public address customers come back to from the payment page, e.g. https://pay.example.ru"
    );
    assert_eq!(
        production_with(&[]).unwrap().base_url,
        "https://pay.example.ru"
    );
}

#[test]
fn a_bare_host_as_base_url_means_https() {
    for (given, meant) in [
        ("pay.example.ru", "https://pay.example.ru"),
        ("pay.example.ru:8443/", "https://pay.example.ru:8443"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
    ] {
        let config = Config::from_vars(&vars(&[("BASE_URL", given)])).unwrap();
        assert_eq!(config.base_url, meant, "{given}");
    }
    let error = Config::from_vars(&vars(&[("BASE_URL", "pay example")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"configuration error: BASE_URL: "pay example" is neither an http(s) URL nor a host name"#
    );
}

#[test]
fn the_sandbox_on_a_database_needs_the_staging_flag() {
    let error = production_with(&[("SANDBOX_ENABLED", "true")]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration error: SANDBOX_ENABLED: refused with DATABASE_URL set: the sandbox takes no real money. For staging, also set SANDBOX_ALLOW_WITH_DATABASE=true"
    );
    let staging = production_with(&[
        ("SANDBOX_ENABLED", "true"),
        ("SANDBOX_ALLOW_WITH_DATABASE", "true"),
    ])
    .unwrap();
    assert!(staging.sandbox_enabled && staging.sandbox_allow_with_database);
    // Demo mode always has the sandbox; the flag changes nothing there.
    assert!(Config::from_vars(&vars(&[("SANDBOX_ENABLED", "true")])).is_ok());
}

#[test]
fn serving_production_settings_without_a_database_is_refused_naming_both() {
    for variable in [
        "SECRET_KEY",
        "YOOKASSA_API_URL",
        "YOOKASSA_TRUSTED_IPS",
        "TMETR_HOST",
        "TMETR_TOKEN",
        "TBANK_TERMINAL_KEY",
        "MQTT_URL",
    ] {
        let value = match variable {
            "SECRET_KEY" => "0123456789abcdef0123456789abcdef",
            "YOOKASSA_API_URL" => "https://api.yookassa.ru/v3",
            "YOOKASSA_TRUSTED_IPS" => "185.71.76.0/27",
            "TMETR_HOST" => "telemetry.fwsoft.ru",
            "MQTT_URL" => "mqtt://broker.local:1883",
            _ => "x",
        };
        let mut pairs = vec![(variable, value)];
        if variable == "TMETR_HOST" {
            pairs.push(("TMETR_TOKEN", "t"));
        }
        let config = Config::from_vars(&vars(&pairs)).unwrap();
        let error = config.check_serve().unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("configuration error: DATABASE_URL: not set, but {variable} is: production settings need the database (unset {variable} for demo mode)")
        );
    }
    assert!(
        Config::from_vars(&vars(&[("DEBUG", "true"), ("TMETR_HOST", " ")]))
            .unwrap()
            .check_serve()
            .is_ok()
    );
    assert!(
        production_with(&[("TMETR_HOST", "t"), ("TMETR_TOKEN", "t")])
            .unwrap()
            .check_serve()
            .is_ok()
    );
}

#[test]
fn tmetr_needs_credentials_and_a_sane_timeout() {
    let error = Config::from_vars(&vars(&[("TMETR_HOST", "tmetr.example")])).unwrap_err();
    assert_eq!(error.variable, "TMETR_TOKEN");
    let error = Config::from_vars(&vars(&[
        ("TMETR_HOST", "t"),
        ("TMETR_TOKEN_URL", "https://login/t"),
    ]))
    .unwrap_err();
    assert_eq!(error.variable, "TMETR_CLIENT_ID");
    let error = Config::from_vars(&vars(&[
        ("TMETR_HOST", "t"),
        ("TMETR_TOKEN", "x"),
        ("TMETR_TIMEOUT_SECONDS", "0"),
    ]))
    .unwrap_err();
    assert_eq!(error.variable, "TMETR_TIMEOUT_SECONDS");
    let config = Config::from_vars(&vars(&[
        ("TMETR_HOST", "t"),
        ("TMETR_TOKEN", "secret-token"),
    ]))
    .unwrap();
    assert!(!format!("{config:?}").contains("secret-token"));
}

#[test]
fn each_bad_value_is_refused_naming_its_variable() {
    let cases = [
        ("BIND_ADDR", "nonsense"),
        ("BASE_URL", "ftp://x"),
        ("ORDER_EXPIRATION_MINUTES", "-3"),
        ("ORDER_EXPIRATION_MINUTES", "soon"),
        ("DEBUG", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("SANDBOX_ENABLED", "2"),
        ("SANDBOX_ALLOW_WITH_DATABASE", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("SECRET_KEY", "short"),
        ("MIGRATE_ON_START", "later"),
        ("DATABASE_POOL_SIZE", "0"),
        ("JOB_WORKERS", "0"),
        ("JOB_LEASE_SECONDS", "forever"),
        ("YOOKASSA_API_URL", "api.yookassa.ru"),
        ("YOOKASSA_TRUSTED_IPS", "10.0.0.0/99"),
        ("TBANK_API_URL", "securepay.tbank.ru/v2"),
        ("TBANK_TRUSTED_IPS", "10.0.0.0/99"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "-1"),
        ("RATE_LIMIT_PER_DEVICE_PER_MINUTE", "lots"),
    ];
    for (variable, value) in cases {
        let error = Config::from_vars(&vars(&[(variable, value)])).unwrap_err();
        assert_eq!(error.variable, variable);
        assert!(error.to_string().contains(variable));
    }
}

#[test]
fn each_refusal_says_what_is_wrong_with_the_value() {
    let cases: [(&[(&str, &str)], &str); 21] = [
        (
            &[("BIND_ADDR", "nonsense")],
            r#"BIND_ADDR: "nonsense" is not an address like 0.0.0.0:8080"#,
        ),
        (
            &[("BASE_URL", "ftp://x")],
            r#"BASE_URL: "ftp://x" must start with http:// or https://"#,
        ),
        (
            &[("ORDER_EXPIRATION_MINUTES", "-3")],
            r#"ORDER_EXPIRATION_MINUTES: "-3" is not a number of minutes between 1 and 1440"#,
        ),
        (
            &[("DEVICE_ONLINE_THRESHOLD_MINUTES", "1441")],
            r#"DEVICE_ONLINE_THRESHOLD_MINUTES: "1441" is not a number of minutes between 1 and 1440"#,
        ),
        (
            &[("DEBUG", "Maybe")],
            r#"DEBUG: "maybe" is not true or false"#,
        ),
        (
            &[("LOG_FORMAT", "xml")],
            r#"LOG_FORMAT: "xml" is neither "text" nor "json""#,
        ),
        (
            &[("DATABASE_URL", "mysql://x")],
            "DATABASE_URL: must be a postgres:// URL (unset it for demo mode)",
        ),
        (
            &[("DATABASE_URL", "postgres://db/coffee?sslmode=verify-full")],
            "SECRET_KEY: required outside demo mode (it encrypts stored credentials)",
        ),
        (
            &[("SECRET_KEY", "short")],
            "SECRET_KEY: must be at least 32 characters",
        ),
        (
            &[("MIGRATE_ON_START", "later")],
            r#"MIGRATE_ON_START: "later" is not true or false"#,
        ),
        (
            &[("DATABASE_POOL_SIZE", "0")],
            r#"DATABASE_POOL_SIZE: "0" is not a number between 1 and 512"#,
        ),
        (
            &[("TMETR_HOST", "t")],
            "TMETR_TOKEN: TMETR_HOST is set: give TMETR_TOKEN or TMETR_TOKEN_URL with client credentials",
        ),
        (
            &[("TMETR_HOST", "t"), ("TMETR_TOKEN_URL", "https://login/t")],
            "TMETR_CLIENT_ID: required with TMETR_TOKEN_URL",
        ),
        (
            &[("TMETR_HOST", "t"), ("TMETR_TOKEN", "x"), ("TMETR_TIMEOUT_SECONDS", "121")],
            r#"TMETR_TIMEOUT_SECONDS: "121" is not a number of seconds between 1 and 120"#,
        ),
        (
            &[("YOOKASSA_API_URL", "api.yookassa.ru")],
            r#"YOOKASSA_API_URL: "api.yookassa.ru" is not an http(s) URL"#,
        ),
        (
            &[("YOOKASSA_TRUSTED_IPS", "10.0.0.0/99")],
            r#"YOOKASSA_TRUSTED_IPS: "10.0.0.0/99" is not a CIDR network"#,
        ),
        (
            &[("TBANK_TRUSTED_IPS", "91.194.226.0/23, 10.0.0.0/99")],
            r#"TBANK_TRUSTED_IPS: "10.0.0.0/99" is not a CIDR network"#,
        ),
        (
            &[("TRUSTED_PROXIES", "10.0.0.1, not-an-ip")],
            r#"TRUSTED_PROXIES: "not-an-ip" is not an IP address or CIDR network"#,
        ),
        (
            &[("JOB_LEASE_SECONDS", "forever")],
            r#"JOB_LEASE_SECONDS: "forever" is not a number of seconds between 1 and 3600"#,
        ),
        (
            &[("JOB_WORKERS", "65")],
            r#"JOB_WORKERS: "65" is not a number between 1 and 64"#,
        ),
        (
            // The first bad variable in reading order is the one reported.
            &[("JOB_WORKERS", "0"), ("BIND_ADDR", "nonsense")],
            r#"BIND_ADDR: "nonsense" is not an address like 0.0.0.0:8080"#,
        ),
    ];
    for (pairs, expected) in cases {
        let error = Config::from_vars(&vars(pairs)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("configuration error: {expected}")
        );
    }
}

#[test]
fn metrics_are_off_unless_a_listener_or_a_token_of_16_characters_says_where() {
    let off = Config::from_vars(&vars(&[])).unwrap();
    assert_eq!(off.metrics, MetricsExport::default());
    let on = Config::from_vars(&vars(&[
        ("METRICS_ADDR", "127.0.0.1:9464"),
        ("METRICS_TOKEN", "0123456789abcdef"),
    ]))
    .unwrap();
    assert_eq!(on.metrics.addr.map(|a| a.port()), Some(9464));
    assert!(!format!("{:?}", on.metrics).contains("0123456789abcdef"));
    let short = Config::from_vars(&vars(&[("METRICS_TOKEN", "short")])).unwrap_err();
    assert_eq!(short.variable, "METRICS_TOKEN");
    let bad = Config::from_vars(&vars(&[("METRICS_ADDR", "everywhere")])).unwrap_err();
    assert_eq!(bad.variable, "METRICS_ADDR");
}

#[test]
fn mqtt_is_off_without_mqtt_url_and_takes_the_documented_defaults_with_it() {
    assert_eq!(Config::from_vars(&vars(&[])).unwrap().mqtt, None);
    let mqtt = Config::from_vars(&vars(&[("MQTT_URL", "mqtt://broker:1883")]))
        .unwrap()
        .mqtt
        .unwrap();
    assert_eq!(mqtt.command_topic, "vending/{device_uuid}/commands");
    assert_eq!(mqtt.event_topic, "vending/{device_uuid}/events/order");
    assert_eq!(mqtt.status_topic, "vending/{device_uuid}/status");
    assert_eq!(mqtt.legacy_topic, "technical");
    assert_eq!(mqtt.shared_group.as_deref(), Some("coffee-pay"));
    assert_eq!(mqtt.keep_alive, std::time::Duration::from_secs(30));
    assert!(mqtt.client_id.starts_with("coffee-pay-"));
    let other = Config::from_vars(&vars(&[("MQTT_URL", "mqtt://broker:1883")]))
        .unwrap()
        .mqtt
        .unwrap();
    assert_ne!(mqtt.client_id, other.client_id, "unique per process");
}

#[test]
fn mqtt_settings_are_read_and_yandex_style_templates_are_accepted() {
    let mqtt = Config::from_vars(&vars(&[
        ("MQTT_URL", "mqtts://mqtt.example.com"),
        ("MQTT_USERNAME", "registry"),
        ("MQTT_PASSWORD", "very-secret-password"),
        ("MQTT_CLIENT_ID", "pay-1"),
        ("MQTT_COMMAND_TOPIC", "$devices/{device_uuid}/commands"),
        ("MQTT_EVENT_TOPIC", "$devices/{device_uuid}/events/order"),
        ("MQTT_SHARED_GROUP", "off"),
    ]))
    .unwrap();
    assert!(!format!("{mqtt:?}").contains("very-secret-password"));
    let mqtt = mqtt.mqtt.unwrap();
    assert_eq!(mqtt.username.as_deref(), Some("registry"));
    assert_eq!(mqtt.client_id, "pay-1");
    assert_eq!(mqtt.command_topic, "$devices/{device_uuid}/commands");
    assert_eq!(mqtt.shared_group, None);
}

#[test]
fn bad_mqtt_values_are_refused_naming_their_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("MQTT_URL", "http://broker")], "MQTT_URL"),
        (
            &[
                ("MQTT_URL", "mqtt://b"),
                ("MQTT_COMMAND_TOPIC", "vending/commands"),
            ],
            "MQTT_COMMAND_TOPIC",
        ),
        (
            &[
                ("MQTT_URL", "mqtt://b"),
                ("MQTT_EVENT_TOPIC", "vending/+/{device_uuid}"),
            ],
            "MQTT_EVENT_TOPIC",
        ),
        (
            &[("MQTT_URL", "mqtt://b"), ("MQTT_CA_FILE", "Cargo.toml")],
            "MQTT_CA_FILE",
        ),
        (
            &[
                ("MQTT_URL", "mqtts://b"),
                ("MQTT_CA_FILE", "/nonexistent/ca.pem"),
            ],
            "MQTT_CA_FILE",
        ),
        (
            &[
                ("MQTT_URL", "mqtts://b"),
                ("MQTT_CLIENT_CERT_FILE", "Cargo.toml"),
            ],
            "MQTT_CLIENT_KEY_FILE",
        ),
        (
            &[("MQTT_URL", "mqtt://b"), ("MQTT_PASSWORD", "p")],
            "MQTT_USERNAME",
        ),
        (
            &[("MQTT_URL", "mqtt://b"), ("MQTT_KEEP_ALIVE_SECONDS", "0")],
            "MQTT_KEEP_ALIVE_SECONDS",
        ),
        (
            &[("MQTT_URL", "mqtt://b"), ("MQTT_SHARED_GROUP", "a/b")],
            "MQTT_SHARED_GROUP",
        ),
        (
            &[
                ("MQTT_URL", "mqtt://b"),
                ("MQTT_LEGACY_TOPIC", "technical/#"),
            ],
            "MQTT_LEGACY_TOPIC",
        ),
    ];
    for (pairs, variable) in cases {
        let error = Config::from_vars(&vars(pairs)).unwrap_err();
        assert_eq!(error.variable, *variable, "{pairs:?}: {error}");
    }
}

#[test]
fn tbank_trusted_ips_default_to_any_sender_and_read_a_list_of_networks() {
    assert!(Config::from_vars(&vars(&[]))
        .unwrap()
        .tbank_trusted_ips
        .is_empty());
    let narrowed = Config::from_vars(&vars(&[(
        "TBANK_TRUSTED_IPS",
        "91.194.226.0/23, 212.49.24.206",
    )]))
    .unwrap();
    let listed: Vec<String> = narrowed
        .tbank_trusted_ips
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["91.194.226.0/23", "212.49.24.206/32"]);
}
