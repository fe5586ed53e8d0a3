//! Moving a network over from the original system: what each of its orders becomes here.
//!
//! The rule: an order the original still considers payable or in flight is imported so that
//! the payment it created is settled by our own verified path (re-fetch, amount check, one
//! make command, a refund when it is paid too late); a finished order is imported as history.
//! Money the original took without brewing or returning it is flagged for an operator.

use crate::{
    Attention, CaptureMode, Device, DeviceUuid, DrinkNo, FailureReason, Fleet, FleetChanges,
    HistoryEntry, HistorySource, JobKind, MachineOrderId, MerchantKey, Money, NewJob, Order,
    OrderId, OrderStatus, Payment, PaymentId, PaymentState, ProviderKind, ReceiptContact, Size,
};
use chrono::{DateTime, Duration, Utc};

mod plan;

pub use plan::*;

/// An order status of the original system, verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginalStatus {
    Created,
    Pending,
    Paid,
    NotPaid,
    MakePending,
    ManualMake,
    Successful,
    Failed,
    MakeFailed,
}

impl OriginalStatus {
    pub const ALL: [OriginalStatus; 9] = [
        OriginalStatus::Created,
        OriginalStatus::Pending,
        OriginalStatus::Paid,
        OriginalStatus::NotPaid,
        OriginalStatus::MakePending,
        OriginalStatus::ManualMake,
        OriginalStatus::Successful,
        OriginalStatus::Failed,
        OriginalStatus::MakeFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OriginalStatus::Created => "created",
            OriginalStatus::Pending => "pending",
            OriginalStatus::Paid => "paid",
            OriginalStatus::NotPaid => "not_paid",
            OriginalStatus::MakePending => "make_pending",
            OriginalStatus::ManualMake => "manual_make",
            OriginalStatus::Successful => "successful",
            OriginalStatus::Failed => "failed",
            OriginalStatus::MakeFailed => "make_failed",
        }
    }

    pub fn parse(text: &str) -> Option<OriginalStatus> {
        OriginalStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An order of the original system, read and checked by the importer (money already in
/// kopecks, ids already ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalOrder {
    pub machine_order_id: MachineOrderId,
    pub device: DeviceUuid,
    pub merchant: MerchantKey,
    pub drink_no: DrinkNo,
    pub drink_name: String,
    pub size: Size,
    pub price: Money,
    pub status: OriginalStatus,
    pub provider: ProviderKind,
    /// YooKassa `payment.id` or T-Bank `PaymentId`, once the payment was created.
    pub provider_payment_id: Option<String>,
    /// The payment page the original sent the customer to, when it kept one.
    pub payment_url: Option<String>,
    pub receipt_contact: Option<ReceiptContact>,
    pub expires_at: DateTime<Utc>,
    pub payment_started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order as it is written here: the order, its payment, its first history lines and the
/// jobs that carry on what the original left open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedOrder {
    pub order: Order,
    pub payment: Option<Payment>,
    pub history: Vec<HistoryEntry>,
    pub jobs: Vec<NewJob>,
}

/// A whole network moved over: its fleet and its orders, written in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkImport {
    pub fleet: Fleet,
    /// When the import was planned: a secret it brings records it as when it was set.
    pub planned_at: DateTime<Utc>,
    pub orders: Vec<ImportedOrder>,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportChanges {
    pub merchants: FleetChanges,
    pub devices: FleetChanges,
    pub drinks: FleetChanges,
    /// Orders written now (each with its payment, history and jobs).
    pub orders_imported: usize,
    /// Orders already here from an earlier run (by device and machine order id): left as
    /// they are, whatever happened to them since.
    pub orders_already_there: usize,
    pub payments_imported: usize,
    pub jobs_queued: usize,
}

/// The new ids an imported order gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportIds {
    pub order: OrderId,
    pub payment: PaymentId,
}

/// What the original's order becomes here, as of `now`.
pub fn imported_order(
    original: &OriginalOrder,
    device: &Device,
    ids: ImportIds,
    now: DateTime<Utc>,
) -> ImportedOrder {
    use OriginalStatus as O;
    let expired = now >= original.expires_at;
    let reference = original.provider_payment_id.as_deref();
    // (our status, failure reason, payment state, attention, jobs to queue)
    let (status, reason, payment_state, attention, job) = match (original.status, reference) {
        // Nothing was asked of a provider: the order is payable here until it expires.
        (O::Created | O::Pending | O::Paid, None) if expired => (
            OrderStatus::NotPaid,
            Some(FailureReason::Expired),
            None,
            None,
            None,
        ),
        (O::Created | O::Pending | O::Paid, None) => (OrderStatus::Created, None, None, None, None),
        // The payment the original created is asked about at once: paid in time → one make
        // command; paid after expiry → refunded like any late payment. `paid` means the
        // original saw the money but never sent the command: the same fetch settles it.
        (O::Created | O::Pending | O::Paid, Some(_)) => {
            let status = if expired {
                OrderStatus::NotPaid
            } else {
                OrderStatus::Pending
            };
            (
                status,
                expired.then_some(FailureReason::Expired),
                Some(PaymentState::Pending),
                None,
                // The poll names the payment attempt it asks about.
                Some(NewJob {
                    payment_id: Some(ids.payment),
                    ..NewJob::at(JobKind::PollPayment, ids.order, now)
                }),
            )
        }
        // The make command went out and the original never learned its fate: the device's
        // deadline policy decides, as for our own commands.
        (O::MakePending, Some(_)) => {
            let deadline = original.updated_at
                + Duration::seconds(i64::from(device.dispense_deadline_seconds));
            (
                OrderStatus::MakePending,
                None,
                Some(PaymentState::Succeeded),
                None,
                Some(NewJob::at(
                    JobKind::DispenseDeadline,
                    ids.order,
                    deadline.max(now),
                )),
            )
        }
        (O::MakePending | O::Successful, None) => (OrderStatus::Successful, None, None, None, None),
        (O::Successful, Some(_)) => (
            OrderStatus::Successful,
            None,
            Some(PaymentState::Succeeded),
            None,
            None,
        ),
        (O::NotPaid, _) => (
            OrderStatus::NotPaid,
            Some(FailureReason::PaymentCanceled),
            reference.map(|_| PaymentState::Canceled),
            None,
            None,
        ),
        (O::Failed, _) => (
            OrderStatus::NotPaid,
            Some(FailureReason::PaymentRejected),
            reference.map(|_| PaymentState::Canceled),
            None,
            None,
        ),
        // Money taken, no drink made, nothing returned by the original: an operator decides.
        (O::MakeFailed, _) => (
            OrderStatus::Failed,
            Some(FailureReason::MachineUnreachable),
            reference.map(|_| PaymentState::Succeeded),
            Some(Attention::UnsettledInOriginal),
            None,
        ),
        (O::ManualMake, _) => (
            OrderStatus::Failed,
            Some(FailureReason::PaidAfterExpiry),
            reference.map(|_| PaymentState::Succeeded),
            Some(Attention::UnsettledInOriginal),
            None,
        ),
    };
    let order = Order {
        id: ids.order,
        machine_order_id: original.machine_order_id.clone(),
        device: original.device.clone(),
        merchant: original.merchant.clone(),
        drink_no: original.drink_no.clone(),
        drink_name: original.drink_name.clone(),
        size: original.size,
        price: original.price,
        status,
        expires_at: original.expires_at,
        failure_reason: reason,
        receipt_contact: original.receipt_contact.clone(),
        dispense_assumed: false,
        make_outcome_unknown: false,
        make_resent: false,
        attention,
        created_at: original.created_at,
        updated_at: now,
    };
    let payment = payment_state
        .zip(reference)
        .map(|(state, provider_payment_id)| Payment {
            id: ids.payment,
            order_id: ids.order,
            provider: original.provider,
            provider_payment_id: provider_payment_id.to_owned(),
            amount: original.price,
            capture: CaptureMode::Immediate,
            state,
            confirmation_url: original.payment_url.clone().unwrap_or_default(),
            idempotency_key: format!("original:{}", original.machine_order_id),
            refund_id: None,
            // Never before its order, as every payment of ours (the console's sales rely on it).
            created_at: original
                .payment_started_at
                .map_or(original.created_at, |started| {
                    started.max(original.created_at)
                }),
            updated_at: original.updated_at,
        });
    let mut history = vec![HistoryEntry {
        order_id: ids.order,
        at: original.created_at,
        source: HistorySource::Customer,
        from: None,
        to: None,
        message: "заказ создан в прежней системе".into(),
    }];
    history.push(HistoryEntry {
        order_id: ids.order,
        at: now,
        source: HistorySource::Operator,
        from: None,
        to: Some(status),
        message: match (&attention, &job) {
            (Some(_), _) => format!(
                "перенесён из прежней системы (статус {}): деньги списаны, напиток не выдан и не возвращены — решает оператор",
                original.status.as_str()
            ),
            (None, Some(_)) => format!(
                "перенесён из прежней системы (статус {}): доводим до конца здесь",
                original.status.as_str()
            ),
            (None, None) => format!(
                "перенесён из прежней системы (статус {})",
                original.status.as_str()
            ),
        },
    });
    ImportedOrder {
        order,
        jobs: job.into_iter().collect(),
        payment,
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeadlinePolicy, MachineKind, SimulatedOutcome, Simulation};
    use chrono::TimeZone;
    use uuid::Uuid;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap()
    }

    fn device() -> Device {
        Device {
            device_uuid: DeviceUuid::parse("b7e4c2a9").unwrap(),
            merchant: MerchantKey::parse("tochka").unwrap(),
            location: "Москва".into(),
            provider: ProviderKind::Yookassa,
            redirect_url: None,
            machine: MachineKind::Tmetr,
            test: false,
            dispense_deadline_seconds: 180,
            on_dispense_deadline: DeadlinePolicy::AssumeSuccess,
            simulation: Simulation {
                outcome: SimulatedOutcome::Dispensed,
                delay_ms: 0,
            },
            events_secret: None,
            branding: crate::Branding::default(),
            disabled: false,
        }
    }

    fn original(status: OriginalStatus, reference: Option<&str>) -> OriginalOrder {
        OriginalOrder {
            machine_order_id: MachineOrderId::parse("20251124085950123ab12c-4f7e-kqzd").unwrap(),
            device: device().device_uuid,
            merchant: device().merchant,
            drink_no: DrinkNo::parse("4c1f7e2a").unwrap(),
            drink_name: "Американо".into(),
            size: Size::Medium,
            price: Money::rub(18_000).unwrap(),
            status,
            provider: ProviderKind::Yookassa,
            provider_payment_id: reference.map(str::to_owned),
            payment_url: None,
            receipt_contact: None,
            expires_at: at(15),
            payment_started_at: Some(at(1)),
            created_at: at(0),
            updated_at: at(2),
        }
    }

    fn ids() -> ImportIds {
        ImportIds {
            order: OrderId::from_uuid(Uuid::new_v4()),
            payment: PaymentId::from_uuid(Uuid::new_v4()),
        }
    }

    fn summary(imported: &ImportedOrder) -> String {
        format!(
            "{} {} {} {}",
            imported.order.status.as_str(),
            imported.payment.as_ref().map_or("-", |p| p.state.as_str()),
            imported
                .jobs
                .iter()
                .map(|j| j.kind.as_str())
                .collect::<Vec<_>>()
                .join(","),
            imported.order.attention.map_or("-", |a| a.as_str()),
        )
    }

    #[test]
    fn a_pending_payment_of_the_original_is_asked_about_at_once_while_the_order_is_payable() {
        let imported = imported_order(
            &original(OriginalStatus::Pending, Some("30a5e1f2")),
            &device(),
            ids(),
            at(5),
        );
        assert_eq!(summary(&imported), "pending pending poll_payment -");
        assert_eq!(imported.jobs[0].run_at, at(5));
        assert_eq!(
            imported.jobs[0].payment_id,
            imported.payment.as_ref().map(|p| p.id)
        );
    }

    #[test]
    fn an_expired_pending_order_is_imported_expired_and_its_payment_still_asked_about() {
        let imported = imported_order(
            &original(OriginalStatus::Pending, Some("30a5e1f2")),
            &device(),
            ids(),
            at(20),
        );
        assert_eq!(summary(&imported), "not_paid pending poll_payment -");
        assert_eq!(imported.order.failure_reason, Some(FailureReason::Expired));
    }

    #[test]
    fn a_paid_order_whose_command_was_never_sent_is_settled_by_the_same_fetch() {
        let imported = imported_order(
            &original(OriginalStatus::Paid, Some("30a5e1f2")),
            &device(),
            ids(),
            at(5),
        );
        assert_eq!(summary(&imported), "pending pending poll_payment -");
    }

    #[test]
    fn an_order_without_a_payment_stays_payable_until_it_expires() {
        let device = device();
        let fresh = imported_order(
            &original(OriginalStatus::Created, None),
            &device,
            ids(),
            at(5),
        );
        assert_eq!(summary(&fresh), "created -  -");
        let stale = imported_order(
            &original(OriginalStatus::Created, None),
            &device,
            ids(),
            at(15),
        );
        assert_eq!(summary(&stale), "not_paid -  -");
        assert_eq!(stale.order.failure_reason, Some(FailureReason::Expired));
    }

    #[test]
    fn a_make_command_in_flight_is_decided_by_the_devices_deadline() {
        let imported = imported_order(
            &original(OriginalStatus::MakePending, Some("30a4c7d0")),
            &device(),
            ids(),
            at(3),
        );
        assert_eq!(
            summary(&imported),
            "make_pending succeeded dispense_deadline -"
        );
        assert_eq!(imported.jobs[0].run_at, at(5), "updated_at + 180 s");
        let long_ago = imported_order(
            &original(OriginalStatus::MakePending, Some("30a4c7d0")),
            &device(),
            ids(),
            at(50),
        );
        assert_eq!(long_ago.jobs[0].run_at, at(50));
    }

    #[test]
    fn finished_orders_are_history_and_money_the_original_kept_goes_to_an_operator() {
        let device = device();
        let cases = [
            (OriginalStatus::Successful, "successful succeeded  -"),
            (OriginalStatus::NotPaid, "not_paid canceled  -"),
            (OriginalStatus::Failed, "not_paid canceled  -"),
            (
                OriginalStatus::MakeFailed,
                "failed succeeded  unsettled_in_original",
            ),
            (
                OriginalStatus::ManualMake,
                "failed succeeded  unsettled_in_original",
            ),
        ];
        for (status, expected) in cases {
            let imported = imported_order(&original(status, Some("p-1")), &device, ids(), at(50));
            assert_eq!(summary(&imported), expected, "{status:?}");
            assert_eq!(imported.history.len(), 2);
        }
    }

    #[test]
    fn every_original_status_reads_back_from_its_name() {
        for status in OriginalStatus::ALL {
            assert_eq!(OriginalStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(OriginalStatus::parse("Paid"), None);
    }
}
