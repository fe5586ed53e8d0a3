//! The fleet file's shape as TOML, with the defaults of what may be left out. The tests' fleet
//! builder (`crates/test-support/src/fleet_file.rs`) writes this shape.

use coffee_domain::{
    CaptureMode, DeadlinePolicy, MachineKind, ProviderKind, ReceiptPolicy, SimulatedOutcome,
};
use serde::Deserialize;
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
    #[serde(default = "default_provider")]
    pub(super) provider: ProviderKind,
    pub(super) redirect_url: Option<String>,
    #[serde(default = "default_machine")]
    pub(super) machine: MachineKind,
    #[serde(default)]
    pub(super) test: bool,
    #[serde(default = "default_deadline")]
    pub(super) dispense_deadline_seconds: u32,
    #[serde(default = "default_deadline_policy")]
    pub(super) on_dispense_deadline: DeadlinePolicy,
    #[serde(default = "default_outcome")]
    pub(super) simulated_outcome: SimulatedOutcome,
    #[serde(default = "default_delay")]
    pub(super) simulated_delay_ms: u64,
    pub(super) events_secret: Option<String>,
    pub(super) events_secret_env: Option<String>,
}

fn default_provider() -> ProviderKind {
    ProviderKind::Sandbox
}
fn default_machine() -> MachineKind {
    MachineKind::Simulated
}
fn default_deadline() -> u32 {
    180
}
fn default_deadline_policy() -> DeadlinePolicy {
    DeadlinePolicy::FailAndRefund
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
    pub(super) prices: PricesEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PricesEntry {
    pub(super) small: Option<i64>,
    pub(super) medium: Option<i64>,
    pub(super) big: Option<i64>,
}
