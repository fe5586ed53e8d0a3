//! The original system's rows as its importer reads them (text, as stored there), and what
//! the network becomes here: merchants, devices, drinks and orders, each checked by the same
//! rules as a fleet file, and a line for every row that could not be carried over and why.

use super::{imported_order, ImportIds, NetworkImport, OriginalOrder, OriginalStatus};
use crate::fleet_rules::default_deadline_policy;
use crate::{
    plain_text_from_html, shown_text, Branding, CaptureMode, Currency, Device, DeviceUuid, Drink,
    DrinkNo, DrinkReceipt, MachineKind, MachineOrderId, Merchant, MerchantKey, Money, OrderId,
    OrderStatus, PaymentId, ProviderKind, ReceiptContact, ReceiptPolicy, SealedSecret,
    SimulatedOutcome, Simulation, Size, SizePrices, TbankSettings, YookassaSettings,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// `payments_merchant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalMerchant {
    pub id: String,
    pub name: String,
    pub contact_email: String,
    pub valid_until: NaiveDate,
}

/// `payments_merchantcredentials`, with the JSON keys the original's services read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalCredentials {
    pub merchant_id: String,
    pub scenario: String,
    pub account_id: Option<String>,
    pub secret_key: Option<String>,
    pub terminal_key: Option<String>,
    pub is_receipt_mandatory: Option<String>,
    pub tax_system_code: Option<String>,
    pub vat_code: Option<String>,
}

/// `payments_device`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalDevice {
    /// The internal primary key that orders point to.
    pub internal_id: String,
    pub device_uuid: String,
    pub merchant_id: String,
    pub location: String,
    pub status: String,
    pub payment_scenario: String,
    pub redirect_url: Option<String>,
    pub logo_url: Option<String>,
    /// HTML was allowed in these texts there.
    pub client_info: Option<String>,
    pub client_error_info: Option<String>,
    /// `client_info_<status>`: the original's status name and its text.
    pub status_texts: Vec<(String, String)>,
}

/// `payments_drink`: prices as the JSON holds them (size `1|2|3` → rubles as text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalDrink {
    pub id: String,
    pub name: String,
    pub prices: Vec<(String, String)>,
    /// `meta`'s receipt keys, as text.
    pub vat_code: Option<String>,
    pub measure: Option<String>,
    pub payment_subject: Option<String>,
    pub payment_mode: Option<String>,
}

/// `payments_order` with what other tables add to it: the T-Bank `Init` answer and the
/// receipt contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalOrderRow {
    pub id: String,
    pub device_internal_id: String,
    pub drink_name: String,
    pub drink_number: Option<String>,
    pub size: i32,
    /// `numeric(10,0)` kopecks, as text.
    pub price: String,
    pub status: String,
    pub payment_reference_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub payment_started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `payments_tbankpayment.amount` (kopecks) and `payment_url`.
    pub tbank_amount: Option<i64>,
    pub tbank_payment_url: Option<String>,
    /// `payments_receipt.contact`.
    pub receipt_contact: Option<String>,
}

/// Everything the importer read from the original's database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalNetwork {
    pub merchants: Vec<OriginalMerchant>,
    pub credentials: Vec<OriginalCredentials>,
    pub devices: Vec<OriginalDevice>,
    pub drinks: Vec<OriginalDrink>,
    pub orders: Vec<OriginalOrderRow>,
}

/// One row of the original and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    /// The original's table, e.g. `payments_device`.
    pub table: &'static str,
    /// The row's key there.
    pub key: String,
    pub reason: String,
}

/// What the import could not carry over (skipped) or carried over differently (changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub skipped: Vec<ImportLine>,
    pub changed: Vec<ImportLine>,
}

impl ImportReport {
    fn skip(&mut self, table: &'static str, key: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(ImportLine {
            table,
            key: key.into(),
            reason: reason.into(),
        });
    }

    fn change(&mut self, table: &'static str, key: impl Into<String>, reason: impl Into<String>) {
        self.changed.push(ImportLine {
            table,
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// How many rows of `table` were skipped.
    pub fn skipped_in(&self, table: &str) -> usize {
        self.skipped.iter().filter(|l| l.table == table).count()
    }
}

/// What the plan needs from outside: sealing secrets under the server's key, and new ids.
pub struct ImportTools<'a> {
    pub seal: &'a dyn Fn(&str) -> Result<SealedSecret, String>,
    pub new_uuid: &'a dyn Fn() -> Uuid,
}

const MERCHANTS: &str = "payments_merchant";
const CREDENTIALS: &str = "payments_merchantcredentials";
const DEVICES: &str = "payments_device";
const DRINKS: &str = "payments_drink";
const ORDERS: &str = "payments_order";

/// The original's `ORDER_EXPIRATION_MINUTES`, for orders without `expires_at`.
const ORIGINAL_EXPIRY_MINUTES: i64 = 15;
/// The fleet file's default make deadline.
const DISPENSE_DEADLINE_SECONDS: u32 = 180;

/// Where a device's customers pay, by the original's scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Yookassa,
    YookassaReceipt,
    Tbank,
    Custom,
}

impl Scenario {
    fn parse(text: &str) -> Option<Scenario> {
        match text {
            "Yookassa" => Some(Scenario::Yookassa),
            "YookassaReceipt" => Some(Scenario::YookassaReceipt),
            "TBank" => Some(Scenario::Tbank),
            "Custom" => Some(Scenario::Custom),
            _ => None,
        }
    }
}

/// Maps the original network onto ours as of `now`. Rows that break a rule are left out and
/// reported; so are the rows that depend on them (a device of a skipped merchant, an order of
/// a skipped device).
pub fn plan_import(
    network: &OriginalNetwork,
    tools: &ImportTools<'_>,
    now: DateTime<Utc>,
) -> (NetworkImport, ImportReport) {
    let mut report = ImportReport::default();
    let mut import = NetworkImport {
        planned_at: now,
        ..NetworkImport::default()
    };
    let credentials: BTreeMap<(&str, &str), &OriginalCredentials> = network
        .credentials
        .iter()
        .map(|c| ((c.merchant_id.as_str(), c.scenario.as_str()), c))
        .collect();

    // Merchant key per (original merchant, scenario); a merchant whose machines use both
    // YooKassa scenarios had two shops there and becomes two merchants here.
    let mut merchant_of: BTreeMap<(String, Scenario), Merchant> = BTreeMap::new();
    for original in &network.merchants {
        let scenarios: Vec<Scenario> = {
            let mut used: Vec<Scenario> = network
                .devices
                .iter()
                .filter(|d| d.merchant_id == original.id)
                .filter_map(|d| Scenario::parse(&d.payment_scenario))
                .collect();
            used.sort();
            used.dedup();
            used
        };
        let both_shops = scenarios.contains(&Scenario::Yookassa)
            && scenarios.contains(&Scenario::YookassaReceipt);
        let mut shops = vec![(original.id.clone(), None::<Scenario>)];
        if both_shops {
            shops.push((
                format!("{}-receipt", original.id),
                Some(Scenario::YookassaReceipt),
            ));
            report.change(
                MERCHANTS,
                &original.id,
                format!(
                    "two YooKassa shops (Yookassa and YookassaReceipt): devices of the second belong to merchant {}-receipt",
                    original.id
                ),
            );
        }
        for (key, only) in shops {
            let yookassa_scenario = match only {
                Some(scenario) => Some(scenario),
                None if scenarios.contains(&Scenario::Yookassa) => Some(Scenario::Yookassa),
                None if scenarios.contains(&Scenario::YookassaReceipt) => {
                    Some(Scenario::YookassaReceipt)
                }
                None => None,
            };
            let tbank_wanted = only.is_none() && scenarios.contains(&Scenario::Tbank);
            let merchant = match build_merchant(
                original,
                &key,
                yookassa_scenario,
                tbank_wanted,
                &credentials,
                tools,
                &mut report,
            ) {
                Some(merchant) => merchant,
                None => continue,
            };
            let served: Vec<Scenario> = match only {
                Some(scenario) => vec![scenario],
                None => scenarios
                    .iter()
                    .copied()
                    .filter(|s| !(both_shops && *s == Scenario::YookassaReceipt))
                    .collect(),
            };
            for scenario in served {
                merchant_of.insert((original.id.clone(), scenario), merchant.clone());
            }
            import.fleet.merchants.push(merchant);
        }
    }

    let mut device_of: BTreeMap<&str, (Device, Scenario)> = BTreeMap::new();
    for original in &network.devices {
        let Some(scenario) = Scenario::parse(&original.payment_scenario) else {
            report.skip(
                DEVICES,
                &original.device_uuid,
                format!("unknown payment_scenario {:?}", original.payment_scenario),
            );
            continue;
        };
        let Some(merchant) = merchant_of.get(&(original.merchant_id.clone(), scenario)) else {
            report.skip(
                DEVICES,
                &original.device_uuid,
                format!(
                    "its merchant {} has no usable {} credentials (see the merchant's lines)",
                    original.merchant_id, original.payment_scenario
                ),
            );
            continue;
        };
        let device_uuid = match DeviceUuid::parse(&original.device_uuid) {
            Ok(id) => id,
            Err(error) => {
                report.skip(DEVICES, &original.device_uuid, error.to_string());
                continue;
            }
        };
        let device = Device {
            device_uuid,
            merchant: merchant.key.clone(),
            location: original.location.clone(),
            provider: match scenario {
                Scenario::Yookassa | Scenario::YookassaReceipt => ProviderKind::Yookassa,
                Scenario::Tbank => ProviderKind::Tbank,
                Scenario::Custom => ProviderKind::Custom,
            },
            redirect_url: original.redirect_url.clone().filter(|url| !url.is_empty()),
            machine: MachineKind::Tmetr,
            test: original.status == "test",
            dispense_deadline_seconds: DISPENSE_DEADLINE_SECONDS,
            on_dispense_deadline: default_deadline_policy(MachineKind::Tmetr, false),
            simulation: Simulation {
                outcome: SimulatedOutcome::Dispensed,
                delay_ms: 0,
            },
            events_secret: None,
            branding: branding(original, &mut report),
            disabled: false,
        };
        // A face that breaks a rule does not cost the machine: it comes over without it.
        let checked = match device.clone().checked(Some(merchant)) {
            Ok(device) => Ok(device),
            Err(broken) => {
                let plain = Device {
                    branding: Branding::default(),
                    ..device
                };
                let checked = plain.checked(Some(merchant));
                if checked.is_ok() {
                    report.change(
                        DEVICES,
                        &original.device_uuid,
                        format!("branding left out: {}", rules(&broken)),
                    );
                }
                checked
            }
        };
        match checked {
            Ok(device) => {
                device_of.insert(original.internal_id.as_str(), (device.clone(), scenario));
                import.fleet.devices.push(device);
            }
            Err(broken) => report.skip(DEVICES, &original.device_uuid, rules(&broken)),
        }
    }

    for original in &network.drinks {
        let prices = match drink_prices(&original.prices) {
            Ok(prices) => prices,
            Err(why) => {
                report.skip(DRINKS, &original.id, why);
                continue;
            }
        };
        let Ok(drink_no) = DrinkNo::parse(&original.id) else {
            report.skip(DRINKS, &original.id, "id is not a drink number");
            continue;
        };
        let receipt = DrinkReceipt {
            vat_code: original
                .vat_code
                .as_deref()
                .and_then(|v| v.trim().parse().ok()),
            measure: original.measure.clone(),
            payment_subject: original.payment_subject.clone(),
            payment_mode: original.payment_mode.clone(),
        };
        let mut receipt_reported = false;
        // The original's catalogue is shared by every machine; ours is per machine.
        for (device, scenario) in device_of.values() {
            if *scenario == Scenario::Custom {
                continue;
            }
            let drink = Drink {
                device: device.device_uuid.clone(),
                drink_no: drink_no.clone(),
                name: original.name.clone(),
                prices,
                receipt: receipt.clone(),
                disabled: false,
            };
            // Receipt data that breaks a rule: the merchant's defaults apply instead.
            let checked = match drink.clone().checked() {
                Ok(drink) => Ok(drink),
                Err(broken) => {
                    let plain = Drink {
                        receipt: DrinkReceipt::default(),
                        ..drink
                    };
                    let checked = plain.checked();
                    if checked.is_ok() && !receipt_reported {
                        receipt_reported = true;
                        report.change(
                            DRINKS,
                            &original.id,
                            format!("receipt meta left out: {}", rules(&broken)),
                        );
                    }
                    checked
                }
            };
            match checked {
                Ok(drink) => import.fleet.drinks.push(drink),
                Err(broken) => {
                    report.skip(DRINKS, &original.id, rules(&broken));
                    break;
                }
            }
        }
    }

    for row in &network.orders {
        match original_order(row, &device_of) {
            Ok((original, device, notes)) => {
                for note in notes {
                    report.change(ORDERS, &row.id, note);
                }
                let ids = ImportIds {
                    order: OrderId::from_uuid((tools.new_uuid)()),
                    payment: PaymentId::from_uuid((tools.new_uuid)()),
                };
                import
                    .orders
                    .push(imported_order(&original, device, ids, now));
            }
            Err(why) => report.skip(ORDERS, &row.id, why),
        }
    }
    (import, report)
}

/// The original's status names whose texts have a place here.
fn our_status(original: &str) -> Option<OrderStatus> {
    match original {
        "pending" => Some(OrderStatus::Pending),
        "paid" => Some(OrderStatus::Paid),
        "not_paid" => Some(OrderStatus::NotPaid),
        "make_pending" => Some(OrderStatus::MakePending),
        "successful" => Some(OrderStatus::Successful),
        "make_failed" => Some(OrderStatus::Failed),
        _ => None,
    }
}

/// The device's face: HTML texts become plain text with their links kept (each change
/// reported), texts for statuses we do not have are left out (reported too).
fn branding(original: &OriginalDevice, report: &mut ImportReport) -> Branding {
    let key = &original.device_uuid;
    let mut text = |field: &str, raw: &Option<String>| -> Option<String> {
        let raw = raw.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
        let (plain, changed) = plain_text_from_html(raw);
        if changed {
            report.change(
                DEVICES,
                key,
                format!("{field}: HTML made plain text (tags removed, links kept): {plain:?}"),
            );
        }
        Some(plain).filter(|t| !t.trim().is_empty())
    };
    let client_info = text("client_info", &original.client_info);
    let client_error_info = text("client_error_info", &original.client_error_info);
    let mut status_texts = BTreeMap::new();
    let mut left_out = Vec::new();
    for (status, raw) in &original.status_texts {
        let field = format!("client_info_{status}");
        match our_status(status) {
            Some(ours) => {
                if let Some(plain) = text(&field, &Some(raw.clone())) {
                    status_texts.insert(ours, plain);
                }
            }
            None if !raw.trim().is_empty() => left_out.push(field),
            None => {}
        }
    }
    for field in left_out {
        report.change(
            DEVICES,
            key,
            format!(
                "{field} left out: no such status here (a payment after expiry is refunded, never made by hand)"
            ),
        );
    }
    Branding {
        logo_url: original
            .logo_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
        client_info,
        client_error_info,
        status_texts,
    }
}

fn rules(broken: &[crate::FleetRuleError]) -> String {
    broken
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[allow(clippy::too_many_arguments)]
fn build_merchant(
    original: &OriginalMerchant,
    key: &str,
    yookassa_scenario: Option<Scenario>,
    tbank_wanted: bool,
    credentials: &BTreeMap<(&str, &str), &OriginalCredentials>,
    tools: &ImportTools<'_>,
    report: &mut ImportReport,
) -> Option<Merchant> {
    let merchant_key = match MerchantKey::parse(key) {
        Ok(key) => key,
        Err(error) => {
            report.skip(MERCHANTS, &original.id, error.to_string());
            return None;
        }
    };
    let mut receipt = ReceiptPolicy::Off;
    let yookassa = match yookassa_scenario {
        None => None,
        Some(scenario) => {
            let name = if scenario == Scenario::Yookassa {
                "Yookassa"
            } else {
                "YookassaReceipt"
            };
            match credentials.get(&(original.id.as_str(), name)) {
                None => {
                    report.skip(
                        CREDENTIALS,
                        format!("{}/{name}", original.id),
                        "no credentials row: its devices cannot take payments",
                    );
                    None
                }
                Some(c) => match (&c.account_id, &c.secret_key) {
                    (Some(shop), Some(secret)) => match (tools.seal)(secret) {
                        Ok(sealed) => {
                            if scenario == Scenario::YookassaReceipt {
                                receipt = if c.is_receipt_mandatory.as_deref() == Some("true") {
                                    ReceiptPolicy::Required
                                } else {
                                    ReceiptPolicy::Optional
                                };
                            }
                            Some(YookassaSettings {
                                shop_id: shop.clone(),
                                secret_key: sealed,
                                vat_code: c
                                    .vat_code
                                    .as_deref()
                                    .and_then(|v| v.parse().ok())
                                    .unwrap_or(1),
                                tax_system_code: c
                                    .tax_system_code
                                    .as_deref()
                                    .and_then(|v| v.parse().ok()),
                            })
                        }
                        Err(why) => {
                            report.skip(CREDENTIALS, format!("{}/{name}", original.id), why);
                            None
                        }
                    },
                    _ => {
                        report.skip(
                            CREDENTIALS,
                            format!("{}/{name}", original.id),
                            "account_id or secret_key missing",
                        );
                        None
                    }
                },
            }
        }
    };
    let tbank = if tbank_wanted {
        match credentials.get(&(original.id.as_str(), "TBank")) {
            None => {
                report.skip(
                    CREDENTIALS,
                    format!("{}/TBank", original.id),
                    "no credentials row: its devices cannot take payments",
                );
                None
            }
            Some(c) => match (&c.terminal_key, &c.secret_key) {
                (Some(terminal), Some(password)) => match (tools.seal)(password) {
                    Ok(sealed) => Some(TbankSettings {
                        terminal_key: terminal.clone(),
                        password: sealed,
                        taxation: "osn".into(),
                        vat: "none".into(),
                        sbp: false,
                    }),
                    Err(why) => {
                        report.skip(CREDENTIALS, format!("{}/TBank", original.id), why);
                        None
                    }
                },
                (None, _) => {
                    report.skip(
                        CREDENTIALS,
                        format!("{}/TBank", original.id),
                        format!(
                            "no terminal_key (the original never needed one): declare merchant {key} with its tbank terminal_key in a fleet file and apply it, then import again"
                        ),
                    );
                    None
                }
                (Some(_), None) => {
                    report.skip(
                        CREDENTIALS,
                        format!("{}/TBank", original.id),
                        "no secret_key (the terminal's password)",
                    );
                    None
                }
            },
        }
    } else {
        None
    };
    let merchant = Merchant {
        key: merchant_key,
        name: original.name.clone(),
        contact_email: original.contact_email.clone(),
        valid_until: original.valid_until,
        capture: CaptureMode::Immediate,
        receipt,
        yookassa,
        tbank,
        disabled: false,
    };
    match merchant.checked() {
        Ok(merchant) => Some(merchant),
        Err(broken) => {
            report.skip(MERCHANTS, &original.id, rules(&broken));
            None
        }
    }
}

/// The JSON's float rubles, exactly: a value that is not a whole number of kopecks is refused.
fn drink_prices(prices: &[(String, String)]) -> Result<SizePrices, String> {
    let mut sizes = SizePrices::default();
    for (size, rubles) in prices {
        let money = Money::parse_decimal(rubles.trim(), Currency::Rub)
            .map_err(|e| format!("price {rubles:?} for size {size} is not whole kopecks: {e}"))?;
        match size.as_str() {
            "1" => sizes.small = Some(money),
            "2" => sizes.medium = Some(money),
            "3" => sizes.big = Some(money),
            other => return Err(format!("unknown size {other:?} in prices")),
        }
    }
    Ok(sizes)
}

/// Kopecks stored as a decimal (`18000`, `18000.00`): refused unless a whole number.
pub fn whole_kopecks(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b == b'0')
    {
        return Err(format!("{text:?} is not a whole number of kopecks"));
    }
    whole
        .parse()
        .map_err(|_| format!("{text:?} is out of range"))
}

type Mapped<'a> = (OriginalOrder, &'a Device, Vec<String>);

fn original_order<'a>(
    row: &OriginalOrderRow,
    devices: &'a BTreeMap<&str, (Device, Scenario)>,
) -> Result<Mapped<'a>, String> {
    let (device, scenario) = devices
        .get(row.device_internal_id.as_str())
        .ok_or_else(|| format!("its device {} was not imported", row.device_internal_id))?;
    let status = OriginalStatus::parse(&row.status)
        .ok_or_else(|| format!("unknown status {:?}", row.status))?;
    let kopecks = whole_kopecks(&row.price).map_err(|why| format!("price: {why}"))?;
    let price = Money::rub(kopecks).map_err(|e| format!("price: {e}"))?;
    if let Some(amount) = row.tbank_amount.filter(|amount| *amount != kopecks) {
        return Err(format!(
            "the T-Bank payment is for {amount} kopecks, the order for {kopecks}"
        ));
    }
    let size = match row.size {
        1 => Size::Small,
        2 => Size::Medium,
        3 => Size::Big,
        other => return Err(format!("unknown size {other}")),
    };
    let machine_order_id = MachineOrderId::parse(&row.id).map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    let drink_no = row
        .drink_number
        .as_deref()
        .and_then(|n| DrinkNo::parse(n).ok())
        .map_or_else(
            || {
                notes.push("no drink number: recorded as 0".to_owned());
                DrinkNo::parse("0")
            },
            Ok,
        )
        .map_err(|e| e.to_string())?;
    let receipt_contact = match row.receipt_contact.as_deref() {
        None | Some("") => None,
        Some(raw) => match ReceiptContact::email(raw).or_else(|_| ReceiptContact::phone(raw)) {
            Ok(contact) => Some(contact),
            Err(_) => {
                notes.push("receipt contact is neither an e-mail nor a phone: dropped".into());
                None
            }
        },
    };
    let provider = device.provider;
    let provider_payment_id = match scenario {
        Scenario::Custom => None,
        _ => row.payment_reference_id.clone().filter(|r| !r.is_empty()),
    };
    Ok((
        OriginalOrder {
            machine_order_id,
            device: device.device_uuid.clone(),
            merchant: device.merchant.clone(),
            drink_no,
            drink_name: shown_text(&row.drink_name),
            size,
            price,
            status,
            provider,
            provider_payment_id,
            payment_url: row.tbank_payment_url.clone(),
            receipt_contact,
            expires_at: row
                .expires_at
                .unwrap_or(row.created_at + Duration::minutes(ORIGINAL_EXPIRY_MINUTES)),
            payment_started_at: row.payment_started_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        device,
        notes,
    ))
}
