//! The repository contract: what every storage adapter must do, checked the same way against
//! each of them (the in-memory store and Postgres).
//!
//! Every check is a `pub async fn(&Stores)` that panics on a violation and starts from an empty
//! store. The checks are grouped by port (`catalog`, `orders`, `payments`, `jobs`) and share
//! their fixtures and helpers (`support`). [`contract_tests!`](crate::contract_tests) expands
//! one `#[tokio::test]` per check:
//!
//! ```ignore
//! async fn fixture() -> Option<(Stores, ())> {
//!     Some((Stores::from_one(Arc::new(MemoryStore::new())), ()))
//! }
//! coffee_test_support::contract_tests!(fixture);
//! ```
//!
//! The fixture returns `None` to skip (Postgres not reachable outside CI); its second value is
//! a guard kept alive for the test (e.g. the throw-away database).
//!
//! Times are whole seconds: Postgres keeps microseconds, the domain's `DateTime` nanoseconds.

mod catalog;
mod console;
mod jobs;
mod orders;
mod payments;
mod support;

pub use catalog::{
    a_fleet_breaking_a_rule_writes_nothing, branding_and_receipt_data_round_trip,
    catalog_lists_in_key_order, disabled_entities_round_trip,
    fleet_apply_is_idempotent_and_counts_changes, fleet_with_an_unknown_reference_writes_nothing,
    secrets_record_when_they_were_set,
};
pub use console::{
    api_tokens_are_found_by_digest_and_unique_by_name,
    failed_logins_are_counted_by_account_and_by_address_since_a_time, merchants_are_listed_by_key,
    sales_are_counted_per_merchant_device_and_hour,
    sessions_live_until_ended_and_end_with_a_new_password_or_a_disabled_user,
    the_audit_log_lists_newest_first_by_order_device_or_actor,
    the_order_list_filters_and_searches_newest_first,
    the_order_list_pages_by_keyset_without_gaps_or_repeats,
    users_are_stored_with_their_role_and_names_are_unique,
};
pub use jobs::{
    a_change_ends_the_job_whose_work_it_records_only_for_the_current_claim,
    a_dead_job_is_revived_once_by_an_operator, a_job_due_later_wakes_no_idle_worker,
    a_poll_storm_does_not_delay_a_make_command,
    a_sent_mark_survives_a_takeover_and_a_retry_clears_it,
    a_stale_claim_cannot_end_a_job_taken_over, an_expired_lease_makes_a_job_claimable_again,
    bury_and_complete_end_a_job, claim_due_respects_run_at_order_and_limit,
    committing_a_job_wakes_an_idle_worker, concurrent_claimers_never_share_a_job,
    leaving_make_pending_ends_the_orders_queued_deadlines,
    retry_counts_attempts_and_records_the_error, retry_without_counting_keeps_attempts,
    seed_with_job, the_backlog_counts_jobs_by_kind_and_state_and_ages_the_oldest_due_one,
    unknown_jobs_are_not_found,
};
pub use orders::{
    apply_keeps_failure_reason_and_dispense_assumed_unless_set,
    apply_payment_conflict_rolls_back_the_status_too, apply_status_conflict_writes_nothing,
    apply_to_an_unknown_order_or_payment_is_not_found,
    apply_writes_status_payment_history_and_jobs_together, concurrent_insert_or_get_inserts_once,
    due_for_expiry_filters_orders_and_limits,
    history_is_oldest_first_and_record_changes_nothing_else,
    insert_or_get_is_idempotent_per_device_and_machine_order_id, ping_answers,
    the_resend_mark_is_set_once_by_compare_and_set,
};
pub use payments::{
    a_new_attempt_follows_a_canceled_payment, a_provider_event_is_applied_once,
    a_redelivery_is_refused_by_the_first_check_that_fails,
    a_reused_provider_payment_id_is_duplicate, a_second_payment_for_an_order_is_duplicate,
    a_settled_payment_ends_its_queued_polls, payment_state_is_compare_and_set,
    refund_ids_and_operator_flags_are_kept,
};
pub use support::{at, base_fleet, entry, order, payment, t0};

use coffee_domain::ports::{
    AccountRepository, AuditLog, CatalogRepository, ConsoleQueries, JobQueue, OrderRepository,
    PaymentRepository,
};
use std::sync::Arc;

/// The ports of one storage adapter.
#[derive(Clone)]
pub struct Stores {
    pub catalog: Arc<dyn CatalogRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub jobs: Arc<dyn JobQueue>,
    pub accounts: Arc<dyn AccountRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub queries: Arc<dyn ConsoleQueries>,
}

impl Stores {
    /// All ports served by one store.
    pub fn from_one<S>(store: Arc<S>) -> Self
    where
        S: CatalogRepository
            + OrderRepository
            + PaymentRepository
            + JobQueue
            + AccountRepository
            + AuditLog
            + ConsoleQueries
            + 'static,
    {
        Self {
            catalog: store.clone(),
            orders: store.clone(),
            payments: store.clone(),
            jobs: store.clone(),
            accounts: store.clone(),
            audit: store.clone(),
            queries: store,
        }
    }
}

/// Expands one `#[tokio::test]` per contract check. The argument names an `async fn` returning
/// `Option<(Stores, Guard)>`; `None` skips the test, the guard lives until the test ends.
#[macro_export]
macro_rules! contract_tests {
    ($fixture:path) => {
        $crate::contract_tests!(@each $fixture;
            fleet_apply_is_idempotent_and_counts_changes,
            fleet_with_an_unknown_reference_writes_nothing,
            a_fleet_breaking_a_rule_writes_nothing,
            branding_and_receipt_data_round_trip,
            catalog_lists_in_key_order,
            disabled_entities_round_trip,
            secrets_record_when_they_were_set,
            insert_or_get_is_idempotent_per_device_and_machine_order_id,
            concurrent_insert_or_get_inserts_once,
            apply_writes_status_payment_history_and_jobs_together,
            apply_keeps_failure_reason_and_dispense_assumed_unless_set,
            apply_status_conflict_writes_nothing,
            the_resend_mark_is_set_once_by_compare_and_set,
            apply_payment_conflict_rolls_back_the_status_too,
            apply_to_an_unknown_order_or_payment_is_not_found,
            a_second_payment_for_an_order_is_duplicate,
            a_reused_provider_payment_id_is_duplicate,
            a_provider_event_is_applied_once,
            a_redelivery_is_refused_by_the_first_check_that_fails,
            payment_state_is_compare_and_set,
            history_is_oldest_first_and_record_changes_nothing_else,
            due_for_expiry_filters_orders_and_limits,
            claim_due_respects_run_at_order_and_limit,
            concurrent_claimers_never_share_a_job,
            an_expired_lease_makes_a_job_claimable_again,
            retry_counts_attempts_and_records_the_error,
            retry_without_counting_keeps_attempts,
            bury_and_complete_end_a_job,
            unknown_jobs_are_not_found,
            a_stale_claim_cannot_end_a_job_taken_over,
            a_change_ends_the_job_whose_work_it_records_only_for_the_current_claim,
            leaving_make_pending_ends_the_orders_queued_deadlines,
            a_poll_storm_does_not_delay_a_make_command,
            a_sent_mark_survives_a_takeover_and_a_retry_clears_it,
            the_backlog_counts_jobs_by_kind_and_state_and_ages_the_oldest_due_one,
            committing_a_job_wakes_an_idle_worker,
            a_job_due_later_wakes_no_idle_worker,
            a_new_attempt_follows_a_canceled_payment,
            a_settled_payment_ends_its_queued_polls,
            refund_ids_and_operator_flags_are_kept,
            ping_answers,
            users_are_stored_with_their_role_and_names_are_unique,
            sessions_live_until_ended_and_end_with_a_new_password_or_a_disabled_user,
            api_tokens_are_found_by_digest_and_unique_by_name,
            failed_logins_are_counted_by_account_and_by_address_since_a_time,
            the_audit_log_lists_newest_first_by_order_device_or_actor,
            the_order_list_filters_and_searches_newest_first,
            the_order_list_pages_by_keyset_without_gaps_or_repeats,
            a_dead_job_is_revived_once_by_an_operator,
            sales_are_counted_per_merchant_device_and_hour,
            merchants_are_listed_by_key,
        );
    };
    (@each $fixture:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((stores, guard)) = $fixture().await else {
                    return;
                };
                $crate::contract::$check(&stores).await;
                drop(stores);
                drop(guard);
            }
        )+
    };
}
