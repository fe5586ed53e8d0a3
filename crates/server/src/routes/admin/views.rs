//! How the console shows the domain's values: Russian labels, Moscow times, rubles, masked
//! contacts — shared by every console page and the CSV export.

use crate::console::Caller;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use coffee_domain::ports::OrderListItem;
use coffee_domain::{Attention, OrderStatus, PaymentState, ProviderKind, ReceiptContact};
use serde::Serialize;

pub fn status_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Created => "Создан",
        OrderStatus::Pending => "Ожидает оплаты",
        OrderStatus::Paid => "Оплачен",
        OrderStatus::MakePending => "Готовится",
        OrderStatus::Successful => "Выдан",
        OrderStatus::NotPaid => "Не оплачен",
        OrderStatus::Failed => "Ошибка",
    }
}

pub fn payment_label(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Pending => "ожидает оплаты",
        PaymentState::Authorized => "деньги удержаны",
        PaymentState::Succeeded => "списано",
        PaymentState::Canceled => "отменён, удержание снято",
        PaymentState::RefundPending => "возврат в процессе",
        PaymentState::Refunded => "возвращено",
    }
}

pub fn attention_label(attention: Attention) -> &'static str {
    match attention {
        Attention::MakeOutcomeUnknown => "исход приготовления неизвестен",
        Attention::ProviderMismatch => "платёж провайдера не совпадает с нашим",
        Attention::MoneyAfterOrderEnded => "деньги пришли после окончания заказа",
        Attention::HoldCanceledAfterDrink => "удержание снято после выдачи напитка",
        Attention::RefundRefused => "провайдер отказал в возврате",
        Attention::UnsettledInOriginal => {
            "перенесён из прежней системы: деньги списаны, напиток не выдан и не возвращён"
        }
    }
}

pub fn provider_of(text: &str) -> Option<ProviderKind> {
    [
        ProviderKind::Sandbox,
        ProviderKind::Yookassa,
        ProviderKind::Tbank,
        ProviderKind::Custom,
    ]
    .into_iter()
    .find(|p| p.as_str() == text)
}

fn msk() -> Option<FixedOffset> {
    FixedOffset::east_opt(3 * 3600)
}

/// `2026-06-01 13:05:09` in Moscow time.
pub fn msk_time(at: DateTime<Utc>) -> String {
    match msk() {
        Some(zone) => at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Midnight of a Moscow day, in UTC.
pub fn msk_midnight(day: NaiveDate) -> Option<DateTime<Utc>> {
    let zone = msk()?;
    zone.from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// The Moscow day of a time.
pub fn msk_day(at: DateTime<Utc>) -> NaiveDate {
    match msk() {
        Some(zone) => at.with_timezone(&zone).date_naive(),
        None => at.date_naive(),
    }
}

/// `150,00 ₽` from kopecks.
pub fn rub(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!("{sign}{},{:02} ₽", abs / 100, abs % 100)
}

/// The receipt contact as the caller may see it: whole for an admin, masked for a merchant.
pub fn contact_for(caller: &Caller, contact: Option<&ReceiptContact>) -> String {
    match contact {
        None => String::new(),
        Some(contact) if caller.role.is_admin() => match contact {
            ReceiptContact::Email(value) | ReceiptContact::Phone(value) => value.clone(),
        },
        Some(contact) => contact.masked(),
    }
}

/// An order as a row of the list (and of the CSV export).
#[derive(Debug, Serialize)]
pub struct OrderRowView {
    pub id: String,
    pub created: String,
    pub created_at: String,
    pub machine_order_id: String,
    pub merchant: String,
    pub device: String,
    pub drink: String,
    pub size: &'static str,
    pub price: String,
    pub price_kopecks: i64,
    pub status: &'static str,
    pub status_label: &'static str,
    pub payment_state: &'static str,
    pub payment_label: &'static str,
    pub provider: &'static str,
    pub provider_payment_id: String,
    pub failure_reason: &'static str,
    pub attention: &'static str,
    pub attention_label: &'static str,
    pub contact: String,
}

impl OrderRowView {
    pub fn of(caller: &Caller, item: &OrderListItem) -> Self {
        let order = &item.order;
        let payment = item.payment.as_ref();
        Self {
            id: order.id.to_string(),
            created: msk_time(order.created_at),
            created_at: order.created_at.to_rfc3339(),
            machine_order_id: order.machine_order_id.to_string(),
            merchant: order.merchant.to_string(),
            device: order.device.to_string(),
            drink: order.drink_name.clone(),
            size: order.size.label_ru(),
            price: rub(order.price.kopecks()),
            price_kopecks: order.price.kopecks(),
            status: order.status.as_str(),
            status_label: status_label(order.status),
            payment_state: payment.map_or("", |p| p.state.as_str()),
            payment_label: payment.map_or("", |p| payment_label(p.state)),
            provider: payment.map_or("", |p| p.provider.as_str()),
            provider_payment_id: payment
                .map(|p| p.provider_payment_id.clone())
                .unwrap_or_default(),
            failure_reason: order.failure_reason.map_or("", |r| r.as_str()),
            attention: order.attention.map_or("", Attention::as_str),
            attention_label: order.attention.map_or("", attention_label),
            contact: contact_for(caller, order.receipt_contact.as_ref()),
        }
    }
}

/// One CSV field: quoted when it needs to be, and never read as a formula by a spreadsheet.
pub fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("Капучино"), "Капучино");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn rubles_are_shown_with_kopecks() {
        assert_eq!(rub(15000), "150,00 ₽");
        assert_eq!(rub(-5), "-0,05 ₽");
    }
}
