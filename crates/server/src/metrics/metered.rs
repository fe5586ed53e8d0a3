//! The outside world's calls, counted: every payment-provider and machine-gateway call by
//! outcome, with its latency. Decorators around the ports, so no adapter knows of metrics.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{
    CreatePaymentRequest, CreatedPayment, InboundNotification, MachineError, MachineGateway,
    MakeCommand, NotificationClaim, NotificationError, PaymentGateway, PaymentGatewayError,
    ProviderPayment, RefundStatus,
};
use coffee_domain::{Device, DrinkNo, MachineKind, Merchant, Money, Payment, ProviderKind, Size};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Runs `call`, then counts it under `family` with its outcome and records its latency.
async fn measured<T, E>(
    family: &'static str,
    target: (&'static str, &'static str),
    call: &'static str,
    outcome_of: fn(&E) -> &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = work.await;
    let outcome = result.as_ref().map_or_else(outcome_of, |_| "ok");
    let (label, value) = target;
    metrics::counter!(format!("{family}_total"), label => value, "call" => call, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(format!("{family}_seconds"), label => value, "call" => call)
        .record(started.elapsed().as_secs_f64());
    result
}

fn payment_outcome(error: &PaymentGatewayError) -> &'static str {
    match error {
        PaymentGatewayError::Rejected { .. } => "rejected",
        PaymentGatewayError::Unavailable(_) => "unavailable",
        PaymentGatewayError::NotFound => "not_found",
        PaymentGatewayError::Unauthorized(_) => "unauthorized",
        PaymentGatewayError::InvalidResponse(_) => "invalid_response",
    }
}

fn machine_outcome(error: &MachineError) -> &'static str {
    match error {
        MachineError::Unavailable(_) => "unavailable",
        MachineError::OutcomeUnknown(_) => "unknown",
        MachineError::Rejected(_) => "rejected",
        MachineError::PriceUnknown => "price_unknown",
        MachineError::NotSupported => "not_supported",
    }
}

/// A payment gateway whose calls are counted (`coffee_provider_calls_total`,
/// `coffee_provider_calls_seconds`).
pub struct MeteredPaymentGateway {
    inner: Arc<dyn PaymentGateway>,
    provider: &'static str,
}

pub fn metered_payments(
    provider: ProviderKind,
    inner: Arc<dyn PaymentGateway>,
) -> Arc<dyn PaymentGateway> {
    Arc::new(MeteredPaymentGateway {
        inner,
        provider: provider.as_str(),
    })
}

const PROVIDER_CALLS: &str = "coffee_provider_calls";

#[async_trait]
impl PaymentGateway for MeteredPaymentGateway {
    async fn create_payment(
        &self,
        request: &CreatePaymentRequest,
    ) -> Result<CreatedPayment, PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "create",
            payment_outcome,
            self.inner.create_payment(request),
        )
        .await
    }

    async fn get_payment(
        &self,
        merchant: &Merchant,
        provider_payment_id: &str,
    ) -> Result<ProviderPayment, PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "get",
            payment_outcome,
            self.inner.get_payment(merchant, provider_payment_id),
        )
        .await
    }

    async fn capture(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "capture",
            payment_outcome,
            self.inner.capture(merchant, payment, idempotency_key),
        )
        .await
    }

    async fn cancel(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<(), PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "cancel",
            payment_outcome,
            self.inner.cancel(merchant, payment, idempotency_key),
        )
        .await
    }

    async fn refund(
        &self,
        merchant: &Merchant,
        payment: &Payment,
        idempotency_key: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "refund",
            payment_outcome,
            self.inner.refund(merchant, payment, idempotency_key),
        )
        .await
    }

    async fn get_refund(
        &self,
        merchant: &Merchant,
        refund_id: &str,
    ) -> Result<RefundStatus, PaymentGatewayError> {
        let target = ("provider", self.provider);
        measured(
            PROVIDER_CALLS,
            target,
            "get_refund",
            payment_outcome,
            self.inner.get_refund(merchant, refund_id),
        )
        .await
    }

    async fn verify_notification(
        &self,
        notification: &InboundNotification,
    ) -> Result<NotificationClaim, NotificationError> {
        // Local work, no call out: counted by the webhook's HTTP metrics.
        self.inner.verify_notification(notification).await
    }
}

/// A machine gateway whose calls are counted (`coffee_machine_calls_total`,
/// `coffee_machine_calls_seconds`).
pub struct MeteredMachineGateway {
    inner: Arc<dyn MachineGateway>,
    machine: &'static str,
}

pub fn metered_machines(
    machine: MachineKind,
    inner: Arc<dyn MachineGateway>,
) -> Arc<dyn MachineGateway> {
    let machine = match machine {
        MachineKind::Simulated => "simulated",
        MachineKind::Tmetr => "tmetr",
        MachineKind::Mqtt => "mqtt",
        MachineKind::MqttLegacy => "mqtt-legacy",
    };
    Arc::new(MeteredMachineGateway { inner, machine })
}

const MACHINE_CALLS: &str = "coffee_machine_calls";

#[async_trait]
impl MachineGateway for MeteredMachineGateway {
    async fn price(
        &self,
        device: &Device,
        drink_no: &DrinkNo,
        size: Size,
    ) -> Result<Money, MachineError> {
        let target = ("machine", self.machine);
        measured(
            MACHINE_CALLS,
            target,
            "price",
            machine_outcome,
            self.inner.price(device, drink_no, size),
        )
        .await
    }

    async fn last_heartbeat(&self, device: &Device) -> Result<Option<DateTime<Utc>>, MachineError> {
        let target = ("machine", self.machine);
        measured(
            MACHINE_CALLS,
            target,
            "heartbeat",
            machine_outcome,
            self.inner.last_heartbeat(device),
        )
        .await
    }

    async fn make(&self, command: &MakeCommand) -> Result<(), MachineError> {
        let target = ("machine", self.machine);
        measured(
            MACHINE_CALLS,
            target,
            "make",
            machine_outcome,
            self.inner.make(command),
        )
        .await
    }
}
