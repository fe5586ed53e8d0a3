//! The repository contract on the in-memory store (the reference the Postgres adapter matches).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use coffee_adapter_memory::MemoryStore;
use coffee_test_support::contract::Stores;
use std::sync::Arc;

async fn fixture() -> Option<(Stores, ())> {
    Some((Stores::from_one(Arc::new(MemoryStore::new())), ()))
}

coffee_test_support::contract_tests!(fixture);

/// An outage of the in-memory store is `Unavailable`, and it heals.
#[tokio::test]
async fn a_switched_off_store_is_unavailable_and_recovers() {
    use coffee_domain::ports::{OrderRepository, RepositoryError};
    let store = MemoryStore::new();
    store.set_unavailable(true);
    assert!(matches!(
        store.ping().await,
        Err(RepositoryError::Unavailable(_))
    ));
    store.set_unavailable(false);
    store.ping().await.unwrap();
}
