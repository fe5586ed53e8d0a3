//! The order and payment state machines, pair by pair, written out as tables.

use coffee_domain::{
    transition, IllegalPaymentTransition, IllegalTransition, OrderEvent, OrderStatus, PaymentEvent,
    PaymentState, PaymentTransition, Transition,
};
use std::collections::HashSet;

/// What a table row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect<S> {
    To(S),
    Duplicate,
    Illegal,
}

use Expect::{Duplicate as Dup, Illegal as No, To};
use OrderEvent as E;
use OrderStatus as S;

/// Every (status, event) pair and its expected outcome: 7 statuses × 12 events. A failed
/// payment attempt leaves the order payable (back to, or staying in, `created`).
#[rustfmt::skip]
const ORDER_TABLE: [(OrderStatus, OrderEvent, Expect<OrderStatus>); 84] = [
    // created
    (S::Created, E::PaymentCreated,        To(S::Pending)),
    (S::Created, E::PaymentCreationFailed, To(S::Created)),
    (S::Created, E::PaymentConfirmed,      No),
    (S::Created, E::PaymentCanceled,       Dup),
    (S::Created, E::Expired,               To(S::NotPaid)),
    (S::Created, E::MakeAccepted,          No),
    (S::Created, E::MachineUnreachable,    No),
    (S::Created, E::MakeOutcomeUnknown, No),
    (S::Created, E::Dispensed,             No),
    (S::Created, E::DispenseAssumed,       No),
    (S::Created, E::DispenseFailed,        No),
    (S::Created, E::DispenseTimedOut,      No),
    // pending
    (S::Pending, E::PaymentCreated,        Dup),
    (S::Pending, E::PaymentCreationFailed, No),
    (S::Pending, E::PaymentConfirmed,      To(S::Paid)),
    (S::Pending, E::PaymentCanceled,       To(S::Created)),
    (S::Pending, E::Expired,               To(S::NotPaid)),
    (S::Pending, E::MakeAccepted,          No),
    (S::Pending, E::MachineUnreachable,    No),
    (S::Pending, E::MakeOutcomeUnknown, No),
    (S::Pending, E::Dispensed,             No),
    (S::Pending, E::DispenseAssumed,       No),
    (S::Pending, E::DispenseFailed,        No),
    (S::Pending, E::DispenseTimedOut,      No),
    // paid
    (S::Paid, E::PaymentCreated,           Dup),
    (S::Paid, E::PaymentCreationFailed,    No),
    (S::Paid, E::PaymentConfirmed,         Dup),
    (S::Paid, E::PaymentCanceled,          No),
    (S::Paid, E::Expired,                  No),
    (S::Paid, E::MakeAccepted,             To(S::MakePending)),
    (S::Paid, E::MachineUnreachable,       To(S::Failed)),
    (S::Paid, E::MakeOutcomeUnknown, To(S::MakePending)),
    (S::Paid, E::Dispensed,                No),
    (S::Paid, E::DispenseAssumed,          No),
    (S::Paid, E::DispenseFailed,           No),
    (S::Paid, E::DispenseTimedOut,         No),
    // not_paid (terminal)
    (S::NotPaid, E::PaymentCreated,        No),
    (S::NotPaid, E::PaymentCreationFailed, No),
    (S::NotPaid, E::PaymentConfirmed,      No),
    (S::NotPaid, E::PaymentCanceled,       Dup),
    (S::NotPaid, E::Expired,               Dup),
    (S::NotPaid, E::MakeAccepted,          No),
    (S::NotPaid, E::MachineUnreachable,    No),
    (S::NotPaid, E::MakeOutcomeUnknown, No),
    (S::NotPaid, E::Dispensed,             No),
    (S::NotPaid, E::DispenseAssumed,       No),
    (S::NotPaid, E::DispenseFailed,        No),
    (S::NotPaid, E::DispenseTimedOut,      No),
    // make_pending
    (S::MakePending, E::PaymentCreated,        Dup),
    (S::MakePending, E::PaymentCreationFailed, No),
    (S::MakePending, E::PaymentConfirmed,      Dup),
    (S::MakePending, E::PaymentCanceled,       No),
    (S::MakePending, E::Expired,               No),
    (S::MakePending, E::MakeAccepted,          Dup),
    (S::MakePending, E::MachineUnreachable,    No),
    (S::MakePending, E::MakeOutcomeUnknown, Dup),
    (S::MakePending, E::Dispensed,             To(S::Successful)),
    (S::MakePending, E::DispenseAssumed,       To(S::Successful)),
    (S::MakePending, E::DispenseFailed,        To(S::Failed)),
    (S::MakePending, E::DispenseTimedOut,      To(S::Failed)),
    // successful (terminal)
    (S::Successful, E::PaymentCreated,        Dup),
    (S::Successful, E::PaymentCreationFailed, No),
    (S::Successful, E::PaymentConfirmed,      Dup),
    (S::Successful, E::PaymentCanceled,       No),
    (S::Successful, E::Expired,               No),
    (S::Successful, E::MakeAccepted,          Dup),
    (S::Successful, E::MachineUnreachable,    No),
    (S::Successful, E::MakeOutcomeUnknown, Dup),
    (S::Successful, E::Dispensed,             Dup),
    (S::Successful, E::DispenseAssumed,       Dup),
    (S::Successful, E::DispenseFailed,        No),
    (S::Successful, E::DispenseTimedOut,      No),
    // failed (terminal)
    (S::Failed, E::PaymentCreated,        No),
    (S::Failed, E::PaymentCreationFailed, Dup),
    (S::Failed, E::PaymentConfirmed,      No),
    (S::Failed, E::PaymentCanceled,       No),
    (S::Failed, E::Expired,               No),
    (S::Failed, E::MakeAccepted,          No),
    (S::Failed, E::MachineUnreachable,    Dup),
    (S::Failed, E::MakeOutcomeUnknown, No),
    (S::Failed, E::Dispensed,             No),
    (S::Failed, E::DispenseAssumed,       No),
    (S::Failed, E::DispenseFailed,        Dup),
    (S::Failed, E::DispenseTimedOut,      Dup),
];

fn expected_order_result(
    from: OrderStatus,
    event: OrderEvent,
    expect: Expect<OrderStatus>,
) -> Result<Transition, IllegalTransition> {
    match expect {
        To(next) => Ok(Transition::To(next)),
        Dup => Ok(Transition::Duplicate),
        No => Err(IllegalTransition { from, event }),
    }
}

#[test]
fn the_order_table_has_exactly_one_row_for_each_of_the_84_status_event_pairs() {
    let pairs: HashSet<(OrderStatus, OrderEvent)> = ORDER_TABLE
        .iter()
        .map(|(from, event, _)| (*from, *event))
        .collect();
    assert_eq!(ORDER_TABLE.len(), 84);
    assert_eq!(pairs.len(), 84, "the table repeats a pair");
    for from in OrderStatus::ALL {
        for event in OrderEvent::ALL {
            assert!(
                pairs.contains(&(from, event)),
                "the table misses ({from}, {event:?})"
            );
        }
    }
}

#[test]
fn every_status_event_pair_yields_exactly_what_the_table_says() {
    for (from, event, expect) in ORDER_TABLE {
        assert_eq!(
            transition(from, event),
            expected_order_result(from, event, expect),
            "({from}, {event:?})"
        );
    }
}

#[test]
fn terminal_statuses_never_move_to_another_status() {
    let terminal: Vec<OrderStatus> = OrderStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(terminal, vec![S::NotPaid, S::Successful, S::Failed]);
    for from in terminal {
        for event in OrderEvent::ALL {
            assert!(
                !matches!(transition(from, event), Ok(Transition::To(_))),
                "{from} moved on {event:?}"
            );
        }
    }
}

#[test]
fn every_non_terminal_status_has_a_way_forward_and_every_status_is_reachable() {
    let mut reached: HashSet<OrderStatus> = HashSet::from([S::Created]);
    let mut frontier = vec![S::Created];
    while let Some(from) = frontier.pop() {
        for event in OrderEvent::ALL {
            if let Ok(Transition::To(next)) = transition(from, event) {
                if reached.insert(next) {
                    frontier.push(next);
                }
            }
        }
    }
    assert_eq!(
        reached.len(),
        OrderStatus::ALL.len(),
        "unreachable statuses"
    );
    for from in OrderStatus::ALL.into_iter().filter(|s| !s.is_terminal()) {
        assert!(
            OrderEvent::ALL
                .into_iter()
                .any(|e| matches!(transition(from, e), Ok(Transition::To(_)))),
            "{from} is a dead end"
        );
    }
}

/// Applies events from `created`, stopping at the first one the table refuses.
fn walk(events: &[OrderEvent]) -> Result<OrderStatus, IllegalTransition> {
    let mut status = S::Created;
    for event in events {
        if let Transition::To(next) = transition(status, *event)? {
            status = next;
        }
    }
    Ok(status)
}

#[test]
fn an_illegal_sequence_is_rejected_with_the_typed_error_naming_status_and_event() {
    let error = transition(S::Created, E::Dispensed).unwrap_err();
    assert_eq!(
        error,
        IllegalTransition {
            from: S::Created,
            event: E::Dispensed
        }
    );
    assert_eq!(
        error.to_string(),
        "event Dispensed is not allowed in status created"
    );

    // created → pending → paid, then a dispense report before any make command was accepted.
    assert_eq!(
        walk(&[E::PaymentCreated, E::PaymentConfirmed, E::Dispensed]),
        Err(IllegalTransition {
            from: S::Paid,
            event: E::Dispensed
        })
    );
    // A drink can never be made for an order that was not paid in time.
    assert_eq!(
        walk(&[E::PaymentCreated, E::Expired, E::PaymentConfirmed]),
        Err(IllegalTransition {
            from: S::NotPaid,
            event: E::PaymentConfirmed
        })
    );
    // The happy path, with a retried webhook and a repeated report in between, is legal.
    assert_eq!(
        walk(&[
            E::PaymentCreated,
            E::PaymentCreated,
            E::PaymentConfirmed,
            E::PaymentConfirmed,
            E::MakeAccepted,
            E::Dispensed,
            E::Dispensed,
        ]),
        Ok(S::Successful)
    );
}

#[test]
fn statuses_round_trip_through_their_names() {
    for status in OrderStatus::ALL {
        assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
    }
    assert_eq!(OrderStatus::parse("PAID"), None);
}

// ---- payments ------------------------------------------------------------------------

use PaymentEvent as PE;
use PaymentState as PS;

/// Every (money state, money event) pair: 6 × 5.
#[rustfmt::skip]
const PAYMENT_TABLE: [(PaymentState, PaymentEvent, Expect<PaymentState>); 30] = [
    (PS::Pending, PE::Authorized,      To(PS::Authorized)),
    (PS::Pending, PE::Captured,        To(PS::Succeeded)),
    (PS::Pending, PE::Canceled,        To(PS::Canceled)),
    (PS::Pending, PE::RefundRequested, No),
    (PS::Pending, PE::Refunded,        No),

    (PS::Authorized, PE::Authorized,      Dup),
    (PS::Authorized, PE::Captured,        To(PS::Succeeded)),
    (PS::Authorized, PE::Canceled,        To(PS::Canceled)),
    (PS::Authorized, PE::RefundRequested, No),
    (PS::Authorized, PE::Refunded,        No),

    (PS::Succeeded, PE::Authorized,      Dup),
    (PS::Succeeded, PE::Captured,        Dup),
    (PS::Succeeded, PE::Canceled,        No),
    (PS::Succeeded, PE::RefundRequested, To(PS::RefundPending)),
    (PS::Succeeded, PE::Refunded,        To(PS::Refunded)),

    (PS::Canceled, PE::Authorized,      Dup),
    (PS::Canceled, PE::Captured,        No),
    (PS::Canceled, PE::Canceled,        Dup),
    (PS::Canceled, PE::RefundRequested, No),
    (PS::Canceled, PE::Refunded,        No),

    (PS::RefundPending, PE::Authorized,      Dup),
    (PS::RefundPending, PE::Captured,        Dup),
    (PS::RefundPending, PE::Canceled,        No),
    (PS::RefundPending, PE::RefundRequested, Dup),
    (PS::RefundPending, PE::Refunded,        To(PS::Refunded)),

    (PS::Refunded, PE::Authorized,      Dup),
    (PS::Refunded, PE::Captured,        Dup),
    (PS::Refunded, PE::Canceled,        No),
    (PS::Refunded, PE::RefundRequested, Dup),
    (PS::Refunded, PE::Refunded,        Dup),
];

const PAYMENT_EVENTS: [PaymentEvent; 5] = [
    PE::Authorized,
    PE::Captured,
    PE::Canceled,
    PE::RefundRequested,
    PE::Refunded,
];

#[test]
fn the_payment_table_has_exactly_one_row_for_each_of_the_30_state_event_pairs() {
    let pairs: HashSet<(PaymentState, PaymentEvent)> = PAYMENT_TABLE
        .iter()
        .map(|(from, event, _)| (*from, *event))
        .collect();
    assert_eq!(PAYMENT_TABLE.len(), 30);
    assert_eq!(pairs.len(), 30, "the table repeats a pair");
    for from in PaymentState::ALL {
        for event in PAYMENT_EVENTS {
            assert!(
                pairs.contains(&(from, event)),
                "the table misses ({from}, {event:?})"
            );
        }
    }
}

#[test]
fn every_money_state_event_pair_yields_exactly_what_the_table_says() {
    for (from, event, expect) in PAYMENT_TABLE {
        let expected = match expect {
            To(next) => Ok(PaymentTransition::To(next)),
            Dup => Ok(PaymentTransition::Duplicate),
            No => Err(IllegalPaymentTransition { from, event }),
        };
        assert_eq!(from.apply(event), expected, "({from}, {event:?})");
    }
}

#[test]
fn money_once_returned_is_never_held_again() {
    for from in [PS::Canceled, PS::Refunded] {
        assert!(!from.holds_customer_money());
        for event in PAYMENT_EVENTS {
            if let Ok(PaymentTransition::To(next)) = from.apply(event) {
                assert!(!next.holds_customer_money(), "{from} → {next} on {event:?}");
            }
        }
    }
}

#[test]
fn money_states_say_whether_the_customer_money_is_held() {
    let holding: Vec<PaymentState> = PaymentState::ALL
        .into_iter()
        .filter(|s| s.holds_customer_money())
        .collect();
    assert_eq!(
        holding,
        vec![PS::Authorized, PS::Succeeded, PS::RefundPending]
    );
    for state in PaymentState::ALL {
        assert_eq!(PaymentState::parse(state.as_str()), Some(state));
    }
}

#[test]
fn an_illegal_money_event_is_rejected_with_the_typed_error() {
    assert_eq!(
        PS::Canceled.apply(PE::Captured),
        Err(IllegalPaymentTransition {
            from: PS::Canceled,
            event: PE::Captured
        })
    );
    assert_eq!(
        PS::Succeeded.apply(PE::Canceled).unwrap_err().to_string(),
        "payment event Canceled is not allowed in money state succeeded"
    );
}
