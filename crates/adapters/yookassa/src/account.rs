//! Per-merchant YooKassa credentials and receipt settings, supplied by the server.

use async_trait::async_trait;
use coffee_domain::ports::PaymentGatewayError;
use coffee_domain::{Merchant, MerchantKey};
use std::collections::HashMap;
use std::fmt;

/// A YooKassa secret key. `Debug` prints `***`; there is no `Display`, so it cannot end up in
/// a log line or an error message by accident. Read it with [`SecretKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself: only for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One merchant's YooKassa shop: credentials plus the 54-FZ receipt settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YookassaAccount {
    /// `shopId`, the HTTP Basic user name; also `recipient.account_id` of the shop's payments.
    pub shop_id: String,
    /// Decrypted just for this call; never logged.
    pub secret_key: SecretKey,
    /// Receipt item `vat_code` (tag 1199, 1..=12; see Part C of the provider notes).
    pub vat_code: u8,
    /// Receipt `tax_system_code` (tag 1055, 1..=6); sent only when set.
    pub tax_system_code: Option<u8>,
}

/// Where the gateway gets a merchant's account. The server implements it (decrypting secrets
/// stored encrypted); `Ok(None)` means the merchant has no YooKassa account, which the gateway
/// reports as `PaymentGatewayError::Unauthorized`. Lookup failures should be `Unavailable`.
#[async_trait]
pub trait YookassaAccounts: Send + Sync {
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<YookassaAccount>, PaymentGatewayError>;
}

/// A fixed table of accounts by merchant key (tests, demos, a single configured shop).
#[async_trait]
impl YookassaAccounts for HashMap<MerchantKey, YookassaAccount> {
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<YookassaAccount>, PaymentGatewayError> {
        Ok(self.get(&merchant.key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_never_show_in_debug_output() {
        let account = YookassaAccount {
            shop_id: "123456".into(),
            secret_key: SecretKey::new("test_supersecret"),
            vat_code: 1,
            tax_system_code: None,
        };
        let printed = format!("{account:?}");
        assert!(!printed.contains("supersecret"), "{printed}");
        assert!(printed.contains("***"), "{printed}");
        assert_eq!(account.secret_key.expose(), "test_supersecret");
    }
}
