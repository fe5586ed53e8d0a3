//! The last heartbeat (`stat/heartbeat/recent`) against a local Tmetr fake. The adapter only
//! reports the time; deciding online/offline is the domain's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, Utc};
use coffee_domain::ports::{MachineError, MachineGateway};
use serde_json::{json, Value};
use support::*;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn answer(content: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "content": content, "totalElements": 1, "offset": 0, "limit": 1
    }))
}

async fn heartbeat_answering(
    template: ResponseTemplate,
) -> Result<Option<DateTime<Utc>>, MachineError> {
    let server = MockServer::start().await;
    Mock::given(path(HEARTBEAT_PATH))
        .respond_with(template)
        .mount(&server)
        .await;
    gateway(&server).last_heartbeat(&device()).await
}

fn seconds_ago(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp((Utc::now() - Duration::seconds(seconds)).timestamp(), 0).unwrap()
}

#[tokio::test]
async fn an_online_device_reports_its_recent_heartbeat_in_seconds() {
    let server = MockServer::start().await;
    let beat = seconds_ago(30);
    Mock::given(method("POST"))
        .and(path(HEARTBEAT_PATH))
        .and(header("Authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("TimeZoneOffset", "0"))
        .and(header("X-TimeZoneOffset", "0"))
        .and(header("Content-Type", "application/json"))
        .and(body_json(
            json!({"deviceIds": [DEVICE], "offset": 0, "limit": 1}),
        ))
        .respond_with(answer(json!([{
            "deviceId": DEVICE,
            "deviceIotName": "iot-42",
            "heartbeatCreatedAt": beat.timestamp(),
        }])))
        .expect(1)
        .mount(&server)
        .await;

    let last = gateway(&server).last_heartbeat(&device()).await;

    assert_eq!(last, Ok(Some(beat)));
    server.verify().await;
}

#[tokio::test]
async fn a_heartbeat_in_milliseconds_is_read_as_the_same_moment() {
    let beat = seconds_ago(45);
    let last = heartbeat_answering(answer(json!([{
        "deviceId": DEVICE,
        "heartbeatCreatedAt": beat.timestamp_millis(),
    }])))
    .await;

    assert_eq!(last, Ok(Some(beat)));
}

#[tokio::test]
async fn empty_content_means_the_device_never_reported() {
    let last = heartbeat_answering(answer(json!([]))).await;

    assert_eq!(last, Ok(None));
}

#[tokio::test]
async fn a_stale_heartbeat_is_returned_as_is_for_the_domain_to_judge() {
    let stale = DateTime::from_timestamp(1_730_479_734, 0).unwrap();
    let last = heartbeat_answering(answer(json!([{
        "deviceId": DEVICE,
        "heartbeatCreatedAt": 1_730_479_734,
    }])))
    .await;

    assert_eq!(last, Ok(Some(stale)));
}

#[tokio::test]
async fn a_heartbeat_api_error_is_unavailable() {
    let last = heartbeat_answering(ResponseTemplate::new(500).set_body_json(json!({
        "errorCode": "INTERNAL", "errorId": "x", "errorMessage": "db down"
    })))
    .await;

    assert!(
        matches!(last, Err(MachineError::Unavailable(ref m)) if m.contains("500")),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_forbidden_heartbeat_is_rejected() {
    let last = heartbeat_answering(ResponseTemplate::new(403)).await;

    assert!(
        matches!(last, Err(MachineError::Rejected(ref m)) if m.contains("403")),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_missing_heartbeat_time_is_unavailable_with_a_reason() {
    let last = heartbeat_answering(answer(json!([{"deviceId": DEVICE}]))).await;

    assert!(
        matches!(last, Err(MachineError::Unavailable(ref m)) if m.contains("heartbeatCreatedAt")),
        "{last:?}"
    );
}

#[tokio::test]
async fn an_unparsable_heartbeat_time_is_unavailable() {
    let last = heartbeat_answering(answer(json!([{
        "deviceId": DEVICE, "heartbeatCreatedAt": "yesterday"
    }])))
    .await;

    assert!(
        matches!(last, Err(MachineError::Unavailable(ref m)) if m.contains("heartbeatCreatedAt")),
        "{last:?}"
    );
}

#[tokio::test]
async fn an_answer_without_content_is_unavailable() {
    let last =
        heartbeat_answering(ResponseTemplate::new(200).set_body_string("<html>ok</html>")).await;

    assert!(
        matches!(last, Err(MachineError::Unavailable(_))),
        "{last:?}"
    );
}
