//! The console's JSON API: bearer tokens, roles, actions with the same rules as the pages,
//! and its OpenAPI document checked against the route table.

use crate::console::console_of;
use crate::helpers::{spawn_app, TestApp};
use coffee_domain::ports::{AuditLog, AuditQuery};
use coffee_domain::{MerchantKey, Role};

async fn token(app: &TestApp, name: &str, role: Role) -> String {
    console_of(app).add_api_token(name, role).await.unwrap()
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn api_post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn successful_order(app: &TestApp, device: &str, uuid: &str) -> String {
    let order = app.scan(device, "1", "1", uuid).await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("ivan@example.ru"))
        .await
        .json()
        .await
        .unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;
    order
}

#[tokio::test]
async fn the_api_without_a_valid_token_answers_401_json() {
    let app = spawn_app().await;
    for auth in [None, Some("Bearer nonsense"), Some("Basic abc")] {
        let mut request = app
            .client
            .get(format!("{}/admin/api/v1/orders", app.address));
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
}

#[tokio::test]
async fn an_admin_token_lists_searches_and_reads_orders() {
    let app = spawn_app().await;
    let order = successful_order(&app, "dev-1", "api-uuid-1").await;
    app.scan("dev-strict", "1", "1", "api-uuid-2").await;
    let admin = token(&app, "robot", Role::Admin).await;
    let all: serde_json::Value = api_get(&app, &admin, "/admin/api/v1/orders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["orders"].as_array().unwrap().len(), 2);
    assert!(all["next"].is_null());
    let found: serde_json::Value = api_get(&app, &admin, "/admin/api/v1/orders?q=api-uuid-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["orders"][0]["id"], order.as_str());
    assert_eq!(found["orders"][0]["contact"], "ivan@example.ru");
    let one: serde_json::Value = api_get(&app, &admin, &format!("/admin/api/v1/orders/{order}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["order"]["status"], "successful");
    assert_eq!(one["payments"][0]["state"], "succeeded");
    assert_eq!(one["actions"], serde_json::json!(["refund"]));
    assert!(one["timeline"].as_array().unwrap().len() >= 3);
    let bad = api_get(&app, &admin, "/admin/api/v1/orders?status=nope").await;
    assert_eq!(bad.status().as_u16(), 400);
}

#[tokio::test]
async fn a_merchant_token_sees_only_its_orders_and_gets_404_for_others() {
    let app = spawn_app().await;
    let foreign = successful_order(&app, "dev-strict", "foreign").await;
    // The strict merchant captures after the drink: wait until the capture is done.
    app.wait_for_payment_status(&foreign, "succeeded").await;
    let own = app.scan("dev-1", "1", "1", "own").await;
    let shop = token(
        &app,
        "shop-robot",
        Role::Merchant(MerchantKey::parse("shop").unwrap()),
    )
    .await;
    let list: serde_json::Value = api_get(&app, &shop, "/admin/api/v1/orders?merchant=strict")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own.as_str()]);
    assert_eq!(
        api_get(&app, &shop, &format!("/admin/api/v1/orders/{foreign}"))
            .await
            .status()
            .as_u16(),
        404
    );
    let refund = api_post(
        &app,
        &shop,
        &format!("/admin/api/v1/orders/{foreign}/actions"),
        serde_json::json!({"action": "refund"}),
    )
    .await;
    assert_eq!(refund.status().as_u16(), 404);
    assert_eq!(app.status(&foreign).await["payment_status"], "succeeded");
}

#[tokio::test]
async fn an_api_refund_is_done_once_audited_and_a_second_is_409() {
    let app = spawn_app().await;
    let order = successful_order(&app, "dev-1", "api-refund").await;
    let admin = token(&app, "robot", Role::Admin).await;
    let path = format!("/admin/api/v1/orders/{order}/actions");
    let done = api_post(&app, &admin, &path, serde_json::json!({"action": "refund"})).await;
    assert_eq!(done.status().as_u16(), 200);
    let again = api_post(&app, &admin, &path, serde_json::json!({"action": "refund"})).await;
    assert_eq!(again.status().as_u16(), 409);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "order_changed");
    let unknown = api_post(
        &app,
        &admin,
        &path,
        serde_json::json!({"action": "explode"}),
    )
    .await;
    assert_eq!(unknown.status().as_u16(), 400);
    app.wait_for_payment_status(&order, "refunded").await;
    let audit = app
        .store
        .entries(&AuditQuery {
            actor: Some("robot".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|line| line.action == "refund"));
}

#[tokio::test]
async fn the_api_overview_counts_todays_sales() {
    let app = spawn_app().await;
    successful_order(&app, "dev-1", "api-sale").await;
    let admin = token(&app, "robot", Role::Admin).await;
    let overview: serde_json::Value = api_get(&app, &admin, "/admin/api/v1/overview")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["today"]["orders"], 1);
    assert_eq!(overview["today"]["revenue_kopecks"], 15000);
    assert_eq!(overview["devices"][0]["name"], "dev-1");
}

/// The console API's routes in the route table (`crates/server/src/app.rs`), read from its
/// source, in OpenAPI's spelling.
fn console_api_routes() -> Vec<String> {
    let source = include_str!("../../src/app.rs");
    let mut routes: Vec<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("/admin/api/v1/"))
        .map(str::to_owned)
        .collect();
    routes.sort();
    routes.dedup();
    routes
}

#[tokio::test]
async fn the_console_openapi_document_describes_exactly_the_api_routes() {
    let app = spawn_app().await;
    let response = app.get("/admin/api/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    let document: utoipa::openapi::OpenApi = serde_json::from_value(json.clone()).unwrap();
    let mut documented: Vec<String> = document.paths.paths.keys().cloned().collect();
    documented.sort();
    assert_eq!(documented, console_api_routes());
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.post, &item.put].into_iter().flatten() {
            assert!(
                operation.responses.responses.contains_key("401"),
                "{path} documents no 401"
            );
            assert!(operation.security.is_some(), "{path} names no security");
        }
    }
    assert_eq!(
        json["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
