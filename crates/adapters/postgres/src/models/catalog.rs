//! Merchant, device and drink rows.

use super::{from_i64, id, money, to_i64};
use crate::codes::Code;
use crate::error::StoreError;
use crate::schema::{devices, drinks, merchants};
use chrono::{DateTime, NaiveDate, Utc};
use coffee_domain::{
    Branding, CaptureMode, Currency, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo,
    DrinkReceipt, MachineKind, Merchant, MerchantKey, Money, OrderStatus, ProviderKind,
    ReceiptPolicy, SealedSecret, SimulatedOutcome, Simulation, SizePrices, TbankSettings,
    YookassaSettings,
};
use diesel::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = merchants, primary_key(key), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct MerchantRow {
    pub key: String,
    pub name: String,
    pub contact_email: String,
    pub valid_until: NaiveDate,
    pub capture: String,
    pub receipt: String,
    pub yookassa_shop_id: Option<String>,
    pub yookassa_secret_key: Option<String>,
    pub yookassa_vat_code: Option<i16>,
    pub yookassa_tax_system_code: Option<i16>,
    pub tbank_terminal_key: Option<String>,
    pub tbank_password: Option<String>,
    pub tbank_taxation: Option<String>,
    pub tbank_vat: Option<String>,
    pub tbank_sbp: bool,
    pub disabled: bool,
    pub yookassa_secret_key_set_at: Option<DateTime<Utc>>,
    pub tbank_password_set_at: Option<DateTime<Utc>>,
}

impl MerchantRow {
    pub fn from_domain(merchant: &Merchant) -> Self {
        Self {
            key: merchant.key.as_str().to_owned(),
            name: merchant.name.clone(),
            contact_email: merchant.contact_email.clone(),
            valid_until: merchant.valid_until,
            capture: merchant.capture.code().to_owned(),
            receipt: merchant.receipt.code().to_owned(),
            yookassa_shop_id: merchant.yookassa.as_ref().map(|y| y.shop_id.clone()),
            yookassa_secret_key: merchant
                .yookassa
                .as_ref()
                .map(|y| y.secret_key.as_str().to_owned()),
            yookassa_vat_code: merchant.yookassa.as_ref().map(|y| i16::from(y.vat_code)),
            yookassa_tax_system_code: merchant
                .yookassa
                .as_ref()
                .and_then(|y| y.tax_system_code)
                .map(i16::from),
            tbank_terminal_key: merchant.tbank.as_ref().map(|t| t.terminal_key.clone()),
            tbank_password: merchant
                .tbank
                .as_ref()
                .map(|t| t.password.as_str().to_owned()),
            tbank_taxation: merchant.tbank.as_ref().map(|t| t.taxation.clone()),
            tbank_vat: merchant.tbank.as_ref().map(|t| t.vat.clone()),
            tbank_sbp: merchant.tbank.as_ref().is_some_and(|t| t.sbp),
            disabled: merchant.disabled,
            yookassa_secret_key_set_at: merchant
                .yookassa
                .as_ref()
                .and_then(|y| y.secret_key.set_at()),
            tbank_password_set_at: merchant.tbank.as_ref().and_then(|t| t.password.set_at()),
        }
    }

    pub fn into_domain(self) -> Result<Merchant, StoreError> {
        Ok(Merchant {
            key: id(MerchantKey::parse(&self.key))?,
            name: self.name,
            contact_email: self.contact_email,
            valid_until: self.valid_until,
            capture: CaptureMode::decode(&self.capture)?,
            receipt: ReceiptPolicy::decode(&self.receipt)?,
            yookassa: match (
                self.yookassa_shop_id,
                self.yookassa_secret_key,
                self.yookassa_vat_code,
            ) {
                (Some(shop_id), Some(secret_key), Some(vat_code)) => Some(YookassaSettings {
                    shop_id,
                    secret_key: SealedSecret::new(secret_key)
                        .with_set_at(self.yookassa_secret_key_set_at),
                    vat_code: from_i64(i64::from(vat_code), "vat code")?,
                    tax_system_code: self
                        .yookassa_tax_system_code
                        .map(|code| from_i64(i64::from(code), "tax system code"))
                        .transpose()?,
                }),
                _ => None,
            },
            tbank: match (
                self.tbank_terminal_key,
                self.tbank_password,
                self.tbank_taxation,
                self.tbank_vat,
            ) {
                (Some(terminal_key), Some(password), Some(taxation), Some(vat)) => {
                    Some(TbankSettings {
                        terminal_key,
                        password: SealedSecret::new(password)
                            .with_set_at(self.tbank_password_set_at),
                        taxation,
                        vat,
                        sbp: self.tbank_sbp,
                    })
                }
                _ => None,
            },
            disabled: self.disabled,
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = devices, primary_key(device_uuid), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct DeviceRow {
    pub device_uuid: String,
    pub merchant_key: String,
    pub location: String,
    pub provider: String,
    pub redirect_url: Option<String>,
    pub machine: String,
    pub test: bool,
    pub dispense_deadline_seconds: i64,
    pub on_dispense_deadline: String,
    pub simulation_outcome: String,
    pub simulation_delay_ms: i64,
    pub events_secret: Option<String>,
    pub logo_url: Option<String>,
    pub client_info: Option<String>,
    pub client_error_info: Option<String>,
    /// `{"<status>": "<text>"}` with our status names.
    pub status_texts: serde_json::Value,
    pub disabled: bool,
    pub events_secret_set_at: Option<DateTime<Utc>>,
}

impl DeviceRow {
    pub fn from_domain(device: &Device) -> Result<Self, StoreError> {
        Ok(Self {
            device_uuid: device.device_uuid.as_str().to_owned(),
            merchant_key: device.merchant.as_str().to_owned(),
            location: device.location.clone(),
            provider: device.provider.code().to_owned(),
            redirect_url: device.redirect_url.clone(),
            machine: device.machine.code().to_owned(),
            test: device.test,
            dispense_deadline_seconds: i64::from(device.dispense_deadline_seconds),
            on_dispense_deadline: device.on_dispense_deadline.code().to_owned(),
            simulation_outcome: device.simulation.outcome.code().to_owned(),
            simulation_delay_ms: to_i64(device.simulation.delay_ms, "simulation delay_ms")?,
            events_secret: device.events_secret.as_ref().map(|s| s.as_str().to_owned()),
            logo_url: device.branding.logo_url.clone(),
            client_info: device.branding.client_info.clone(),
            client_error_info: device.branding.client_error_info.clone(),
            status_texts: serde_json::Value::Object(
                device
                    .branding
                    .status_texts
                    .iter()
                    .map(|(status, text)| {
                        (
                            status.as_str().to_owned(),
                            serde_json::Value::String(text.clone()),
                        )
                    })
                    .collect(),
            ),
            disabled: device.disabled,
            events_secret_set_at: device.events_secret.as_ref().and_then(SealedSecret::set_at),
        })
    }

    pub fn into_domain(self) -> Result<Device, StoreError> {
        Ok(Device {
            device_uuid: id(DeviceUuid::parse(&self.device_uuid))?,
            merchant: id(MerchantKey::parse(&self.merchant_key))?,
            location: self.location,
            provider: ProviderKind::decode(&self.provider)?,
            redirect_url: self.redirect_url,
            machine: MachineKind::decode(&self.machine)?,
            test: self.test,
            dispense_deadline_seconds: from_i64(
                self.dispense_deadline_seconds,
                "dispense deadline",
            )?,
            on_dispense_deadline: DeadlinePolicy::decode(&self.on_dispense_deadline)?,
            simulation: Simulation {
                outcome: SimulatedOutcome::decode(&self.simulation_outcome)?,
                delay_ms: from_i64(self.simulation_delay_ms, "simulation delay")?,
            },
            events_secret: self
                .events_secret
                .map(|s| SealedSecret::new(s).with_set_at(self.events_secret_set_at)),
            branding: Branding {
                logo_url: self.logo_url,
                client_info: self.client_info,
                client_error_info: self.client_error_info,
                status_texts: status_texts(self.status_texts)?,
            },
            disabled: self.disabled,
        })
    }
}

fn status_texts(stored: serde_json::Value) -> Result<BTreeMap<OrderStatus, String>, StoreError> {
    let serde_json::Value::Object(entries) = stored else {
        return Err(StoreError::corrupt("devices.status_texts is not an object"));
    };
    entries
        .into_iter()
        .map(|(name, text)| {
            let status = OrderStatus::parse(&name).ok_or_else(|| {
                StoreError::corrupt(format!("devices.status_texts: unknown status {name:?}"))
            })?;
            match text {
                serde_json::Value::String(text) => Ok((status, text)),
                _ => Err(StoreError::corrupt(format!(
                    "devices.status_texts.{name} is not text"
                ))),
            }
        })
        .collect()
}

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = drinks, primary_key(device_uuid, drink_no), check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub(crate) struct DrinkRow {
    pub device_uuid: String,
    pub drink_no: String,
    pub name: String,
    pub price_small: Option<i64>,
    pub price_medium: Option<i64>,
    pub price_big: Option<i64>,
    pub currency: String,
    pub receipt_vat_code: Option<i16>,
    pub receipt_measure: Option<String>,
    pub receipt_payment_subject: Option<String>,
    pub receipt_payment_mode: Option<String>,
    pub disabled: bool,
}

impl DrinkRow {
    pub fn from_domain(drink: &Drink) -> Self {
        let prices = drink.prices;
        // Only roubles exist; the column keeps the currency of every price of the drink.
        let currency = [prices.small, prices.medium, prices.big]
            .into_iter()
            .flatten()
            .map(|m| m.currency())
            .next()
            .unwrap_or(Currency::Rub);
        Self {
            device_uuid: drink.device.as_str().to_owned(),
            drink_no: drink.drink_no.as_str().to_owned(),
            name: drink.name.clone(),
            price_small: prices.small.map(Money::kopecks),
            price_medium: prices.medium.map(Money::kopecks),
            price_big: prices.big.map(Money::kopecks),
            currency: currency.code().to_owned(),
            receipt_vat_code: drink.receipt.vat_code.map(i16::from),
            receipt_measure: drink.receipt.measure.clone(),
            receipt_payment_subject: drink.receipt.payment_subject.clone(),
            receipt_payment_mode: drink.receipt.payment_mode.clone(),
            disabled: drink.disabled,
        }
    }

    pub fn into_domain(self) -> Result<Drink, StoreError> {
        let price = |kopecks: Option<i64>| kopecks.map(|k| money(k, &self.currency)).transpose();
        Ok(Drink {
            device: id(DeviceUuid::parse(&self.device_uuid))?,
            drink_no: id(DrinkNo::parse(&self.drink_no))?,
            prices: SizePrices {
                small: price(self.price_small)?,
                medium: price(self.price_medium)?,
                big: price(self.price_big)?,
            },
            name: self.name,
            receipt: DrinkReceipt {
                vat_code: self
                    .receipt_vat_code
                    .map(|code| {
                        u8::try_from(code).map_err(|_| {
                            StoreError::corrupt(format!("drinks.receipt_vat_code {code}"))
                        })
                    })
                    .transpose()?,
                measure: self.receipt_measure,
                payment_subject: self.receipt_payment_subject,
                payment_mode: self.receipt_payment_mode,
            },
            disabled: self.disabled,
        })
    }
}
