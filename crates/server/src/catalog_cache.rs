//! The catalogue, remembered for a few seconds: every scan, payment, notification and job
//! reads its merchant, device and drink, and these change only when an operator applies a
//! fleet. A fleet applied through this process is seen at once; one applied by another
//! process (`coffee-pay fleet apply`, another replica) within [`CatalogCache`]'s time to live.

use async_trait::async_trait;
use coffee_domain::ports::{CatalogRepository, RepositoryError};
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, Merchant, MerchantKey,
};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Answers remembered until they are `ttl` old; a failed read is never remembered.
struct Remembered<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Remembered<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K, ttl: Duration) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, value)| value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded by the fleet's size, plus unknown keys until they age out.
        if entries.len() > 100_000 {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A [`CatalogRepository`] that remembers merchants, devices and drinks (known or not) for
/// `ttl`. Listings and the fleet apply go to the store; an apply forgets everything.
pub struct CatalogCache {
    inner: Arc<dyn CatalogRepository>,
    ttl: Duration,
    merchants: Remembered<MerchantKey, Option<Merchant>>,
    devices: Remembered<DeviceUuid, Option<Device>>,
    drinks: Remembered<(DeviceUuid, DrinkNo), Option<Drink>>,
}

impl CatalogCache {
    pub fn new(inner: Arc<dyn CatalogRepository>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            merchants: Remembered::new(),
            devices: Remembered::new(),
            drinks: Remembered::new(),
        }
    }
}

#[async_trait]
impl CatalogRepository for CatalogCache {
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError> {
        if let Some(known) = self.merchants.get(key, self.ttl) {
            return Ok(known);
        }
        let merchant = self.inner.merchant(key).await?;
        self.merchants.put(key.clone(), merchant.clone());
        Ok(merchant)
    }

    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError> {
        if let Some(known) = self.devices.get(device, self.ttl) {
            return Ok(known);
        }
        let found = self.inner.device(device).await?;
        self.devices.put(device.clone(), found.clone());
        Ok(found)
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, RepositoryError> {
        self.inner.merchants().await
    }

    async fn devices(&self) -> Result<Vec<Device>, RepositoryError> {
        self.inner.devices().await
    }

    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError> {
        let key = (device.clone(), drink_no.clone());
        if let Some(known) = self.drinks.get(&key, self.ttl) {
            return Ok(known);
        }
        let found = self.inner.drink(device, drink_no).await?;
        self.drinks.put(key, found.clone());
        Ok(found)
    }

    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError> {
        self.inner.drinks(device).await
    }

    async fn apply_fleet(
        &self,
        fleet: &Fleet,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<FleetChanges, RepositoryError> {
        let applied = self.inner.apply_fleet(fleet, now).await;
        self.merchants.clear();
        self.devices.clear();
        self.drinks.clear();
        applied
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use coffee_adapter_memory::MemoryStore;
    use coffee_test_support::fixtures::{device, drink, merchant};
    use coffee_test_support::fleet_file::fleet;

    fn base() -> Fleet {
        fleet()
            .merchant(merchant("m").name("Кофе"))
            .device(device("d", "m").location("Холл"))
            .drink(drink("d", "1").name("Капучино").medium(15000))
            .build()
    }

    #[tokio::test]
    async fn reads_are_remembered_until_they_age_and_an_apply_here_is_seen_at_once() {
        let store = Arc::new(MemoryStore::new());
        store
            .apply_fleet(&base(), chrono::Utc::now())
            .await
            .unwrap();
        let cache = CatalogCache::new(store.clone(), Duration::from_millis(200));
        let id = DeviceUuid::parse("d").unwrap();
        assert_eq!(cache.device(&id).await.unwrap().unwrap().location, "Холл");

        // Changed behind the cache's back (another process): remembered until it ages.
        let mut moved = base();
        moved.devices[0].location = "Вход".into();
        store.apply_fleet(&moved, chrono::Utc::now()).await.unwrap();
        assert_eq!(cache.device(&id).await.unwrap().unwrap().location, "Холл");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.device(&id).await.unwrap().unwrap().location, "Вход");

        // Through the cache: at once, unknown keys included.
        let unknown = DeviceUuid::parse("new").unwrap();
        assert_eq!(cache.device(&unknown).await.unwrap(), None);
        let mut grown = moved.clone();
        let mut added = grown.devices[0].clone();
        added.device_uuid = unknown.clone();
        grown.devices.push(added);
        cache.apply_fleet(&grown, chrono::Utc::now()).await.unwrap();
        assert!(cache.device(&unknown).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_failed_read_is_not_remembered() {
        let store = Arc::new(MemoryStore::new());
        store
            .apply_fleet(&base(), chrono::Utc::now())
            .await
            .unwrap();
        let cache = CatalogCache::new(store.clone(), Duration::from_secs(60));
        let key = MerchantKey::parse("m").unwrap();
        store.set_unavailable(true);
        assert!(cache.merchant(&key).await.is_err());
        store.set_unavailable(false);
        assert!(cache.merchant(&key).await.unwrap().is_some());
    }
}
