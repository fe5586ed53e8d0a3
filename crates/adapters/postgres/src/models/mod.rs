//! Rows as stored, and their exact conversion to and from the domain's types: one module per
//! port, like `store/`; the conversions every row needs are here.

mod catalog;
mod console;
mod jobs;
mod orders;
mod payments;

pub(crate) use catalog::{DeviceRow, DrinkRow, MerchantRow};
pub(crate) use console::{
    ApiTokenRow, AuditRow, NewAuditRow, NewLoginAttemptRow, SessionRow, UserRow,
};
pub(crate) use jobs::{ClaimedJobRow, JobSummaryRow, NewJobRow};
pub(crate) use orders::{contact_columns, HistoryRow, OrderPatch, OrderRow};
pub(crate) use payments::PaymentRow;

use crate::error::StoreError;
use coffee_domain::{Currency, IdError, Money};

fn id<T>(parsed: Result<T, IdError>) -> Result<T, StoreError> {
    parsed.map_err(|e| StoreError::corrupt(format!("stored identifier refused: {e}")))
}

fn money(kopecks: i64, currency: &str) -> Result<Money, StoreError> {
    Currency::parse(currency)
        .and_then(|currency| Money::new(kopecks, currency))
        .map_err(|e| StoreError::corrupt(format!("stored amount refused: {e}")))
}

fn to_i64<T: TryInto<i64> + Copy + std::fmt::Display>(
    value: T,
    what: &str,
) -> Result<i64, StoreError> {
    value
        .try_into()
        .map_err(|_| StoreError::corrupt(format!("{what} {value} does not fit the schema")))
}

fn from_i64<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::corrupt(format!("stored {what} {value} is out of range")))
}
