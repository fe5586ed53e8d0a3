//! Fleets for tests, written with the [`crate::fixtures`] builders: as the TOML text that
//! `coffee-pay fleet apply` reads (its shape: `crates/server/src/fleet/file.rs`), or as the
//! domain's [`Fleet`].
//!
//! ```
//! use coffee_domain::ProviderKind;
//! use coffee_test_support::fixtures::{device, drink, merchant};
//! use coffee_test_support::fleet_file::fleet;
//!
//! let yookassa = fleet()
//!     .merchant(merchant("yk").yookassa("shop-1", "test_secret", 1))
//!     .device(device("yk-1", "yk").provider(ProviderKind::Yookassa))
//!     .drink(drink("yk-1", "1").medium(15000));
//! let text: String = yookassa.to_toml();
//! assert!(text.contains("shop_id = \"shop-1\""));
//! assert_eq!(yookassa.build().devices[0].provider, ProviderKind::Yookassa);
//! ```
//!
//! Every field is written out, defaults included, so a file reads the same whatever the
//! server's defaults become.

use crate::fixtures::{DeviceBuilder, DrinkBuilder, MerchantBuilder};
use coffee_domain::{
    CaptureMode, DeadlinePolicy, Fleet, MachineKind, ProviderKind, ReceiptPolicy, SimulatedOutcome,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// An empty fleet; add merchants, devices and drinks in any order.
pub fn fleet() -> FleetBuilder {
    FleetBuilder::default()
}

/// A fleet under construction; see [`fleet`].
#[derive(Debug, Clone, Default)]
pub struct FleetBuilder {
    merchants: Vec<MerchantBuilder>,
    devices: Vec<DeviceBuilder>,
    drinks: Vec<DrinkBuilder>,
}

impl FleetBuilder {
    pub fn merchant(mut self, merchant: MerchantBuilder) -> Self {
        self.merchants.push(merchant);
        self
    }

    pub fn device(mut self, device: DeviceBuilder) -> Self {
        self.devices.push(device);
        self
    }

    pub fn drink(mut self, drink: DrinkBuilder) -> Self {
        self.drinks.push(drink);
        self
    }

    /// The fleet as the domain applies it (secrets unsealed, see [`crate::fixtures`]).
    pub fn build(&self) -> Fleet {
        Fleet {
            merchants: self.merchants.iter().map(MerchantBuilder::build).collect(),
            devices: self.devices.iter().map(DeviceBuilder::build).collect(),
            drinks: self.drinks.iter().map(DrinkBuilder::build).collect(),
        }
    }

    /// The fleet file's text.
    pub fn to_toml(&self) -> String {
        let file = FileShape {
            merchants: self.merchants.iter().map(MerchantEntry::from).collect(),
            devices: self.devices.iter().map(DeviceEntry::from).collect(),
            drinks: self.drinks.iter().map(DrinkEntry::from).collect(),
        };
        toml::to_string(&file).expect("a fleet file always serializes")
    }
}

#[derive(Serialize)]
struct FileShape<'a> {
    merchants: Vec<MerchantEntry<'a>>,
    devices: Vec<DeviceEntry<'a>>,
    drinks: Vec<DrinkEntry<'a>>,
}

#[derive(Serialize)]
struct MerchantEntry<'a> {
    key: &'a str,
    name: &'a str,
    contact_email: &'a str,
    valid_until: String,
    capture: CaptureMode,
    receipt: ReceiptPolicy,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    // Tables after plain values: TOML puts a sub-table after its parent's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    yookassa: Option<YookassaEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tbank: Option<TbankEntry<'a>>,
}

#[derive(Serialize)]
struct YookassaEntry<'a> {
    shop_id: &'a str,
    secret_key: &'a str,
    vat_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_system_code: Option<u8>,
}

#[derive(Serialize)]
struct TbankEntry<'a> {
    terminal_key: &'a str,
    password: &'a str,
    taxation: &'a str,
    vat: &'a str,
    sbp: bool,
}

impl<'a> From<&'a MerchantBuilder> for MerchantEntry<'a> {
    fn from(m: &'a MerchantBuilder) -> Self {
        Self {
            key: &m.key,
            name: &m.name,
            contact_email: &m.contact_email,
            valid_until: m.valid_until.format("%Y-%m-%d").to_string(),
            capture: m.capture,
            receipt: m.receipt,
            disabled: m.disabled,
            yookassa: m.yookassa.as_ref().map(|shop| YookassaEntry {
                shop_id: &shop.shop_id,
                secret_key: &shop.secret_key,
                vat_code: shop.vat_code,
                tax_system_code: shop.tax_system_code,
            }),
            tbank: m.tbank.as_ref().map(|t| TbankEntry {
                terminal_key: &t.terminal_key,
                password: &t.password,
                taxation: &t.taxation,
                vat: &t.vat,
                sbp: t.sbp,
            }),
        }
    }
}

#[derive(Serialize)]
struct DeviceEntry<'a> {
    device_uuid: &'a str,
    merchant: &'a str,
    location: &'a str,
    provider: ProviderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_url: Option<&'a str>,
    machine: MachineKind,
    test: bool,
    dispense_deadline_seconds: u32,
    on_dispense_deadline: DeadlinePolicy,
    simulated_outcome: SimulatedOutcome,
    simulated_delay_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    events_secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_info: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_error_info: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    // A table: after the plain values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    status_texts: BTreeMap<&'static str, &'a str>,
}

impl<'a> From<&'a DeviceBuilder> for DeviceEntry<'a> {
    fn from(d: &'a DeviceBuilder) -> Self {
        Self {
            device_uuid: &d.device_uuid,
            merchant: &d.merchant,
            location: &d.location,
            provider: d.provider,
            redirect_url: d.redirect_url.as_deref(),
            machine: d.machine,
            test: d.test,
            dispense_deadline_seconds: d.dispense_deadline_seconds,
            on_dispense_deadline: d.deadline_policy(),
            simulated_outcome: d.simulated_outcome,
            simulated_delay_ms: d.simulated_delay_ms,
            events_secret: d.events_secret.as_deref(),
            logo_url: d.branding.logo_url.as_deref(),
            client_info: d.branding.client_info.as_deref(),
            client_error_info: d.branding.client_error_info.as_deref(),
            disabled: d.disabled,
            status_texts: d
                .branding
                .status_texts
                .iter()
                .map(|(status, text)| (status.as_str(), text.as_str()))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct DrinkEntry<'a> {
    device: &'a str,
    drink_no: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vat_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    measure: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_mode: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    prices: PricesEntry,
}

#[derive(Serialize)]
struct PricesEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    small: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    medium: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    big: Option<i64>,
}

impl<'a> From<&'a DrinkBuilder> for DrinkEntry<'a> {
    fn from(d: &'a DrinkBuilder) -> Self {
        Self {
            device: &d.device,
            drink_no: &d.drink_no,
            name: &d.name,
            vat_code: d.receipt.vat_code,
            measure: d.receipt.measure.as_deref(),
            payment_subject: d.receipt.payment_subject.as_deref(),
            payment_mode: d.receipt.payment_mode.as_deref(),
            disabled: d.disabled,
            prices: PricesEntry {
                small: d.small,
                medium: d.medium,
                big: d.big,
            },
        }
    }
}
