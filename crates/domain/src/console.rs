//! The operator console's accounts: users with a role, their sessions, API tokens, the audit
//! log and login attempts. Secrets never reach the domain in the clear: passwords arrive as
//! hashes (argon2id, made in the server), session and API tokens as their SHA-256 digests.

use crate::{DeviceUuid, IdError, MerchantKey, OrderId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A console user's login name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty("user name"));
        }
        if trimmed.chars().count() > 64 {
            return Err(IdError::TooLong("user name", 64));
        }
        if !trimmed
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(IdError::ControlCharacters("user name"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, IdError> {
        Self::parse(&raw)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may see and do: an admin everything, a merchant only its own merchant's
/// devices, orders and figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Merchant(MerchantKey),
}

impl Role {
    /// `admin` or `merchant`, as stored and as the CLI spells it.
    pub fn code(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Merchant(_) => "merchant",
        }
    }

    /// Builds a role from its code and merchant key. Errors: an unknown code, a merchant role
    /// without a key, or an admin with one.
    pub fn from_parts(code: &str, merchant: Option<MerchantKey>) -> Result<Self, RoleError> {
        match (code, merchant) {
            ("admin", None) => Ok(Role::Admin),
            ("admin", Some(_)) => Err(RoleError::AdminWithMerchant),
            ("merchant", Some(key)) => Ok(Role::Merchant(key)),
            ("merchant", None) => Err(RoleError::MerchantWithoutKey),
            (other, _) => Err(RoleError::Unknown(other.to_owned())),
        }
    }

    /// The merchant this role is limited to; `None` for an admin.
    pub fn merchant(&self) -> Option<&MerchantKey> {
        match self {
            Role::Admin => None,
            Role::Merchant(key) => Some(key),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Role::Admin)
    }

    /// Whether this role may see what belongs to `merchant`.
    pub fn may_see(&self, merchant: &MerchantKey) -> bool {
        match self {
            Role::Admin => true,
            Role::Merchant(own) => own == merchant,
        }
    }
}

/// Why a role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("unknown role {0:?}: admin or merchant")]
    Unknown(String),
    #[error("a merchant account needs its merchant key")]
    MerchantWithoutKey,
    #[error("an admin account is not limited to a merchant")]
    AdminWithMerchant,
}

/// A console user. `password_hash` is a PHC string (argon2id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: UserName,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A server-side login session, found by the SHA-256 digest of its cookie's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user: UserName,
    pub created_at: DateTime<Utc>,
    /// The last request; the idle timeout counts from here.
    pub last_seen_at: DateTime<Utc>,
    pub ip: Option<String>,
}

/// A bearer token of the JSON API, found by the SHA-256 digest of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub token_hash: String,
    /// Who the token is, in the audit log.
    pub name: UserName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

/// One line of the audit log: who did what, when, from where, on which order or device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The user or API token's name; for a failed login the name that was tried.
    pub actor: String,
    /// What was done, e.g. `login`, `login_failed`, `refund`.
    pub action: String,
    pub ip: Option<String>,
    pub order_id: Option<OrderId>,
    pub device: Option<DeviceUuid>,
    /// A short free text (outcome, reason).
    pub detail: String,
}

/// A login attempt, kept for throttling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub at: DateTime<Utc>,
    /// The name that was tried (it may not exist).
    pub name: String,
    pub ip: Option<String>,
    pub succeeded: bool,
}

/// Failed login attempts since some time, by the account tried and by the client address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub by_account: u64,
    pub by_ip: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_plain_words() {
        assert!(UserName::parse("anna.petrova@shop").is_ok());
        assert!(UserName::parse(" ").is_err());
        assert!(UserName::parse("<script>").is_err());
        assert!(UserName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn a_merchant_role_needs_its_key_and_an_admin_has_none() {
        let key = MerchantKey::parse("shop").ok();
        assert!(Role::from_parts("merchant", None).is_err());
        assert!(Role::from_parts("admin", key.clone()).is_err());
        assert!(Role::from_parts("root", None).is_err());
        let role = Role::from_parts("merchant", key.clone());
        assert_eq!(role.as_ref().map(Role::code), Ok("merchant"));
        assert!(Role::Admin.may_see(&MerchantKey::parse("x").unwrap()));
        assert!(!role.unwrap().may_see(&MerchantKey::parse("x").unwrap()));
    }
}
