//! Bearer tokens (static, refreshed before expiry, refreshed once after a 401) and the
//! configuration the server hands the adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{Duration as Days, Utc};
use coffee_adapter_tmetr::token::{jwt_expiry, needs_refresh, static_token_health, TokenHealth};
use coffee_adapter_tmetr::{ConfigError, TmetrConfig, TmetrGateway, TokenRefresh, DEFAULT_TIMEOUT};
use coffee_domain::ports::{MachineError, MachineGateway};
use coffee_domain::{Money, Size};
use serde_json::json;
use std::time::Duration;
use support::*;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn token_answer(access: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access, "expires_in": expires_in, "token_type": "Bearer"
    }))
}

async fn mount_price_for_any_token(server: &MockServer) {
    Mock::given(path(DRINK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"price": 15_000})))
        .mount(server)
        .await;
}

/// The Authorization headers Tmetr (not the token endpoint) saw, in order.
async fn tmetr_authorizations(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() != TOKEN_PATH)
        .map(authorization)
        .collect()
}

async fn token_requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == TOKEN_PATH)
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_client_credentials_token_is_obtained_once_and_reused_while_fresh() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("Content-Type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=coffee-payments"))
        .and(body_string_contains("client_secret=s3cret"))
        .respond_with(token_answer("access-a", 3600))
        .expect(1)
        .mount(&server)
        .await;
    mount_price_for_any_token(&server).await;
    let gateway = refreshing_gateway(&server, client_credentials(&server));

    for _ in 0..2 {
        let price = gateway.price(&device(), &drink(), Size::Small).await;
        assert_eq!(price, Ok(Money::rub(15_000).unwrap()));
    }

    assert_eq!(
        tmetr_authorizations(&server).await,
        vec!["Bearer access-a"; 2]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_token_close_to_expiry_is_refreshed_before_the_next_call() {
    let server = MockServer::start().await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(token_answer("short-lived", 30)) // under the 60 s margin at once
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(token_answer("long-lived", 3600))
        .mount(&server)
        .await;
    mount_price_for_any_token(&server).await;
    let gateway = refreshing_gateway(&server, client_credentials(&server));

    for _ in 0..3 {
        gateway
            .price(&device(), &drink(), Size::Small)
            .await
            .unwrap();
    }

    assert_eq!(
        tmetr_authorizations(&server).await,
        vec![
            "Bearer short-lived",
            "Bearer long-lived",
            "Bearer long-lived"
        ]
    );
    assert_eq!(token_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path(MAKE_PATH))
        .and(header("Authorization", "Bearer old-token"))
        .respond_with(ResponseTemplate::new(401).set_body_string("token expired"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(MAKE_PATH))
        .and(header("Authorization", "Bearer new-token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(token_answer("new-token", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = TmetrConfig::new(&server.uri());
    config.token = Some("old-token".into());
    config.refresh = Some(client_credentials(&server));
    let gateway = TmetrGateway::new(config).unwrap();

    let made = gateway.make(&command(Size::Big, 18_000)).await;

    assert_eq!(made, Ok(()));
    assert_eq!(token_requests(&server).await.len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn a_token_refused_again_after_the_refresh_is_rejected_without_looping() {
    let server = MockServer::start().await;
    Mock::given(path(DRINK_PATH))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(token_answer("still-refused", 3600))
        .mount(&server)
        .await;
    let gateway = refreshing_gateway(&server, client_credentials(&server));

    let price = gateway.price(&device(), &drink(), Size::Small).await;

    assert!(
        matches!(price, Err(MachineError::Rejected(ref m)) if m.contains("401")),
        "{price:?}"
    );
    // One token for the first try, exactly one more after the 401.
    assert_eq!(token_requests(&server).await.len(), 2);
    server.verify().await;
}

#[tokio::test]
async fn a_static_token_refused_with_401_is_rejected_without_asking_for_a_token() {
    let server = MockServer::start().await;
    Mock::given(path(DRINK_PATH))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;

    let price = gateway(&server)
        .price(&device(), &drink(), Size::Small)
        .await;

    assert!(matches!(price, Err(MachineError::Rejected(_))), "{price:?}");
    server.verify().await;
}

#[tokio::test]
async fn the_refresh_token_grant_is_used_and_the_rotated_refresh_token_kept() {
    let server = MockServer::start().await;
    Mock::given(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=r1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a1", "expires_in": 30, "refresh_token": "r2"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=r2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "a2", "expires_in": 3600, "refresh_token": "r3"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_price_for_any_token(&server).await;
    let refresh = TokenRefresh {
        token_url: format!("{}{TOKEN_PATH}", server.uri()),
        client_id: "public-client".into(),
        client_secret: None,
        refresh_token: Some("r1".into()),
    };
    let gateway = refreshing_gateway(&server, refresh);

    gateway
        .price(&device(), &drink(), Size::Small)
        .await
        .unwrap();
    gateway
        .price(&device(), &drink(), Size::Small)
        .await
        .unwrap();

    assert_eq!(
        tmetr_authorizations(&server).await,
        vec!["Bearer a1", "Bearer a2"]
    );
    assert!(token_requests(&server)
        .await
        .iter()
        .all(|b| b.contains("client_id=public-client")));
    server.verify().await;
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_client_credentials() {
    let server = MockServer::start().await;
    Mock::given(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(token_answer("from-credentials", 3600))
        .expect(1)
        .mount(&server)
        .await;
    mount_price_for_any_token(&server).await;
    let mut refresh = client_credentials(&server);
    refresh.refresh_token = Some("expired-refresh".into());
    let gateway = refreshing_gateway(&server, refresh);

    gateway
        .price(&device(), &drink(), Size::Small)
        .await
        .unwrap();

    assert_eq!(
        tmetr_authorizations(&server).await,
        vec!["Bearer from-credentials"]
    );
    server.verify().await;
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(path(TOKEN_PATH))
        .respond_with(token_answer("shared", 3600).set_delay(Duration::from_millis(150)))
        .expect(1)
        .mount(&server)
        .await;
    mount_price_for_any_token(&server).await;
    let gateway = refreshing_gateway(&server, client_credentials(&server));
    let (device, drink) = (device(), drink());

    let (a, b, c, d) = tokio::join!(
        gateway.price(&device, &drink, Size::Small),
        gateway.price(&device, &drink, Size::Medium),
        gateway.price(&device, &drink, Size::Big),
        gateway.price(&device, &drink, Size::Small),
    );

    assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
    assert_eq!(
        tmetr_authorizations(&server).await,
        vec!["Bearer shared"; 4]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_token_endpoint_outage_is_unavailable_and_refused_credentials_are_rejected() {
    for (status, unavailable) in [(503, true), (401, false)] {
        let server = MockServer::start().await;
        Mock::given(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"error": "x"})))
            .mount(&server)
            .await;
        mount_price_for_any_token(&server).await;
        let gateway = refreshing_gateway(&server, client_credentials(&server));

        let price = gateway.price(&device(), &drink(), Size::Small).await;

        if unavailable {
            assert!(
                matches!(price, Err(MachineError::Unavailable(_))),
                "{status}: {price:?}"
            );
        } else {
            assert!(
                matches!(price, Err(MachineError::Rejected(_))),
                "{status}: {price:?}"
            );
        }
        assert!(
            tmetr_authorizations(&server).await.is_empty(),
            "no Tmetr call without a token"
        );
    }
}

#[tokio::test]
async fn a_rotated_static_token_is_used_without_a_restart() {
    let server = MockServer::start().await;
    mount_price_for_any_token(&server).await;
    let gateway = gateway(&server);

    gateway
        .price(&device(), &drink(), Size::Small)
        .await
        .unwrap();
    gateway.set_token("rotated-token").await;
    gateway
        .price(&device(), &drink(), Size::Small)
        .await
        .unwrap();

    assert_eq!(
        tmetr_authorizations(&server).await,
        vec![format!("Bearer {TOKEN}"), "Bearer rotated-token".to_owned()]
    );
}

#[test]
fn a_static_token_expiring_within_two_hours_is_reported_before_it_expires() {
    let now = Utc::now();
    let expiring = |offset: Days| jwt(&json!({"exp": (now + offset).timestamp(), "iat": 0}));

    assert_eq!(
        static_token_health(&expiring(Days::hours(3)), now),
        TokenHealth::Valid
    );
    assert!(matches!(
        static_token_health(&expiring(Days::minutes(119)), now),
        TokenHealth::ExpiresSoon { .. }
    ));
    assert!(matches!(
        static_token_health(&expiring(Days::minutes(5)), now),
        TokenHealth::ExpiresSoon { .. }
    ));
    assert!(matches!(
        static_token_health(&expiring(Days::seconds(-1)), now),
        TokenHealth::Expired { .. }
    ));
    // The original's committed token: expired 2025-10-26 05:23 UTC.
    let original =
        jwt(&json!({"exp": 1_761_456_180, "iat": 1_761_420_182, "azp": "dev-telemetry-client"}));
    assert!(matches!(
        static_token_health(&original, now),
        TokenHealth::Expired { .. }
    ));
}

#[test]
fn tokens_that_are_not_jwts_or_lack_exp_give_no_expiry_warning() {
    let now = Utc::now();
    assert_eq!(
        static_token_health("opaque-token", now),
        TokenHealth::Unknown
    );
    assert_eq!(static_token_health("a.b.c", now), TokenHealth::Unknown);
    assert_eq!(
        static_token_health(&jwt(&json!({"sub": "x"})), now),
        TokenHealth::Unknown
    );
    assert_eq!(
        static_token_health(&jwt(&json!({"exp": "soon"})), now),
        TokenHealth::Unknown
    );
}

#[test]
fn the_exp_claim_is_read_without_checking_the_signature() {
    let token = jwt(&json!({"exp": 1_761_456_180}));
    assert_eq!(
        jwt_expiry(&token).unwrap().to_rfc3339(),
        "2025-10-26T05:23:00+00:00"
    );
}

#[test]
fn a_cached_token_is_refreshed_when_under_a_minute_or_a_tenth_of_its_lifetime_remains() {
    let s = Duration::from_secs;
    let ten_hours = Some(s(36_000));
    assert!(!needs_refresh(s(3_601), ten_hours));
    assert!(needs_refresh(s(3_599), ten_hours)); // under 10 % of 10 h
    let five_minutes = Some(s(300));
    assert!(!needs_refresh(s(61), five_minutes));
    assert!(needs_refresh(s(59), five_minutes)); // under a minute
    assert!(needs_refresh(s(30), Some(s(30)))); // shorter than the margin: always refreshed
    assert!(needs_refresh(s(0), None));
    assert!(!needs_refresh(s(120), None));
}

#[test]
fn bare_hosts_get_https_and_full_urls_are_kept_without_trailing_slash() {
    let cases = [
        ("telemetry.fwsoft.ru", "https://telemetry.fwsoft.ru"),
        (
            "test.telemetry.fwsoft.ru",
            "https://test.telemetry.fwsoft.ru",
        ),
        (" telemetry.fwsoft.ru/ ", "https://telemetry.fwsoft.ru"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000"),
        (
            "https://telemetry.fwsoft.ru//",
            "https://telemetry.fwsoft.ru",
        ),
    ];
    for (host, url) in cases {
        assert_eq!(TmetrConfig::base_url_from_host(host), url, "{host}");
    }
    let config = TmetrConfig::new("telemetry.fwsoft.ru");
    assert_eq!(config.base_url, "https://telemetry.fwsoft.ru");
    assert_eq!(config.timeout, DEFAULT_TIMEOUT);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(5));
}

#[test]
fn configurations_that_cannot_work_are_refused_at_startup() {
    let base = TmetrConfig::new("telemetry.fwsoft.ru");
    assert_eq!(
        TmetrGateway::new(base.clone()).err(),
        Some(ConfigError::NoCredentials)
    );

    let mut blank = base.clone();
    blank.token = Some("  ".into());
    assert_eq!(
        TmetrGateway::new(blank).err(),
        Some(ConfigError::NoCredentials)
    );

    let mut no_secret = base.clone();
    no_secret.refresh = Some(TokenRefresh {
        token_url: "https://login.example/token".into(),
        client_id: "c".into(),
        client_secret: None,
        refresh_token: None,
    });
    assert_eq!(
        TmetrGateway::new(no_secret).err(),
        Some(ConfigError::NoRefreshCredentials)
    );

    let mut bad_url = base.clone();
    bad_url.token = Some("t".into());
    bad_url.base_url = "ftp://x".into();
    assert!(matches!(
        TmetrGateway::new(bad_url),
        Err(ConfigError::BadBaseUrl(_))
    ));

    let mut zero = base;
    zero.token = Some("t".into());
    zero.timeout = Duration::ZERO;
    assert_eq!(
        TmetrGateway::new(zero).err(),
        Some(ConfigError::ZeroTimeout)
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let mut config = TmetrConfig::new("telemetry.fwsoft.ru");
    config.token = Some("secret-token-value".into());
    config.refresh = Some(TokenRefresh {
        token_url: "https://login.example/token".into(),
        client_id: "client".into(),
        client_secret: Some("secret-client-value".into()),
        refresh_token: Some("secret-refresh-value".into()),
    });
    let shown = format!("{config:?}");
    assert!(!shown.contains("secret-"), "{shown}");
    assert!(shown.contains("client") && shown.contains("<redacted>"));
}
