//! The fleet: merchants, their devices (coffee machines) and the drinks those sell.

use crate::{Branding, DeviceUuid, DrinkNo, DrinkReceipt, MerchantKey, Money};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// When the customer's money is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Charged at once; a failed drink is refunded.
    Immediate,
    /// Held at payment, captured when the machine reports the drink dispensed, released otherwise.
    AfterDispense,
}

/// Whether the merchant asks the customer for a 54-FZ receipt contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptPolicy {
    Off,
    Optional,
    Required,
}

/// A secret as stored: sealed (encrypted) by the server's key, opened only for the call that
/// needs it, with when it was last set (`None`: before that was recorded, or not stored yet).
/// Its `Debug` never shows the content. Two sealed secrets are equal when they hold the same
/// sealed value: when it was set is bookkeeping, so re-declaring the same secret changes
/// nothing. It serialises as the sealed text only.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct SealedSecret {
    sealed: String,
    set_at: Option<DateTime<Utc>>,
}

impl SealedSecret {
    pub fn new(sealed: impl Into<String>) -> Self {
        Self {
            sealed: sealed.into(),
            set_at: None,
        }
    }
    pub fn as_str(&self) -> &str {
        &self.sealed
    }
    /// When this secret was last set, as the store recorded it.
    pub fn set_at(&self) -> Option<DateTime<Utc>> {
        self.set_at
    }
    pub fn with_set_at(mut self, set_at: Option<DateTime<Utc>>) -> Self {
        self.set_at = set_at;
        self
    }
    /// The secret as a store keeps it in place of `stored`: the same sealed value keeps the
    /// time it was set, a new one is set `now`.
    pub fn stamped(self, stored: Option<&SealedSecret>, now: DateTime<Utc>) -> Self {
        let set_at = match stored {
            Some(stored) if stored.sealed == self.sealed => stored.set_at,
            _ => Some(now),
        };
        self.with_set_at(set_at)
    }
}

impl PartialEq for SealedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.sealed == other.sealed
    }
}

impl Eq for SealedSecret {}

impl std::hash::Hash for SealedSecret {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.sealed.hash(state);
    }
}

impl From<String> for SealedSecret {
    fn from(sealed: String) -> Self {
        Self::new(sealed)
    }
}

impl From<SealedSecret> for String {
    fn from(secret: SealedSecret) -> Self {
        secret.sealed
    }
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(***)")
    }
}

/// A merchant's YooKassa shop and its 54-FZ receipt settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YookassaSettings {
    pub shop_id: String,
    pub secret_key: SealedSecret,
    /// VAT code of the receipt item (1–6, see YooKassa's `vat_code`).
    pub vat_code: u8,
    /// Tax system of the merchant (1–6), when its receipts must state it.
    pub tax_system_code: Option<u8>,
}

/// T-Bank receipt `Taxation` values (54-FZ tag 1055).
pub const TBANK_TAXATIONS: [&str; 5] = ["osn", "usn_income", "usn_income_outcome", "esn", "patent"];
/// T-Bank receipt item `Tax` values.
pub const TBANK_VATS: [&str; 12] = [
    "none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat105", "vat107", "vat110",
    "vat120", "vat122",
];

/// A merchant's T-Bank terminal and its 54-FZ receipt settings. `Debug` hides the password
/// (it is sealed anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbankSettings {
    /// `TerminalKey` (≤ 20 characters, case-sensitive).
    pub terminal_key: String,
    pub password: SealedSecret,
    /// Receipt `Taxation`: one of [`TBANK_TAXATIONS`].
    pub taxation: String,
    /// Receipt item `Tax`: one of [`TBANK_VATS`].
    pub vat: String,
    /// The terminal takes SBP (QR) payments.
    pub sbp: bool,
}

/// The owner of machines; money goes to their provider account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub key: MerchantKey,
    pub name: String,
    pub contact_email: String,
    /// Last day of the service subscription, inclusive.
    pub valid_until: NaiveDate,
    pub capture: CaptureMode,
    pub receipt: ReceiptPolicy,
    pub yookassa: Option<YookassaSettings>,
    pub tbank: Option<TbankSettings>,
    /// Switched off by an operator: its machines take no new orders (orders already made
    /// carry on).
    #[serde(default)]
    pub disabled: bool,
}

impl Merchant {
    /// Active through `valid_until` inclusive (the original treated the last day as expired).
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        day <= self.valid_until
    }

    /// The merchant as a store keeps it in place of `stored`: each secret keeps the time it
    /// was set unless it changed now ([`SealedSecret::stamped`]).
    pub fn stamped(mut self, stored: Option<&Merchant>, now: DateTime<Utc>) -> Self {
        if let Some(shop) = self.yookassa.as_mut() {
            let before = stored
                .and_then(|m| m.yookassa.as_ref())
                .map(|y| &y.secret_key);
            shop.secret_key = shop.secret_key.clone().stamped(before, now);
        }
        if let Some(terminal) = self.tbank.as_mut() {
            let before = stored.and_then(|m| m.tbank.as_ref()).map(|t| &t.password);
            terminal.password = terminal.password.clone().stamped(before, now);
        }
        self
    }
}

/// Which payment provider a device's customers pay through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Sandbox,
    Yookassa,
    Tbank,
    /// An external system: the scan redirects to the device's own URL.
    Custom,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Sandbox => "sandbox",
            ProviderKind::Yookassa => "yookassa",
            ProviderKind::Tbank => "tbank",
            ProviderKind::Custom => "custom",
        }
    }
}

/// How make commands reach a device and results come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineKind {
    Simulated,
    Tmetr,
    Mqtt,
    /// The March-2025 binary frame on one shared topic: no addressing, no reports back.
    #[serde(rename = "mqtt-legacy")]
    MqttLegacy,
}

/// What to decide when a machine never reports the result of a make command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlinePolicy {
    /// For machines without a feedback channel: the drink is taken as made (recorded as assumed).
    AssumeSuccess,
    /// The order fails and the money is returned.
    FailAndRefund,
}

/// What a simulated machine does with a make command (demo and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedOutcome {
    Dispensed,
    Failed,
    Silent,
}

/// Behaviour of a simulated machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    pub outcome: SimulatedOutcome,
    pub delay_ms: u64,
}

/// A coffee machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_uuid: DeviceUuid,
    pub merchant: MerchantKey,
    pub location: String,
    pub provider: ProviderKind,
    /// Where a `custom` device's scans are redirected.
    pub redirect_url: Option<String>,
    pub machine: MachineKind,
    /// Test devices skip the online check.
    pub test: bool,
    pub dispense_deadline_seconds: u32,
    pub on_dispense_deadline: DeadlinePolicy,
    pub simulation: Simulation,
    /// Key of the HMAC the machine signs its HTTP reports with.
    pub events_secret: Option<SealedSecret>,
    /// How the device presents itself to its customers.
    pub branding: Branding,
    /// Switched off by an operator: it takes no new orders (orders already made carry on).
    #[serde(default)]
    pub disabled: bool,
}

impl Device {
    /// The device as a store keeps it in place of `stored`: its report key keeps the time it
    /// was set unless it changed now ([`SealedSecret::stamped`]).
    pub fn stamped(mut self, stored: Option<&Device>, now: DateTime<Utc>) -> Self {
        let before = stored.and_then(|d| d.events_secret.as_ref());
        self.events_secret = self.events_secret.map(|s| s.stamped(before, now));
        self
    }
}

/// The three sizes a QR code can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Small,
    Medium,
    Big,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Big];

    /// QR `size`: `0` small, `1` medium, `2` big.
    pub fn from_qr(code: &str) -> Option<Size> {
        match code.trim() {
            "0" => Some(Size::Small),
            "1" => Some(Size::Medium),
            "2" => Some(Size::Big),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Big => "big",
        }
    }

    pub fn label_ru(self) -> &'static str {
        match self {
            Size::Small => "маленький",
            Size::Medium => "средний",
            Size::Big => "большой",
        }
    }
}

/// Local prices per size; an absent size is not sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizePrices {
    pub small: Option<Money>,
    pub medium: Option<Money>,
    pub big: Option<Money>,
}

impl SizePrices {
    pub fn get(&self, size: Size) -> Option<Money> {
        match size {
            Size::Small => self.small,
            Size::Medium => self.medium,
            Size::Big => self.big,
        }
    }
}

/// A drink a device sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drink {
    pub device: DeviceUuid,
    pub drink_no: DrinkNo,
    pub name: String,
    pub prices: SizePrices,
    /// Receipt data overriding the merchant's defaults.
    pub receipt: DrinkReceipt,
    /// Switched off by an operator: not sold, as if the device did not have it.
    #[serde(default)]
    pub disabled: bool,
}

/// A whole fleet, as declared in a fleet file; applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    pub merchants: Vec<Merchant>,
    pub devices: Vec<Device>,
    pub drinks: Vec<Drink>,
}

impl Fleet {
    /// Checks, before a store writes anything, that every device names a merchant and every
    /// drink a device that this fleet declares or the store already holds (`merchant_is_stored`,
    /// `device_is_stored`). Devices are checked before drinks, each in declaration order, so
    /// every store names the same first dangling reference.
    ///
    /// Errors: `NotFound` ("device D refers to unknown merchant").
    /// What a store checks before it writes a fleet: every entity keeps the fleet rules (the
    /// same checked constructors the fleet file and the console use) and every reference
    /// resolves, inside the fleet or to what is stored. Errors: `Invalid` for a broken rule,
    /// `NotFound` for a dangling reference.
    pub fn check(
        &self,
        merchant_is_stored: impl Fn(&MerchantKey) -> bool,
        device_is_stored: impl Fn(&DeviceUuid) -> bool,
    ) -> Result<(), crate::ports::RepositoryError> {
        self.check_rules()?;
        self.check_references(merchant_is_stored, device_is_stored)
    }

    fn check_rules(&self) -> Result<(), crate::ports::RepositoryError> {
        let broken = |what: &str, key: &str, rules: Vec<crate::FleetRuleError>| {
            let rules: Vec<String> = rules.iter().map(ToString::to_string).collect();
            crate::ports::RepositoryError::Invalid(format!("{what} {key}: {}", rules.join("; ")))
        };
        for merchant in &self.merchants {
            merchant
                .clone()
                .checked()
                .map_err(|rules| broken("merchant", merchant.key.as_str(), rules))?;
        }
        for device in &self.devices {
            // A merchant stored earlier is checked against the reference rule only.
            if let Some(merchant) = self.merchants.iter().find(|m| m.key == device.merchant) {
                device
                    .clone()
                    .checked(Some(merchant))
                    .map_err(|rules| broken("device", device.device_uuid.as_str(), rules))?;
            }
        }
        for drink in &self.drinks {
            drink
                .clone()
                .checked()
                .map_err(|rules| broken("drink", drink.drink_no.as_str(), rules))?;
        }
        Ok(())
    }

    fn check_references(
        &self,
        merchant_is_stored: impl Fn(&MerchantKey) -> bool,
        device_is_stored: impl Fn(&DeviceUuid) -> bool,
    ) -> Result<(), crate::ports::RepositoryError> {
        let dangling = |what: &str, key: &str, missing: &str| {
            crate::ports::RepositoryError::NotFound(format!(
                "{what} {key} refers to unknown {missing}"
            ))
        };
        for device in &self.devices {
            let declared = self.merchants.iter().any(|m| m.key == device.merchant);
            if !declared && !merchant_is_stored(&device.merchant) {
                return Err(dangling("device", device.device_uuid.as_str(), "merchant"));
            }
        }
        for drink in &self.drinks {
            let declared = self.devices.iter().any(|d| d.device_uuid == drink.device);
            if !declared && !device_is_stored(&drink.device) {
                return Err(dangling("drink", drink.drink_no.as_str(), "device"));
            }
        }
        Ok(())
    }
}

/// What applying a fleet changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetChanges {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merchant_is_active_on_its_last_day_and_not_after() {
        let merchant = Merchant {
            key: MerchantKey::parse("m").unwrap(),
            name: "M".into(),
            contact_email: "m@example.com".into(),
            valid_until: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            capture: CaptureMode::Immediate,
            receipt: ReceiptPolicy::Off,
            yookassa: None,
            tbank: None,
            disabled: false,
        };
        assert!(merchant.is_active_on(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()));
        assert!(!merchant.is_active_on(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()));
    }

    #[test]
    fn a_secret_keeps_when_it_was_set_until_it_changes() {
        let then = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 9, 0, 0).unwrap();
        let now = then + chrono::Duration::days(2);
        let stored = SealedSecret::new("v1:a").with_set_at(Some(then));
        let same = SealedSecret::new("v1:a").stamped(Some(&stored), now);
        assert_eq!(same.set_at(), Some(then));
        assert_eq!(same, stored);
        let changed = SealedSecret::new("v1:b").stamped(Some(&stored), now);
        assert_eq!(changed.set_at(), Some(now));
        assert_eq!(
            SealedSecret::new("v1:a").stamped(None, now).set_at(),
            Some(now)
        );
        assert_eq!(String::from(stored), "v1:a");
    }

    #[test]
    fn qr_sizes_map_zero_one_two_and_nothing_else() {
        assert_eq!(Size::from_qr("0"), Some(Size::Small));
        assert_eq!(Size::from_qr("1"), Some(Size::Medium));
        assert_eq!(Size::from_qr("2"), Some(Size::Big));
        assert_eq!(Size::from_qr("3"), None);
        assert_eq!(Size::from_qr("large"), None);
    }
}
