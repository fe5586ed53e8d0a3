//! Provider accounts for the adapters, opened from their sealed form only for the call.

use crate::secrets::SecretBox;
use async_trait::async_trait;
use coffee_adapter_yookassa::{SecretKey, YookassaAccount, YookassaAccounts};
use coffee_domain::ports::PaymentGatewayError;
use coffee_domain::Merchant;

/// A merchant's YooKassa shop, with its secret key decrypted just for this call.
pub struct SealedYookassaAccounts {
    pub secrets: SecretBox,
}

#[async_trait]
impl YookassaAccounts for SealedYookassaAccounts {
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<YookassaAccount>, PaymentGatewayError> {
        let Some(settings) = &merchant.yookassa else {
            return Ok(None);
        };
        let secret_key = self.secrets.open(&settings.secret_key).map_err(|error| {
            PaymentGatewayError::Unauthorized(format!(
                "stored YooKassa secret key of {}: {error}",
                merchant.key
            ))
        })?;
        Ok(Some(YookassaAccount {
            shop_id: settings.shop_id.clone(),
            secret_key: SecretKey::new(secret_key),
            vat_code: settings.vat_code,
            tax_system_code: settings.tax_system_code,
        }))
    }
}
