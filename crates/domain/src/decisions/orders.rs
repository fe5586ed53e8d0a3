//! A QR scan becomes an order.

use crate::settings::Settings;
use crate::{
    DeviceUuid, DrinkNo, HistoryEntry, HistorySource, MachineOrderId, MerchantKey, Money, Order,
    OrderId, OrderStatus, Size,
};
use chrono::{DateTime, Utc};

/// A scan whose parameters all parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub device: DeviceUuid,
    pub drink_no: DrinkNo,
    pub size: Size,
    pub machine_order_id: MachineOrderId,
    /// The QR's own text: never shown nor sent to a provider.
    pub drink_name: String,
}

/// What a priced scan orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub id: OrderId,
    pub scan: Scan,
    pub merchant: MerchantKey,
    /// The catalogue's name for the drink, or «Напиток».
    pub drink_name: String,
    /// Priced server-side: by the machine's telemetry or the local catalogue.
    pub price: Money,
}

/// The new order, payable until `now + order_ttl`, and the first line of its timeline.
pub fn new_order(
    request: OrderRequest,
    now: DateTime<Utc>,
    settings: &Settings,
) -> (Order, HistoryEntry) {
    let order = Order {
        id: request.id,
        machine_order_id: request.scan.machine_order_id,
        device: request.scan.device,
        merchant: request.merchant,
        drink_no: request.scan.drink_no,
        drink_name: request.drink_name,
        size: request.scan.size,
        price: request.price,
        status: OrderStatus::Created,
        expires_at: now + settings.order_ttl,
        failure_reason: None,
        receipt_contact: None,
        dispense_assumed: false,
        make_outcome_unknown: false,
        make_resent: false,
        attention: None,
        created_at: now,
        updated_at: now,
    };
    let line = HistoryEntry {
        order_id: order.id,
        at: now,
        source: HistorySource::Customer,
        from: None,
        to: Some(OrderStatus::Created),
        message: format!("QR-код отсканирован, цена {}", order.price),
    };
    (order, line)
}
