//! New orders written together: scans that arrive while others are being written go to
//! Postgres as one statement and one commit.
//!
//! Why: a scan is one `INSERT`, and under load most of what Postgres spends on it is per
//! statement and per commit (executor start, snapshot, commit record, WAL flush), not per
//! row. So at most three quarters of the pool's connections write new orders at once; a
//! scan that finds one free is written at once and alone — the same statement as ever, no
//! wait added — and scans that come while all are busy queue and go with the next free
//! writer, up to [`BATCH`] in one statement. Every scan still waits for its own commit
//! before it is answered.
//!
//! A writer is a spawned task, so a caller that gives up (its HTTP request dropped) never
//! cancels a statement that carries other callers' orders.

use super::PgStore;
use crate::codes::Code;
use crate::error::StoreError;
use crate::models::OrderRow;
use crate::prepared::Prepared;
use coffee_domain::ports::RepositoryError;
use coffee_domain::HistoryEntry;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Writes of new orders at once, for a pool of `pool_size` connections: three quarters of
/// it, so scans never hold every connection, and enough that batches form only under load.
/// On the benchmark with the pool of 16, 12 writers of at most 8 orders gave 1.6–2.7 times
/// the scans per second of one statement per scan at 64 connections and the same at 16; 2
/// or 4 writers of bigger batches gave less than one statement per scan (each batch waits
/// for its commit's WAL flush alone).
fn writers_for(pool_size: usize) -> usize {
    (pool_size * 3 / 4).max(1)
}

/// New orders in one statement at most.
const BATCH: usize = 8;

/// A new order with its first history lines unless the device already has an order with
/// this machine order id: then nothing is written and no row comes back. The lines keep
/// their order (`seq`).
const INSERT_ORDER_WITH_HISTORY: &str = "\
WITH inserted AS (
    INSERT INTO orders (id, machine_order_id, device_uuid, merchant_key, drink_no, drink_name,
        size, price_kopecks, currency, status, expires_at, failure_reason, receipt_contact_kind,
        receipt_contact_value, dispense_assumed, created_at, updated_at, make_outcome_unknown,
        make_resent, attention)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20)
    ON CONFLICT (device_uuid, machine_order_id) DO NOTHING
    RETURNING *
), lines AS (
    INSERT INTO order_history (order_id, at, source, from_status, to_status, message)
    SELECT inserted.id, line.at, line.source, line.from_status, line.to_status, line.message
    FROM inserted,
        unnest($21::timestamptz[], $22::text[], $23::text[], $24::text[], $25::text[])
            WITH ORDINALITY AS line (at, source, from_status, to_status, message, n)
    ORDER BY line.n
)
SELECT * FROM inserted";

/// [`INSERT_ORDER_WITH_HISTORY`] for several orders: each array holds one column, one
/// element per order (per line for the history's). An order whose device already has its
/// machine order id — in the table or earlier in the same arrays — is left out, with its
/// lines.
const INSERT_ORDERS_WITH_HISTORY: &str = "\
WITH inserted AS (
    INSERT INTO orders (id, machine_order_id, device_uuid, merchant_key, drink_no, drink_name,
        size, price_kopecks, currency, status, expires_at, failure_reason, receipt_contact_kind,
        receipt_contact_value, dispense_assumed, created_at, updated_at, make_outcome_unknown,
        make_resent, attention)
    SELECT id, machine_order_id, device_uuid, merchant_key, drink_no, drink_name, size,
        price_kopecks, currency, status, expires_at, failure_reason, receipt_contact_kind,
        receipt_contact_value, dispense_assumed, created_at, updated_at, make_outcome_unknown,
        make_resent, attention
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::int8[], $9::text[], $10::text[], $11::timestamptz[], $12::text[],
            $13::text[], $14::text[], $15::bool[], $16::timestamptz[], $17::timestamptz[],
            $18::bool[], $19::bool[], $20::text[])
        WITH ORDINALITY AS o (id, machine_order_id, device_uuid, merchant_key, drink_no,
            drink_name, size, price_kopecks, currency, status, expires_at, failure_reason,
            receipt_contact_kind, receipt_contact_value, dispense_assumed, created_at,
            updated_at, make_outcome_unknown, make_resent, attention, n)
    ORDER BY o.n
    ON CONFLICT (device_uuid, machine_order_id) DO NOTHING
    RETURNING *
), lines AS (
    INSERT INTO order_history (order_id, at, source, from_status, to_status, message)
    SELECT inserted.id, line.at, line.source, line.from_status, line.to_status, line.message
    FROM inserted
    JOIN unnest($21::uuid[], $22::timestamptz[], $23::text[], $24::text[], $25::text[],
            $26::text[])
        WITH ORDINALITY AS line (order_id, at, source, from_status, to_status, message, n)
        ON line.order_id = inserted.id
    ORDER BY line.n
)
SELECT * FROM inserted";

/// A new order waiting to be written, and where its outcome goes: the stored row when it
/// was inserted, `None` when its device already had the machine order id.
struct Pending {
    row: OrderRow,
    history: Vec<HistoryEntry>,
    reply: oneshot::Sender<Result<Option<OrderRow>, RepositoryError>>,
}

/// The queue of new orders and how many writers are draining it.
pub(super) struct NewOrders {
    state: Mutex<Queue>,
    /// Writers at most (see [`writers_for`]).
    most_writers: usize,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Pending>,
    writers: usize,
}

impl NewOrders {
    pub(super) fn for_pool(pool_size: usize) -> Self {
        Self {
            state: Mutex::default(),
            most_writers: writers_for(pool_size),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A writer never panics holding the lock; a poisoned queue is still a sound queue.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One writer's slot. Given back under the queue's lock when the writer finds the queue
/// empty, so an order queued meanwhile either is taken by it or starts a writer of its own;
/// given back on drop should the writer's task be cancelled (the runtime shutting down).
struct Slot {
    store: PgStore,
    given_back: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.given_back {
            let mut queue = self.store.new_orders.lock();
            queue.writers = queue.writers.saturating_sub(1);
        }
    }
}

impl PgStore {
    /// Writes `row` with its first lines, together with whatever other new orders are
    /// waiting; `Ok(None)` when the device already has an order with its machine order id.
    pub(super) async fn insert_new_order(
        &self,
        row: OrderRow,
        history: Vec<HistoryEntry>,
    ) -> Result<Option<OrderRow>, RepositoryError> {
        let (reply, outcome) = oneshot::channel();
        let start_writer = {
            let mut queue = self.new_orders.lock();
            queue.waiting.push_back(Pending {
                row,
                history,
                reply,
            });
            let free = queue.writers < self.new_orders.most_writers;
            if free {
                queue.writers += 1;
            }
            free
        };
        if start_writer {
            tokio::spawn(write_waiting(Slot {
                store: self.clone(),
                given_back: false,
            }));
        }
        // A writer answers every order it takes, within its own operation timeout; this bound
        // is for an order that waited in the queue behind others.
        match tokio::time::timeout(self.operation_timeout * 2, outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(RepositoryError::Unavailable(
                "the write of new orders was stopped".into(),
            )),
            Err(_) => Err(self.timed_out()),
        }
    }
}

/// Writes what waits, a batch at a time, until nothing does.
async fn write_waiting(mut slot: Slot) {
    let store = slot.store.clone();
    loop {
        let batch: Vec<Pending> = {
            let mut queue = store.new_orders.lock();
            if queue.waiting.is_empty() {
                queue.writers = queue.writers.saturating_sub(1);
                slot.given_back = true;
                return;
            }
            let take = queue.waiting.len().min(BATCH);
            queue.waiting.drain(..take).collect()
        };
        write(&store, batch).await;
    }
}

/// Writes one batch and answers each of its orders.
async fn write(store: &PgStore, mut batch: Vec<Pending>) {
    if batch.len() == 1 {
        if let Some(one) = batch.pop() {
            write_alone(store, one).await;
        }
        return;
    }
    let outcome = store
        .run(async |conn| match insert_many(conn, &batch).await {
            Ok(rows) => Ok(Some(rows)),
            // One order broke a rule of the table: each is written on its own below, so
            // only that one fails, with its own error.
            Err(StoreError::Db(DieselError::DatabaseError(kind, _)))
                if !matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
                ) =>
            {
                Ok(None)
            }
            Err(other) => Err(other),
        })
        .await;
    match outcome {
        Ok(Some(rows)) => {
            let mut inserted: HashMap<Uuid, OrderRow> =
                rows.into_iter().map(|row| (row.id, row)).collect();
            for one in batch {
                let _ = one.reply.send(Ok(inserted.remove(&one.row.id)));
            }
        }
        Ok(None) => {
            for one in batch {
                write_alone(store, one).await;
            }
        }
        Err(error) => {
            // The database could not be reached: every order of the batch gets that answer.
            let message = error.to_string();
            let mut batch = batch.into_iter();
            if let Some(first) = batch.next() {
                let _ = first.reply.send(Err(error));
            }
            for one in batch {
                let _ = one
                    .reply
                    .send(Err(RepositoryError::Unavailable(message.clone().into())));
            }
        }
    }
}

/// Writes one order in a statement of its own and answers it.
async fn write_alone(store: &PgStore, one: Pending) {
    let outcome = store
        .run(async |conn| insert_one(conn, &one.row, &one.history).await)
        .await;
    let _ = one.reply.send(outcome);
}

/// One new order with its lines: one statement, one round trip, one commit.
async fn insert_one(
    conn: &mut AsyncPgConnection,
    row: &OrderRow,
    history: &[HistoryEntry],
) -> Result<Option<OrderRow>, StoreError> {
    use diesel::OptionalExtension;
    let inserted = Prepared(
        diesel::sql_query(INSERT_ORDER_WITH_HISTORY)
            .bind::<SqlUuid, _>(row.id)
            .bind::<Text, _>(&row.machine_order_id)
            .bind::<Text, _>(&row.device_uuid)
            .bind::<Text, _>(&row.merchant_key)
            .bind::<Text, _>(&row.drink_no)
            .bind::<Text, _>(&row.drink_name)
            .bind::<Text, _>(&row.size)
            .bind::<BigInt, _>(row.price_kopecks)
            .bind::<Text, _>(&row.currency)
            .bind::<Text, _>(&row.status)
            .bind::<Timestamptz, _>(row.expires_at)
            .bind::<Nullable<Text>, _>(&row.failure_reason)
            .bind::<Nullable<Text>, _>(&row.receipt_contact_kind)
            .bind::<Nullable<Text>, _>(&row.receipt_contact_value)
            .bind::<Bool, _>(row.dispense_assumed)
            .bind::<Timestamptz, _>(row.created_at)
            .bind::<Timestamptz, _>(row.updated_at)
            .bind::<Bool, _>(row.make_outcome_unknown)
            .bind::<Bool, _>(row.make_resent)
            .bind::<Nullable<Text>, _>(&row.attention)
            .bind::<Array<Timestamptz>, _>(history.iter().map(|h| h.at).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(history.iter().map(|h| h.source.code()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                history
                    .iter()
                    .map(|h| h.from.map(|s| s.code()))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                history
                    .iter()
                    .map(|h| h.to.map(|s| s.code()))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(
                history
                    .iter()
                    .map(|h| h.message.as_str())
                    .collect::<Vec<_>>(),
            ),
    )
    .get_result(conn)
    .await
    .optional()?;
    Ok(inserted)
}

/// Several new orders with their lines: one statement, one round trip, one commit. The rows
/// inserted come back; an order left out (its machine order id taken) does not.
async fn insert_many(
    conn: &mut AsyncPgConnection,
    batch: &[Pending],
) -> Result<Vec<OrderRow>, StoreError> {
    let rows = || batch.iter().map(|one| &one.row);
    let lines = || {
        batch
            .iter()
            .flat_map(|one| one.history.iter().map(move |line| (one.row.id, line)))
    };
    let inserted = Prepared(
        diesel::sql_query(INSERT_ORDERS_WITH_HISTORY)
            .bind::<Array<SqlUuid>, _>(rows().map(|r| r.id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.machine_order_id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.device_uuid).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.merchant_key).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.drink_no).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.drink_name).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.size).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(rows().map(|r| r.price_kopecks).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.currency).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows().map(|r| &r.status).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(rows().map(|r| r.expires_at).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                rows()
                    .map(|r| r.failure_reason.as_ref())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                rows()
                    .map(|r| r.receipt_contact_kind.as_ref())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                rows()
                    .map(|r| r.receipt_contact_value.as_ref())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Bool>, _>(rows().map(|r| r.dispense_assumed).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(rows().map(|r| r.created_at).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(rows().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind::<Array<Bool>, _>(rows().map(|r| r.make_outcome_unknown).collect::<Vec<_>>())
            .bind::<Array<Bool>, _>(rows().map(|r| r.make_resent).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                rows().map(|r| r.attention.as_ref()).collect::<Vec<_>>(),
            )
            .bind::<Array<SqlUuid>, _>(lines().map(|(id, _)| id).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(lines().map(|(_, h)| h.at).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(lines().map(|(_, h)| h.source.code()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                lines()
                    .map(|(_, h)| h.from.map(|s| s.code()))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                lines()
                    .map(|(_, h)| h.to.map(|s| s.code()))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(lines().map(|(_, h)| h.message.as_str()).collect::<Vec<_>>()),
    )
    .load(conn)
    .await?;
    Ok(inserted)
}
