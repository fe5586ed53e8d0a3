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
