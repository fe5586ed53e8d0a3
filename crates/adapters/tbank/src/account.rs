//! Per-merchant T-Bank terminals, supplied by the server.

use async_trait::async_trait;
use coffee_domain::ports::PaymentGatewayError;
use coffee_domain::{Merchant, MerchantKey};
use std::collections::HashMap;
use std::fmt;

/// A terminal password. `Debug` prints `***`; there is no `Display`, so it cannot end up in a
/// log line or an error message by accident. Read it with [`Password::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself: only for computing a `Token`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One merchant's T-Bank terminal and its 54-FZ receipt settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TbankAccount {
    /// `TerminalKey` (≤ 20 characters, case-sensitive).
    pub terminal_key: String,
    /// Decrypted just for this call; never logged.
    pub password: Password,
    /// Receipt `Taxation` (tag 1055): `osn`, `usn_income`, `usn_income_outcome`, `esn`, `patent`.
    pub taxation: String,
    /// Receipt item `Tax`: `none`, `vat0`, `vat5`, `vat7`, `vat10`, `vat20`, `vat22`, …
    pub vat: String,
    /// Whether the terminal takes SBP payments.
    pub sbp: bool,
}

/// Where the gateway gets terminals. The server implements it (decrypting stored passwords);
/// `Ok(None)` means no such terminal, reported as `Unauthorized` for calls and as an untrusted
/// notification for webhooks. Lookup failures should be `Unavailable`.
#[async_trait]
pub trait TbankAccounts: Send + Sync {
    /// The terminal of this merchant.
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError>;
    /// The terminal a notification names by its `TerminalKey`.
    async fn by_terminal_key(
        &self,
        terminal_key: &str,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError>;
}

/// A fixed table of terminals by merchant key (tests, demos, a single configured terminal).
#[async_trait]
impl TbankAccounts for HashMap<MerchantKey, TbankAccount> {
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError> {
        Ok(self.get(&merchant.key).cloned())
    }

    async fn by_terminal_key(
        &self,
        terminal_key: &str,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError> {
        Ok(self
            .values()
            .find(|account| account.terminal_key == terminal_key)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let account = TbankAccount {
            terminal_key: "1234567890DEMO".into(),
            password: Password::new("supersecret"),
            taxation: "usn_income".into(),
            vat: "none".into(),
            sbp: false,
        };
        let printed = format!("{account:?}");
        assert!(!printed.contains("supersecret"), "{printed}");
        assert!(printed.contains("***"), "{printed}");
        assert_eq!(account.password.expose(), "supersecret");
    }
}
