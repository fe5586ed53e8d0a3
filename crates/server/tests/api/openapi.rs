//! `/openapi.json`: a valid OpenAPI document that lists every public route the server answers.

use crate::helpers::spawn_app;

/// The public routes of the route table (`crates/server/src/app.rs`), read from its source:
/// a route added there and not documented fails this test.
fn public_routes() -> Vec<String> {
    let source = include_str!("../../src/app.rs");
    let mut routes: Vec<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("/v1/") || *s == "/health" || *s == "/ready")
        .map(str::to_owned)
        .collect();
    routes.sort();
    routes.dedup();
    routes
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_lists_every_public_route() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    // The document reads back as an OpenAPI object: every part has the shape the spec says.
    let document: utoipa::openapi::OpenApi = serde_json::from_value(json.clone()).unwrap();
    let paths = &document.paths.paths;
    let routes = public_routes();
    assert!(routes.len() >= 10, "{routes:?}");
    for route in &routes {
        assert!(paths.contains_key(route), "{route} is not in /openapi.json");
    }
    for (path, item) in paths {
        let operations = [&item.get, &item.post];
        assert!(
            operations.iter().any(|o| o.is_some()),
            "{path} has no operation"
        );
        for operation in operations.into_iter().flatten() {
            assert!(
                !operation.responses.responses.is_empty(),
                "{path} documents no response"
            );
        }
    }
    let schemas = &json["components"]["schemas"];
    for schema in [
        "OrderStatusJson",
        "InitiatePaymentBody",
        "PaymentRedirectJson",
        "ApiError",
    ] {
        assert!(schemas[schema].is_object(), "no schema {schema}");
    }
}

#[tokio::test]
async fn the_documented_error_body_is_the_one_the_api_sends() {
    let app = spawn_app().await;
    let refused: serde_json::Value = app
        .post_json(
            "/v1/initiate-payment",
            serde_json::json!({"order_id": "nope"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let document: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut documented: Vec<&String> = document["components"]["schemas"]["ApiError"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let mut sent: Vec<&String> = refused.as_object().unwrap().keys().collect();
    documented.sort();
    sent.sort();
    assert_eq!(documented, sent);
}
