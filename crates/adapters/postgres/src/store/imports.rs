//! The import port: a network moved over from another system, fleet and orders in one
//! transaction.

use super::catalog::apply_fleet_in;
use super::PgStore;
use crate::error::StoreError;
use crate::models::{HistoryRow, NewJobRow, OrderRow, PaymentRow};
use crate::schema::{jobs, order_history, orders, payments};
use async_trait::async_trait;
use coffee_domain::moving_over::{ImportChanges, NetworkImport};
use coffee_domain::ports::{NetworkImportTarget, RepositoryError};
use coffee_domain::Fleet;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[async_trait]
impl NetworkImportTarget for PgStore {
    async fn import_network(
        &self,
        import: &NetworkImport,
        dry_run: bool,
    ) -> Result<ImportChanges, RepositoryError> {
        self.run(async |conn| {
            let written = conn
                .transaction::<_, StoreError, _>(async |conn| {
                    let changes = import_in(conn, import).await?;
                    if dry_run {
                        Err(StoreError::DryRun(changes))
                    } else {
                        Ok(changes)
                    }
                })
                .await;
            match written {
                Err(StoreError::DryRun(changes)) => Ok(changes),
                other => other,
            }
        })
        .await
    }
}

async fn import_in(
    conn: &mut AsyncPgConnection,
    import: &NetworkImport,
) -> Result<ImportChanges, StoreError> {
    // Every rule first, with devices judged against their merchants; then kind by kind, for
    // counts per table (each step checks its references against the rows of the one before).
    let fleet = &import.fleet;
    fleet.check(|_| true, |_| true)?;
    let merchants = Fleet {
        merchants: fleet.merchants.clone(),
        ..Fleet::default()
    };
    let devices = Fleet {
        devices: fleet.devices.clone(),
        ..Fleet::default()
    };
    let drinks = Fleet {
        drinks: fleet.drinks.clone(),
        ..Fleet::default()
    };
    let mut changes = ImportChanges {
        merchants: apply_fleet_in(conn, &merchants, import.planned_at).await?,
        devices: apply_fleet_in(conn, &devices, import.planned_at).await?,
        drinks: apply_fleet_in(conn, &drinks, import.planned_at).await?,
        ..ImportChanges::default()
    };
    for imported in &import.orders {
        // Already here from an earlier run: left alone, whatever it became since.
        let inserted = diesel::insert_into(orders::table)
            .values(OrderRow::from_domain(&imported.order))
            .on_conflict((orders::device_uuid, orders::machine_order_id))
            .do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            changes.orders_already_there += 1;
            continue;
        }
        changes.orders_imported += 1;
        if let Some(payment) = &imported.payment {
            // A provider id already used by another order is a unique violation: `Duplicate`,
            // and the whole import is rolled back.
            diesel::insert_into(payments::table)
                .values(PaymentRow::from_domain(payment))
                .execute(conn)
                .await?;
            changes.payments_imported += 1;
        }
        let history: Vec<HistoryRow> = imported
            .history
            .iter()
            .map(HistoryRow::from_domain)
            .collect();
        diesel::insert_into(order_history::table)
            .values(&history)
            .execute(conn)
            .await?;
        if !imported.jobs.is_empty() {
            let rows = imported
                .jobs
                .iter()
                .map(NewJobRow::from_domain)
                .collect::<Result<Vec<_>, _>>()?;
            changes.jobs_queued += diesel::insert_into(jobs::table)
                .values(&rows)
                .execute(conn)
                .await?;
        }
    }
    Ok(changes)
}
