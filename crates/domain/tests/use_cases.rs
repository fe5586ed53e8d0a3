//! The use cases end to end on the in-memory adapters: scan, pay, brew, and everything that
//! goes wrong on the way.

#[cfg(test)]
mod support;

use chrono::Duration;
use coffee_adapter_sandbox::{MachineFailure, SandboxAction, SandboxProvider};
use coffee_domain::ports::{PaymentGatewayError, ProviderPaymentStatus, RepositoryError};
use coffee_domain::services::checkout::{InitiatePaymentError, PaymentRequest, RawScan, ScanError};
use coffee_domain::services::dispensing::DispenseError;
use coffee_domain::services::dispensing::ReportOutcome;
use coffee_domain::services::settlement::NotificationOutcome;
use coffee_domain::{
    CaptureMode, ContactError, DeadlinePolicy, FailureReason, JobKind, JobState, OrderStatus,
    PaymentMethod, PaymentState, ProviderKind, ReceiptContact, ReceiptPolicy, Size,
};
use std::sync::Arc;
use support::*;

/// No job died, and every make command went out while its order was `paid`.
fn assert_no_dead_jobs(h: &Harness) {
    let dead: Vec<_> = h
        .store
        .all_jobs()
        .into_iter()
        .filter(|j| j.state == JobState::Dead)
        .collect();
    assert!(dead.is_empty(), "dead jobs: {dead:?}");
    for call in h.recorder.calls() {
        assert_eq!(call.status_when_sent, Some(OrderStatus::Paid), "{call:?}");
    }
}

// ---- scanning -------------------------------------------------------------------------

#[tokio::test]
async fn a_scan_creates_an_order_priced_by_the_server_not_by_the_qr() {
    let h = Harness::new().await;
    let mut raw = scan("dev-1", "1", "1", "20260601-abc");
    raw.drink_name = Some("Free coffee, price 0".into());
    let order = h.start(raw).await;

    assert_eq!(order.status, OrderStatus::Created);
    assert_eq!(order.price, rub(MEDIUM_PRICE));
    assert_eq!(order.size, Size::Medium);
    assert_eq!(
        order.drink_name, "Капучино",
        "the catalogue's name, not the QR's"
    );
    assert_eq!(order.device, device_uuid("dev-1"));
    assert_eq!(order.machine_order_id, machine_order_id("20260601-abc"));
    assert_eq!(order.expires_at, start_time() + Duration::minutes(15));
    let history = h.history(order.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].to, Some(OrderStatus::Created));
}

#[tokio::test]
async fn scanning_the_same_device_and_machine_order_id_again_returns_the_same_order() {
    let h = Harness::new().await;
    let first = h.scan_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(1));
    let mut again = scan("dev-1", "1", "1", "mo-1");
    again.drink_name = Some("Something else".into());
    let second = h.start(again).await;
    assert_eq!(second, first);
    assert_eq!(h.store.all_orders().len(), 1);

    let other = h.scan_order("dev-1", "mo-2").await;
    assert_ne!(
        other.id, first.id,
        "another machine order id is another order"
    );
}

#[tokio::test]
async fn a_scan_with_a_missing_or_invalid_parameter_is_refused_by_name() {
    let h = Harness::new().await;
    let full = || scan("dev-1", "1", "0", "mo-1");
    let cases: Vec<(RawScan, &str, bool)> = vec![
        (
            RawScan {
                device_uuid: None,
                ..full()
            },
            "deviceUuid",
            true,
        ),
        (
            RawScan {
                drink_no: Some("  ".into()),
                ..full()
            },
            "drinkNo",
            true,
        ),
        (
            RawScan {
                size: None,
                ..full()
            },
            "size",
            true,
        ),
        (
            RawScan {
                machine_order_id: None,
                ..full()
            },
            "uuid",
            true,
        ),
        (
            RawScan {
                drink_name: Some(String::new()),
                ..full()
            },
            "drinkName",
            true,
        ),
        (
            RawScan {
                size: Some("3".into()),
                ..full()
            },
            "size",
            false,
        ),
        (
            RawScan {
                size: Some("large".into()),
                ..full()
            },
            "size",
            false,
        ),
        (
            RawScan {
                machine_order_id: Some("x".repeat(256)),
                ..full()
            },
            "uuid",
            false,
        ),
        (
            RawScan {
                device_uuid: Some("dev\u{7}1".into()),
                ..full()
            },
            "deviceUuid",
            false,
        ),
        (
            RawScan {
                drink_name: Some("Latte\nmacchiato".into()),
                ..full()
            },
            "drinkName",
            false,
        ),
    ];
    for (raw, name, missing) in cases {
        match (h.checkout.start_order(raw).await, missing) {
            (Err(ScanError::MissingParameter(got)), true) => assert_eq!(got, name),
            (Err(ScanError::InvalidParameter(got)), false) => assert_eq!(got, name),
            (other, _) => panic!("{name}: expected missing={missing}, got {other:?}"),
        }
    }
    assert!(h.store.all_orders().is_empty());
}

#[tokio::test]
async fn a_scan_for_an_unknown_device_is_refused() {
    let h = Harness::new().await;
    let result = h
        .checkout
        .start_order(scan("dev-404", "1", "0", "mo-1"))
        .await;
    assert!(
        matches!(result, Err(ScanError::UnknownDevice)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_merchant_is_served_on_its_last_paid_day_and_refused_the_day_after() {
    // The clock starts on 2026-06-01, the subscription's last day.
    let h = Harness::with(&[DeviceSetup::new("dev-1").valid_until(day(2026, 6, 1))]).await;
    let order = h.scan_order("dev-1", "mo-1").await;
    assert_eq!(order.status, OrderStatus::Created);

    h.advance(Duration::days(1));
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-2"))
        .await;
    assert!(
        matches!(result, Err(ScanError::MerchantExpired)),
        "{result:?}"
    );
    let rescan = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-1"))
        .await;
    assert!(
        matches!(rescan, Err(ScanError::MerchantExpired)),
        "{rescan:?}"
    );
}

#[tokio::test]
async fn a_merchant_or_device_switched_off_is_refused_like_an_expired_one_and_a_drink_like_an_unknown_one(
) {
    use coffee_domain::Fleet;
    let h = Harness::new().await;
    let catalog = h.ctx.ports.catalog.clone();
    let order = h.scan_order("dev-1", "mo-1").await;
    let device = catalog
        .device(&device_uuid("dev-1"))
        .await
        .unwrap()
        .unwrap();
    let merchant = catalog.merchant(&device.merchant).await.unwrap().unwrap();
    let drink = catalog.drinks(&device.device_uuid).await.unwrap()[0].clone();
    let apply = |fleet: Fleet| {
        let catalog = catalog.clone();
        async move { catalog.apply_fleet(&fleet, start_time()).await.unwrap() }
    };
    let refused = |result: Result<_, ScanError>| match result {
        Err(error) => error,
        Ok(_) => panic!("the scan was served"),
    };

    let mut off = device.clone();
    off.disabled = true;
    apply(Fleet {
        devices: vec![off],
        ..Fleet::default()
    })
    .await;
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-2"))
        .await;
    assert!(matches!(refused(result), ScanError::MerchantExpired));

    apply(Fleet {
        devices: vec![device.clone()],
        ..Fleet::default()
    })
    .await;
    let mut off = merchant.clone();
    off.disabled = true;
    apply(Fleet {
        merchants: vec![off],
        ..Fleet::default()
    })
    .await;
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-2"))
        .await;
    assert!(matches!(refused(result), ScanError::MerchantExpired));

    apply(Fleet {
        merchants: vec![merchant],
        ..Fleet::default()
    })
    .await;
    let mut off = drink;
    off.disabled = true;
    apply(Fleet {
        drinks: vec![off],
        ..Fleet::default()
    })
    .await;
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-2"))
        .await;
    assert!(matches!(refused(result), ScanError::UnknownDrink));

    // The order made before carries on: it still takes its payment.
    h.initiate(order.id).await;
}

#[tokio::test]
async fn a_scan_on_an_offline_machine_is_refused_and_accepted_once_it_is_back() {
    let h = Harness::new().await;
    h.machine.set_offline(&device_uuid("dev-1"), true);
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "0", "mo-1"))
        .await;
    assert!(
        matches!(result, Err(ScanError::DeviceOffline)),
        "{result:?}"
    );
    assert!(h.store.all_orders().is_empty());

    h.machine.set_offline(&device_uuid("dev-1"), false);
    assert_eq!(
        h.scan_order("dev-1", "mo-1").await.status,
        OrderStatus::Created
    );
}

#[tokio::test]
async fn a_scan_for_a_drink_the_device_does_not_sell_is_refused() {
    let h = Harness::new().await;
    let result = h
        .checkout
        .start_order(scan("dev-1", "99", "0", "mo-1"))
        .await;
    assert!(matches!(result, Err(ScanError::UnknownDrink)), "{result:?}");
}

#[tokio::test]
async fn a_scan_for_a_size_without_a_price_is_refused() {
    let h = Harness::new().await;
    let result = h
        .checkout
        .start_order(scan("dev-1", "1", "2", "mo-1"))
        .await;
    assert!(matches!(result, Err(ScanError::SizeNotSold)), "{result:?}");
    assert!(h.store.all_orders().is_empty());
}

// ---- starting a payment ------------------------------------------------------------------

#[tokio::test]
async fn initiating_payment_twice_creates_one_payment_with_one_provider_call() {
    let h = Harness::new().await;
    let order = h.scan_order("dev-1", "mo-1").await;
    let first = h.initiate(order.id).await;
    let second = h.initiate(order.id).await;

    assert_eq!(first, second);
    assert!(
        first
            .redirect_url
            .starts_with("http://test/sandbox/checkout/sbx_"),
        "{}",
        first.redirect_url
    );
    assert_eq!(h.sandbox_calls("create"), 1);
    assert_eq!(
        h.sandbox.calls(),
        vec![format!("create coffee-create-{}", order.id)]
    );
    let payment = h.payment(order.id).await.unwrap();
    assert_eq!(payment.id, first.payment_id);
    assert_eq!(payment.state, PaymentState::Pending);
    assert_eq!(payment.amount, rub(SMALL_PRICE));
    assert_eq!(payment.capture, CaptureMode::Immediate);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Pending);
    let sandbox = h.sandbox_payment(order.id).await.unwrap();
    assert_eq!(sandbox.amount, rub(SMALL_PRICE));
    assert_eq!(sandbox.description, "Оплата напитка: Капучино");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_initiations_store_one_payment_and_answer_with_the_same_redirect() {
    let h = Arc::new(Harness::new().await);
    let order = h.scan_order("dev-1", "mo-1").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.initiate(order.id).await })
        })
        .collect();
    let mut redirects = Vec::new();
    for task in tasks {
        redirects.push(task.await.unwrap());
    }
    let payment = h.payment(order.id).await.unwrap();
    assert!(
        redirects.iter().all(|r| r.payment_id == payment.id),
        "{redirects:?}"
    );
    // Racing calls may each ask the provider, always with the order's one idempotency key.
    let key = format!("create coffee-create-{}", order.id);
    assert!(
        h.sandbox.calls().iter().all(|c| *c == key),
        "{:?}",
        h.sandbox.calls()
    );
    assert_eq!(h.store.all_orders().len(), 1);
    let history = h.history(order.id).await;
    assert_eq!(
        history
            .iter()
            .filter(|e| e.to == Some(OrderStatus::Pending))
            .count(),
        1
    );
    let polls = h
        .jobs(order.id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::PollPayment)
        .count();
    assert_eq!(polls, 1);
}

#[tokio::test]
async fn a_paid_order_cannot_start_another_payment() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    let result = h
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: order.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await;
    assert!(
        matches!(
            result,
            Err(InitiatePaymentError::NotPayable(OrderStatus::Paid))
        ),
        "{result:?}"
    );
    assert_eq!(h.sandbox_calls("create"), 1);
}

#[tokio::test]
async fn a_payment_the_provider_refuses_to_create_leaves_the_order_payable_for_another_try() {
    let h = Harness::new().await;
    let order = h.scan_order("dev-1", "mo-1").await;
    h.sandbox.fail_next(PaymentGatewayError::Rejected {
        code: "forbidden".into(),
        message: "shop blocked".into(),
    });
    let result = h
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: order.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await;
    assert!(
        matches!(result, Err(InitiatePaymentError::ProviderRejected(_))),
        "{result:?}"
    );
    let refused = h.order(order.id).await;
    assert_eq!(refused.status, OrderStatus::Created);
    assert_eq!(refused.failure_reason, Some(FailureReason::PaymentRejected));
    assert!(h.payment(order.id).await.is_none());

    // «Повторить оплату»: the next press creates the payment, and paying it brews.
    h.initiate(order.id).await;
    let retried = h.order(order.id).await;
    assert_eq!(retried.status, OrderStatus::Pending);
    assert_eq!(
        retried.failure_reason, None,
        "a new attempt clears the old reason"
    );
    h.pay(order.id).await;
    h.drain().await;
    assert_eq!(h.machine.make_calls(), 1);
}

#[tokio::test]
async fn a_provider_outage_while_creating_leaves_the_order_payable_and_the_retry_reuses_the_key() {
    let h = Harness::new().await;
    let order = h.scan_order("dev-1", "mo-1").await;
    h.sandbox
        .fail_next(PaymentGatewayError::Unavailable("timeout".into()));
    let result = h
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: order.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await;
    assert!(
        matches!(result, Err(InitiatePaymentError::ProviderUnavailable(_))),
        "{result:?}"
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::Created);

    h.initiate(order.id).await;
    let key = format!("create coffee-create-{}", order.id);
    assert_eq!(h.sandbox.calls(), vec![key.clone(), key]);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Pending);
}

#[tokio::test]
async fn a_merchant_requiring_receipts_refuses_a_payment_without_email_or_phone() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").receipt(ReceiptPolicy::Required)]).await;
    let order = h.scan_order("dev-1", "mo-1").await;
    let request = PaymentRequest {
        order_id: order.id,
        return_url: "http://test/order".into(),
        method: PaymentMethod::Card,
        email: None,
        phone: Some("  ".into()),
    };
    let result = h.checkout.initiate_payment(request).await;
    assert!(
        matches!(result, Err(InitiatePaymentError::ContactRequired)),
        "{result:?}"
    );
    assert_eq!(h.sandbox_calls("create"), 0);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Created);

    let request = PaymentRequest {
        order_id: order.id,
        return_url: "http://test/order".into(),
        method: PaymentMethod::Card,
        email: None,
        phone: Some("8 (900) 123-45-67".into()),
    };
    h.checkout.initiate_payment(request).await.unwrap();
    let order = h.order(order.id).await;
    assert_eq!(
        order.receipt_contact,
        Some(ReceiptContact::Phone("+79001234567".into()))
    );
}

#[tokio::test]
async fn an_invalid_receipt_email_is_refused_before_the_provider_is_called() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").receipt(ReceiptPolicy::Optional)]).await;
    let order = h.scan_order("dev-1", "mo-1").await;
    let request = PaymentRequest {
        order_id: order.id,
        return_url: "http://test/order".into(),
        method: PaymentMethod::Card,
        email: Some("anna@example".into()),
        phone: None,
    };
    let result = h.checkout.initiate_payment(request).await;
    assert!(
        matches!(
            result,
            Err(InitiatePaymentError::InvalidContact(
                ContactError::InvalidEmail
            ))
        ),
        "{result:?}"
    );
    assert_eq!(h.sandbox_calls("create"), 0);
    assert!(h.payment(order.id).await.is_none());
}

#[tokio::test]
async fn an_expired_order_cannot_be_paid() {
    let h = Harness::new().await;
    let order = h.scan_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(15));
    let result = h
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: order.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await;
    assert!(
        matches!(result, Err(InitiatePaymentError::Expired)),
        "{result:?}"
    );
    assert_eq!(h.sandbox_calls("create"), 0);
}

// ---- the happy paths -------------------------------------------------------------------

#[tokio::test]
async fn immediate_capture_pay_brew_and_enjoy_sends_exactly_one_make_command() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;

    assert_eq!(h.pay(order.id).await, NotificationOutcome::Applied);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Paid);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );

    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 1);
    let accepted = h.machine.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].order_id, order.id);
    assert_eq!(accepted[0].machine_order_id, machine_order_id("mo-1"));
    assert_eq!(accepted[0].drink_no.as_str(), "1");
    assert_eq!(accepted[0].price, rub(SMALL_PRICE));
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);

    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    let done = h.order(order.id).await;
    assert_eq!(done.status, OrderStatus::Successful);
    assert!(!done.dispense_assumed);
    assert_eq!(done.failure_reason, None);

    h.drain().await;
    assert_eq!(h.machine.make_calls(), 1);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );
    assert_eq!(
        h.sandbox_calls("refund") + h.sandbox_calls("capture") + h.sandbox_calls("cancel"),
        0
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::Successful);
    assert_no_dead_jobs(&h);

    let statuses: Vec<_> = h
        .history(order.id)
        .await
        .iter()
        .filter_map(|e| e.to)
        .collect();
    assert_eq!(
        statuses,
        vec![
            OrderStatus::Created,
            OrderStatus::Pending,
            OrderStatus::Paid,
            OrderStatus::MakePending,
            OrderStatus::Successful
        ]
    );
}

#[tokio::test]
async fn a_failed_dispense_fails_the_order_and_refunds_the_payment() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;

    assert_eq!(
        h.dispense_failed(&order).await,
        ReportOutcome::Moved(OrderStatus::Failed)
    );
    let failed = h.order(order.id).await;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.failure_reason, Some(FailureReason::DispenseFailed));
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::RefundPending
    );

    h.run_jobs().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    assert!(h.sandbox_payment(order.id).await.unwrap().refunded);

    h.drain().await;
    assert_eq!(h.sandbox_calls("refund"), 1);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Failed);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn capture_after_dispense_holds_the_money_and_captures_it_once_the_drink_is_out() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").capture(CaptureMode::AfterDispense)]).await;
    let order = h.pending_order("dev-1", "mo-1").await;

    assert_eq!(h.pay(order.id).await, NotificationOutcome::Applied);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Authorized
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::Paid);

    h.run_jobs().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    assert!(h
        .jobs(order.id)
        .await
        .iter()
        .any(|j| j.kind == JobKind::CapturePayment));
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Authorized
    );

    h.run_jobs().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );
    assert_eq!(h.sandbox_calls("capture"), 1);
    assert_eq!(
        h.sandbox_payment(order.id).await.unwrap().status,
        ProviderPaymentStatus::Succeeded
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::Successful);
    h.drain().await;
    assert_eq!(h.sandbox_calls("capture"), 1);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn capture_after_dispense_releases_the_hold_when_the_drink_fails() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").capture(CaptureMode::AfterDispense)]).await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;

    assert_eq!(
        h.dispense_failed(&order).await,
        ReportOutcome::Moved(OrderStatus::Failed)
    );
    h.run_jobs().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Canceled
    );
    assert_eq!(h.sandbox_calls("cancel"), 1);
    assert_eq!(h.sandbox_calls("capture") + h.sandbox_calls("refund"), 0);
    assert_eq!(
        h.sandbox_payment(order.id).await.unwrap().status,
        ProviderPaymentStatus::Canceled
    );
    h.drain().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Failed);
    assert_no_dead_jobs(&h);
}

// ---- the machine ---------------------------------------------------------------------

#[tokio::test]
async fn a_machine_unreachable_on_every_attempt_fails_the_order_after_the_last_attempt_and_refunds()
{
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let attempts = JobKind::SendMakeCommand.max_attempts();
    for _ in 0..attempts {
        h.machine.fail_next(MachineFailure::Unavailable);
    }
    h.pay(order.id).await;

    for attempt in 1..attempts {
        h.run_jobs().await;
        assert_eq!(h.machine.make_calls(), attempt as usize);
        assert_eq!(
            h.order(order.id).await.status,
            OrderStatus::Paid,
            "still paid after attempt {attempt}"
        );
        h.advance(Duration::minutes(5)); // past the backoff
    }
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), attempts as usize);
    assert!(h.machine.accepted().is_empty());
    let failed = h.order(order.id).await;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(
        failed.failure_reason,
        Some(FailureReason::MachineUnreachable)
    );
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    h.drain().await;
    assert_eq!(h.machine.make_calls(), attempts as usize);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_machine_that_rejects_the_command_fails_the_order_and_refunds_at_once() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.machine.fail_next(MachineFailure::Rejected);
    h.pay(order.id).await;

    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 1);
    let failed = h.order(order.id).await;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(
        failed.failure_reason,
        Some(FailureReason::MachineUnreachable)
    );
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    h.drain().await;
    assert_eq!(h.machine.make_calls(), 1);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_transient_machine_failure_is_retried_and_the_drink_is_still_made_once() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.machine.fail_next(MachineFailure::Unavailable);
    h.machine.fail_next(MachineFailure::Unavailable);
    h.pay(order.id).await;

    h.run_jobs().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Paid);
    h.advance(Duration::seconds(2));
    h.run_jobs().await;
    h.advance(Duration::seconds(4));
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 3);
    assert_eq!(h.machine.accepted().len(), 1);
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
}

#[tokio::test]
async fn a_dispense_report_for_an_unknown_machine_order_is_refused() {
    let h = Harness::new().await;
    let mut order = h.pending_order("dev-1", "mo-1").await;
    order.machine_order_id = machine_order_id("mo-never-scanned");
    let result = h
        .dispensing
        .apply_report(coffee_domain::services::dispensing::DispenseReport {
            device: order.device.clone(),
            machine_order_id: order.machine_order_id.clone(),
            result: coffee_domain::services::dispensing::DispenseResult::Dispensed,
            at: h.now(),
        })
        .await;
    assert!(
        matches!(result, Err(DispenseError::UnknownOrder)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_dispense_report_for_an_unpaid_order_is_recorded_and_changes_nothing() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Recorded(OrderStatus::Pending)
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::Pending);
    let last = h.history(order.id).await.pop().unwrap();
    assert!(last.message.contains("не учтено"), "{}", last.message);
    assert_eq!((last.from, last.to), (None, None));
}

// ---- expiry ------------------------------------------------------------------------------

#[tokio::test]
async fn an_order_not_paid_by_its_expiry_becomes_not_paid() {
    let h = Harness::new().await;
    let created = h.scan_order("dev-1", "mo-1").await;
    let pending = h.pending_order("dev-1", "mo-2").await;

    h.advance(Duration::minutes(15) - Duration::seconds(1));
    assert_eq!(h.expiry.expire_due(100).await.unwrap(), 0);
    h.advance(Duration::seconds(1));
    assert_eq!(h.expiry.expire_due(100).await.unwrap(), 2);
    for id in [created.id, pending.id] {
        let order = h.order(id).await;
        assert_eq!(order.status, OrderStatus::NotPaid);
        assert_eq!(order.failure_reason, Some(FailureReason::Expired));
    }
    assert_eq!(
        h.expiry.expire_due(100).await.unwrap(),
        0,
        "a second sweep changes nothing"
    );
    h.drain().await;
    assert_eq!(
        h.payment(pending.id).await.unwrap().state,
        PaymentState::Pending
    );
    assert_eq!(h.machine.make_calls(), 0);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_payment_that_succeeds_after_expiry_is_refunded_and_never_brewed() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(16));
    h.expiry.expire_due(100).await.unwrap();
    assert_eq!(h.order(order.id).await.status, OrderStatus::NotPaid);

    assert_eq!(h.pay(order.id).await, NotificationOutcome::Applied);
    let late = h.order(order.id).await;
    assert_eq!(late.status, OrderStatus::NotPaid);
    assert_eq!(late.failure_reason, Some(FailureReason::PaidAfterExpiry));
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::RefundPending
    );

    h.drain().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    assert_eq!(h.machine.make_calls(), 0);
    assert!(h
        .jobs(order.id)
        .await
        .iter()
        .all(|j| j.kind != JobKind::SendMakeCommand));
    assert_eq!(h.order(order.id).await.status, OrderStatus::NotPaid);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_payment_confirmed_after_expiry_but_before_the_sweep_is_refunded_and_never_brewed() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(15));

    h.pay(order.id).await;
    let late = h.order(order.id).await;
    assert_eq!(late.status, OrderStatus::NotPaid);
    assert_eq!(late.failure_reason, Some(FailureReason::PaidAfterExpiry));
    h.drain().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.machine.make_calls(), 0);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_hold_placed_after_expiry_is_released_and_never_brewed() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").capture(CaptureMode::AfterDispense)]).await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(20));
    h.expiry.expire_due(100).await.unwrap();

    h.pay(order.id).await;
    assert_eq!(
        h.order(order.id).await.failure_reason,
        Some(FailureReason::PaidAfterExpiry)
    );
    h.drain().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Canceled
    );
    assert_eq!(h.sandbox_calls("cancel"), 1);
    assert_eq!(h.sandbox_calls("capture"), 0);
    assert_eq!(h.machine.make_calls(), 0);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_customer_who_cancels_at_the_provider_may_pay_again_until_the_order_expires() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let first = h.payment(order.id).await.unwrap();
    let notification = h.customer_acts(order.id, SandboxAction::Cancel).await;
    assert_eq!(h.deliver(&notification).await, NotificationOutcome::Applied);
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::Created);
    assert_eq!(order.failure_reason, Some(FailureReason::PaymentCanceled));
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Canceled
    );
    // A new attempt is a new payment with its own idempotency key.
    h.initiate(order.id).await;
    let second = h.payment(order.id).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_ne!(second.provider_payment_id, first.provider_payment_id);
    assert_ne!(second.idempotency_key, first.idempotency_key);
    assert_eq!(second.state, PaymentState::Pending);
    // Only expiry makes it not_paid.
    h.advance(chrono::Duration::minutes(16));
    h.drain().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::NotPaid);
    h.drain().await;
    assert_eq!(h.machine.make_calls(), 0);
    assert_no_dead_jobs(&h);
}

// ---- notifications ---------------------------------------------------------------------

#[tokio::test]
async fn twenty_duplicate_notifications_in_a_row_send_exactly_one_make_command() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let notification = h.customer_acts(order.id, SandboxAction::Pay).await;

    let mut outcomes = Vec::new();
    for _ in 0..20 {
        outcomes.push(h.deliver(&notification).await);
        h.run_jobs().await;
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == NotificationOutcome::Applied)
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == NotificationOutcome::Duplicate)
            .count(),
        19
    );
    assert_eq!(h.machine.make_calls(), 1);
    assert_eq!(h.machine.accepted().len(), 1);
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
    let make_jobs = h
        .jobs(order.id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::SendMakeCommand)
        .count();
    assert_eq!(make_jobs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_duplicate_notifications_send_exactly_one_make_command() {
    let h = Arc::new(Harness::new().await);
    let order = h.pending_order("dev-1", "mo-1").await;
    let notification = Arc::new(h.customer_acts(order.id, SandboxAction::Pay).await);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let h = h.clone();
        let notification = notification.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = h.deliver(&notification).await;
            if i % 4 == 0 {
                // Some deliveries race the worker too.
                h.worker.run_due(100).await.unwrap();
            }
            outcome
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    h.run_jobs().await;

    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == NotificationOutcome::Applied)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| matches!(
        o,
        NotificationOutcome::Applied | NotificationOutcome::Duplicate
    )));
    assert_eq!(h.machine.make_calls(), 1);
    assert_eq!(h.machine.accepted().len(), 1);
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
    let make_jobs = h
        .jobs(order.id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::SendMakeCommand)
        .count();
    assert_eq!(make_jobs, 1);
}

#[tokio::test]
async fn a_forged_notification_for_an_unknown_payment_is_ignored_and_changes_nothing() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let history_before = h.history(order.id).await;
    let jobs_before = h.store.all_jobs();

    let forged = SandboxProvider::notification("payment", "sbx_forged");
    let outcome = h
        .settlement
        .handle_notification(ProviderKind::Sandbox, &forged)
        .await
        .unwrap();
    assert!(
        matches!(outcome, NotificationOutcome::Ignored(_)),
        "{outcome:?}"
    );

    let garbage = coffee_domain::ports::InboundNotification {
        body: b"{not json".to_vec(),
        headers: vec![],
        sender_ip: None,
    };
    let malformed = h
        .settlement
        .handle_notification(ProviderKind::Sandbox, &garbage)
        .await;
    assert!(malformed.is_err(), "{malformed:?}");

    assert_eq!(h.order(order.id).await, order);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Pending
    );
    assert_eq!(h.history(order.id).await, history_before);
    assert_eq!(h.store.all_jobs(), jobs_before);
    assert_eq!(
        h.sandbox_calls("get"),
        0,
        "an unknown payment is not even fetched"
    );
    assert_eq!(h.machine.make_calls(), 0);
}

#[tokio::test]
async fn a_notification_claiming_payment_for_a_still_pending_payment_changes_nothing() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let claim = h.notification_for(order.id).await; // the customer has not paid
    assert_eq!(h.deliver(&claim).await, NotificationOutcome::StillPending);
    assert_eq!(h.order(order.id).await.status, OrderStatus::Pending);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Pending
    );
}

// ---- dispense deadline ---------------------------------------------------------------------

#[tokio::test]
async fn no_report_by_the_deadline_fails_and_refunds_when_the_device_says_so() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").policy(DeadlinePolicy::FailAndRefund)]).await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);

    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) - 1));
    h.run_jobs().await;
    assert_eq!(
        h.order(order.id).await.status,
        OrderStatus::MakePending,
        "not before the deadline"
    );
    h.advance(Duration::seconds(1));
    h.run_jobs().await;
    let failed = h.order(order.id).await;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.failure_reason, Some(FailureReason::DispenseTimedOut));
    assert!(!failed.dispense_assumed);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn no_report_by_the_deadline_counts_as_success_when_the_device_assumes_it() {
    let h = Harness::with(&[DeviceSetup::new("dev-1").policy(DeadlinePolicy::AssumeSuccess)]).await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;

    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS)));
    h.run_jobs().await;
    let done = h.order(order.id).await;
    assert_eq!(done.status, OrderStatus::Successful);
    assert!(done.dispense_assumed);
    assert_eq!(done.failure_reason, None);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );
    assert_eq!(h.sandbox_calls("refund"), 0);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn an_assumed_success_captures_a_held_payment() {
    let h = Harness::with(&[DeviceSetup::new("dev-1")
        .capture(CaptureMode::AfterDispense)
        .policy(DeadlinePolicy::AssumeSuccess)])
    .await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS)));
    h.run_jobs().await;
    assert!(h.order(order.id).await.dispense_assumed);
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );
    assert_eq!(h.sandbox_calls("capture"), 1);
}

#[tokio::test]
async fn a_result_arriving_after_the_deadline_decided_is_recorded_without_a_second_transition() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.run_jobs().await;
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS)));
    h.run_jobs().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Failed);
    let transitions_before = h
        .history(order.id)
        .await
        .iter()
        .filter(|e| e.to.is_some())
        .count();
    let entries_before = h.history(order.id).await.len();

    h.advance(Duration::seconds(30));
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Recorded(OrderStatus::Failed)
    );
    // The same verdict again is a duplicate.
    assert_eq!(h.dispense_failed(&order).await, ReportOutcome::Duplicate);

    let after = h.order(order.id).await;
    assert_eq!(after.status, OrderStatus::Failed);
    assert_eq!(after.failure_reason, Some(FailureReason::DispenseTimedOut));
    let history = h.history(order.id).await;
    assert_eq!(
        history.len(),
        entries_before + 2,
        "both late reports are in the history"
    );
    assert_eq!(
        history.iter().filter(|e| e.to.is_some()).count(),
        transitions_before
    );
    let late = &history[history.len() - 2];
    assert!(
        late.message.starts_with("автомат сообщил: напиток выдан"),
        "{}",
        late.message
    );
    h.drain().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.sandbox_calls("refund"), 1);
    assert_no_dead_jobs(&h);
}

#[tokio::test]
async fn a_report_that_overtakes_the_acceptance_of_the_command_still_counts() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    // The machine's result arrives before the worker recorded make_pending.
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    h.drain().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Successful);
    assert_eq!(
        h.machine.make_calls(),
        0,
        "a decided order gets no make command"
    );
    assert_no_dead_jobs(&h);
}

// ---- polling ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_paid_payment_whose_notification_is_lost_is_found_by_polling() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let _lost = h.customer_acts(order.id, SandboxAction::Pay).await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Pending);
    assert!(h
        .jobs(order.id)
        .await
        .iter()
        .any(|j| j.kind == JobKind::PollPayment && j.state == JobState::Queued));

    h.advance(Duration::seconds(5));
    h.run_jobs().await;
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Succeeded
    );
    assert!(h.sandbox_calls("get") >= 1);
    assert_eq!(h.machine.make_calls(), 1);
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
    let poll = h
        .jobs(order.id)
        .await
        .into_iter()
        .find(|j| j.kind == JobKind::PollPayment)
        .unwrap();
    assert_eq!(poll.state, JobState::Done);
}

#[tokio::test]
async fn polling_keeps_asking_while_the_customer_has_not_paid_and_stops_well_after_expiry() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    for _ in 0..3 {
        h.advance(Duration::seconds(5));
        h.run_jobs().await;
    }
    assert_eq!(h.sandbox_calls("get"), 3);
    let moved = h.drain().await;
    assert!(
        moved >= Duration::hours(1),
        "polled until an hour after expiry, drained after {moved}"
    );
    assert_eq!(h.order(order.id).await.status, OrderStatus::NotPaid);
    assert!(h.store.all_jobs().iter().all(|j| j.state == JobState::Done));
}

#[tokio::test]
async fn a_storage_outage_surfaces_as_unavailable_and_loses_nothing() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    let notification = h.customer_acts(order.id, SandboxAction::Pay).await;
    h.store.set_unavailable(true);
    assert!(h
        .settlement
        .handle_notification(ProviderKind::Sandbox, &notification)
        .await
        .is_err());
    assert!(matches!(
        h.worker.run_due(10).await,
        Err(RepositoryError::Unavailable(_))
    ));
    h.store.set_unavailable(false);

    assert_eq!(h.deliver(&notification).await, NotificationOutcome::Applied);
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 1);
}

// ---- make commands whose fate is unknown ----------------------------------------------------

/// A paid order whose make command went out and got no clear answer.
async fn paid_with_unanswered_command(
    h: &Harness,
    failure: MachineFailure,
) -> coffee_domain::Order {
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    h.machine.fail_next(failure);
    h.run_jobs().await;
    h.order(order.id).await
}

#[tokio::test]
async fn a_make_command_without_a_clear_answer_is_never_sent_again() {
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    assert_eq!(order.status, OrderStatus::MakePending);
    assert!(order.make_outcome_unknown);
    h.advance(Duration::seconds(10));
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 1, "the command is not repeated");
}

#[tokio::test]
async fn an_unknown_make_outcome_is_refunded_at_the_deadline_and_flagged_even_on_an_assume_success_device(
) {
    let h = Harness::with(&[DeviceSetup::new("dev-1").policy(DeadlinePolicy::AssumeSuccess)]).await;
    let order = paid_with_unanswered_command(&h, MachineFailure::LostAfterSending).await;
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) + 1));
    h.drain().await;
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::Failed);
    assert!(!order.dispense_assumed);
    assert_eq!(
        order.attention,
        Some(coffee_domain::Attention::MakeOutcomeUnknown)
    );
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.machine.make_calls(), 1);
}

#[tokio::test]
async fn a_machine_report_decides_an_unknown_make_outcome() {
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) + 1));
    h.drain().await;
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::Successful);
    assert_eq!(order.attention, None);
}

#[tokio::test]
async fn a_worker_that_died_while_sending_is_replaced_without_a_second_command() {
    use coffee_domain::ports::JobQueue;
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.pay(order.id).await;
    // A worker claims the make command, records it as sent, and dies before the answer.
    let claimed = h
        .store
        .claim_due(coffee_domain::ports::Claim {
            now: h.now(),
            limit: 1,
            lease: Duration::seconds(60),
        })
        .await
        .unwrap();
    let job = claimed
        .into_iter()
        .find(|j| j.kind == JobKind::SendMakeCommand)
        .unwrap();
    h.store.mark_sent(&job).await.unwrap();
    // Its lease runs out; another worker takes the job over.
    h.advance(Duration::seconds(61));
    h.run_jobs().await;
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::MakePending);
    assert!(order.make_outcome_unknown);
    assert_eq!(
        h.machine.make_calls(),
        0,
        "the takeover does not send again"
    );
}

#[tokio::test]
async fn a_command_that_certainly_did_not_arrive_is_retried() {
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::Unavailable).await;
    assert_eq!(order.status, OrderStatus::Paid);
    h.advance(Duration::seconds(5));
    h.run_jobs().await;
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::MakePending);
    assert!(!order.make_outcome_unknown);
    assert_eq!(h.machine.make_calls(), 2);
}

/// The operator's console, acting as `anna`.
fn operations(h: &Harness) -> coffee_domain::services::operations::Operations {
    coffee_domain::services::operations::Operations::new(h.ctx.clone())
}

#[tokio::test]
async fn an_operators_resend_sends_the_make_command_exactly_once_more_and_restarts_the_deadline() {
    use coffee_domain::decisions::operator::OperatorAction;
    use coffee_domain::services::operations::ActionOutcome;
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) - 5));
    let outcome = operations(&h)
        .act(order.id, OperatorAction::ResendMakeCommand, "anna")
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ActionOutcome::Done {
            status: OrderStatus::MakePending
        }
    );
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 2, "one more command, no more");
    // The first deadline passes: the resent command has its own whole time.
    h.advance(Duration::seconds(10));
    h.run_jobs().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::MakePending);
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) + 1));
    h.drain().await;
    assert_eq!(h.order(order.id).await.status, OrderStatus::Successful);
    assert_eq!(h.machine.make_calls(), 2);
    let history = h.history(order.id).await;
    assert!(history
        .iter()
        .any(|e| e.message.starts_with("оператор anna: повторная отправка")));
    assert!(history
        .iter()
        .any(|e| e.message.starts_with("автомат принял повторную команду")));
}

#[tokio::test]
async fn five_operators_resending_at_once_queue_one_resend_and_a_second_resend_is_refused() {
    use coffee_domain::decisions::operator::OperatorAction;
    use coffee_domain::services::operations::ActionOutcome;
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    let ops = operations(&h);
    let resend = || ops.act(order.id, OperatorAction::ResendMakeCommand, "anna");
    let (a, b, c, d, e) = tokio::join!(resend(), resend(), resend(), resend(), resend());
    let outcomes = [a, b, c, d, e];
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ActionOutcome::Done { .. })))
        .count();
    assert_eq!(done, 1, "{outcomes:?}");
    h.run_jobs().await;
    let again = ops
        .act(order.id, OperatorAction::ResendMakeCommand, "anna")
        .await
        .unwrap();
    assert!(matches!(again, ActionOutcome::Refused { .. }), "{again:?}");
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 2);
    let resends = h
        .jobs(order.id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::ResendMakeCommand)
        .count();
    assert_eq!(resends, 1);
}

#[tokio::test]
async fn a_resent_command_without_a_report_still_ends_in_a_refund_at_the_deadline() {
    use coffee_domain::decisions::operator::OperatorAction;
    let h = Harness::with(&[DeviceSetup::new("dev-1").policy(DeadlinePolicy::AssumeSuccess)]).await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    operations(&h)
        .act(order.id, OperatorAction::ResendMakeCommand, "anna")
        .await
        .unwrap();
    h.run_jobs().await;
    h.advance(Duration::seconds(i64::from(DEADLINE_SECONDS) * 2 + 1));
    h.drain().await;
    let order = h.order(order.id).await;
    assert_eq!(order.status, OrderStatus::Failed);
    assert!(
        !order.dispense_assumed,
        "a resent command is never assumed made"
    );
    assert_eq!(
        h.payment(order.id).await.unwrap().state,
        PaymentState::Refunded
    );
    assert_eq!(h.machine.make_calls(), 2);
}

#[tokio::test]
async fn a_resend_queued_before_the_machine_reports_sends_nothing_after_the_report() {
    use coffee_domain::decisions::operator::OperatorAction;
    let h = Harness::new().await;
    let order = paid_with_unanswered_command(&h, MachineFailure::AnswerLost).await;
    operations(&h)
        .act(order.id, OperatorAction::ResendMakeCommand, "anna")
        .await
        .unwrap();
    assert_eq!(
        h.dispensed(&order).await,
        ReportOutcome::Moved(OrderStatus::Successful)
    );
    h.run_jobs().await;
    assert_eq!(h.machine.make_calls(), 1, "the order moved on: no resend");
}

// ---- abuse limits ----------------------------------------------------------------------------

#[tokio::test]
async fn a_device_has_at_most_twenty_payments_waiting_to_be_paid() {
    let h = Harness::new().await;
    for n in 0..20 {
        h.pending_order("dev-1", &format!("mo-{n}")).await;
    }
    let one_too_many = h.scan_order("dev-1", "mo-20").await;
    let result = h
        .checkout
        .initiate_payment(PaymentRequest {
            order_id: one_too_many.id,
            return_url: "http://test/order".into(),
            method: PaymentMethod::Card,
            email: None,
            phone: None,
        })
        .await;
    assert!(
        matches!(result, Err(InitiatePaymentError::TooManyPendingPayments)),
        "{result:?}"
    );
    assert!(h.payment(one_too_many.id).await.is_none());
}

#[tokio::test]
async fn an_expired_order_is_polled_by_one_chain_not_two() {
    let h = Harness::new().await;
    let order = h.pending_order("dev-1", "mo-1").await;
    h.advance(Duration::minutes(16));
    h.sweep().await;
    let polls = h
        .jobs(order.id)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::PollPayment)
        .filter(|j| matches!(j.state, JobState::Queued | JobState::Running))
        .count();
    assert_eq!(h.order(order.id).await.status, OrderStatus::NotPaid);
    assert_eq!(polls, 1);
}
