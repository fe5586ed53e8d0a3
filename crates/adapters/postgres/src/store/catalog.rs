//! The catalogue port: merchants, devices and drinks, and the all-or-nothing fleet upsert.

use super::PgStore;
use crate::error::StoreError;
use crate::models::{DeviceRow, DrinkRow, MerchantRow};
use crate::schema::{devices, drinks, merchants};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{CatalogRepository, RepositoryError};
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, Merchant, MerchantKey,
};
use diesel::dsl::now as db_now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Serialises concurrent fleet applies (a transaction-level advisory lock).
const FLEET_LOCK: i64 = 0x00C0_FFEE_0002;

/// Upsert outcome of one fleet item.
enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

impl Upsert {
    fn count(self, changes: &mut FleetChanges) {
        match self {
            Upsert::Inserted => changes.inserted += 1,
            Upsert::Updated => changes.updated += 1,
            Upsert::Unchanged => changes.unchanged += 1,
        }
    }
}

/// One upsert per fleet item kind: lock the stored row, compare it with the declared item,
/// then update (stamping `updated_at`) or insert — or leave it alone when it is unchanged.
/// `stamp` gives the item as stored in place of the stored one (when its secrets were set).
macro_rules! upsert {
    ($name:ident, $item:ident: $domain:ty, $table:ident, $row:ty, key = $key:expr, stamp = $stamp:expr, row = $make_row:expr) => {
        async fn $name(
            conn: &mut AsyncPgConnection,
            $item: &$domain,
            now: DateTime<Utc>,
        ) -> Result<Upsert, StoreError> {
            let key = $key;
            let stored = $table::table
                .find(key)
                .select(<$row>::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let stored = stored.map(|stored| stored.into_domain()).transpose()?;
            let stamp: fn(&$domain, Option<&$domain>, DateTime<Utc>) -> $domain = $stamp;
            let stamped = stamp($item, stored.as_ref(), now);
            let make_row: fn(&$domain) -> Result<$row, StoreError> = $make_row;
            let row = make_row(&stamped)?;
            match stored {
                Some(stored) if stored == *$item => Ok(Upsert::Unchanged),
                Some(_) => {
                    diesel::update($table::table.find(key))
                        .set((&row, $table::updated_at.eq(db_now)))
                        .execute(conn)
                        .await?;
                    Ok(Upsert::Updated)
                }
                None => {
                    diesel::insert_into($table::table)
                        .values(&row)
                        .execute(conn)
                        .await?;
                    Ok(Upsert::Inserted)
                }
            }
        }
    };
}

upsert!(upsert_merchant, merchant: Merchant, merchants, MerchantRow,
    key = merchant.key.as_str(),
    stamp = |m, stored, now| m.clone().stamped(stored, now),
    row = |m| Ok(MerchantRow::from_domain(m)));
upsert!(upsert_device, device: Device, devices, DeviceRow,
    key = device.device_uuid.as_str(),
    stamp = |d, stored, now| d.clone().stamped(stored, now),
    row = DeviceRow::from_domain);
upsert!(upsert_drink, drink: Drink, drinks, DrinkRow,
    key = (drink.device.as_str(), drink.drink_no.as_str()),
    stamp = |d, _, _| d.clone(),
    row = |d| Ok(DrinkRow::from_domain(d)));

#[async_trait]
impl CatalogRepository for PgStore {
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError> {
        find_one!(self, merchants::table.find(key.as_str()), MerchantRow)
    }

    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError> {
        find_one!(self, devices::table.find(device.as_str()), DeviceRow)
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, RepositoryError> {
        find_all!(self, merchants::table.order(merchants::key), MerchantRow)
    }

    async fn devices(&self) -> Result<Vec<Device>, RepositoryError> {
        find_all!(self, devices::table.order(devices::device_uuid), DeviceRow)
    }

    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError> {
        find_one!(
            self,
            drinks::table.find((device.as_str(), drink_no.as_str())),
            DrinkRow
        )
    }

    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError> {
        find_all!(
            self,
            drinks::table
                .filter(drinks::device_uuid.eq(device.as_str()))
                .order(drinks::drink_no),
            DrinkRow
        )
    }

    async fn apply_fleet(
        &self,
        fleet: &Fleet,
        now: DateTime<Utc>,
    ) -> Result<FleetChanges, RepositoryError> {
        self.run(async |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                apply_fleet_in(conn, fleet, now).await
            })
            .await
        })
        .await
    }
}

/// The fleet upsert inside the caller's transaction (the fleet apply's own, or an import's).
pub(super) async fn apply_fleet_in(
    conn: &mut AsyncPgConnection,
    fleet: &Fleet,
    now: DateTime<Utc>,
) -> Result<FleetChanges, StoreError> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({FLEET_LOCK})"))
        .execute(conn)
        .await?;
    // Check every reference before writing anything: all or nothing.
    let stored_merchants: Vec<String> = merchants::table
        .filter(merchants::key.eq_any(fleet.devices.iter().map(|d| d.merchant.as_str())))
        .select(merchants::key)
        .load(conn)
        .await?;
    let stored_devices: Vec<String> = devices::table
        .filter(devices::device_uuid.eq_any(fleet.drinks.iter().map(|d| d.device.as_str())))
        .select(devices::device_uuid)
        .load(conn)
        .await?;
    fleet.check(
        |merchant| stored_merchants.iter().any(|key| key == merchant.as_str()),
        |device| stored_devices.iter().any(|key| key == device.as_str()),
    )?;
    let mut changes = FleetChanges::default();
    for merchant in &fleet.merchants {
        upsert_merchant(conn, merchant, now)
            .await?
            .count(&mut changes);
    }
    for device in &fleet.devices {
        upsert_device(conn, device, now).await?.count(&mut changes);
    }
    for drink in &fleet.drinks {
        upsert_drink(conn, drink, now).await?.count(&mut changes);
    }
    Ok(changes)
}
