//! Shared fixtures for the Tmetr adapter's tests: a device, a make command, gateways pointed
//! at a wiremock fake, and hand-made JWTs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use coffee_adapter_tmetr::{TmetrConfig, TmetrGateway, TokenRefresh};
use coffee_domain::ports::MakeCommand;
use coffee_domain::{
    Device, DrinkNo, MachineKind, MachineOrderId, Money, OrderId, ProviderKind, Size,
};
use coffee_test_support::fixtures;
use std::time::Duration;
use wiremock::MockServer;

pub const TOKEN: &str = "static-test-token";
pub const DEVICE: &str = "cm-0042";
pub const DRINK: &str = "9b900a2e63042d350f45b6675ef26ced";
pub const MACHINE_ORDER: &str = "20250317110122659ba6d7-9ace-cndn";

pub const DRINK_PATH: &str = "/api/ui/v1/static/drink";
pub const MAKE_PATH: &str = "/api/commander/v1/command/make";
pub const HEARTBEAT_PATH: &str = "/api/ui/v1/stat/heartbeat/recent";
pub const TOKEN_PATH: &str = "/auth/realms/test/protocol/openid-connect/token";

/// A Tmetr machine of a YooKassa merchant.
pub fn device() -> Device {
    fixtures::device(DEVICE, "coffee-co")
        .location("Lobby")
        .provider(ProviderKind::Yookassa)
        .machine(MachineKind::Tmetr)
        .dispense_deadline_seconds(120)
        .simulated_delay_ms(0)
        .build()
}

pub fn drink() -> DrinkNo {
    DrinkNo::parse(DRINK).unwrap()
}

pub fn command(size: Size, kopecks: i64) -> MakeCommand {
    MakeCommand {
        order_id: OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
        device: device(),
        machine_order_id: MachineOrderId::parse(MACHINE_ORDER).unwrap(),
        drink_no: drink(),
        size,
        price: Money::rub(kopecks).unwrap(),
    }
}

/// A configuration pointing at the fake, with the static test token.
pub fn config(server: &MockServer) -> TmetrConfig {
    let mut config = TmetrConfig::new(&server.uri());
    config.token = Some(TOKEN.into());
    config
}

pub fn gateway(server: &MockServer) -> TmetrGateway {
    TmetrGateway::new(config(server)).unwrap()
}

/// Client-credentials refresh against the fake's token path.
pub fn client_credentials(server: &MockServer) -> TokenRefresh {
    TokenRefresh {
        token_url: format!("{}{TOKEN_PATH}", server.uri()),
        client_id: "coffee-payments".into(),
        client_secret: Some("s3cret".into()),
        refresh_token: None,
    }
}

/// A gateway that gets its tokens from the token endpoint only.
pub fn refreshing_gateway(server: &MockServer, refresh: TokenRefresh) -> TmetrGateway {
    let mut config = TmetrConfig::new(&server.uri());
    config.refresh = Some(refresh);
    config.timeout = Duration::from_secs(5);
    TmetrGateway::new(config).unwrap()
}

/// An unsigned JWT with the given claims (the adapter never checks signatures).
pub fn jwt(claims: &serde_json::Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The `Authorization` header of a recorded request.
pub fn authorization(request: &wiremock::Request) -> String {
    request
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
