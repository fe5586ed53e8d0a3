//! Builders of catalogue values — [`Merchant`], [`Device`], [`Drink`] — shared by every test
//! crate.
//!
//! Each builder starts from what a fleet file means when a field is left out
//! (`crates/server/src/fleet/file.rs`): `device("dev-1", "m1").build()` is the device a fleet
//! file declares with only `device_uuid` and `merchant`. Each method sets one field:
//!
//! ```
//! use coffee_domain::{CaptureMode, MachineKind, ProviderKind};
//! use coffee_test_support::fixtures::{day, device, drink, merchant};
//!
//! let shop = merchant("m1")
//!     .capture(CaptureMode::AfterDispense)
//!     .valid_until(day(2026, 6, 1))
//!     .yookassa("shop-1", "test_secret", 1)
//!     .build();
//! let machine = device("dev-1", "m1")
//!     .provider(ProviderKind::Yookassa)
//!     .machine(MachineKind::Tmetr)
//!     .build();
//! let cappuccino = drink("dev-1", "1").medium(15000).build();
//! assert_eq!(machine.merchant, shop.key);
//! assert_eq!(cappuccino.prices.medium.map(|m| m.kopecks()), Some(15000));
//! ```
//!
//! The same builders write fleet files ([`crate::fleet_file`]). Secrets — a shop's secret key,
//! a device's report key — are given in plain text: a fleet file carries them so for the server
//! to seal, and `build()` keeps them unsealed in [`SealedSecret`]. Identifiers and prices are
//! checked with `unwrap`: a bad one fails the test that wrote it, at once.

use chrono::NaiveDate;
use coffee_domain::fleet_rules::default_deadline_policy;
use coffee_domain::{
    Branding, CaptureMode, DeadlinePolicy, Device, DeviceUuid, Drink, DrinkNo, DrinkReceipt,
    MachineKind, Merchant, MerchantKey, Money, OrderStatus, ProviderKind, ReceiptPolicy,
    SealedSecret, SimulatedOutcome, Simulation, SizePrices, TbankSettings, YookassaSettings,
};

/// A calendar day, for [`MerchantBuilder::valid_until`].
pub fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

/// A merchant `key`: named «Кофейня `key`», `owner@example.com`, paid up to 2099-12-31,
/// charged at once, receipts optional, no YooKassa shop.
pub fn merchant(key: &str) -> MerchantBuilder {
    MerchantBuilder {
        key: key.to_owned(),
        name: format!("Кофейня {key}"),
        contact_email: "owner@example.com".to_owned(),
        valid_until: day(2099, 12, 31),
        capture: CaptureMode::Immediate,
        receipt: ReceiptPolicy::Optional,
        yookassa: None,
        tbank: None,
        disabled: false,
    }
}

/// A merchant under construction; see [`merchant`].
#[derive(Debug, Clone)]
pub struct MerchantBuilder {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) contact_email: String,
    pub(crate) valid_until: NaiveDate,
    pub(crate) capture: CaptureMode,
    pub(crate) receipt: ReceiptPolicy,
    pub(crate) yookassa: Option<YookassaShop>,
    pub(crate) tbank: Option<TbankTerminal>,
    pub(crate) disabled: bool,
}

/// A merchant's YooKassa shop, secret key in plain text.
#[derive(Debug, Clone)]
pub(crate) struct YookassaShop {
    pub(crate) shop_id: String,
    pub(crate) secret_key: String,
    pub(crate) vat_code: u8,
    pub(crate) tax_system_code: Option<u8>,
}

/// A merchant's T-Bank terminal, password in plain text.
#[derive(Debug, Clone)]
pub(crate) struct TbankTerminal {
    pub(crate) terminal_key: String,
    pub(crate) password: String,
    pub(crate) taxation: String,
    pub(crate) vat: String,
    pub(crate) sbp: bool,
}

impl MerchantBuilder {
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub fn contact_email(mut self, email: &str) -> Self {
        self.contact_email = email.to_owned();
        self
    }

    /// The last paid day, inclusive.
    pub fn valid_until(mut self, day: NaiveDate) -> Self {
        self.valid_until = day;
        self
    }

    pub fn capture(mut self, capture: CaptureMode) -> Self {
        self.capture = capture;
        self
    }

    pub fn receipt(mut self, receipt: ReceiptPolicy) -> Self {
        self.receipt = receipt;
        self
    }

    /// A YooKassa shop with its receipts' VAT code (no tax system unless
    /// [`tax_system_code`](Self::tax_system_code) adds one).
    pub fn yookassa(mut self, shop_id: &str, secret_key: &str, vat_code: u8) -> Self {
        self.yookassa = Some(YookassaShop {
            shop_id: shop_id.to_owned(),
            secret_key: secret_key.to_owned(),
            vat_code,
            tax_system_code: None,
        });
        self
    }

    /// The tax system stated on the YooKassa shop's receipts. Panics without a shop.
    pub fn tax_system_code(mut self, code: u8) -> Self {
        let shop = self
            .yookassa
            .as_mut()
            .expect("tax_system_code needs .yookassa(..) first");
        shop.tax_system_code = Some(code);
        self
    }

    /// A T-Bank terminal whose receipts say `usn_income` and `none` (no VAT), without SBP.
    pub fn tbank(mut self, terminal_key: &str, password: &str) -> Self {
        self.tbank = Some(TbankTerminal {
            terminal_key: terminal_key.to_owned(),
            password: password.to_owned(),
            taxation: "usn_income".to_owned(),
            vat: "none".to_owned(),
            sbp: false,
        });
        self
    }

    /// SBP on the T-Bank terminal. Panics without a terminal.
    pub fn tbank_sbp(mut self) -> Self {
        self.tbank
            .as_mut()
            .expect("tbank_sbp needs .tbank(..) first")
            .sbp = true;
        self
    }

    pub fn build(&self) -> Merchant {
        Merchant {
            key: MerchantKey::parse(&self.key).unwrap(),
            name: self.name.clone(),
            contact_email: self.contact_email.clone(),
            valid_until: self.valid_until,
            capture: self.capture,
            receipt: self.receipt,
            yookassa: self.yookassa.as_ref().map(|shop| YookassaSettings {
                shop_id: shop.shop_id.clone(),
                secret_key: SealedSecret::new(&shop.secret_key),
                vat_code: shop.vat_code,
                tax_system_code: shop.tax_system_code,
            }),
            tbank: self.tbank.as_ref().map(|t| TbankSettings {
                terminal_key: t.terminal_key.clone(),
                password: SealedSecret::new(&t.password),
                taxation: t.taxation.clone(),
                vat: t.vat.clone(),
                sbp: t.sbp,
            }),
            disabled: self.disabled,
        }
    }

    /// Switched off by an operator.
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}

/// A device `device_uuid` of `merchant`: no location, sandbox payments, a simulated machine
/// that reports "dispensed" after 3 s, not a test device, a 180 s dispense deadline, no report
/// key. At the deadline the order fails and is refunded when the machine can report
/// (simulated and MQTT machines, or any with a report key), else the drink counts as made —
/// the fleet file's default, unless [`DeviceBuilder::on_dispense_deadline`] chooses.
pub fn device(device_uuid: &str, merchant: &str) -> DeviceBuilder {
    DeviceBuilder {
        device_uuid: device_uuid.to_owned(),
        merchant: merchant.to_owned(),
        location: String::new(),
        provider: ProviderKind::Sandbox,
        redirect_url: None,
        machine: MachineKind::Simulated,
        test: false,
        dispense_deadline_seconds: 180,
        on_dispense_deadline: None,
        simulated_outcome: SimulatedOutcome::Dispensed,
        simulated_delay_ms: 3000,
        events_secret: None,
        branding: Branding::default(),
        disabled: false,
    }
}

/// A device under construction; see [`device`].
#[derive(Debug, Clone)]
pub struct DeviceBuilder {
    pub(crate) device_uuid: String,
    pub(crate) merchant: String,
    pub(crate) location: String,
    pub(crate) provider: ProviderKind,
    pub(crate) redirect_url: Option<String>,
    pub(crate) machine: MachineKind,
    pub(crate) test: bool,
    pub(crate) dispense_deadline_seconds: u32,
    /// `None`: the default for the machine and its report key.
    pub(crate) on_dispense_deadline: Option<DeadlinePolicy>,
    pub(crate) simulated_outcome: SimulatedOutcome,
    pub(crate) simulated_delay_ms: u64,
    pub(crate) events_secret: Option<String>,
    pub(crate) branding: Branding,
    pub(crate) disabled: bool,
}

impl DeviceBuilder {
    pub fn location(mut self, location: &str) -> Self {
        self.location = location.to_owned();
        self
    }

    pub fn provider(mut self, provider: ProviderKind) -> Self {
        self.provider = provider;
        self
    }

    /// A `custom` device: scans are handed to `redirect_url`.
    pub fn custom(mut self, redirect_url: &str) -> Self {
        self.provider = ProviderKind::Custom;
        self.redirect_url = Some(redirect_url.to_owned());
        self
    }

    pub fn machine(mut self, machine: MachineKind) -> Self {
        self.machine = machine;
        self
    }

    /// A test device: scans skip the online check.
    pub fn test_device(mut self) -> Self {
        self.test = true;
        self
    }

    pub fn dispense_deadline_seconds(mut self, seconds: u32) -> Self {
        self.dispense_deadline_seconds = seconds;
        self
    }

    pub fn on_dispense_deadline(mut self, policy: DeadlinePolicy) -> Self {
        self.on_dispense_deadline = Some(policy);
        self
    }

    pub fn simulated_outcome(mut self, outcome: SimulatedOutcome) -> Self {
        self.simulated_outcome = outcome;
        self
    }

    pub fn simulated_delay_ms(mut self, delay_ms: u64) -> Self {
        self.simulated_delay_ms = delay_ms;
        self
    }

    /// The key the machine signs its HTTP reports with, in plain text.
    pub fn events_secret(mut self, secret: &str) -> Self {
        self.events_secret = Some(secret.to_owned());
        self
    }

    /// The whole branding at once.
    pub fn branding(mut self, branding: Branding) -> Self {
        self.branding = branding;
        self
    }

    pub fn logo_url(mut self, url: &str) -> Self {
        self.branding.logo_url = Some(url.to_owned());
        self
    }

    /// Shown on the order page.
    pub fn client_info(mut self, text: &str) -> Self {
        self.branding.client_info = Some(text.to_owned());
        self
    }

    /// Shown on error pages about the device.
    pub fn client_error_info(mut self, text: &str) -> Self {
        self.branding.client_error_info = Some(text.to_owned());
        self
    }

    /// The device's own text for an order in `status`.
    pub fn status_text(mut self, status: OrderStatus, text: &str) -> Self {
        self.branding.status_texts.insert(status, text.to_owned());
        self
    }

    /// The policy at the dispense deadline, chosen or defaulted.
    pub(crate) fn deadline_policy(&self) -> DeadlinePolicy {
        self.on_dispense_deadline
            .unwrap_or_else(|| default_deadline_policy(self.machine, self.events_secret.is_some()))
    }

    pub fn build(&self) -> Device {
        Device {
            device_uuid: DeviceUuid::parse(&self.device_uuid).unwrap(),
            merchant: MerchantKey::parse(&self.merchant).unwrap(),
            location: self.location.clone(),
            provider: self.provider,
            redirect_url: self.redirect_url.clone(),
            machine: self.machine,
            test: self.test,
            dispense_deadline_seconds: self.dispense_deadline_seconds,
            on_dispense_deadline: self.deadline_policy(),
            simulation: Simulation {
                outcome: self.simulated_outcome,
                delay_ms: self.simulated_delay_ms,
            },
            events_secret: self.events_secret.as_deref().map(SealedSecret::new),
            branding: self.branding.clone(),
            disabled: self.disabled,
        }
    }

    /// Switched off by an operator.
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}

/// Drink `drink_no` of `device`: «Капучино», no size priced yet (a fleet file needs one).
pub fn drink(device: &str, drink_no: &str) -> DrinkBuilder {
    DrinkBuilder {
        device: device.to_owned(),
        drink_no: drink_no.to_owned(),
        name: "Капучино".to_owned(),
        small: None,
        medium: None,
        big: None,
        receipt: DrinkReceipt::default(),
        disabled: false,
    }
}

/// A drink under construction; see [`drink`]. Prices are in kopecks.
#[derive(Debug, Clone)]
pub struct DrinkBuilder {
    pub(crate) device: String,
    pub(crate) drink_no: String,
    pub(crate) name: String,
    pub(crate) small: Option<i64>,
    pub(crate) medium: Option<i64>,
    pub(crate) big: Option<i64>,
    pub(crate) receipt: DrinkReceipt,
    pub(crate) disabled: bool,
}

impl DrinkBuilder {
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub fn small(mut self, kopecks: i64) -> Self {
        self.small = Some(kopecks);
        self
    }

    pub fn medium(mut self, kopecks: i64) -> Self {
        self.medium = Some(kopecks);
        self
    }

    pub fn big(mut self, kopecks: i64) -> Self {
        self.big = Some(kopecks);
        self
    }

    /// The drink's receipt data, overriding the merchant's defaults.
    pub fn receipt(mut self, receipt: DrinkReceipt) -> Self {
        self.receipt = receipt;
        self
    }

    /// Receipt data with every field set: `vat_code`, `measure`, `payment_subject`,
    /// `payment_mode`.
    pub fn receipt_of(self, vat_code: u8, measure: &str, subject: &str, mode: &str) -> Self {
        self.receipt(DrinkReceipt {
            vat_code: Some(vat_code),
            measure: Some(measure.to_owned()),
            payment_subject: Some(subject.to_owned()),
            payment_mode: Some(mode.to_owned()),
        })
    }

    pub fn build(&self) -> Drink {
        let rub = |kopecks: Option<i64>| kopecks.map(|k| Money::rub(k).unwrap());
        Drink {
            device: DeviceUuid::parse(&self.device).unwrap(),
            drink_no: DrinkNo::parse(&self.drink_no).unwrap(),
            name: self.name.clone(),
            prices: SizePrices {
                small: rub(self.small),
                medium: rub(self.medium),
                big: rub(self.big),
            },
            receipt: self.receipt.clone(),
            disabled: self.disabled,
        }
    }

    /// Switched off by an operator.
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}
