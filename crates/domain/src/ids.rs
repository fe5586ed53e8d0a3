//! Identifiers, parsed at the edge ("parse, don't validate").

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Why an identifier from the outside world was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
    #[error("{0} contains control characters")]
    ControlCharacters(&'static str),
    #[error("{0} is not a UUID")]
    NotAUuid(&'static str),
}

fn parse_text(what: &'static str, raw: &str, max: usize) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty(what));
    }
    if trimmed.chars().count() > max {
        return Err(IdError::TooLong(what, max));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(IdError::ControlCharacters(what));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                parse_text($what, raw, $max).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The machine's own id (`deviceUuid` in the QR, `deviceId` in Tmetr).
    DeviceUuid, "deviceUuid", 255
);
text_id!(
    /// The drink's id at the machine (`drinkNo`).
    DrinkNo, "drinkNo", 255
);
text_id!(
    /// The machine-generated order id from the QR (`uuid`), unique per device.
    MachineOrderId, "uuid", 255
);
text_id!(
    /// The stable fleet-file key of a merchant.
    MerchantKey, "merchant key", 100
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                Uuid::parse_str(raw.trim()).map(Self).map_err(|_| IdError::NotAUuid($what))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Our internal, unguessable order id; the one customer URLs carry.
    OrderId, "order_id"
);
uuid_id!(
    /// Our id of a payment attempt.
    PaymentId, "payment_id"
);
uuid_id!(
    /// Id of a side-effect job.
    JobId, "job_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_order_ids_are_trimmed_and_bounded() {
        assert_eq!(
            MachineOrderId::parse(" 20250317110122659ba6d7-9ace-cndn ")
                .unwrap()
                .as_str(),
            "20250317110122659ba6d7-9ace-cndn"
        );
        assert_eq!(MachineOrderId::parse("   "), Err(IdError::Empty("uuid")));
        assert_eq!(
            MachineOrderId::parse(&"x".repeat(256)),
            Err(IdError::TooLong("uuid", 255))
        );
        assert!(MachineOrderId::parse("a\nb").is_err());
    }

    #[test]
    fn order_ids_must_be_uuids() {
        assert!(OrderId::parse("not-a-uuid").is_err());
        assert!(OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
    }
}
