use crate::helpers::{spawn_app_with, TestApp};
use coffee_test_support::fakes::yookassa::FakeYookassa;

pub const YK_FLEET: &str = r#"
[[merchants]]
key = "yk"
name = "Кофе ЮKassa"
contact_email = "owner@example.com"
valid_until = "2099-12-31"
capture = "immediate"
receipt = "optional"
[merchants.yookassa]
shop_id = "shop-1"
secret_key = "test_secret"
vat_code = 1

[[devices]]
device_uuid = "yk-1"
merchant = "yk"
provider = "yookassa"
simulated_delay_ms = 20

[[drinks]]
device = "yk-1"
drink_no = "1"
name = "Капучино"
prices = { medium = 15000 }
"#;

pub async fn spawn_with_yookassa(fleet: &str) -> (TestApp, FakeYookassa) {
    let fake = FakeYookassa::start().await;
    let app = spawn_app_with(
        fleet,
        &[
            ("YOOKASSA_API_URL", fake.api_url()),
            ("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned()),
        ],
    )
    .await;
    fake.send_webhooks_to(format!("{}/v1/yook-pay-webhook", app.address));
    (app, fake)
}

#[tokio::test]
async fn a_yookassa_payment_confirmed_by_webhook_and_api_brews_the_drink() {
    let (app, fake) = spawn_with_yookassa(YK_FLEET).await;
    let order = app.scan("yk-1", "1", "1", "yk-happy").await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("anna@example.com"))
        .await
        .json()
        .await
        .unwrap();
    let url = redirect["redirect_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/checkout/", fake.uri())),
        "{url}"
    );
    let payment_id = url.rsplit('/').next().unwrap();
    let create = &fake.requests()[0];
    assert_eq!(
        create.idempotence_key.as_deref(),
        Some(format!("coffee-create-{order}").as_str())
    );
    assert_eq!(create.shop_id.as_deref(), Some("shop-1"));
    assert_eq!(create.body["amount"]["value"], "150.00");

    fake.pay(payment_id);
    let response = app
        .client
        .post(format!("{}/v1/yook-pay-webhook", app.address))
        .body(fake.notification("payment.succeeded", payment_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let json = app.wait_for_status(&order, "successful").await;
    assert_eq!(json["payment_status"], "succeeded");
    assert_eq!(app.machine.accepted().len(), 1);
}
