//! Reads the original Django system's `payments_*` tables for the importer: one read-only,
//! repeatable-read transaction (a consistent picture, and nothing there can be written),
//! values as stored — money as the decimal text Postgres prints, JSON keys as text — so the
//! domain's rules judge them exactly.

use crate::connection::{config, error_chain, establish, tls_of};
use crate::SetupError;
use chrono::{DateTime, NaiveDate, Utc};
use coffee_domain::moving_over::{
    OriginalCredentials, OriginalDevice, OriginalDrink, OriginalMerchant, OriginalNetwork,
    OriginalOrderRow,
};
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;

/// Why the original's database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OriginalReadError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A query failed: most often the database is not the original's (a table or column is
    /// missing) or it went away.
    #[error("reading the original's {table}: {message}")]
    Query {
        table: &'static str,
        message: String,
    },
}

#[derive(QueryableByName)]
struct MerchantRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    contact_email: String,
    #[diesel(sql_type = Date)]
    valid_until: NaiveDate,
}

#[derive(QueryableByName)]
struct CredentialsRow {
    #[diesel(sql_type = Text)]
    merchant_id: String,
    #[diesel(sql_type = Text)]
    scenario: String,
    #[diesel(sql_type = Nullable<Text>)]
    account_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    secret_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    terminal_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    is_receipt_mandatory: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tax_system_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    vat_code: Option<String>,
}

#[derive(QueryableByName)]
struct DeviceRow {
    #[diesel(sql_type = Text)]
    internal_id: String,
    #[diesel(sql_type = Text)]
    device_uuid: String,
    #[diesel(sql_type = Text)]
    merchant_id: String,
    #[diesel(sql_type = Text)]
    location: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    payment_scenario: String,
    #[diesel(sql_type = Nullable<Text>)]
    redirect_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    logo_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_error_info: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_pending: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_paid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_not_paid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_make_pending: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_successful: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_make_failed: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_info_manual_make: Option<String>,
}

#[derive(QueryableByName)]
struct DrinkRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    vat_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    measure: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    payment_subject: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    payment_mode: Option<String>,
}

#[derive(QueryableByName)]
struct DrinkPriceRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    size: String,
    #[diesel(sql_type = Text)]
    rubles: String,
}

#[derive(QueryableByName)]
struct OrderRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    device_id: String,
    #[diesel(sql_type = Text)]
    drink_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    drink_number: Option<String>,
    #[diesel(sql_type = Integer)]
    size: i32,
    #[diesel(sql_type = Text)]
    price: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    payment_reference_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    payment_started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<BigInt>)]
    tbank_amount: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    tbank_payment_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    receipt_contact: Option<String>,
}

const MERCHANTS: &str = "SELECT id::text AS id, name, contact_email, valid_until
    FROM payments_merchant ORDER BY id";
const CREDENTIALS: &str = "SELECT merchant_id::text AS merchant_id, scenario,
        credentials->>'account_id' AS account_id,
        credentials->>'secret_key' AS secret_key,
        credentials->>'terminal_key' AS terminal_key,
        credentials->>'is_receipt_mandatory' AS is_receipt_mandatory,
        credentials->>'tax_system_code' AS tax_system_code,
        credentials->>'vat_code' AS vat_code
    FROM payments_merchantcredentials ORDER BY merchant_id, scenario";
const DEVICES: &str =
    "SELECT uuid::text AS internal_id, device_uuid, merchant_id::text AS merchant_id,
        location, status, payment_scenario, redirect_url, logo_url, client_info,
        client_error_info, client_info_pending, client_info_paid, client_info_not_paid,
        client_info_make_pending, client_info_successful, client_info_make_failed,
        client_info_manual_make
    FROM payments_device ORDER BY device_uuid";
const DRINKS: &str = "SELECT id, name,
        CASE WHEN jsonb_typeof(meta) = 'object' THEN meta->>'vat_code' END AS vat_code,
        CASE WHEN jsonb_typeof(meta) = 'object' THEN meta->>'measure' END AS measure,
        CASE WHEN jsonb_typeof(meta) = 'object' THEN meta->>'payment_subject' END AS payment_subject,
        CASE WHEN jsonb_typeof(meta) = 'object' THEN meta->>'payment_mode' END AS payment_mode
    FROM payments_drink ORDER BY id";
const DRINK_PRICES: &str = "SELECT d.id, p.key AS size, p.value AS rubles
    FROM payments_drink d
    CROSS JOIN LATERAL jsonb_each_text(
        CASE WHEN jsonb_typeof(d.prices) = 'object' THEN d.prices ELSE '{}'::jsonb END) p
    ORDER BY d.id, p.key";
const ORDERS: &str = "SELECT o.id, o.device_id::text AS device_id, o.drink_name, o.drink_number,
        o.size, o.price::text AS price, o.status, o.payment_reference_id, o.expires_at,
        o.payment_started_at, o.created_at, o.updated_at,
        t.amount::bigint AS tbank_amount, t.payment_url AS tbank_payment_url,
        (SELECT r.contact FROM payments_receipt r WHERE r.order_id = o.id
            ORDER BY r.created_at DESC LIMIT 1) AS receipt_contact
    FROM payments_order o LEFT JOIN payments_tbankpayment t ON t.order_id = o.id
    ORDER BY o.created_at, o.id";

/// Reads the whole original network from `database_url` (TLS as its `sslmode` says). Each
/// statement is bounded by `statement_timeout`. Errors: `Setup` (bad URL, unreachable),
/// `Query`.
pub async fn read_original_network(
    database_url: &str,
    statement_timeout: Duration,
) -> Result<OriginalNetwork, OriginalReadError> {
    let config = config(
        database_url,
        Duration::from_secs(5),
        Some(statement_timeout),
    )?;
    let (_, tls) = tls_of(database_url)?;
    let mut conn = establish(&config, tls.as_ref())
        .await
        .map_err(|e| SetupError::Connect(error_chain(&e)))?;
    let conn = &mut conn;
    run(
        conn,
        "transaction",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    let merchants: Vec<MerchantRow> = load(conn, "payments_merchant", MERCHANTS).await?;
    let credentials: Vec<CredentialsRow> =
        load(conn, "payments_merchantcredentials", CREDENTIALS).await?;
    let devices: Vec<DeviceRow> = load(conn, "payments_device", DEVICES).await?;
    let drinks: Vec<DrinkRow> = load(conn, "payments_drink", DRINKS).await?;
    let prices: Vec<DrinkPriceRow> = load(conn, "payments_drink", DRINK_PRICES).await?;
    let orders: Vec<OrderRow> = load(conn, "payments_order", ORDERS).await?;
    run(conn, "transaction", "COMMIT").await?;
    Ok(OriginalNetwork {
        merchants: merchants
            .into_iter()
            .map(|m| OriginalMerchant {
                id: m.id,
                name: m.name,
                contact_email: m.contact_email,
                valid_until: m.valid_until,
            })
            .collect(),
        credentials: credentials
            .into_iter()
            .map(|c| OriginalCredentials {
                merchant_id: c.merchant_id,
                scenario: c.scenario,
                account_id: c.account_id,
                secret_key: c.secret_key,
                terminal_key: c.terminal_key,
                is_receipt_mandatory: c.is_receipt_mandatory,
                tax_system_code: c.tax_system_code,
                vat_code: c.vat_code,
            })
            .collect(),
        devices: devices
            .into_iter()
            .map(|d| OriginalDevice {
                internal_id: d.internal_id,
                device_uuid: d.device_uuid,
                merchant_id: d.merchant_id,
                location: d.location,
                status: d.status,
                payment_scenario: d.payment_scenario,
                redirect_url: d.redirect_url,
                logo_url: d.logo_url,
                client_info: d.client_info,
                client_error_info: d.client_error_info,
                status_texts: [
                    ("pending", d.client_info_pending),
                    ("paid", d.client_info_paid),
                    ("not_paid", d.client_info_not_paid),
                    ("make_pending", d.client_info_make_pending),
                    ("successful", d.client_info_successful),
                    ("make_failed", d.client_info_make_failed),
                    ("manual_make", d.client_info_manual_make),
                ]
                .into_iter()
                .filter_map(|(status, text)| text.map(|text| (status.to_owned(), text)))
                .collect(),
            })
            .collect(),
        drinks: drinks
            .into_iter()
            .map(|d| OriginalDrink {
                prices: prices
                    .iter()
                    .filter(|p| p.id == d.id)
                    .map(|p| (p.size.clone(), p.rubles.clone()))
                    .collect(),
                id: d.id,
                name: d.name,
                vat_code: d.vat_code,
                measure: d.measure,
                payment_subject: d.payment_subject,
                payment_mode: d.payment_mode,
            })
            .collect(),
        orders: orders
            .into_iter()
            .map(|o| OriginalOrderRow {
                id: o.id,
                device_internal_id: o.device_id,
                drink_name: o.drink_name,
                drink_number: o.drink_number,
                size: o.size,
                price: o.price,
                status: o.status,
                payment_reference_id: o.payment_reference_id,
                expires_at: o.expires_at,
                payment_started_at: o.payment_started_at,
                created_at: o.created_at,
                updated_at: o.updated_at,
                tbank_amount: o.tbank_amount,
                tbank_payment_url: o.tbank_payment_url,
                receipt_contact: o.receipt_contact,
            })
            .collect(),
    })
}

async fn load<T>(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    query: &'static str,
) -> Result<Vec<T>, OriginalReadError>
where
    T: QueryableByName<diesel::pg::Pg> + Send + 'static,
{
    diesel::sql_query(query)
        .load(conn)
        .await
        .map_err(|e| OriginalReadError::Query {
            table,
            message: error_chain(&e),
        })
}

async fn run(
    conn: &mut AsyncPgConnection,
    table: &'static str,
    statement: &'static str,
) -> Result<(), OriginalReadError> {
    diesel::sql_query(statement)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| OriginalReadError::Query {
            table,
            message: error_chain(&e),
        })
}
