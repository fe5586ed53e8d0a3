//! Provider accounts for the adapters, opened from their sealed form only for the call.

use crate::secrets::SecretBox;
use async_trait::async_trait;
use coffee_adapter_tbank::{Password, TbankAccount, TbankAccounts};
use coffee_adapter_yookassa::{SecretKey, YookassaAccount, YookassaAccounts};
use coffee_domain::ports::{CatalogRepository, PaymentGatewayError};
use coffee_domain::{Merchant, ProviderKind};
use std::collections::HashSet;
use std::sync::Arc;

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

/// A merchant's T-Bank terminal, with its password decrypted just for this call.
pub struct SealedTbankAccounts {
    pub secrets: SecretBox,
    pub catalog: Arc<dyn CatalogRepository>,
}

impl SealedTbankAccounts {
    fn open(&self, merchant: &Merchant) -> Result<Option<TbankAccount>, PaymentGatewayError> {
        let Some(settings) = &merchant.tbank else {
            return Ok(None);
        };
        let password = self.secrets.open(&settings.password).map_err(|error| {
            PaymentGatewayError::Unauthorized(format!(
                "stored T-Bank password of {}: {error}",
                merchant.key
            ))
        })?;
        Ok(Some(TbankAccount {
            terminal_key: settings.terminal_key.clone(),
            password: Password::new(password),
            taxation: settings.taxation.clone(),
            vat: settings.vat.clone(),
            sbp: settings.sbp,
        }))
    }
}

#[async_trait]
impl TbankAccounts for SealedTbankAccounts {
    async fn account(
        &self,
        merchant: &Merchant,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError> {
        self.open(merchant)
    }

    /// Only merchants with T-Bank devices can receive T-Bank notifications, so they are the
    /// ones searched (a terminal key is unique across merchants in storage).
    async fn by_terminal_key(
        &self,
        terminal_key: &str,
    ) -> Result<Option<TbankAccount>, PaymentGatewayError> {
        let unavailable = |e: coffee_domain::ports::RepositoryError| {
            PaymentGatewayError::Unavailable(format!("catalog: {e}"))
        };
        let devices = self.catalog.devices().await.map_err(unavailable)?;
        let mut seen = HashSet::new();
        for device in devices
            .iter()
            .filter(|device| device.provider == ProviderKind::Tbank)
        {
            if !seen.insert(device.merchant.clone()) {
                continue;
            }
            let Some(merchant) = self
                .catalog
                .merchant(&device.merchant)
                .await
                .map_err(unavailable)?
            else {
                continue;
            };
            if merchant
                .tbank
                .as_ref()
                .is_some_and(|t| t.terminal_key == terminal_key)
            {
                return self.open(&merchant);
            }
        }
        Ok(None)
    }
}
