//! The console's ports: users and their roles, sessions ending with the user's password or
//! account, API tokens, login attempts counted for throttling, and the audit log.

use super::support::{at, seed};
use super::Stores;
use coffee_domain::ports::{AuditQuery, RepositoryError};
use coffee_domain::{
    ApiToken, AuditEntry, DeviceUuid, LoginAttempt, LoginFailures, MerchantKey, OrderId, Role,
    Session, User, UserName,
};
use uuid::Uuid;

fn name(text: &str) -> UserName {
    UserName::parse(text).unwrap()
}

fn user(text: &str, role: Role) -> User {
    User {
        name: name(text),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        disabled: false,
        created_at: at(0),
    }
}

fn merchant_role(key: &str) -> Role {
    Role::Merchant(MerchantKey::parse(key).unwrap())
}

fn session(token_hash: &str, user: &str) -> Session {
    Session {
        token_hash: token_hash.into(),
        user: name(user),
        created_at: at(0),
        last_seen_at: at(0),
        ip: Some("192.0.2.1".into()),
    }
}

fn attempt(name: &str, ip: &str, seconds: i64, succeeded: bool) -> LoginAttempt {
    LoginAttempt {
        at: at(seconds),
        name: name.into(),
        ip: Some(ip.into()),
        succeeded,
    }
}

pub async fn users_are_stored_with_their_role_and_names_are_unique(stores: &Stores) {
    seed(stores).await;
    let accounts = &stores.accounts;
    accounts.add_user(user("anna", Role::Admin)).await.unwrap();
    accounts
        .add_user(user("boris", merchant_role("m1")))
        .await
        .unwrap();
    assert!(matches!(
        accounts.add_user(user("anna", Role::Admin)).await,
        Err(RepositoryError::Duplicate(_))
    ));
    assert!(matches!(
        accounts.add_user(user("vera", merchant_role("nope"))).await,
        Err(RepositoryError::NotFound(_))
    ));
    assert_eq!(
        accounts.user(&name("boris")).await.unwrap(),
        Some(user("boris", merchant_role("m1")))
    );
    assert_eq!(accounts.user(&name("vera")).await.unwrap(), None);
    let names: Vec<String> = accounts
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["anna", "boris"]);
}

pub async fn sessions_live_until_ended_and_end_with_a_new_password_or_a_disabled_user(
    stores: &Stores,
) {
    seed(stores).await;
    let accounts = &stores.accounts;
    accounts.add_user(user("anna", Role::Admin)).await.unwrap();
    accounts.add_user(user("boris", Role::Admin)).await.unwrap();
    assert!(matches!(
        accounts.create_session(session("s0", "nobody")).await,
        Err(RepositoryError::NotFound(_))
    ));
    for (token, who) in [
        ("s1", "anna"),
        ("s2", "anna"),
        ("s3", "boris"),
        ("s4", "boris"),
    ] {
        accounts.create_session(session(token, who)).await.unwrap();
    }
    assert!(matches!(
        accounts.create_session(session("s1", "boris")).await,
        Err(RepositoryError::Duplicate(_))
    ));
    accounts.touch_session("s1", at(60)).await.unwrap();
    assert_eq!(
        accounts
            .session("s1")
            .await
            .unwrap()
            .map(|s| s.last_seen_at),
        Some(at(60))
    );
    accounts.touch_session("unknown", at(60)).await.unwrap();

    accounts.end_session("s2").await.unwrap();
    accounts.end_session("s2").await.unwrap();
    assert_eq!(accounts.session("s2").await.unwrap(), None);

    accounts
        .set_password(&name("anna"), "new-hash")
        .await
        .unwrap();
    assert_eq!(accounts.session("s1").await.unwrap(), None);
    assert_eq!(
        accounts
            .user(&name("anna"))
            .await
            .unwrap()
            .map(|u| u.password_hash),
        Some("new-hash".to_owned())
    );
    assert!(accounts.session("s3").await.unwrap().is_some());

    accounts.disable_user(&name("boris")).await.unwrap();
    assert_eq!(accounts.session("s3").await.unwrap(), None);
    assert_eq!(accounts.session("s4").await.unwrap(), None);
    assert_eq!(
        accounts
            .user(&name("boris"))
            .await
            .unwrap()
            .map(|u| u.disabled),
        Some(true)
    );
    assert!(matches!(
        accounts.disable_user(&name("nobody")).await,
        Err(RepositoryError::NotFound(_))
    ));
    assert!(matches!(
        accounts.set_password(&name("nobody"), "x").await,
        Err(RepositoryError::NotFound(_))
    ));
}

pub async fn api_tokens_are_found_by_digest_and_unique_by_name(stores: &Stores) {
    seed(stores).await;
    let accounts = &stores.accounts;
    let token = ApiToken {
        token_hash: "digest-1".into(),
        name: name("accounting"),
        role: merchant_role("m1"),
        created_at: at(0),
        disabled: false,
    };
    accounts.add_api_token(token.clone()).await.unwrap();
    assert_eq!(
        accounts.api_token("digest-1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(accounts.api_token("digest-2").await.unwrap(), None);
    let same_name = ApiToken {
        token_hash: "digest-2".into(),
        ..token.clone()
    };
    assert!(matches!(
        accounts.add_api_token(same_name).await,
        Err(RepositoryError::Duplicate(_))
    ));
    let unknown_merchant = ApiToken {
        token_hash: "digest-3".into(),
        name: name("other"),
        role: merchant_role("nope"),
        ..token
    };
    assert!(matches!(
        accounts.add_api_token(unknown_merchant).await,
        Err(RepositoryError::NotFound(_))
    ));
}

pub async fn failed_logins_are_counted_by_account_and_by_address_since_a_time(stores: &Stores) {
    let accounts = &stores.accounts;
    for (who, ip, seconds, ok) in [
        ("anna", "192.0.2.1", -600, false),
        ("anna", "192.0.2.1", 10, false),
        ("anna", "192.0.2.2", 20, false),
        ("anna", "192.0.2.2", 30, true),
        ("boris", "192.0.2.1", 40, false),
    ] {
        accounts
            .record_login_attempt(attempt(who, ip, seconds, ok))
            .await
            .unwrap();
    }
    assert_eq!(
        accounts
            .login_failures("anna", Some("192.0.2.1"), at(0))
            .await
            .unwrap(),
        LoginFailures {
            by_account: 2,
            by_ip: 2
        }
    );
    assert_eq!(
        accounts
            .login_failures("anna", None, at(-3600))
            .await
            .unwrap(),
        LoginFailures {
            by_account: 3,
            by_ip: 0
        }
    );
    assert_eq!(
        accounts
            .login_failures("vera", Some("198.51.100.1"), at(0))
            .await
            .unwrap(),
        LoginFailures::default()
    );
}

pub async fn the_audit_log_lists_newest_first_by_order_device_or_actor(stores: &Stores) {
    let order = OrderId::from_uuid(Uuid::new_v4());
    let device = DeviceUuid::parse("dev-a").unwrap();
    let line = |seconds: i64, actor: &str, action: &str| AuditEntry {
        at: at(seconds),
        actor: actor.into(),
        action: action.into(),
        ip: Some("192.0.2.1".into()),
        order_id: None,
        device: None,
        detail: String::new(),
    };
    let audit = &stores.audit;
    audit.append(line(1, "anna", "login")).await.unwrap();
    audit
        .append(AuditEntry {
            order_id: Some(order),
            device: Some(device.clone()),
            detail: "полный возврат <b>".into(),
            ..line(2, "anna", "refund")
        })
        .await
        .unwrap();
    audit.append(line(3, "boris", "login")).await.unwrap();
    let all = audit
        .entries(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["login", "refund", "login"]);
    assert_eq!(all[1].detail, "полный возврат <b>");
    let of_order = audit
        .entries(&AuditQuery {
            order_id: Some(order),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(of_order.len(), 1);
    assert_eq!(of_order[0].device.as_ref(), Some(&device));
    let of_device = audit
        .entries(&AuditQuery {
            device: Some(device),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(of_device, of_order);
    let of_anna = audit
        .entries(&AuditQuery {
            actor: Some("anna".into()),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(of_anna.len(), 1);
    assert_eq!(of_anna[0].action, "refund");
}

/// Orders of `m1` on `dev-a`/`dev-b` (sandbox) and of `m2` on `dev-c` (YooKassa), created a
/// minute apart; returns them oldest first.
async fn listed_orders(stores: &Stores) -> Vec<coffee_domain::Order> {
    use crate::fixtures::{device, drink, merchant};
    use coffee_domain::{Attention, OrderStatus, ProviderKind, ReceiptContact};
    seed(stores).await;
    stores
        .catalog
        .apply_fleet(
            &crate::fleet_file::fleet()
                .merchant(merchant("m2").yookassa("shop-2", "secret", 1))
                .device(device("dev-c", "m2").provider(ProviderKind::Yookassa))
                .drink(drink("dev-c", "1").small(10000))
                .build(),
            super::support::t0(),
        )
        .await
        .unwrap();
    let mut stored = Vec::new();
    for (n, device) in ["dev-a", "dev-b", "dev-c", "dev-a", "dev-a"]
        .iter()
        .enumerate()
    {
        let seconds = i64::try_from(n).unwrap() * 60;
        let mut order = super::support::order(device, &format!("moid-{n}"), at(seconds + 900));
        order.created_at = at(seconds);
        order.updated_at = at(seconds);
        if *device == "dev-c" {
            order.merchant = MerchantKey::parse("m2").unwrap();
            order.receipt_contact = Some(ReceiptContact::email("ivan@example.ru").unwrap());
        }
        if n == 1 {
            order.status = OrderStatus::Failed;
            order.attention = Some(Attention::RefundRefused);
        }
        let (order, _) = stores.orders.insert_or_get(order, vec![]).await.unwrap();
        stored.push(order);
    }
    let mut change = coffee_domain::ports::OrderChange::new(stored[3].id);
    change.status = Some(coffee_domain::ports::StatusChange {
        expected: OrderStatus::Created,
        next: OrderStatus::Pending,
        failure_reason: None,
        clears_failure_reason: false,
        dispense_assumed: false,
    });
    change.new_payment = Some(super::support::payment(&stored[3], "pay-777"));
    stores.orders.apply(change).await.unwrap();
    stored
}

pub async fn the_order_list_filters_and_searches_newest_first(stores: &Stores) {
    use coffee_domain::ports::OrderFilter;
    use coffee_domain::{OrderStatus, ProviderKind};
    let orders = listed_orders(stores).await;
    let ids = |items: Vec<coffee_domain::ports::OrderListItem>| -> Vec<OrderId> {
        items.into_iter().map(|item| item.order.id).collect()
    };
    let list = |filter: OrderFilter| async move {
        stores.queries.orders(&filter, None, 50).await.unwrap()
    };
    let all = list(OrderFilter::default()).await;
    assert_eq!(
        ids(all.clone()),
        [4, 3, 2, 1, 0].map(|n| orders[n].id),
        "newest first"
    );
    assert_eq!(
        all[1]
            .payment
            .as_ref()
            .map(|p| p.provider_payment_id.as_str()),
        Some("pay-777")
    );
    assert!(all[0].payment.is_none());
    let of = |filter: OrderFilter| async move { ids(list(filter).await) };
    let m2 = MerchantKey::parse("m2").unwrap();
    assert_eq!(
        of(OrderFilter {
            merchant: Some(m2),
            ..OrderFilter::default()
        })
        .await,
        [orders[2].id]
    );
    assert_eq!(
        of(OrderFilter {
            status: Some(OrderStatus::Pending),
            ..OrderFilter::default()
        })
        .await,
        [orders[3].id]
    );
    assert_eq!(
        of(OrderFilter {
            device: Some(DeviceUuid::parse("dev-b").unwrap()),
            ..OrderFilter::default()
        })
        .await,
        [orders[1].id]
    );
    assert_eq!(
        of(OrderFilter {
            provider: Some(ProviderKind::Yookassa),
            ..OrderFilter::default()
        })
        .await,
        [orders[2].id]
    );
    assert_eq!(
        of(OrderFilter {
            created_from: Some(at(60)),
            created_before: Some(at(180)),
            ..OrderFilter::default()
        })
        .await,
        [orders[2].id, orders[1].id]
    );
    assert_eq!(
        of(OrderFilter {
            needs_operator: true,
            ..OrderFilter::default()
        })
        .await,
        [orders[1].id]
    );
    for (text, expected) in [
        ("moid-4", orders[4].id),
        ("pay-777", orders[3].id),
        ("ivan@example.ru", orders[2].id),
        (&orders[0].id.to_string(), orders[0].id),
    ] {
        assert_eq!(
            of(OrderFilter {
                search: Some(text.to_owned()),
                ..OrderFilter::default()
            })
            .await,
            [expected],
            "search {text}"
        );
    }
    assert!(of(OrderFilter {
        search: Some("nothing".into()),
        ..OrderFilter::default()
    })
    .await
    .is_empty());
}

pub async fn the_order_list_pages_by_keyset_without_gaps_or_repeats(stores: &Stores) {
    use coffee_domain::ports::{OrderCursor, OrderFilter};
    let orders = listed_orders(stores).await;
    let filter = OrderFilter::default();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = stores.queries.orders(&filter, after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(OrderCursor {
            created_at: last.order.created_at,
            id: last.order.id,
        });
        seen.extend(page.iter().map(|item| item.order.id));
    }
    assert_eq!(seen, [4, 3, 2, 1, 0].map(|n| orders[n].id));
}

pub async fn sales_are_counted_per_merchant_device_and_hour(stores: &Stores) {
    use coffee_domain::ports::{OrderChange, SalesBucket, StatusChange};
    use coffee_domain::{OrderStatus, PaymentState};
    let orders = listed_orders(stores).await;
    for (order, next, money) in [
        (&orders[4], OrderStatus::Successful, PaymentState::Succeeded),
        (&orders[0], OrderStatus::Failed, PaymentState::RefundPending),
    ] {
        let mut change = OrderChange::new(order.id);
        change.status = Some(StatusChange {
            expected: OrderStatus::Created,
            next,
            failure_reason: None,
            clears_failure_reason: false,
            dispense_assumed: false,
        });
        let mut payment = super::support::payment(order, &format!("pay-{}", order.id));
        payment.state = money;
        change.new_payment = Some(payment);
        stores.orders.apply(change).await.unwrap();
    }
    let hour = at(0);
    let bucket = |merchant: &str, device: &str, counts: [u64; 4], revenue: i64| SalesBucket {
        merchant: MerchantKey::parse(merchant).unwrap(),
        device: DeviceUuid::parse(device).unwrap(),
        hour,
        orders: counts[0],
        paid: counts[1],
        revenue_kopecks: revenue,
        refunds: counts[2],
        failures: counts[3],
    };
    let all = stores
        .queries
        .sales(None, at(-3600), at(3600))
        .await
        .unwrap();
    assert_eq!(
        all,
        [
            bucket("m1", "dev-a", [3, 2, 1, 1], 20000),
            bucket("m1", "dev-b", [1, 0, 0, 1], 0),
            bucket("m2", "dev-c", [1, 0, 0, 0], 0),
        ]
    );
    let m2 = MerchantKey::parse("m2").unwrap();
    assert_eq!(
        stores
            .queries
            .sales(Some(&m2), at(-3600), at(3600))
            .await
            .unwrap(),
        [bucket("m2", "dev-c", [1, 0, 0, 0], 0)]
    );
    assert!(stores
        .queries
        .sales(None, at(3600), at(7200))
        .await
        .unwrap()
        .is_empty());
}

/// Every merchant, with or without devices, by key (what `fleet export` writes).
pub async fn merchants_are_listed_by_key(stores: &Stores) {
    use crate::fixtures::merchant;
    stores
        .catalog
        .apply_fleet(
            &crate::fleet_file::fleet()
                .merchant(merchant("zeta"))
                .merchant(merchant("Alpha"))
                .merchant(merchant("beta"))
                .build(),
            super::support::t0(),
        )
        .await
        .unwrap();
    let keys: Vec<String> = stores
        .catalog
        .merchants()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(keys, ["Alpha", "beta", "zeta"]);
}
