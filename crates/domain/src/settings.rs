//! Tunables of the use cases, set by the server from its configuration.

use chrono::{Duration, FixedOffset, Offset, Utc};

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ORDER_EXPIRATION_MINUTES`.
    pub order_ttl: Duration,
    /// A device is online when its last heartbeat is at most this old.
    pub device_online_threshold: Duration,
    /// Polling a pending payment: every `poll_fast` during `poll_fast_window`, then `poll_slow`.
    pub poll_fast: Duration,
    pub poll_fast_window: Duration,
    pub poll_slow: Duration,
    /// How long after expiry a still-pending payment is polled (a late success gets refunded).
    pub poll_after_expiry: Duration,
    /// The merchants' calendar: a subscription's last day ends at midnight of this offset
    /// (Moscow, UTC+3, by default).
    pub business_utc_offset: FixedOffset,
    /// How long a claimed job is its worker's before another may take it over (a worker that
    /// died mid-job is replaced after this).
    pub job_lease: Duration,
    /// At most this many payments of one device may wait to be paid at once
    /// (`MAX_PENDING_PAYMENTS_PER_DEVICE`); beyond it «Оплатить» answers 429.
    pub max_pending_payments_per_device: usize,
}

/// Moscow: UTC+3 all year.
const MOSCOW_SECONDS_EAST: i32 = 3 * 3600;

impl Default for Settings {
    fn default() -> Self {
        Self {
            order_ttl: Duration::minutes(15),
            device_online_threshold: Duration::minutes(15),
            poll_fast: Duration::seconds(5),
            poll_fast_window: Duration::minutes(5),
            poll_slow: Duration::seconds(60),
            poll_after_expiry: Duration::hours(1),
            job_lease: Duration::seconds(60),
            max_pending_payments_per_device: 20,
            business_utc_offset: FixedOffset::east_opt(MOSCOW_SECONDS_EAST)
                .unwrap_or_else(|| Utc.fix()),
        }
    }
}
