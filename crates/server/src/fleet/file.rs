//! The fleet file's TOML shape, with its defaults. Nothing here checks a rule: see the
//! domain's checked constructors.

use coffee_domain::{
    CaptureMode, DeadlinePolicy, MachineKind, ProviderKind, ReceiptPolicy, SimulatedOutcome,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FleetFile {
    #[serde(default)]
    pub(super) merchants: Vec<Spanned<MerchantEntry>>,
    #[serde(default)]
    pub(super) devices: Vec<Spanned<DeviceEntry>>,
    #[serde(default)]
    pub(super) drinks: Vec<Spanned<DrinkEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MerchantEntry {
    pub(super) key: String,
    pub(super) name: String,
    pub(super) contact_email: String,
    pub(super) valid_until: toml::Value,
    #[serde(default = "default_capture")]
    pub(super) capture: CaptureMode,
    #[serde(default = "default_receipt")]
    pub(super) receipt: ReceiptPolicy,
    pub(super) yookassa: Option<YookassaEntry>,
    pub(super) tbank: Option<TbankEntry>,
    /// Switched off: its machines take no new orders.
    #[serde(default)]
    pub(super) disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct YookassaEntry {
    pub(super) shop_id: String,
    pub(super) secret_key: Option<String>,
    pub(super) secret_key_env: Option<String>,
    pub(super) vat_code: u8,
    pub(super) tax_system_code: Option<u8>,
}

/// `[merchants.tbank]`: the terminal, its password (in the file or named environment
/// variable; sealed before it is stored), the receipt's taxation and VAT, SBP on or off.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TbankEntry {
    pub(super) terminal_key: String,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) taxation: String,
    pub(super) vat: String,
    #[serde(default)]
    pub(super) sbp: bool,
}

fn default_capture() -> CaptureMode {
    CaptureMode::Immediate
}
fn default_receipt() -> ReceiptPolicy {
    ReceiptPolicy::Optional
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceEntry {
    pub(super) device_uuid: String,
    pub(super) merchant: String,
    #[serde(default)]
    pub(super) location: String,
    /// Required when the fleet goes to a database; demo fleets default it.
    pub(super) provider: Option<ProviderKind>,
    pub(super) redirect_url: Option<String>,
    /// Required when the fleet goes to a database; demo fleets default it.
    pub(super) machine: Option<MachineKind>,
    #[serde(default)]
    pub(super) test: bool,
    #[serde(default = "default_deadline")]
    pub(super) dispense_deadline_seconds: u32,
    /// Unset: the domain's default for the machine and its report key.
    pub(super) on_dispense_deadline: Option<DeadlinePolicy>,
    #[serde(default = "default_outcome")]
    pub(super) simulated_outcome: SimulatedOutcome,
    #[serde(default = "default_delay")]
    pub(super) simulated_delay_ms: u64,
    pub(super) events_secret: Option<String>,
    pub(super) events_secret_env: Option<String>,
    /// Branding: plain text, never HTML (see `coffee_domain::Branding`).
    pub(super) logo_url: Option<String>,
    pub(super) client_info: Option<String>,
    pub(super) client_error_info: Option<String>,
    /// Our status names (`created`, `pending`, …) to the device's own text.
    #[serde(default)]
    pub(super) status_texts: BTreeMap<String, String>,
    /// Switched off: takes no new orders.
    #[serde(default)]
    pub(super) disabled: bool,
}

/// A demo fleet's provider when none is declared.
pub(super) const DEMO_PROVIDER: ProviderKind = ProviderKind::Sandbox;
/// A demo fleet's machine when none is declared.
pub(super) const DEMO_MACHINE: MachineKind = MachineKind::Simulated;

fn default_deadline() -> u32 {
    180
}
fn default_outcome() -> SimulatedOutcome {
    SimulatedOutcome::Dispensed
}
fn default_delay() -> u64 {
    3000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DrinkEntry {
    pub(super) device: String,
    pub(super) drink_no: String,
    pub(super) name: String,
    /// Receipt data overriding the merchant's defaults (YooKassa's words).
    pub(super) vat_code: Option<u8>,
    pub(super) measure: Option<String>,
    pub(super) payment_subject: Option<String>,
    pub(super) payment_mode: Option<String>,
    pub(super) prices: PricesEntry,
    /// Switched off: not sold.
    #[serde(default)]
    pub(super) disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PricesEntry {
    pub(super) small: Option<i64>,
    pub(super) medium: Option<i64>,
    pub(super) big: Option<i64>,
}
