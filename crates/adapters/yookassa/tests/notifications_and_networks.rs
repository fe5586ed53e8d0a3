//! Webhook sender check and claim. Finding the sender behind reverse proxies is the
//! server's job (its HTTP edge); this crate checks the address it is given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use coffee_adapter_yookassa::{
    is_trusted, IpNet, YookassaConfig, YookassaGateway, YOOKASSA_NETWORKS,
};
use coffee_domain::ports::{
    InboundNotification, NotificationClaim, NotificationError, PaymentGateway,
};
use coffee_domain::PaymentState;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use support::*;

fn gateway() -> YookassaGateway {
    let accounts: HashMap<coffee_domain::MerchantKey, coffee_adapter_yookassa::YookassaAccount> =
        HashMap::new();
    YookassaGateway::new(YookassaConfig::default(), Arc::new(accounts)).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn notification(body: &str, sender: Option<&str>) -> InboundNotification {
    InboundNotification {
        body: body.as_bytes().to_vec(),
        headers: vec![("content-type".into(), "application/json".into())],
        sender_ip: sender.map(ip),
    }
}

fn payment_event(event: &str) -> String {
    serde_json::json!({
        "type": "notification",
        "event": event,
        "object": payment_json(PROVIDER_PAYMENT_ID, "succeeded", "2.00")
    })
    .to_string()
}

async fn verify(body: &str, sender: Option<&str>) -> Result<NotificationClaim, NotificationError> {
    gateway()
        .verify_notification(&notification(body, sender))
        .await
}

#[tokio::test]
async fn payment_events_from_a_yookassa_address_claim_the_payment_id() {
    for (event, claimed_state) in [
        ("payment.succeeded", PaymentState::Succeeded),
        ("payment.waiting_for_capture", PaymentState::Authorized),
        ("payment.canceled", PaymentState::Canceled),
    ] {
        for sender in [
            "185.71.76.5",
            "185.71.77.31",
            "77.75.153.100",
            "77.75.156.11",
            "77.75.156.35",
            "77.75.154.200",
            "2a02:5180:0:1509::1",
        ] {
            assert_eq!(
                verify(&payment_event(event), Some(sender)).await,
                Ok(NotificationClaim::Payment {
                    provider_payment_id: PROVIDER_PAYMENT_ID.into(),
                    claimed_amount: None,
                    claimed_state: Some(claimed_state),
                }),
                "{event} from {sender}"
            );
        }
    }
}

#[tokio::test]
async fn an_ipv4_mapped_ipv6_sender_is_checked_as_ipv4() {
    assert!(verify(
        &payment_event("payment.succeeded"),
        Some("::ffff:185.71.76.1")
    )
    .await
    .is_ok());
}

#[tokio::test]
async fn a_sender_outside_the_yookassa_ranges_is_untrusted() {
    for sender in [
        "8.8.8.8",
        "185.71.76.32",
        "77.75.156.12",
        "77.75.154.127",
        "2a03::1",
        "127.0.0.1",
    ] {
        assert_eq!(
            verify(&payment_event("payment.succeeded"), Some(sender)).await,
            Err(NotificationError::Untrusted(format!(
                "sender {sender} outside YooKassa ranges"
            ))),
        );
    }
}

#[tokio::test]
async fn a_notification_without_a_sender_address_is_untrusted() {
    assert!(matches!(
        verify(&payment_event("payment.succeeded"), None).await,
        Err(NotificationError::Untrusted(_))
    ));
}

#[tokio::test]
async fn garbage_from_a_yookassa_address_is_malformed() {
    let trusted = Some("185.71.76.1");
    for body in [
        "not json at all",
        "",
        "[]",
        r#"{"type":"notification","object":{"id":"x"}}"#,
        r#"{"type":"notification","event":"payment.succeeded"}"#,
        r#"{"type":"notification","event":"payment.succeeded","object":{}}"#,
        r#"{"type":"notification","event":"payment.succeeded","object":{"id":""}}"#,
        r#"{"type":"something_else","event":"payment.succeeded","object":{"id":"x"}}"#,
        r#"{"type":"notification","event":"refund.succeeded","object":{"id":"r1"}}"#,
    ] {
        assert!(
            matches!(
                verify(body, trusted).await,
                Err(NotificationError::Malformed(_))
            ),
            "{body}"
        );
    }
}

#[tokio::test]
async fn garbage_from_an_outside_address_is_untrusted_not_malformed() {
    assert!(matches!(
        verify("not json", Some("8.8.8.8")).await,
        Err(NotificationError::Untrusted(_))
    ));
}

#[tokio::test]
async fn refund_succeeded_claims_the_refund_and_the_refunded_payment_id() {
    let body = serde_json::json!({
        "type": "notification",
        "event": "refund.succeeded",
        "object": {
            "id": "216749f7-0016-50be-b000-078d43a63ae4",
            "payment_id": PROVIDER_PAYMENT_ID,
            "status": "succeeded",
            "amount": { "value": "2.00", "currency": "RUB" }
        }
    })
    .to_string();
    assert_eq!(
        verify(&body, Some("77.75.153.1")).await,
        Ok(NotificationClaim::RefundSucceeded {
            provider_payment_id: PROVIDER_PAYMENT_ID.into(),
            refund_id: "216749f7-0016-50be-b000-078d43a63ae4".into(),
        })
    );
}

#[tokio::test]
async fn unknown_events_are_ignored_with_a_reason() {
    match verify(&payment_event("payment_method.active"), Some("77.75.153.1")).await {
        Ok(NotificationClaim::Ignored { reason }) => {
            assert!(reason.contains("payment_method.active"), "{reason}")
        }
        other => panic!("expected Ignored, got {other:?}"),
    }
}

#[test]
fn the_default_trusted_ranges_are_the_official_list() {
    let config = YookassaConfig::default();
    let printed: Vec<String> = config.trusted_ips.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            "185.71.76.0/27",
            "185.71.77.0/27",
            "77.75.153.0/25",
            "77.75.156.11/32",
            "77.75.156.35/32",
            "77.75.154.128/25",
            "2a02:5180::/32"
        ]
    );
    assert_eq!(printed.len(), YOOKASSA_NETWORKS.len());
    assert!(config.trusted_proxies.is_empty());
    assert_eq!(config.api_url, "https://api.yookassa.ru/v3");
}

#[test]
fn is_trusted_checks_membership() {
    let nets: Vec<IpNet> = vec!["185.71.76.0/27".parse().unwrap()];
    assert!(is_trusted(ip("185.71.76.31"), &nets));
    assert!(!is_trusted(ip("185.71.76.32"), &nets));
}
