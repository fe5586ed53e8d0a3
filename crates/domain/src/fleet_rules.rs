//! The rules a merchant, a device and a drink must keep before they are stored — whoever
//! declares them: the fleet file, the operator console, an import. Each `checked` constructor
//! returns the entity or every rule it breaks.

use crate::branding::{
    branding_text, is_http_url, MAX_BRANDING_TEXT_CHARS, MAX_LOGO_URL_CHARS, RECEIPT_MEASURES,
    RECEIPT_PAYMENT_MODES, RECEIPT_PAYMENT_SUBJECTS,
};
use crate::catalog::{TBANK_TAXATIONS, TBANK_VATS};
use crate::{
    Branding, DeadlinePolicy, Device, Drink, DrinkReceipt, MachineKind, Merchant, MerchantKey,
    ProviderKind, ReceiptContact, Size,
};

/// A broken fleet rule, worded for the operator who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetRuleError {
    #[error("name is empty")]
    EmptyName,
    #[error("contact_email is not a valid email")]
    InvalidContactEmail,
    #[error("yookassa.shop_id is empty")]
    EmptyShopId,
    #[error("yookassa.vat_code must be 1–12")]
    VatCodeOutOfRange,
    #[error("yookassa.tax_system_code must be 1–6")]
    TaxSystemCodeOutOfRange,
    #[error("provider \"yookassa\" needs [merchants.yookassa] on merchant {0}")]
    YookassaWithoutShop(MerchantKey),
    #[error("tbank.terminal_key must be 1–20 characters")]
    InvalidTerminalKey,
    #[error("tbank.taxation must be one of osn, usn_income, usn_income_outcome, esn, patent")]
    UnknownTaxation,
    #[error("tbank.vat must be one of T-Bank's Tax values (none, vat0, vat5, vat7, vat10, vat20, vat22, …)")]
    UnknownVat,
    #[error("provider \"tbank\" needs [merchants.tbank] on merchant {0}")]
    TbankWithoutTerminal(MerchantKey),
    #[error("provider \"custom\" needs redirect_url")]
    CustomWithoutRedirect,
    #[error("redirect_url must be an http(s) URL")]
    RedirectNotHttp,
    #[error("redirect_url is only for provider \"custom\"")]
    RedirectWithoutCustom,
    #[error("dispense_deadline_seconds must be positive")]
    NoDeadline,
    #[error("on_dispense_deadline = \"fail_and_refund\" needs a way for the machine to report: set events_secret, or the drink would be refunded after every deadline")]
    RefundWithoutReports,
    #[error("merchant {0} is not known")]
    UnknownMerchant(MerchantKey),
    #[error("price of {0} must be a positive number of kopecks")]
    ZeroPrice(&'static str),
    #[error("no size has a price")]
    NoPrice,
    #[error("logo_url must be an http(s) URL of at most 2000 characters")]
    LogoNotHttp,
    #[error("{0} is longer than 2000 characters")]
    TextTooLong(String),
    #[error("vat_code must be 1–12")]
    ReceiptVatCodeOutOfRange,
    #[error(
        "measure must be one of YooKassa's values (piece, gram, kilogram, milliliter, liter, …)"
    )]
    UnknownMeasure,
    #[error("payment_subject must be one of commodity, excise, job, service, gambling_bet, gambling_prize, lottery, lottery_prize, intellectual_activity, payment, agent_commission, composite, another")]
    UnknownPaymentSubject,
    #[error("payment_mode must be one of full_prepayment, partial_prepayment, advance, full_payment, partial_payment, credit, credit_payment")]
    UnknownPaymentMode,
}

impl Merchant {
    /// The merchant, trimmed, if it keeps every rule.
    pub fn checked(mut self) -> Result<Self, Vec<FleetRuleError>> {
        self.name = self.name.trim().to_owned();
        self.contact_email = self.contact_email.trim().to_owned();
        let mut broken = Vec::new();
        if self.name.is_empty() {
            broken.push(FleetRuleError::EmptyName);
        }
        if ReceiptContact::email(&self.contact_email).is_err() {
            broken.push(FleetRuleError::InvalidContactEmail);
        }
        if let Some(shop) = self.yookassa.as_mut() {
            shop.shop_id = shop.shop_id.trim().to_owned();
            if shop.shop_id.is_empty() {
                broken.push(FleetRuleError::EmptyShopId);
            }
            if !(1..=12).contains(&shop.vat_code) {
                broken.push(FleetRuleError::VatCodeOutOfRange);
            }
            if shop.tax_system_code.is_some_and(|c| !(1..=6).contains(&c)) {
                broken.push(FleetRuleError::TaxSystemCodeOutOfRange);
            }
        }
        if let Some(terminal) = self.tbank.as_mut() {
            terminal.terminal_key = terminal.terminal_key.trim().to_owned();
            if !(1..=20).contains(&terminal.terminal_key.chars().count()) {
                broken.push(FleetRuleError::InvalidTerminalKey);
            }
            if !TBANK_TAXATIONS.contains(&terminal.taxation.as_str()) {
                broken.push(FleetRuleError::UnknownTaxation);
            }
            if !TBANK_VATS.contains(&terminal.vat.as_str()) {
                broken.push(FleetRuleError::UnknownVat);
            }
        }
        ok_or_broken(self, broken)
    }
}

impl Device {
    /// The device, trimmed, if it keeps every rule; `merchant` is the merchant it names
    /// (`None` when unknown).
    pub fn checked(mut self, merchant: Option<&Merchant>) -> Result<Self, Vec<FleetRuleError>> {
        self.location = self.location.trim().to_owned();
        self.redirect_url = self.redirect_url.map(|u| u.trim().to_owned());
        let mut broken = Vec::new();
        match merchant {
            None => broken.push(FleetRuleError::UnknownMerchant(self.merchant.clone())),
            Some(merchant) if merchant.key != self.merchant => {
                broken.push(FleetRuleError::UnknownMerchant(self.merchant.clone()))
            }
            Some(merchant) => {
                if self.provider == ProviderKind::Yookassa && merchant.yookassa.is_none() {
                    broken.push(FleetRuleError::YookassaWithoutShop(merchant.key.clone()));
                }
                if self.provider == ProviderKind::Tbank && merchant.tbank.is_none() {
                    broken.push(FleetRuleError::TbankWithoutTerminal(merchant.key.clone()));
                }
            }
        }
        match (self.provider, &self.redirect_url) {
            (ProviderKind::Custom, None) => broken.push(FleetRuleError::CustomWithoutRedirect),
            (ProviderKind::Custom, Some(url))
                if !(url.starts_with("https://") || url.starts_with("http://")) =>
            {
                broken.push(FleetRuleError::RedirectNotHttp)
            }
            (ProviderKind::Sandbox | ProviderKind::Yookassa | ProviderKind::Tbank, Some(_)) => {
                broken.push(FleetRuleError::RedirectWithoutCustom)
            }
            (ProviderKind::Custom, Some(_))
            | (ProviderKind::Sandbox | ProviderKind::Yookassa | ProviderKind::Tbank, None) => {}
        }
        if self.dispense_deadline_seconds == 0 {
            broken.push(FleetRuleError::NoDeadline);
        }
        if self.on_dispense_deadline == DeadlinePolicy::FailAndRefund && !self.can_report() {
            broken.push(FleetRuleError::RefundWithoutReports);
        }
        self.branding = checked_branding(self.branding, &mut broken);
        ok_or_broken(self, broken)
    }

    /// Whether the machine can say what became of a make command: over its own channel
    /// (simulated and MQTT machines) or over HTTP, signed with its `events_secret`.
    pub fn can_report(&self) -> bool {
        can_report(self.machine, self.events_secret.is_some())
    }
}

fn can_report(machine: MachineKind, has_events_secret: bool) -> bool {
    match machine {
        MachineKind::Simulated | MachineKind::Mqtt => true,
        // The legacy frame has no way back: only an HTTP report key lets such a machine say.
        MachineKind::Tmetr | MachineKind::MqttLegacy => has_events_secret,
    }
}

/// The deadline policy of a device that declares none. A machine that can report and stays
/// silent has failed: its money is returned. One that cannot report is taken at its word —
/// refunding it would give every drink away.
pub fn default_deadline_policy(machine: MachineKind, has_events_secret: bool) -> DeadlinePolicy {
    if can_report(machine, has_events_secret) {
        DeadlinePolicy::FailAndRefund
    } else {
        DeadlinePolicy::AssumeSuccess
    }
}

impl Drink {
    /// The drink, trimmed, if it keeps every rule: a name and at least one positive price.
    pub fn checked(mut self) -> Result<Self, Vec<FleetRuleError>> {
        self.name = self.name.trim().to_owned();
        let mut broken = Vec::new();
        if self.name.is_empty() {
            broken.push(FleetRuleError::EmptyName);
        }
        let priced: Vec<_> = Size::ALL
            .into_iter()
            .filter_map(|size| self.prices.get(size).map(|price| (size, price)))
            .collect();
        if priced.is_empty() {
            broken.push(FleetRuleError::NoPrice);
        }
        for (size, price) in priced {
            if price.is_zero() {
                broken.push(FleetRuleError::ZeroPrice(size.as_str()));
            }
        }
        self.receipt = checked_receipt(self.receipt, &mut broken);
        ok_or_broken(self, broken)
    }
}

/// The branding with its texts cleaned ([`branding_text`]; an empty one is no text), noting
/// every rule it breaks: an http(s) logo URL, texts of at most [`MAX_BRANDING_TEXT_CHARS`].
fn checked_branding(branding: Branding, broken: &mut Vec<FleetRuleError>) -> Branding {
    let mut text = |field: String, raw: String| {
        let cleaned = branding_text(&raw);
        if cleaned.chars().count() > MAX_BRANDING_TEXT_CHARS {
            broken.push(FleetRuleError::TextTooLong(field));
        }
        Some(cleaned).filter(|t| !t.is_empty())
    };
    let client_info = branding
        .client_info
        .and_then(|t| text("client_info".into(), t));
    let client_error_info = branding
        .client_error_info
        .and_then(|t| text("client_error_info".into(), t));
    let status_texts = branding
        .status_texts
        .into_iter()
        .filter_map(|(status, t)| text(format!("status_texts.{status}"), t).map(|t| (status, t)))
        .collect();
    let logo_url = branding
        .logo_url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    if logo_url
        .as_deref()
        .is_some_and(|u| !is_http_url(u) || u.chars().count() > MAX_LOGO_URL_CHARS)
    {
        broken.push(FleetRuleError::LogoNotHttp);
    }
    Branding {
        logo_url,
        client_info,
        client_error_info,
        status_texts,
    }
}

/// The receipt data, trimmed (an empty word is no word), noting every value YooKassa's
/// vocabulary does not have.
fn checked_receipt(receipt: DrinkReceipt, broken: &mut Vec<FleetRuleError>) -> DrinkReceipt {
    let word = |w: Option<String>| w.map(|w| w.trim().to_owned()).filter(|w| !w.is_empty());
    let receipt = DrinkReceipt {
        vat_code: receipt.vat_code,
        measure: word(receipt.measure),
        payment_subject: word(receipt.payment_subject),
        payment_mode: word(receipt.payment_mode),
    };
    if receipt.vat_code.is_some_and(|c| !(1..=12).contains(&c)) {
        broken.push(FleetRuleError::ReceiptVatCodeOutOfRange);
    }
    let known =
        |w: &Option<String>, words: &[&str]| w.as_deref().is_none_or(|w| words.contains(&w));
    if !known(&receipt.measure, &RECEIPT_MEASURES) {
        broken.push(FleetRuleError::UnknownMeasure);
    }
    if !known(&receipt.payment_subject, &RECEIPT_PAYMENT_SUBJECTS) {
        broken.push(FleetRuleError::UnknownPaymentSubject);
    }
    if !known(&receipt.payment_mode, &RECEIPT_PAYMENT_MODES) {
        broken.push(FleetRuleError::UnknownPaymentMode);
    }
    receipt
}

fn ok_or_broken<T>(value: T, broken: Vec<FleetRuleError>) -> Result<T, Vec<FleetRuleError>> {
    if broken.is_empty() {
        Ok(value)
    } else {
        Err(broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CaptureMode, DeadlinePolicy, DeviceUuid, DrinkNo, MachineKind, Money, ReceiptPolicy,
        SealedSecret, SimulatedOutcome, Simulation, SizePrices, TbankSettings, YookassaSettings,
    };
    use chrono::NaiveDate;

    fn merchant() -> Merchant {
        Merchant {
            key: MerchantKey::parse("m").unwrap(),
            name: " Кофе ".into(),
            contact_email: "owner@example.com".into(),
            valid_until: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
            capture: CaptureMode::Immediate,
            receipt: ReceiptPolicy::Off,
            yookassa: None,
            tbank: None,
            disabled: false,
        }
    }

    fn device(provider: ProviderKind, redirect_url: Option<&str>) -> Device {
        Device {
            device_uuid: DeviceUuid::parse("d").unwrap(),
            merchant: MerchantKey::parse("m").unwrap(),
            location: String::new(),
            provider,
            redirect_url: redirect_url.map(str::to_owned),
            machine: MachineKind::Simulated,
            test: false,
            dispense_deadline_seconds: 180,
            on_dispense_deadline: DeadlinePolicy::FailAndRefund,
            simulation: Simulation {
                outcome: SimulatedOutcome::Dispensed,
                delay_ms: 0,
            },
            events_secret: None,
            branding: Branding::default(),
            disabled: false,
        }
    }

    #[test]
    fn a_good_merchant_is_trimmed_and_kept() {
        assert_eq!(merchant().checked().unwrap().name, "Кофе");
    }

    #[test]
    fn a_merchant_breaking_rules_hears_of_every_one() {
        let mut bad = merchant();
        bad.name = " ".into();
        bad.contact_email = "nobody".into();
        bad.yookassa = Some(YookassaSettings {
            shop_id: " ".into(),
            secret_key: SealedSecret::new("sealed"),
            vat_code: 13,
            tax_system_code: Some(7),
        });
        assert_eq!(
            bad.checked().unwrap_err(),
            vec![
                FleetRuleError::EmptyName,
                FleetRuleError::InvalidContactEmail,
                FleetRuleError::EmptyShopId,
                FleetRuleError::VatCodeOutOfRange,
                FleetRuleError::TaxSystemCodeOutOfRange,
            ]
        );
    }

    #[test]
    fn a_tbank_device_needs_a_merchant_with_a_terminal_whose_receipt_values_t_bank_knows() {
        let mut m = merchant();
        assert_eq!(
            device(ProviderKind::Tbank, None)
                .checked(Some(&m))
                .unwrap_err(),
            vec![FleetRuleError::TbankWithoutTerminal(m.key.clone())]
        );
        m.tbank = Some(TbankSettings {
            terminal_key: " 1234567890DEMO ".into(),
            password: SealedSecret::new("sealed"),
            taxation: "usn_income".into(),
            vat: "vat22".into(),
            sbp: false,
        });
        let m = m.checked().unwrap();
        assert_eq!(m.tbank.as_ref().unwrap().terminal_key, "1234567890DEMO");
        assert!(device(ProviderKind::Tbank, None).checked(Some(&m)).is_ok());
        let mut bad = m;
        bad.tbank = Some(TbankSettings {
            terminal_key: "x".repeat(21),
            password: SealedSecret::new("sealed"),
            taxation: "simplified".into(),
            vat: "vat18".into(),
            sbp: true,
        });
        assert_eq!(
            bad.checked().unwrap_err(),
            vec![
                FleetRuleError::InvalidTerminalKey,
                FleetRuleError::UnknownTaxation,
                FleetRuleError::UnknownVat,
            ]
        );
    }

    #[test]
    fn a_device_needs_its_merchant_and_a_provider_it_can_use() {
        let m = merchant();
        assert!(device(ProviderKind::Sandbox, None)
            .checked(Some(&m))
            .is_ok());
        assert_eq!(
            device(ProviderKind::Sandbox, None)
                .checked(None)
                .unwrap_err(),
            vec![FleetRuleError::UnknownMerchant(m.key.clone())]
        );
        assert_eq!(
            device(ProviderKind::Yookassa, None)
                .checked(Some(&m))
                .unwrap_err(),
            vec![FleetRuleError::YookassaWithoutShop(m.key.clone())]
        );
        assert_eq!(
            device(ProviderKind::Custom, None)
                .checked(Some(&m))
                .unwrap_err(),
            vec![FleetRuleError::CustomWithoutRedirect]
        );
        assert_eq!(
            device(ProviderKind::Custom, Some("ftp://x"))
                .checked(Some(&m))
                .unwrap_err(),
            vec![FleetRuleError::RedirectNotHttp]
        );
        assert_eq!(
            device(ProviderKind::Sandbox, Some("https://x"))
                .checked(Some(&m))
                .unwrap_err(),
            vec![FleetRuleError::RedirectWithoutCustom]
        );
        let mut no_deadline = device(ProviderKind::Custom, Some(" https://x "));
        no_deadline.dispense_deadline_seconds = 0;
        assert_eq!(
            no_deadline.checked(Some(&m)).unwrap_err(),
            vec![FleetRuleError::NoDeadline]
        );
    }

    #[test]
    fn a_machine_that_cannot_report_may_not_refund_at_its_deadline() {
        let m = merchant();
        let mut silent = device(ProviderKind::Sandbox, None);
        silent.machine = MachineKind::Tmetr;
        assert_eq!(
            silent.clone().checked(Some(&m)).unwrap_err(),
            vec![FleetRuleError::RefundWithoutReports]
        );
        assert!(FleetRuleError::RefundWithoutReports
            .to_string()
            .contains("set events_secret"));

        let mut assumed = silent.clone();
        assumed.on_dispense_deadline = DeadlinePolicy::AssumeSuccess;
        assert!(assumed.checked(Some(&m)).is_ok());
        let mut reporting = silent;
        reporting.events_secret = Some(SealedSecret::new("sealed"));
        assert!(reporting.checked(Some(&m)).is_ok());
        for machine in [MachineKind::Simulated, MachineKind::Mqtt] {
            let mut own_channel = device(ProviderKind::Sandbox, None);
            own_channel.machine = machine;
            assert!(own_channel.checked(Some(&m)).is_ok(), "{machine:?}");
        }
    }

    #[test]
    fn only_a_machine_that_can_report_defaults_to_a_refund_at_its_deadline() {
        use DeadlinePolicy::{AssumeSuccess, FailAndRefund};
        assert_eq!(
            default_deadline_policy(MachineKind::Tmetr, false),
            AssumeSuccess
        );
        assert_eq!(
            default_deadline_policy(MachineKind::Tmetr, true),
            FailAndRefund
        );
        assert_eq!(
            default_deadline_policy(MachineKind::Simulated, false),
            FailAndRefund
        );
        assert_eq!(
            default_deadline_policy(MachineKind::Mqtt, false),
            FailAndRefund
        );
        assert_eq!(
            default_deadline_policy(MachineKind::MqttLegacy, false),
            AssumeSuccess
        );
        assert_eq!(
            default_deadline_policy(MachineKind::MqttLegacy, true),
            FailAndRefund
        );
    }

    #[test]
    fn an_mqtt_legacy_machine_cannot_be_refunded_at_its_deadline_without_a_report_key() {
        let m = merchant();
        let mut legacy = device(ProviderKind::Sandbox, None);
        legacy.machine = MachineKind::MqttLegacy;
        legacy.on_dispense_deadline = DeadlinePolicy::FailAndRefund;
        assert_eq!(
            legacy.clone().checked(Some(&m)).unwrap_err(),
            vec![FleetRuleError::RefundWithoutReports]
        );
        legacy.events_secret = Some(SealedSecret::new("sealed"));
        assert!(legacy.checked(Some(&m)).is_ok());
    }

    #[test]
    fn a_drink_needs_a_name_and_a_positive_price() {
        let drink = |name: &str, prices: SizePrices| Drink {
            device: DeviceUuid::parse("d").unwrap(),
            drink_no: DrinkNo::parse("1").unwrap(),
            name: name.into(),
            prices,
            receipt: DrinkReceipt::default(),
            disabled: false,
        };
        let priced = SizePrices {
            small: Some(Money::rub(100).unwrap()),
            ..SizePrices::default()
        };
        assert!(drink("Латте", priced).checked().is_ok());
        assert_eq!(
            drink("", SizePrices::default()).checked().unwrap_err(),
            vec![FleetRuleError::EmptyName, FleetRuleError::NoPrice]
        );
        let free = SizePrices {
            big: Some(Money::rub(0).unwrap()),
            ..SizePrices::default()
        };
        assert_eq!(
            drink("Латте", free).checked().unwrap_err(),
            vec![FleetRuleError::ZeroPrice("big")]
        );
    }

    #[test]
    fn a_device_branding_is_cleaned_and_empty_texts_are_dropped() {
        let mut branded = device(ProviderKind::Sandbox, None);
        branded.branding = Branding {
            logo_url: Some(" https://cdn.example/logo.png ".into()),
            client_info: Some(" Поддержка:\r\n+7 900 123-45-67\u{202E} ".into()),
            client_error_info: Some("  ".into()),
            status_texts: [
                (crate::OrderStatus::Successful, "Спасибо!".to_owned()),
                (crate::OrderStatus::Failed, "\u{200F}".to_owned()),
            ]
            .into(),
        };
        let branding = branded.checked(Some(&merchant())).unwrap().branding;
        assert_eq!(
            branding.logo_url.as_deref(),
            Some("https://cdn.example/logo.png")
        );
        assert_eq!(
            branding.client_info.as_deref(),
            Some("Поддержка:\n+7 900 123-45-67")
        );
        assert_eq!(branding.client_error_info, None);
        assert_eq!(
            branding.status_texts,
            [(crate::OrderStatus::Successful, "Спасибо!".to_owned())].into()
        );
    }

    #[test]
    fn a_device_branding_needs_an_http_logo_and_texts_of_at_most_2000_characters() {
        let mut branded = device(ProviderKind::Sandbox, None);
        branded.branding = Branding {
            logo_url: Some("javascript:alert(1)".into()),
            client_info: Some("я".repeat(2000)),
            client_error_info: Some("я".repeat(2001)),
            status_texts: [(crate::OrderStatus::Paid, "x".repeat(2001))].into(),
        };
        assert_eq!(
            branded.checked(Some(&merchant())).unwrap_err(),
            vec![
                FleetRuleError::TextTooLong("client_error_info".into()),
                FleetRuleError::TextTooLong("status_texts.paid".into()),
                FleetRuleError::LogoNotHttp,
            ]
        );
    }

    #[test]
    fn a_drink_receipt_keeps_to_yookassa_vocabulary_and_vat_codes_1_to_12() {
        let drink = |receipt: DrinkReceipt| Drink {
            device: DeviceUuid::parse("d").unwrap(),
            drink_no: DrinkNo::parse("1").unwrap(),
            name: "Латте".into(),
            prices: SizePrices {
                small: Some(Money::rub(100).unwrap()),
                ..SizePrices::default()
            },
            receipt,
            disabled: false,
        };
        let good = drink(DrinkReceipt {
            vat_code: Some(12),
            measure: Some(" piece ".into()),
            payment_subject: Some("commodity".into()),
            payment_mode: Some("".into()),
        })
        .checked()
        .unwrap();
        assert_eq!(
            good.receipt,
            DrinkReceipt {
                vat_code: Some(12),
                measure: Some("piece".into()),
                payment_subject: Some("commodity".into()),
                payment_mode: None,
            }
        );
        assert_eq!(
            drink(DrinkReceipt {
                vat_code: Some(0),
                measure: Some("шт".into()),
                payment_subject: Some("goods".into()),
                payment_mode: Some("prepayment".into()),
            })
            .checked()
            .unwrap_err(),
            vec![
                FleetRuleError::ReceiptVatCodeOutOfRange,
                FleetRuleError::UnknownMeasure,
                FleetRuleError::UnknownPaymentSubject,
                FleetRuleError::UnknownPaymentMode,
            ]
        );
        assert_eq!(
            drink(DrinkReceipt {
                vat_code: Some(13),
                ..DrinkReceipt::default()
            })
            .checked()
            .unwrap_err(),
            vec![FleetRuleError::ReceiptVatCodeOutOfRange]
        );
    }
}
