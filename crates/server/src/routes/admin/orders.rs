//! `/admin/orders`: the order list with its filters and search, keyset pages, and its CSV
//! export. A merchant account sees only its own merchant's orders, whatever it asks for.

use super::views::{self, csv_field, OrderRowView};
use super::{page, CallerView};
use crate::console::http::{Operator, Rejection};
use crate::console::{Caller, Console};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Days, NaiveDate, Utc};
use coffee_domain::ports::{OrderCursor, OrderFilter};
use coffee_domain::{DeviceUuid, MerchantKey, OrderId, OrderStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Orders on one page.
pub const PAGE_SIZE: usize = 50;
/// The most rows one CSV export writes.
pub const CSV_LIMIT: usize = 100_000;

/// The list's query string (every field optional; empty means «any»).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OrdersQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub merchant: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub provider: String,
    /// `YYYY-MM-DD`, Moscow time, inclusive.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, Moscow time, inclusive.
    #[serde(default)]
    pub to: String,
    /// `1`: only orders flagged for an operator.
    #[serde(default)]
    pub attention: String,
    /// Our order id, the machine's order id, a provider payment id or a receipt contact.
    #[serde(default)]
    pub q: String,
    /// Where the page continues (from the previous page's «Дальше» link).
    #[serde(default)]
    pub after: String,
}

fn day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// `<microseconds since the epoch>_<order id>`.
pub fn encode_cursor(cursor: &OrderCursor) -> String {
    format!("{}_{}", cursor.created_at.timestamp_micros(), cursor.id)
}

fn decode_cursor(text: &str) -> Option<OrderCursor> {
    let (micros, id) = text.split_once('_')?;
    Some(OrderCursor {
        created_at: DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?,
        id: OrderId::from_uuid(Uuid::parse_str(id).ok()?),
    })
}

impl OrdersQuery {
    /// The filter this query asks for, kept to the caller's merchant; the problems of fields
    /// that could not be read (they filter nothing).
    pub fn filter_for(&self, caller: &Caller) -> (OrderFilter, Vec<String>) {
        let mut problems = Vec::new();
        let mut filter = OrderFilter::default();
        let given = |text: &str| {
            Some(text.trim())
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        if let Some(text) = given(&self.status) {
            match OrderStatus::parse(&text) {
                Some(status) => filter.status = Some(status),
                None => problems.push(format!("неизвестный статус «{text}»")),
            }
        }
        if let Some(text) = given(&self.merchant) {
            match MerchantKey::parse(&text) {
                Ok(key) => filter.merchant = Some(key),
                Err(_) => problems.push(format!("неверный мерчант «{text}»")),
            }
        }
        if let Some(text) = given(&self.device) {
            match DeviceUuid::parse(&text) {
                Ok(device) => filter.device = Some(device),
                Err(_) => problems.push(format!("неверный автомат «{text}»")),
            }
        }
        if let Some(text) = given(&self.provider) {
            match views::provider_of(&text) {
                Some(provider) => filter.provider = Some(provider),
                None => problems.push(format!("неизвестный провайдер «{text}»")),
            }
        }
        if let Some(text) = given(&self.from) {
            match day(&text).and_then(views::msk_midnight) {
                Some(at) => filter.created_from = Some(at),
                None => problems.push(format!("неверная дата «{text}»")),
            }
        }
        if let Some(text) = given(&self.to) {
            match day(&text)
                .and_then(|d| d.checked_add_days(Days::new(1)))
                .and_then(views::msk_midnight)
            {
                Some(at) => filter.created_before = Some(at),
                None => problems.push(format!("неверная дата «{text}»")),
            }
        }
        filter.needs_operator = self.attention == "1";
        filter.search = given(&self.q);
        if let Some(own) = caller.role.merchant() {
            filter.merchant = Some(own.clone());
        }
        (filter, problems)
    }

    pub fn cursor(&self) -> Option<OrderCursor> {
        decode_cursor(&self.after)
    }

    /// The query string of this filter (without `after`), for links and the export.
    pub fn to_query_string(&self) -> String {
        let pairs = [
            ("status", &self.status),
            ("merchant", &self.merchant),
            ("device", &self.device),
            ("provider", &self.provider),
            ("from", &self.from),
            ("to", &self.to),
            ("attention", &self.attention),
            ("q", &self.q),
        ];
        pairs
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(key, value)| format!("{key}={}", crate::urls::encode_query_value(value.trim())))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

#[derive(Serialize)]
struct OrdersPage {
    caller: CallerView,
    query: OrdersQuery,
    problems: Vec<String>,
    rows: Vec<OrderRowView>,
    next: Option<String>,
    first: String,
    export: String,
    statuses: Vec<Choice>,
    merchants: Vec<String>,
    devices: Vec<String>,
    providers: Vec<&'static str>,
}

/// Devices (and their merchants) the caller may see, for the filter's choices.
async fn visible_fleet(state: &AppState, caller: &Caller) -> (Vec<String>, Vec<String>) {
    let devices = state.catalog.devices().await.unwrap_or_default();
    let devices: Vec<_> = devices
        .into_iter()
        .filter(|d| caller.role.may_see(&d.merchant))
        .collect();
    let mut merchants: Vec<String> = devices.iter().map(|d| d.merchant.to_string()).collect();
    merchants.sort();
    merchants.dedup();
    (
        merchants,
        devices.iter().map(|d| d.device_uuid.to_string()).collect(),
    )
}

/// `GET /admin/orders`.
pub async fn list(
    Operator(caller): Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, Rejection> {
    let query = query.into_inner();
    let (filter, problems) = query.filter_for(&caller);
    let mut items = console
        .queries
        .orders(&filter, query.cursor(), PAGE_SIZE + 1)
        .await
        .map_err(|error| {
            tracing::error!(%error, "console order list failed");
            Rejection::Unavailable
        })?;
    let next = if items.len() > PAGE_SIZE {
        items.truncate(PAGE_SIZE);
        items.last().map(|last| {
            let cursor = encode_cursor(&OrderCursor {
                created_at: last.order.created_at,
                id: last.order.id,
            });
            match query.to_query_string().as_str() {
                "" => format!("/admin/orders?after={cursor}"),
                filters => format!("/admin/orders?{filters}&after={cursor}"),
            }
        })
    } else {
        None
    };
    let (merchants, devices) = visible_fleet(&state, &caller).await;
    let (first, export) = match query.to_query_string().as_str() {
        "" => ("/admin/orders".to_owned(), "/admin/orders.csv".to_owned()),
        filters => (
            format!("/admin/orders?{filters}"),
            format!("/admin/orders.csv?{filters}"),
        ),
    };
    Ok(page(
        &state,
        "admin/orders.html",
        &OrdersPage {
            caller: CallerView::of(&caller),
            rows: items.iter().map(|i| OrderRowView::of(&caller, i)).collect(),
            query,
            problems,
            next,
            first,
            export,
            statuses: OrderStatus::ALL
                .into_iter()
                .map(|s| Choice {
                    value: s.as_str().to_owned(),
                    label: views::status_label(s).to_owned(),
                })
                .collect(),
            merchants: if caller.role.is_admin() {
                merchants
            } else {
                Vec::new()
            },
            devices,
            providers: vec!["sandbox", "yookassa", "tbank", "custom"],
        },
    ))
}

const CSV_HEADER: &str = "created_at,order_id,machine_order_id,merchant,device,drink,size,price,status,payment_state,provider,provider_payment_id,failure_reason,attention,receipt_contact\r\n";

/// `GET /admin/orders.csv`: every order of the filter (at most [`CSV_LIMIT`]), for accounting.
/// Prices in rubles with a dot (`150.00`), times in UTC (RFC 3339).
pub async fn export(
    Operator(caller): Operator,
    console: web::Data<Console>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, Rejection> {
    let (filter, _) = query.filter_for(&caller);
    let mut body = String::from(CSV_HEADER);
    let mut after = None;
    let mut written = 0;
    while written < CSV_LIMIT {
        let items = console
            .queries
            .orders(&filter, after, 1000)
            .await
            .map_err(|error| {
                tracing::error!(%error, "console CSV export failed");
                Rejection::Unavailable
            })?;
        let Some(last) = items.last() else { break };
        after = Some(OrderCursor {
            created_at: last.order.created_at,
            id: last.order.id,
        });
        for item in &items {
            let row = OrderRowView::of(&caller, item);
            let price = item.order.price.to_decimal_string();
            let fields = [
                row.created_at.as_str(),
                &row.id,
                &row.machine_order_id,
                &row.merchant,
                &row.device,
                &row.drink,
                item.order.size.as_str(),
                &price,
                row.status,
                row.payment_state,
                row.provider,
                &row.provider_payment_id,
                row.failure_reason,
                row.attention,
                &row.contact,
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            body.push_str(&line.join(","));
            body.push_str("\r\n");
        }
        written += items.len();
        if items.len() < 1000 {
            break;
        }
    }
    console
        .audit(
            &caller,
            "orders_export",
            None,
            None,
            &query.to_query_string(),
        )
        .await;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"orders.csv\""))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}
