//! The catalogue port: merchants, devices and drinks, and the all-or-nothing fleet upsert.

use super::MemoryStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{CatalogRepository, RepositoryError};
use coffee_domain::{
    Device, DeviceUuid, Drink, DrinkNo, Fleet, FleetChanges, Merchant, MerchantKey,
};
use std::collections::BTreeMap;

#[async_trait]
impl CatalogRepository for MemoryStore {
    async fn merchant(&self, key: &MerchantKey) -> Result<Option<Merchant>, RepositoryError> {
        Ok(self.lock()?.merchants.get(key).cloned())
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, RepositoryError> {
        Ok(self.lock()?.merchants.values().cloned().collect())
    }

    async fn device(&self, device: &DeviceUuid) -> Result<Option<Device>, RepositoryError> {
        Ok(self.lock()?.devices.get(device).cloned())
    }

    async fn devices(&self) -> Result<Vec<Device>, RepositoryError> {
        Ok(self.lock()?.devices.values().cloned().collect())
    }

    async fn drink(
        &self,
        device: &DeviceUuid,
        drink_no: &DrinkNo,
    ) -> Result<Option<Drink>, RepositoryError> {
        Ok(self
            .lock()?
            .drinks
            .get(&(device.clone(), drink_no.clone()))
            .cloned())
    }

    async fn drinks(&self, device: &DeviceUuid) -> Result<Vec<Drink>, RepositoryError> {
        Ok(self
            .lock()?
            .drinks
            .values()
            .filter(|d| &d.device == device)
            .cloned()
            .collect())
    }

    async fn apply_fleet(
        &self,
        fleet: &Fleet,
        now: DateTime<Utc>,
    ) -> Result<FleetChanges, RepositoryError> {
        let mut state = self.lock()?;
        fleet.check(
            |merchant| state.merchants.contains_key(merchant),
            |device| state.devices.contains_key(device),
        )?;
        let mut changes = FleetChanges::default();
        // Each secret keeps the time it was set unless it changes now.
        for merchant in &fleet.merchants {
            let key = merchant.key.clone();
            let merchant = merchant.clone().stamped(state.merchants.get(&key), now);
            upsert(&mut state.merchants, key, &merchant, &mut changes);
        }
        for device in &fleet.devices {
            let key = device.device_uuid.clone();
            let device = device.clone().stamped(state.devices.get(&key), now);
            upsert(&mut state.devices, key, &device, &mut changes);
        }
        for drink in &fleet.drinks {
            let key = (drink.device.clone(), drink.drink_no.clone());
            upsert(&mut state.drinks, key, drink, &mut changes);
        }
        Ok(changes)
    }
}

/// Stores `value` under `key` and counts whether that inserted, updated or changed nothing.
fn upsert<K: Ord, V: PartialEq + Clone>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: &V,
    changes: &mut FleetChanges,
) {
    match map.insert(key, value.clone()) {
        Some(previous) if previous == *value => changes.unchanged += 1,
        Some(_) => changes.updated += 1,
        None => changes.inserted += 1,
    }
}
