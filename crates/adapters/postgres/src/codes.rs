//! The text each domain enum is stored as. The values are the domain's own `as_str()` where it
//! has one; the other enums use their serde (snake_case) names. The migrations' CHECK
//! constraints list exactly these values (a unit test below reads the SQL to make sure).

use crate::error::StoreError;
use coffee_domain::{
    Attention, CaptureMode, DeadlinePolicy, FailureReason, HistorySource, JobKind, JobState,
    MachineKind, OrderStatus, PaymentState, ProviderKind, ReceiptPolicy, SimulatedOutcome, Size,
};

/// Converts between a domain enum and its stored text.
pub(crate) trait Code: Sized + Copy {
    const WHAT: &'static str;
    fn code(self) -> &'static str;
    fn from_code(text: &str) -> Option<Self>;

    fn decode(text: &str) -> Result<Self, StoreError> {
        Self::from_code(text)
            .ok_or_else(|| StoreError::corrupt(format!("unknown {} {text:?}", Self::WHAT)))
    }
}

/// Enums with `as_str` / `parse` in the domain.
macro_rules! domain_code {
    ($ty:ty, $what:literal) => {
        impl Code for $ty {
            const WHAT: &'static str = $what;
            fn code(self) -> &'static str {
                self.as_str()
            }
            fn from_code(text: &str) -> Option<Self> {
                <$ty>::parse(text)
            }
        }
    };
}

/// Enums without them: the mapping is spelled out, exhaustively.
macro_rules! spelled_code {
    ($ty:ty, $what:literal, { $($variant:path => $text:literal),+ $(,)? }) => {
        impl Code for $ty {
            const WHAT: &'static str = $what;
            fn code(self) -> &'static str {
                match self {
                    $($variant => $text,)+
                }
            }
            fn from_code(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($variant),)+
                    _ => None,
                }
            }
        }
    };
}

domain_code!(OrderStatus, "order status");
domain_code!(PaymentState, "payment state");
domain_code!(JobKind, "job kind");
domain_code!(JobState, "job state");
domain_code!(FailureReason, "failure reason");
domain_code!(Attention, "attention");
impl Code for Size {
    const WHAT: &'static str = "size";
    fn code(self) -> &'static str {
        self.as_str()
    }
    fn from_code(text: &str) -> Option<Self> {
        Size::ALL.into_iter().find(|size| size.as_str() == text)
    }
}

spelled_code!(ProviderKind, "provider", {
    ProviderKind::Sandbox => "sandbox",
    ProviderKind::Yookassa => "yookassa",
    ProviderKind::Tbank => "tbank",
    ProviderKind::Custom => "custom",
});
spelled_code!(HistorySource, "history source", {
    HistorySource::Customer => "customer",
    HistorySource::Provider => "provider",
    HistorySource::Machine => "machine",
    HistorySource::Worker => "worker",
    HistorySource::Operator => "operator",
});
spelled_code!(CaptureMode, "capture mode", {
    CaptureMode::Immediate => "immediate",
    CaptureMode::AfterDispense => "after_dispense",
});
spelled_code!(ReceiptPolicy, "receipt policy", {
    ReceiptPolicy::Off => "off",
    ReceiptPolicy::Optional => "optional",
    ReceiptPolicy::Required => "required",
});
spelled_code!(MachineKind, "machine kind", {
    MachineKind::Simulated => "simulated",
    MachineKind::Tmetr => "tmetr",
    MachineKind::Mqtt => "mqtt",
    MachineKind::MqttLegacy => "mqtt-legacy",
});
spelled_code!(DeadlinePolicy, "dispense deadline policy", {
    DeadlinePolicy::AssumeSuccess => "assume_success",
    DeadlinePolicy::FailAndRefund => "fail_and_refund",
});
spelled_code!(SimulatedOutcome, "simulated outcome", {
    SimulatedOutcome::Dispensed => "dispensed",
    SimulatedOutcome::Failed => "failed",
    SimulatedOutcome::Silent => "silent",
});

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[&str] = &[
        include_str!("../../../../migrations/2025-01-01-000001_catalog/up.sql"),
        include_str!("../../../../migrations/2025-01-01-000002_orders_payments/up.sql"),
        include_str!("../../../../migrations/2025-01-01-000003_jobs/up.sql"),
        include_str!("../../../../migrations/2026-12-01-000008_mqtt_legacy/up.sql"),
        include_str!("../../../../migrations/2026-12-03-000012_resend_make/up.sql"),
    ];

    fn assert_round_trip_and_allowed<T: Code + PartialEq + std::fmt::Debug>(all: &[T]) {
        let schema = SCHEMA.concat();
        for value in all {
            let code = value.code();
            assert_eq!(T::from_code(code), Some(*value), "{code}");
            assert!(
                schema.contains(&format!("'{code}'")),
                "{} {code:?} is not allowed by any CHECK",
                T::WHAT
            );
        }
        assert!(T::from_code("no such value").is_none());
    }

    #[test]
    fn every_code_round_trips_and_is_allowed_by_the_schema() {
        assert_round_trip_and_allowed(&OrderStatus::ALL);
        assert_round_trip_and_allowed(&PaymentState::ALL);
        assert_round_trip_and_allowed(&JobKind::ALL);
        assert_round_trip_and_allowed(&FailureReason::ALL);
        assert_round_trip_and_allowed(&Size::ALL);
        assert_round_trip_and_allowed(&[
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ]);
        assert_round_trip_and_allowed(&[
            ProviderKind::Sandbox,
            ProviderKind::Yookassa,
            ProviderKind::Tbank,
            ProviderKind::Custom,
        ]);
        assert_round_trip_and_allowed(&[
            HistorySource::Customer,
            HistorySource::Provider,
            HistorySource::Machine,
            HistorySource::Worker,
            HistorySource::Operator,
        ]);
        assert_round_trip_and_allowed(&[CaptureMode::Immediate, CaptureMode::AfterDispense]);
        assert_round_trip_and_allowed(&[
            ReceiptPolicy::Off,
            ReceiptPolicy::Optional,
            ReceiptPolicy::Required,
        ]);
        assert_round_trip_and_allowed(&[
            MachineKind::Simulated,
            MachineKind::Tmetr,
            MachineKind::Mqtt,
            MachineKind::MqttLegacy,
        ]);
        assert_round_trip_and_allowed(&[
            DeadlinePolicy::AssumeSuccess,
            DeadlinePolicy::FailAndRefund,
        ]);
        assert_round_trip_and_allowed(&[
            SimulatedOutcome::Dispensed,
            SimulatedOutcome::Failed,
            SimulatedOutcome::Silent,
        ]);
    }

    #[test]
    fn provider_and_history_codes_agree_with_the_domain() {
        for provider in [
            ProviderKind::Sandbox,
            ProviderKind::Yookassa,
            ProviderKind::Tbank,
            ProviderKind::Custom,
        ] {
            assert_eq!(provider.code(), provider.as_str());
        }
        for source in [
            HistorySource::Customer,
            HistorySource::Provider,
            HistorySource::Machine,
            HistorySource::Worker,
            HistorySource::Operator,
        ] {
            assert_eq!(source.code(), source.as_str());
        }
    }
}
