//! `CatalogRepository`: fleets applied atomically and read back in key order.

use super::support::{
    assert_not_found, base_fleet, changes, device_id, drink_no, merchant_key, seed,
};
use super::Stores;
use crate::fixtures::{device, drink, merchant};
use crate::fleet_file::fleet;
use coffee_domain::{CaptureMode, Device, Drink, Fleet, Merchant, ProviderKind};

async fn stored_merchant(stores: &Stores, key: &str) -> Option<Merchant> {
    stores.catalog.merchant(&merchant_key(key)).await.unwrap()
}

async fn stored_drinks(stores: &Stores, device: &str) -> Vec<Drink> {
    stores.catalog.drinks(&device_id(device)).await.unwrap()
}

async fn stored_device(stores: &Stores, id: &str) -> Option<Device> {
    stores.catalog.device(&device_id(id)).await.unwrap()
}

/// Applies `fleet` and checks what it changed.
async fn assert_applied(
    stores: &Stores,
    fleet: &Fleet,
    inserted: usize,
    updated: usize,
    unchanged: usize,
) {
    assert_applied_at(
        stores,
        fleet,
        super::support::t0(),
        (inserted, updated, unchanged),
    )
    .await;
}

/// Applies `fleet` at `now` and checks what it changed: `(inserted, updated, unchanged)`.
async fn assert_applied_at(
    stores: &Stores,
    fleet: &Fleet,
    now: chrono::DateTime<chrono::Utc>,
    (inserted, updated, unchanged): (usize, usize, usize),
) {
    assert_eq!(
        stores.catalog.apply_fleet(fleet, now).await.unwrap(),
        changes(inserted, updated, unchanged)
    );
}

/// Applying a fleet counts inserts, updates and unchanged rows; the same fleet twice changes
/// nothing; what is read back is what was applied.
pub async fn fleet_apply_is_idempotent_and_counts_changes(stores: &Stores) {
    let base = base_fleet();
    assert_applied(stores, &base, 6, 0, 0).await;
    assert_applied(stores, &base, 0, 0, 6).await;

    let mut edited = base.clone();
    edited.merchants[0].name = "Renamed".into();
    edited.merchants[0].capture = CaptureMode::AfterDispense;
    edited.devices[1].provider = ProviderKind::Custom;
    edited.devices[1].redirect_url = Some("https://ext.example/pay".into());
    edited.devices[1].test = true;
    edited.drinks[0].prices.big = None;
    edited.drinks.push(drink("dev-b", "7").small(1).build());
    assert_applied(stores, &edited, 1, 3, 3).await;
    assert_applied(stores, &edited, 0, 0, 7).await;

    assert_eq!(
        stored_merchant(stores, "m1").await,
        Some(edited.merchants[0].clone())
    );
    assert_eq!(
        stored_device(stores, "dev-b").await,
        Some(edited.devices[1].clone())
    );
    assert_eq!(
        stores
            .catalog
            .drink(&device_id("dev-a"), &drink_no("1"))
            .await
            .unwrap(),
        Some(edited.drinks[0].clone())
    );

    // Setting an optional value back to nothing is an update too (and the device back to a
    // provider that needs no redirect, which the fleet rules require).
    let mut reverted = edited.clone();
    reverted.devices[1].redirect_url = None;
    reverted.devices[1].provider = ProviderKind::Sandbox;
    assert_applied(stores, &reverted, 0, 1, 6).await;
    assert_eq!(
        stored_device(stores, "dev-b").await.unwrap().redirect_url,
        None
    );

    // A fleet may name merchants and devices stored before.
    let later = fleet()
        .device(device("dev-c", "m1"))
        .drink(drink("dev-a", "3").small(100))
        .build();
    assert_applied(stores, &later, 2, 0, 0).await;
    assert_applied(stores, &Fleet::default(), 0, 0, 0).await;
}

/// A device naming an unknown merchant, or a drink an unknown device: `NotFound`, and nothing
/// of that fleet is written.
pub async fn fleet_with_an_unknown_reference_writes_nothing(stores: &Stores) {
    let new_merchant = fleet()
        .merchant(merchant("m-new"))
        .device(device("dev-new", "m-new"));
    let orphan_device = new_merchant.clone().device(device("dev-orphan", "ghost"));
    assert_not_found(
        stores
            .catalog
            .apply_fleet(&orphan_device.build(), super::support::t0())
            .await,
    );

    let orphan_drink = new_merchant
        .drink(drink("dev-new", "1").small(100))
        .drink(drink("ghost-device", "1").small(100));
    assert_not_found(
        stores
            .catalog
            .apply_fleet(&orphan_drink.build(), super::support::t0())
            .await,
    );

    assert_eq!(stored_merchant(stores, "m-new").await, None);
    assert_eq!(stored_device(stores, "dev-new").await, None);
    assert!(stores.catalog.devices().await.unwrap().is_empty());
    assert!(stored_drinks(stores, "dev-new").await.is_empty());

    // Stored data is not touched either.
    seed(stores).await;
    let mut edit_then_fail = base_fleet();
    edit_then_fail.merchants[0].name = "Should not stick".into();
    edit_then_fail
        .drinks
        .push(drink("ghost-device", "9").small(100).build());
    assert_not_found(
        stores
            .catalog
            .apply_fleet(&edit_then_fail, super::support::t0())
            .await,
    );
    assert_eq!(
        stored_merchant(stores, "m1").await.unwrap(),
        base_fleet().merchants[0]
    );
}

/// Devices list by id and drinks by number, in byte order (`Z` before `a`); unknown keys read
/// as `None`.
pub async fn catalog_lists_in_key_order(stores: &Stores) {
    let keys = fleet()
        .merchant(merchant("m1"))
        .device(device("dev-a", "m1"))
        .device(device("Dev-Z", "m1"))
        .device(device("dev-B", "m1"))
        .drink(drink("dev-a", "b").small(1))
        .drink(drink("dev-a", "A").small(2))
        .drink(drink("dev-a", "10").small(3))
        .drink(drink("dev-a", "9").small(4))
        .drink(drink("Dev-Z", "1").small(5));
    stores
        .catalog
        .apply_fleet(&keys.build(), super::support::t0())
        .await
        .unwrap();
    let ids: Vec<String> = stores
        .catalog
        .devices()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_uuid.to_string())
        .collect();
    assert_eq!(ids, ["Dev-Z", "dev-B", "dev-a"]);
    let numbers: Vec<String> = stored_drinks(stores, "dev-a")
        .await
        .into_iter()
        .map(|d| d.drink_no.to_string())
        .collect();
    assert_eq!(numbers, ["10", "9", "A", "b"]);

    assert_eq!(stored_device(stores, "nobody").await, None);
    assert!(stored_drinks(stores, "nobody").await.is_empty());
    assert_eq!(
        stores
            .catalog
            .drink(&device_id("dev-a"), &drink_no("404"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(stored_merchant(stores, "nobody").await, None);
}

/// A fleet that breaks a fleet rule (a drink without a price) is refused as `Invalid` and
/// nothing of it is written: the stores keep the same rules as the fleet file.
pub async fn a_fleet_breaking_a_rule_writes_nothing(stores: &Stores) {
    let mut fleet = base_fleet();
    fleet.drinks[0].prices = coffee_domain::SizePrices::default();
    let refused = stores
        .catalog
        .apply_fleet(&fleet, super::support::t0())
        .await;
    assert!(
        matches!(refused, Err(coffee_domain::ports::RepositoryError::Invalid(ref m)) if m.contains("no size has a price")),
        "{refused:?}"
    );
    assert!(stores.catalog.devices().await.unwrap().is_empty());
}

/// A device's branding (logo, texts with line breaks, a text per status) and a drink's receipt
/// data are read back as applied; changing only them is an update, and taking them away
/// stores none.
pub async fn branding_and_receipt_data_round_trip(stores: &Stores) {
    use coffee_domain::{DrinkReceipt, OrderStatus};
    let branded = fleet()
        .merchant(merchant("m1"))
        .device(
            device("dev-a", "m1")
                .logo_url("https://cdn.example/logo.png")
                .client_info("Кофейня «Утро»\nhttps://coffee.example")
                .client_error_info("Поддержка: tel:+79001234567")
                .status_text(OrderStatus::Successful, "Приятного аппетита!")
                .status_text(
                    OrderStatus::Failed,
                    "Деньги вернутся, звоните tel:+79001234567",
                ),
        )
        .drink(
            drink("dev-a", "1")
                .small(100)
                .receipt_of(2, "piece", "commodity", "full_payment"),
        )
        .drink(drink("dev-a", "2").small(100).receipt(DrinkReceipt {
            vat_code: Some(11),
            ..DrinkReceipt::default()
        }))
        .build();
    assert_applied(stores, &branded, 4, 0, 0).await;
    assert_eq!(
        stored_device(stores, "dev-a").await,
        Some(branded.devices[0].clone())
    );
    assert_eq!(stored_drinks(stores, "dev-a").await, branded.drinks);

    let mut plain = branded.clone();
    plain.devices[0].branding = coffee_domain::Branding::default();
    plain.drinks[0].receipt = DrinkReceipt::default();
    assert_applied(stores, &plain, 0, 2, 2).await;
    assert_eq!(
        stored_device(stores, "dev-a").await.map(|d| d.branding),
        Some(coffee_domain::Branding::default())
    );
    assert_eq!(stored_drinks(stores, "dev-a").await, plain.drinks);
}

/// A merchant, a device and a drink switched off are read back switched off; switching one
/// off or on is an update, and applying the same again changes nothing.
pub async fn disabled_entities_round_trip(stores: &Stores) {
    let on = fleet()
        .merchant(merchant("m1"))
        .device(device("dev-a", "m1"))
        .drink(drink("dev-a", "1").small(100))
        .build();
    assert_applied(stores, &on, 3, 0, 0).await;
    assert!(!stored_merchant(stores, "m1").await.unwrap().disabled);

    let off = fleet()
        .merchant(merchant("m1").disabled())
        .device(device("dev-a", "m1").disabled())
        .drink(drink("dev-a", "1").small(100).disabled())
        .build();
    assert_applied(stores, &off, 0, 3, 0).await;
    assert_applied(stores, &off, 0, 0, 3).await;
    assert!(stored_merchant(stores, "m1").await.unwrap().disabled);
    assert!(stored_device(stores, "dev-a").await.unwrap().disabled);
    assert!(stored_drinks(stores, "dev-a").await[0].disabled);

    assert_applied(stores, &on, 0, 3, 0).await;
    assert_eq!(
        stored_device(stores, "dev-a").await,
        Some(on.devices[0].clone())
    );
    assert!(!stored_drinks(stores, "dev-a").await[0].disabled);
}

/// Each secret records when it was set: a store stamps it when the secret is new or changes,
/// and keeps the time when the same secret is applied again (or the entity changes
/// otherwise).
pub async fn secrets_record_when_they_were_set(stores: &Stores) {
    use coffee_domain::SealedSecret;
    let day = |n| super::support::t0() + chrono::Duration::days(n);
    let shop = |name: &str, secret: &str, password: &str, key: &str| {
        fleet()
            .merchant(
                merchant("m1")
                    .name(name)
                    .yookassa("shop-1", secret, 1)
                    .tbank("TERMINAL", password),
            )
            .device(device("dev-a", "m1").events_secret(key))
            .build()
    };
    let stamps = |merchant: &Merchant, device: &Device| {
        (
            merchant
                .yookassa
                .as_ref()
                .and_then(|y| y.secret_key.set_at()),
            merchant.tbank.as_ref().and_then(|t| t.password.set_at()),
            device.events_secret.as_ref().and_then(SealedSecret::set_at),
        )
    };
    assert_applied_at(stores, &shop("A", "s1", "p1", "k1"), day(0), (2, 0, 0)).await;
    let merchant = stored_merchant(stores, "m1").await.unwrap();
    let device = stored_device(stores, "dev-a").await.unwrap();
    let first = stamps(&merchant, &device);
    assert_eq!(first, (Some(day(0)), Some(day(0)), Some(day(0))));

    // The same secrets again, alone or with another name: the times stay.
    assert_applied_at(stores, &shop("A", "s1", "p1", "k1"), day(1), (0, 0, 2)).await;
    assert_applied_at(stores, &shop("B", "s1", "p1", "k1"), day(2), (0, 1, 1)).await;
    let merchant = stored_merchant(stores, "m1").await.unwrap();
    let device = stored_device(stores, "dev-a").await.unwrap();
    assert_eq!(merchant.name, "B");
    assert_eq!(stamps(&merchant, &device), first);

    // A new password and a new report key: only theirs move on.
    assert_applied_at(stores, &shop("B", "s1", "p2", "k2"), day(3), (0, 2, 0)).await;
    let merchant = stored_merchant(stores, "m1").await.unwrap();
    let device = stored_device(stores, "dev-a").await.unwrap();
    let second = stamps(&merchant, &device);
    assert_eq!(second, (Some(day(0)), Some(day(3)), Some(day(3))));
    assert_eq!(merchant.tbank.unwrap().password, SealedSecret::new("p2"));
}
