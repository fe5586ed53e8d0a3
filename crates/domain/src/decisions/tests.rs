//! Table tests of the decide functions: every event in every status, without a store. Each
//! row says what the decision commits — status move, failure reason, money move, jobs — or
//! that it is a duplicate or ignored (and whether the history keeps a line about it).

use super::expiry::expire;
use super::machines::{machine_event, MachineNews};
use super::payments::{
    claimed_amount_mismatch, payment_created, payment_event, payment_rejected, provider_note,
    provider_payment,
};
use super::refunds::{refund_answer, refund_notice};
use super::{Decision, Snapshot};
use crate::ports::{ProviderPayment, ProviderPaymentStatus, RefundState, RefundStatus};
use crate::settings::Settings;
use crate::{
    CaptureMode, DeadlinePolicy, Device, DeviceUuid, DrinkNo, FailureReason, MachineKind,
    MachineOrderId, MerchantKey, Money, Order, OrderId, OrderStatus, Payment, PaymentEvent,
    PaymentId, PaymentState, ProviderKind, SimulatedOutcome, Simulation, Size,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).single().unwrap()
}

fn order(status: OrderStatus) -> Order {
    Order {
        id: OrderId::from_uuid(Uuid::from_u128(1)),
        machine_order_id: MachineOrderId::parse("m-1").unwrap(),
        device: DeviceUuid::parse("dev-1").unwrap(),
        merchant: MerchantKey::parse("m").unwrap(),
        drink_no: DrinkNo::parse("1").unwrap(),
        drink_name: "Капучино".into(),
        size: Size::Small,
        price: Money::rub(15_000).unwrap(),
        status,
        expires_at: start() + Duration::minutes(15),
        failure_reason: match status {
            OrderStatus::NotPaid => Some(FailureReason::Expired),
            OrderStatus::Failed => Some(FailureReason::DispenseFailed),
            _ => None,
        },
        receipt_contact: None,
        dispense_assumed: false,
        make_outcome_unknown: false,
        make_resent: false,
        attention: None,
        created_at: start(),
        updated_at: start(),
    }
}

fn payment(state: PaymentState, capture: CaptureMode) -> Payment {
    Payment {
        id: PaymentId::from_uuid(Uuid::from_u128(2)),
        order_id: OrderId::from_uuid(Uuid::from_u128(1)),
        provider: ProviderKind::Sandbox,
        provider_payment_id: "sb-1".into(),
        amount: Money::rub(15_000).unwrap(),
        capture,
        state,
        confirmation_url: "http://test/pay".into(),
        idempotency_key: "k".into(),
        refund_id: Some("r-1".into()),
        created_at: start(),
        updated_at: start(),
    }
}

fn device() -> Device {
    Device {
        device_uuid: DeviceUuid::parse("dev-1").unwrap(),
        merchant: MerchantKey::parse("m").unwrap(),
        location: String::new(),
        provider: ProviderKind::Sandbox,
        redirect_url: None,
        machine: MachineKind::Simulated,
        test: false,
        dispense_deadline_seconds: 180,
        on_dispense_deadline: DeadlinePolicy::FailAndRefund,
        simulation: Simulation {
            outcome: SimulatedOutcome::Dispensed,
            delay_ms: 0,
        },
        events_secret: None,
        branding: Default::default(),
        disabled: false,
    }
}

/// The order in `status` with the payment it has there when money is captured at once.
fn immediate(status: OrderStatus) -> Snapshot {
    let state = match status {
        OrderStatus::Created => None,
        OrderStatus::Pending | OrderStatus::NotPaid => Some(PaymentState::Pending),
        OrderStatus::Paid | OrderStatus::MakePending | OrderStatus::Successful => {
            Some(PaymentState::Succeeded)
        }
        OrderStatus::Failed => Some(PaymentState::RefundPending),
    };
    Snapshot {
        order: order(status),
        payment: state.map(|s| payment(s, CaptureMode::Immediate)),
    }
}

/// The same with the money held until the drink is out.
fn held(status: OrderStatus) -> Snapshot {
    let mut snapshot = immediate(status);
    if let Some(payment) = snapshot.payment.as_mut() {
        payment.capture = CaptureMode::AfterDispense;
        payment.state = match (status, payment.state) {
            (OrderStatus::Paid | OrderStatus::MakePending, _) => PaymentState::Authorized,
            (OrderStatus::Failed, _) => PaymentState::Canceled,
            (_, state) => state,
        };
    }
    snapshot
}

const EVENTS: [&str; 15] = [
    "payment created",
    "payment rejected",
    "provider: authorized",
    "provider: captured",
    "provider: canceled",
    "refund notice",
    "make accepted",
    "make undeliverable",
    "make outcome unknown",
    "dispensed",
    "dispense failed",
    "deadline, assume success",
    "deadline, fail and refund",
    "progress",
    "expiry",
];

/// The provider's view of our refund of the payment: complete.
fn refunded() -> RefundStatus {
    RefundStatus {
        refund_id: "r-1".into(),
        provider_payment_id: "sb-1".into(),
        state: RefundState::Succeeded,
    }
}

fn decide(event: &str, snapshot: &Snapshot) -> Decision {
    let now = start() + Duration::minutes(1);
    let after_expiry = start() + Duration::minutes(16);
    let device = device();
    let machine = |news: MachineNews| machine_event(snapshot, &news, Some(&device), now);
    match event {
        "payment created" => {
            let new = payment(PaymentState::Pending, CaptureMode::Immediate);
            payment_created(snapshot, &new, None, now, &Settings::default())
        }
        "payment rejected" => payment_rejected(snapshot, "refused", now),
        "provider: authorized" => payment_event(snapshot, PaymentEvent::Authorized, None, now),
        "provider: captured" => payment_event(snapshot, PaymentEvent::Captured, None, now),
        "provider: canceled" => payment_event(snapshot, PaymentEvent::Canceled, None, now),
        "refund notice" => refund_notice(snapshot, &refunded(), now),
        "make accepted" => machine(MachineNews::MakeAccepted),
        "make undeliverable" => machine(MachineNews::MakeUndeliverable {
            why: "unreachable".into(),
        }),
        "make outcome unknown" => machine(MachineNews::MakeOutcomeUnknown {
            why: "timed out after sending".into(),
        }),
        "dispensed" => machine(MachineNews::Dispensed { at: now }),
        "dispense failed" => machine(MachineNews::DispenseFailed {
            code: Some("E1".into()),
            at: now,
        }),
        "deadline, assume success" => machine(MachineNews::DeadlinePassed {
            policy: DeadlinePolicy::AssumeSuccess,
        }),
        "deadline, fail and refund" => machine(MachineNews::DeadlinePassed {
            policy: DeadlinePolicy::FailAndRefund,
        }),
        "progress" => machine(MachineNews::Progress {
            stage: "brewing".into(),
            at: now,
        }),
        "expiry" => expire(snapshot, after_expiry),
        other => panic!("unknown event {other}"),
    }
}

/// One line per decision: `commit <from>→<to> [reason] money <a>→<b> +payment jobs [..]`,
/// `duplicate`, `ignored`; `(noted)` when the history keeps a line about it.
fn summary(decision: &Decision) -> String {
    match decision {
        Decision::Commit(change) => {
            let mut parts = vec!["commit".to_owned()];
            match &change.status {
                Some(status) => {
                    parts.push(format!("{}→{}", status.expected, status.next));
                    if let Some(reason) = status.failure_reason {
                        parts.push(reason.as_str().to_owned());
                    }
                    if status.dispense_assumed {
                        parts.push("assumed".into());
                    }
                    if change.make_outcome_unknown {
                        parts.push("unknown".into());
                    }
                    if change.make_resent {
                        parts.push("resent".into());
                    }
                }
                None => parts.push("-".into()),
            }
            if let Some(money) = &change.payment_state {
                parts.push(format!("money {}→{}", money.expected, money.next));
            }
            if change.new_payment.is_some() {
                parts.push("+payment".into());
            }
            let jobs: Vec<&str> = change.jobs.iter().map(|j| j.kind.as_str()).collect();
            parts.push(format!("jobs [{}]", jobs.join(", ")));
            if let Some(attention) = change.attention {
                parts.push(format!("flag {}", attention.as_str()));
            }
            assert_eq!(change.history.len(), 1, "one history line per change");
            parts.join(" ")
        }
        Decision::Duplicate { note } => noted("duplicate", note.is_some()),
        Decision::Ignored { note, flag, .. } => {
            let ignored = noted("ignored", note.is_some());
            match flag {
                Some(attention) => format!("{ignored} flag {}", attention.as_str()),
                None => ignored,
            }
        }
    }
}

fn noted(what: &str, noted: bool) -> String {
    if noted {
        format!("{what} (noted)")
    } else {
        what.to_owned()
    }
}

fn check(table: &[(OrderStatus, &str, &str)], snapshot_of: fn(OrderStatus) -> Snapshot) {
    let mut failures = Vec::new();
    for status in OrderStatus::ALL {
        for event in EVENTS {
            let Some((_, _, expected)) = table.iter().find(|(s, e, _)| *s == status && *e == event)
            else {
                failures.push(format!("no row for {status} × {event}"));
                continue;
            };
            let actual = summary(&decide(event, &snapshot_of(status)));
            if actual != *expected {
                failures.push(format!(
                    "{status} × {event}: expected `{expected}`, got `{actual}`"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

use OrderStatus::{Created, Failed, MakePending, NotPaid, Paid, Pending, Successful};

#[test]
fn every_event_in_every_status_decides_as_the_table_says_when_money_is_captured_at_once() {
    check(
        &[
            (Created, "payment created", "commit created→pending +payment jobs [poll_payment]"),
            (Created, "payment rejected", "commit created→created payment_rejected jobs []"),
            (Created, "provider: authorized", "ignored"),
            (Created, "provider: captured", "ignored"),
            (Created, "provider: canceled", "ignored"),
            (Created, "refund notice", "ignored"),
            (Created, "make accepted", "ignored (noted)"),
            (Created, "make undeliverable", "ignored (noted)"),
            (Created, "make outcome unknown", "ignored (noted)"),
            (Created, "dispensed", "ignored (noted)"),
            (Created, "dispense failed", "ignored (noted)"),
            (Created, "deadline, assume success", "ignored (noted)"),
            (Created, "deadline, fail and refund", "ignored (noted)"),
            (Created, "progress", "ignored (noted)"),
            (Created, "expiry", "commit created→not_paid expired jobs []"),
            (Pending, "payment created", "duplicate"),
            (Pending, "payment rejected", "ignored"),
            (Pending, "provider: authorized", "commit pending→paid money pending→authorized jobs [send_make_command]"),
            (Pending, "provider: captured", "commit pending→paid money pending→succeeded jobs [send_make_command]"),
            (Pending, "provider: canceled", "commit pending→created payment_canceled money pending→canceled jobs []"),
            (Pending, "refund notice", "ignored (noted)"),
            (Pending, "make accepted", "ignored (noted)"),
            (Pending, "make undeliverable", "ignored (noted)"),
            (Pending, "make outcome unknown", "ignored (noted)"),
            (Pending, "dispensed", "ignored (noted)"),
            (Pending, "dispense failed", "ignored (noted)"),
            (Pending, "deadline, assume success", "ignored (noted)"),
            (Pending, "deadline, fail and refund", "ignored (noted)"),
            (Pending, "progress", "ignored (noted)"),
            (Pending, "expiry", "commit pending→not_paid expired jobs []"),
            (Paid, "payment created", "duplicate"),
            (Paid, "payment rejected", "ignored"),
            (Paid, "provider: authorized", "duplicate"),
            (Paid, "provider: captured", "duplicate"),
            (Paid, "provider: canceled", "ignored (noted)"),
            (Paid, "refund notice", "ignored (noted)"),
            (Paid, "make accepted", "commit paid→make_pending jobs [dispense_deadline]"),
            (Paid, "make undeliverable", "commit paid→failed machine_unreachable money succeeded→refund_pending jobs [refund_payment]"),
            (Paid, "make outcome unknown", "commit paid→make_pending unknown jobs [dispense_deadline]"),
            (Paid, "dispensed", "commit paid→successful jobs []"),
            (Paid, "dispense failed", "commit paid→failed dispense_failed money succeeded→refund_pending jobs [refund_payment]"),
            (Paid, "deadline, assume success", "ignored (noted)"),
            (Paid, "deadline, fail and refund", "ignored (noted)"),
            (Paid, "progress", "ignored (noted)"),
            (Paid, "expiry", "ignored"),
            (MakePending, "payment created", "duplicate"),
            (MakePending, "payment rejected", "ignored"),
            (MakePending, "provider: authorized", "duplicate"),
            (MakePending, "provider: captured", "duplicate"),
            (MakePending, "provider: canceled", "ignored (noted)"),
            (MakePending, "refund notice", "ignored (noted)"),
            (MakePending, "make accepted", "duplicate (noted)"),
            (MakePending, "make undeliverable", "ignored (noted)"),
            (MakePending, "make outcome unknown", "duplicate (noted)"),
            (MakePending, "dispensed", "commit make_pending→successful jobs []"),
            (MakePending, "dispense failed", "commit make_pending→failed dispense_failed money succeeded→refund_pending jobs [refund_payment]"),
            (MakePending, "deadline, assume success", "commit make_pending→successful assumed jobs []"),
            (MakePending, "deadline, fail and refund", "commit make_pending→failed dispense_timed_out money succeeded→refund_pending jobs [refund_payment]"),
            (MakePending, "progress", "commit - jobs [dispense_deadline]"),
            (MakePending, "expiry", "ignored"),
            (Successful, "payment created", "duplicate"),
            (Successful, "payment rejected", "ignored"),
            (Successful, "provider: authorized", "duplicate"),
            (Successful, "provider: captured", "duplicate"),
            (Successful, "provider: canceled", "ignored (noted)"),
            (Successful, "refund notice", "ignored (noted)"),
            (Successful, "make accepted", "duplicate (noted)"),
            (Successful, "make undeliverable", "ignored (noted)"),
            (Successful, "make outcome unknown", "duplicate (noted)"),
            (Successful, "dispensed", "duplicate (noted)"),
            (Successful, "dispense failed", "ignored (noted)"),
            (Successful, "deadline, assume success", "duplicate (noted)"),
            (Successful, "deadline, fail and refund", "ignored (noted)"),
            (Successful, "progress", "ignored (noted)"),
            (Successful, "expiry", "ignored"),
            (NotPaid, "payment created", "ignored"),
            (NotPaid, "payment rejected", "ignored"),
            (NotPaid, "provider: authorized", "commit not_paid→not_paid paid_after_expiry money pending→authorized jobs [cancel_payment] flag money_after_order_ended"),
            (NotPaid, "provider: captured", "commit not_paid→not_paid paid_after_expiry money pending→refund_pending jobs [refund_payment] flag money_after_order_ended"),
            (NotPaid, "provider: canceled", "commit - money pending→canceled jobs []"),
            (NotPaid, "refund notice", "ignored (noted)"),
            (NotPaid, "make accepted", "ignored (noted)"),
            (NotPaid, "make undeliverable", "ignored (noted)"),
            (NotPaid, "make outcome unknown", "ignored (noted)"),
            (NotPaid, "dispensed", "ignored (noted)"),
            (NotPaid, "dispense failed", "ignored (noted)"),
            (NotPaid, "deadline, assume success", "ignored (noted)"),
            (NotPaid, "deadline, fail and refund", "ignored (noted)"),
            (NotPaid, "progress", "ignored (noted)"),
            (NotPaid, "expiry", "duplicate"),
            (Failed, "payment created", "ignored"),
            (Failed, "payment rejected", "duplicate"),
            (Failed, "provider: authorized", "duplicate"),
            (Failed, "provider: captured", "duplicate"),
            (Failed, "provider: canceled", "ignored (noted)"),
            (Failed, "refund notice", "commit - money refund_pending→refunded jobs []"),
            (Failed, "make accepted", "ignored (noted)"),
            (Failed, "make undeliverable", "duplicate (noted)"),
            (Failed, "make outcome unknown", "ignored (noted)"),
            (Failed, "dispensed", "ignored (noted)"),
            (Failed, "dispense failed", "duplicate (noted)"),
            (Failed, "deadline, assume success", "ignored (noted)"),
            (Failed, "deadline, fail and refund", "duplicate (noted)"),
            (Failed, "progress", "ignored (noted)"),
            (Failed, "expiry", "ignored"),
        ],
        immediate,
    );
}

#[test]
fn a_held_payment_is_captured_after_the_drink_and_released_when_there_is_none() {
    let rows: &[(OrderStatus, &str, &str)] = &[
        (
            Paid,
            "provider: captured",
            "commit - money authorized→succeeded jobs []",
        ),
        (
            Paid,
            "make undeliverable",
            "commit paid→failed machine_unreachable jobs [cancel_payment]",
        ),
        (
            Paid,
            "dispensed",
            "commit paid→successful jobs [capture_payment]",
        ),
        (
            MakePending,
            "provider: captured",
            "commit - money authorized→succeeded jobs []",
        ),
        (
            MakePending,
            "provider: canceled",
            "commit - money authorized→canceled jobs []",
        ),
        (
            MakePending,
            "dispensed",
            "commit make_pending→successful jobs [capture_payment]",
        ),
        (
            MakePending,
            "deadline, assume success",
            "commit make_pending→successful assumed jobs [capture_payment]",
        ),
        (
            MakePending,
            "dispense failed",
            "commit make_pending→failed dispense_failed jobs [cancel_payment]",
        ),
        (
            MakePending,
            "deadline, fail and refund",
            "commit make_pending→failed dispense_timed_out jobs [cancel_payment]",
        ),
        (MakePending, "progress", "commit - jobs [dispense_deadline]"),
        (Failed, "refund notice", "ignored (noted)"),
        (Failed, "provider: captured", "ignored (noted)"),
        (Failed, "provider: canceled", "duplicate"),
    ];
    let mut failures = Vec::new();
    for (status, event, expected) in rows {
        let actual = summary(&decide(event, &held(*status)));
        if actual != *expected {
            failures.push(format!(
                "{status} × {event}: expected `{expected}`, got `{actual}`"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn money_taken_after_expiry_never_pays_the_order_and_goes_back() {
    let snapshot = immediate(Pending);
    let late = start() + Duration::minutes(16);
    let decision = payment_event(&snapshot, PaymentEvent::Captured, None, late);
    assert_eq!(
        summary(&decision),
        "commit pending→not_paid paid_after_expiry money pending→refund_pending jobs [refund_payment] flag money_after_order_ended"
    );
}

#[test]
fn an_accepted_make_command_sets_the_deadline_from_the_device() {
    let now = start() + Duration::minutes(1);
    let Decision::Commit(change) = machine_event(
        &immediate(Paid),
        &MachineNews::MakeAccepted,
        Some(&device()),
        now,
    ) else {
        panic!("make accepted must commit");
    };
    assert_eq!(change.jobs[0].run_at, now + Duration::seconds(180));
}

#[test]
fn a_machines_progress_queues_a_whole_new_deadline_from_now_and_moves_no_status() {
    let now = start() + Duration::minutes(2);
    let Decision::Commit(change) = machine_event(
        &immediate(MakePending),
        &MachineNews::Progress {
            stage: "brewing".into(),
            at: now,
        },
        Some(&device()),
        now,
    ) else {
        panic!("progress on a make_pending order must commit");
    };
    assert_eq!(change.status, None);
    assert_eq!(change.jobs.len(), 1);
    assert_eq!(change.jobs[0].kind, crate::JobKind::DispenseDeadline);
    assert_eq!(change.jobs[0].run_at, now + Duration::seconds(180));
    assert!(change.history[0].message.contains("brewing"));
    // Without the device its deadline is unknown: recorded, nothing queued.
    let blind = machine_event(
        &immediate(MakePending),
        &MachineNews::Progress {
            stage: "accepted".into(),
            at: now,
        },
        None,
        now,
    );
    assert_eq!(summary(&blind), "ignored (noted)");
}

#[test]
fn a_failed_order_keeps_its_own_reason_when_late_money_arrives() {
    let mut snapshot = immediate(Failed);
    snapshot.payment = Some(payment(PaymentState::Pending, CaptureMode::Immediate));
    let decision = payment_event(&snapshot, PaymentEvent::Captured, None, start());
    assert_eq!(
        summary(&decision),
        "commit failed→failed dispense_failed money pending→refund_pending jobs [refund_payment] flag money_after_order_ended"
    );
}

#[test]
fn a_make_command_of_unknown_fate_is_refunded_at_the_deadline_even_when_success_would_be_assumed() {
    let mut snapshot = immediate(MakePending);
    snapshot.order.make_outcome_unknown = true;
    let decision = machine_event(
        &snapshot,
        &MachineNews::DeadlinePassed {
            policy: DeadlinePolicy::AssumeSuccess,
        },
        None,
        start(),
    );
    assert_eq!(
        summary(&decision),
        "commit make_pending→failed dispense_timed_out money succeeded→refund_pending jobs [refund_payment] flag make_outcome_unknown"
    );
    // A machine report still decides: the drink was made.
    let reported = machine_event(
        &snapshot,
        &MachineNews::Dispensed { at: start() },
        None,
        start(),
    );
    assert_eq!(summary(&reported), "commit make_pending→successful jobs []");
}

#[test]
fn a_provider_payment_that_does_not_match_ours_changes_nothing_and_flags_the_order() {
    let snapshot = immediate(Pending);
    let mut fetched = ProviderPayment {
        provider_payment_id: "sb-1".into(),
        status: ProviderPaymentStatus::Succeeded,
        amount: Money::rub(1).unwrap(),
        order_id: Some(snapshot.order.id),
        payment_id: None,
        machine_order_id: None,
        paid_at: None,
    };
    let mismatch = provider_payment(&snapshot, &fetched, start());
    assert_eq!(summary(&mismatch), "ignored (noted) flag provider_mismatch");
    fetched.amount = Money::rub(15_000).unwrap();
    fetched.order_id = None;
    let anonymous = provider_payment(&snapshot, &fetched, start());
    assert_eq!(
        summary(&anonymous),
        "ignored (noted) flag provider_mismatch"
    );
}

#[test]
fn a_signed_notification_stating_another_amount_changes_nothing_and_flags_the_order() {
    let decision = claimed_amount_mismatch(&immediate(Pending), Money::rub(1).unwrap(), start());
    assert_eq!(summary(&decision), "ignored (noted) flag provider_mismatch");
}

#[test]
fn a_provider_message_that_moves_no_money_is_only_a_line_in_the_history() {
    for status in [Pending, Successful, Failed] {
        let decision = provider_note(&immediate(status), "T-Bank: чек пробит", start());
        match decision {
            Decision::Duplicate { note: Some(line) } => {
                assert_eq!(line.message, "T-Bank: чек пробит");
                assert_eq!(line.to, None);
            }
            other => panic!("{status:?}: {other:?}"),
        }
    }
}

#[test]
fn a_provider_payment_tied_to_our_attempt_instead_of_the_order_is_believed_only_for_that_attempt() {
    let snapshot = immediate(Pending);
    let ours = snapshot.payment.as_ref().map(|p| p.id);
    let mut fetched = ProviderPayment {
        provider_payment_id: "sb-1".into(),
        status: ProviderPaymentStatus::Succeeded,
        amount: Money::rub(15_000).unwrap(),
        order_id: None,
        payment_id: ours,
        machine_order_id: None,
        paid_at: None,
    };
    let believed = provider_payment(&snapshot, &fetched, start());
    assert!(
        summary(&believed).starts_with("commit pending→paid"),
        "{}",
        summary(&believed)
    );
    fetched.payment_id = Some(PaymentId::from_uuid(Uuid::new_v4()));
    let foreign = provider_payment(&snapshot, &fetched, start());
    assert_eq!(summary(&foreign), "ignored (noted) flag provider_mismatch");
}

#[test]
fn a_payment_the_original_system_created_is_tied_to_its_order_by_the_machine_order_id() {
    let snapshot = immediate(Pending);
    let mut fetched = ProviderPayment {
        provider_payment_id: "sb-1".into(),
        status: ProviderPaymentStatus::Succeeded,
        amount: Money::rub(15_000).unwrap(),
        order_id: None,
        payment_id: None,
        machine_order_id: Some(snapshot.order.machine_order_id.clone()),
        paid_at: None,
    };
    let believed = provider_payment(&snapshot, &fetched, start());
    assert!(
        summary(&believed).starts_with("commit pending→paid"),
        "{}",
        summary(&believed)
    );
    fetched.machine_order_id = Some(MachineOrderId::parse("another-machine-order").unwrap());
    let foreign = provider_payment(&snapshot, &fetched, start());
    assert_eq!(summary(&foreign), "ignored (noted) flag provider_mismatch");
}

#[test]
fn a_late_payment_is_judged_by_when_the_customer_paid_not_by_when_we_heard() {
    let snapshot = immediate(Pending);
    let fetched = ProviderPayment {
        provider_payment_id: "sb-1".into(),
        status: ProviderPaymentStatus::Succeeded,
        amount: Money::rub(15_000).unwrap(),
        order_id: Some(snapshot.order.id),
        payment_id: None,
        machine_order_id: None,
        paid_at: Some(start() + Duration::minutes(14)),
    };
    // We hear of it after expiry, but the customer paid in time: the drink is made.
    let heard_late = start() + Duration::minutes(20);
    assert_eq!(
        summary(&provider_payment(&snapshot, &fetched, heard_late)),
        "commit pending→paid money pending→succeeded jobs [send_make_command]"
    );
    let paid_late = ProviderPayment {
        paid_at: Some(start() + Duration::minutes(16)),
        ..fetched
    };
    assert_eq!(
        summary(&provider_payment(&snapshot, &paid_late, start() + Duration::minutes(16))),
        "commit pending→not_paid paid_after_expiry money pending→refund_pending jobs [refund_payment] flag money_after_order_ended"
    );
}

#[test]
fn a_hold_released_by_the_provider_after_the_drink_flags_the_order() {
    let mut snapshot = immediate(Successful);
    if let Some(payment) = snapshot.payment.as_mut() {
        payment.state = PaymentState::Authorized;
        payment.capture = CaptureMode::AfterDispense;
    }
    let decision = payment_event(&snapshot, PaymentEvent::Canceled, None, start());
    assert_eq!(
        summary(&decision),
        "commit - money authorized→canceled jobs [] flag hold_canceled_after_drink"
    );
}

#[test]
fn a_refund_is_believed_only_as_the_provider_shows_it() {
    let snapshot = immediate(Failed);
    let pending = RefundStatus {
        state: RefundState::Pending,
        ..refunded()
    };
    assert_eq!(
        summary(&refund_notice(&snapshot, &pending, start())),
        "ignored"
    );
    let other = RefundStatus {
        provider_payment_id: "sb-other".into(),
        ..refunded()
    };
    assert_eq!(
        summary(&refund_notice(&snapshot, &other, start())),
        "ignored (noted)"
    );
    let refused = RefundStatus {
        state: RefundState::Canceled,
        ..refunded()
    };
    assert_eq!(
        summary(&refund_answer(&snapshot, &refused, start())),
        "ignored (noted) flag refund_refused"
    );
    let mut fresh = immediate(Failed);
    if let Some(payment) = fresh.payment.as_mut() {
        payment.refund_id = None;
    }
    let Decision::Commit(change) = refund_answer(&fresh, &pending, start()) else {
        panic!("a new pending refund is recorded");
    };
    assert_eq!(
        change.refund_id.map(|r| r.refund_id).as_deref(),
        Some("r-1")
    );
    assert!(change.payment_state.is_none());
}

/// Every operator action in every status, with the money as the automatic rules leave it
/// (`immediate`) and as it is held (`held`), plus the two states an operator exists for: a
/// finished order whose money is still taken or held.
#[test]
fn every_operator_action_in_every_status_decides_as_the_table_says() {
    use super::operator::{operator_action, OperatorAction};
    let now = start() + Duration::minutes(1);
    let act =
        |snapshot: &Snapshot, action| summary(&operator_action(snapshot, action, "anna", now));
    let mut failures = Vec::new();
    let mut expect = |snapshot: Snapshot, label: &str, rows: [&str; 5]| {
        for (action, expected) in OperatorAction::ALL.into_iter().zip(rows) {
            let actual = act(&snapshot, action);
            if actual != expected {
                failures.push(format!(
                    "{label} × {}: expected `{expected}`, got `{actual}`",
                    action.as_str()
                ));
            }
        }
    };
    // (refund, release_hold, mark_dispensed, mark_failed, resend_make_command)
    for status in [Created, Pending, Paid, NotPaid] {
        expect(immediate(status), status.as_str(), ["ignored"; 5]);
    }
    expect(
        immediate(MakePending),
        "make_pending, captured",
        [
            "ignored",
            "ignored",
            "commit make_pending→successful jobs []",
            "commit make_pending→failed dispense_failed money succeeded→refund_pending jobs [refund_payment]",
            "ignored",
        ],
    );
    expect(
        held(MakePending),
        "make_pending, held",
        [
            "ignored",
            "ignored",
            "commit make_pending→successful jobs [capture_payment]",
            "commit make_pending→failed dispense_failed jobs [cancel_payment]",
            "ignored",
        ],
    );
    expect(
        immediate(Successful),
        "successful, captured",
        [
            "commit - money succeeded→refund_pending jobs [refund_payment]",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
        ],
    );
    expect(
        held(Successful),
        "successful, captured after the drink",
        [
            "commit - money succeeded→refund_pending jobs [refund_payment]",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
        ],
    );
    let mut hold_left = held(Successful);
    if let Some(payment) = hold_left.payment.as_mut() {
        payment.state = PaymentState::Authorized;
    }
    expect(
        hold_left,
        "successful, hold left",
        [
            "ignored",
            "commit - jobs [cancel_payment]",
            "ignored",
            "ignored",
            "ignored",
        ],
    );
    expect(
        immediate(Failed),
        "failed, refund under way",
        ["ignored"; 5],
    );
    let mut refund_refused = immediate(Failed);
    if let Some(payment) = refund_refused.payment.as_mut() {
        payment.state = PaymentState::Succeeded;
    }
    expect(
        refund_refused,
        "failed, refund refused",
        [
            "commit - money succeeded→refund_pending jobs [refund_payment]",
            "ignored",
            "ignored",
            "ignored",
            "ignored",
        ],
    );
    let mut fate_unknown = immediate(MakePending);
    fate_unknown.order.make_outcome_unknown = true;
    expect(
        fate_unknown.clone(),
        "make_pending, fate of the command unknown",
        [
            "ignored",
            "ignored",
            "commit make_pending→successful jobs []",
            "commit make_pending→failed dispense_failed money succeeded→refund_pending jobs [refund_payment]",
            "commit make_pending→make_pending resent jobs [resend_make_command]",
        ],
    );
    let mut resent = fate_unknown;
    resent.order.make_resent = true;
    expect(
        resent,
        "make_pending, fate unknown, resent already",
        [
            "ignored",
            "ignored",
            "commit make_pending→successful jobs []",
            "commit make_pending→failed dispense_failed money succeeded→refund_pending jobs [refund_payment]",
            "ignored",
        ],
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn an_operators_mark_is_written_as_the_operators_in_the_timeline() {
    use super::operator::{operator_action, OperatorAction};
    let now = start() + Duration::minutes(1);
    let Decision::Commit(change) = operator_action(
        &immediate(MakePending),
        OperatorAction::MarkFailed,
        "anna",
        now,
    ) else {
        panic!("a make_pending order can be marked failed");
    };
    assert_eq!(change.history[0].source, crate::HistorySource::Operator);
    assert!(change.history[0]
        .message
        .starts_with("оператор anna: напиток не приготовлен"));
}

/// What came of an operator's resent make command: accepted restarts the deadline; anything
/// else is a line in the timeline; an order that moved on meanwhile is left alone.
#[test]
fn a_resent_commands_result_restarts_the_deadline_only_when_accepted() {
    use super::machines::resent_make_result;
    let now = start() + Duration::minutes(1);
    let mut resent = immediate(MakePending);
    resent.order.make_outcome_unknown = true;
    resent.order.make_resent = true;
    let decide = |snapshot: &Snapshot, news: MachineNews| {
        summary(&resent_make_result(snapshot, &news, Some(&device()), now))
    };
    assert_eq!(
        decide(&resent, MachineNews::MakeAccepted),
        "commit - jobs [dispense_deadline]"
    );
    let lost = MachineNews::MakeOutcomeUnknown {
        why: "timeout".into(),
    };
    assert_eq!(decide(&resent, lost.clone()), "commit - jobs []");
    assert_eq!(
        decide(
            &resent,
            MachineNews::MakeUndeliverable {
                why: "offline".into()
            }
        ),
        "commit - jobs []"
    );
    let mut finished = resent.clone();
    finished.order.status = Successful;
    assert_eq!(
        decide(&finished, MachineNews::MakeAccepted),
        "ignored (noted)"
    );
    assert_eq!(decide(&finished, lost), "ignored (noted)");
    let Decision::Commit(change) =
        resent_make_result(&resent, &MachineNews::MakeAccepted, Some(&device()), now)
    else {
        panic!("accepted is committed");
    };
    assert_eq!(
        change.jobs[0].run_at,
        now + Duration::seconds(i64::from(device().dispense_deadline_seconds))
    );
}

/// A notification is spared its re-fetch only when our payment already is where it claims
/// (or past it): every claim of news is asked about.
#[test]
fn only_a_claim_we_already_know_is_spared_the_re_fetch() {
    use super::payments::notification_tells_nothing_new as known;
    use PaymentState::{Authorized, Canceled, Pending, RefundPending, Refunded, Succeeded};
    let spared = |claimed| {
        PaymentState::ALL
            .into_iter()
            .filter(|state| known(*state, claimed))
            .collect::<Vec<_>>()
    };
    assert_eq!(spared(Succeeded), [Succeeded, RefundPending, Refunded]);
    assert_eq!(
        spared(Authorized),
        [Authorized, Succeeded, RefundPending, Refunded]
    );
    assert_eq!(spared(Canceled), [Canceled]);
    assert_eq!(spared(Pending), []);
    assert_eq!(spared(Refunded), []);
}
