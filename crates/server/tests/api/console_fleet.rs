//! The console's fleet forms over HTTP: an admin creates, edits, switches off and on
//! merchants, devices and drinks through the fleet rules; secrets are write-only; merchant
//! accounts and forms without the CSRF token write nothing (`docs/console.md#fleet`).

use crate::console::{add_admin, add_merchant_user, get_page, login, post_form, Signed};
use crate::helpers::{qr, spawn_app, TestApp};
use coffee_domain::ports::{AuditLog, AuditQuery, CatalogRepository};
use coffee_domain::{DeviceUuid, DrinkNo, MerchantKey};

const NEW_MERCHANT: &str = "/admin/fleet/merchants/new";
const NEW_DEVICE: &str = "/admin/fleet/devices/new";

async fn admin_app() -> (TestApp, Signed) {
    let app = spawn_app().await;
    add_admin(&app, "anna").await;
    let signed = login(&app, "anna").await;
    (app, signed)
}

/// Posts `fields` with the session's CSRF token.
async fn submit(
    app: &TestApp,
    signed: &Signed,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", signed.csrf.as_str())];
    form.extend_from_slice(fields);
    post_form(app, &signed.cookie, path, &form).await
}

async fn page_text(app: &TestApp, signed: &Signed, path: &str) -> String {
    let page = get_page(app, &signed.cookie, path).await;
    assert_eq!(page.status().as_u16(), 200, "{path}");
    page.text().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

const MERCHANT: [(&str, &str); 7] = [
    ("key", "roastery"),
    ("name", "Обжарка"),
    ("contact_email", "owner@roastery.example"),
    ("valid_until", "2099-12-31"),
    ("capture", "immediate"),
    ("receipt", "optional"),
    ("yookassa_vat_code", "1"),
];

fn device_form<'a>(id: &'a str, merchant: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("device_uuid", id),
        ("merchant", merchant),
        ("location", "Вокзал"),
        ("provider", "sandbox"),
        ("machine", "simulated"),
        ("test", "1"),
        ("dispense_deadline_seconds", "180"),
        ("on_dispense_deadline", ""),
    ]
}

async fn audit(app: &TestApp) -> Vec<String> {
    let mut lines: Vec<String> = app
        .store
        .entries(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.detail))
        .collect();
    lines.reverse();
    lines
}

fn scan_status(response: &reqwest::Response) -> u16 {
    response.status().as_u16()
}

/// The app's today in Moscow, as the fleet page dates a secret set now.
fn today<C: coffee_domain::ports::Clock>(app: &crate::helpers::TestApp<C>) -> String {
    (app.clock.now() + chrono::Duration::hours(3))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn an_admin_creates_a_merchant_a_device_and_a_drink_through_the_forms_and_a_scan_then_works()
{
    let (app, signed) = admin_app().await;
    let form = page_text(&app, &signed, NEW_MERCHANT).await;
    assert!(form.contains("name=\"csrf\"") && form.contains("type=\"password\""));

    let created = submit(&app, &signed, NEW_MERCHANT, &MERCHANT).await;
    assert_eq!(created.status().as_u16(), 303);
    assert_eq!(location(&created), "/admin/fleet?result=created#m-roastery");

    let device_page = page_text(&app, &signed, NEW_DEVICE).await;
    assert!(device_page.contains("<option value=\"roastery\""));
    let created = submit(
        &app,
        &signed,
        NEW_DEVICE,
        &device_form("dev-new", "roastery"),
    )
    .await;
    assert_eq!(created.status().as_u16(), 303);

    let drink_path = "/admin/fleet/devices/dev-new/drinks/new";
    assert!(page_text(&app, &signed, drink_path)
        .await
        .contains("Цена, маленький"));
    let created = submit(
        &app,
        &signed,
        drink_path,
        &[
            ("drink_no", "5"),
            ("name", "Раф"),
            ("price_small", "150,50"),
            ("price_big", "210"),
        ],
    )
    .await;
    assert_eq!(created.status().as_u16(), 303);

    let drink = app
        .store
        .drink(
            &DeviceUuid::parse("dev-new").unwrap(),
            &DrinkNo::parse("5").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(drink.prices.small.unwrap().kopecks(), 15050);
    assert_eq!(drink.prices.big.unwrap().kopecks(), 21000);
    assert_eq!(drink.prices.medium, None);

    let order = app.scan("dev-new", "5", "0", "mo-fleet-1").await;
    let status = app.status(&order).await;
    assert_eq!(status["status"], "created", "{status}");

    let page = page_text(&app, &signed, "/admin/fleet?result=created").await;
    assert!(page.contains("Добавлено."));
    assert!(page.contains("Обжарка") && page.contains("dev-new") && page.contains("Раф"));
    assert!(page.contains("150,50 ₽"));
    assert_eq!(
        audit(&app).await[1..],
        [
            "anna fleet_merchant_create мерчант roastery".to_owned(),
            "anna fleet_device_create автомат dev-new, мерчант roastery".to_owned(),
            "anna fleet_drink_create напиток 5 автомата dev-new".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_form_breaking_the_rules_comes_back_with_every_rule_and_the_input_and_writes_nothing() {
    let (app, signed) = admin_app().await;
    let mut bad = MERCHANT.to_vec();
    bad[1] = ("name", " ");
    bad[2] = ("contact_email", "not-an-email");
    bad.push(("yookassa_shop_id", "777"));
    bad.push(("yookassa_secret_key", "live_typed_secret"));
    let refused = submit(&app, &signed, NEW_MERCHANT, &bad).await;
    assert_eq!(refused.status().as_u16(), 422);
    let page = refused.text().await.unwrap();
    assert!(page.contains("name is empty"), "{page}");
    assert!(page.contains("contact_email is not a valid email"));
    assert!(page.contains("value=\"not-an-email\"") && page.contains("value=\"777\""));
    assert!(!page.contains("live_typed_secret"));
    assert_eq!(
        app.store
            .merchant(&MerchantKey::parse("roastery").unwrap())
            .await
            .unwrap(),
        None
    );

    // A YooKassa shop needs its key.
    let mut keyless = MERCHANT.to_vec();
    keyless.push(("yookassa_shop_id", "777"));
    let refused = submit(&app, &signed, NEW_MERCHANT, &keyless).await;
    assert_eq!(refused.status().as_u16(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("ЮKassa: введите секретный ключ магазина"));

    // A price with three decimals, and no price at all for the other sizes.
    let drink_path = "/admin/fleet/devices/dev-1/drinks/new";
    let refused = submit(
        &app,
        &signed,
        drink_path,
        &[("drink_no", "9"), ("name", ""), ("price_small", "1,555")],
    )
    .await;
    assert_eq!(refused.status().as_u16(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("цена (маленький): нужна сумма в рублях"),
        "{page}"
    );
    assert!(page.contains("name is empty") && page.contains("value=\"1,555\""));
    assert!(
        app.store
            .drinks(&DeviceUuid::parse("dev-1").unwrap())
            .await
            .unwrap()
            .len()
            == 1
    );

    // A custom provider needs the address it sends customers to.
    let mut custom = device_form("dev-ext", "shop");
    custom[3] = ("provider", "custom");
    let refused = submit(&app, &signed, NEW_DEVICE, &custom).await;
    assert_eq!(refused.status().as_u16(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("provider \"custom\" needs redirect_url")
            || page.contains("provider &quot;custom&quot; needs redirect_url"),
        "{page}"
    );
    assert!(page.contains("value=\"dev-ext\""));
    assert_eq!(
        app.store
            .device(&DeviceUuid::parse("dev-ext").unwrap())
            .await
            .unwrap(),
        None
    );

    // A key that is taken.
    let mut taken = MERCHANT.to_vec();
    taken[0] = ("key", "shop");
    let refused = submit(&app, &signed, NEW_MERCHANT, &taken).await;
    assert_eq!(refused.status().as_u16(), 422);
    assert!(refused.text().await.unwrap().contains("уже есть"));
    // Only the sign-in is in the audit log: nothing was done.
    assert_eq!(audit(&app).await.len(), 1);
}

#[tokio::test]
async fn a_secret_typed_in_is_never_shown_again_and_the_page_says_when_it_was_set() {
    let (app, signed) = admin_app().await;
    let mut with_keys = MERCHANT.to_vec();
    with_keys.extend([
        ("yookassa_shop_id", "shop-42"),
        ("yookassa_secret_key", "live_SECRET_yk_1"),
        ("tbank_terminal_key", "TERM42"),
        ("tbank_password", "tb_SECRET_pw_1"),
        ("tbank_taxation", "usn_income"),
        ("tbank_vat", "none"),
    ]);
    assert_eq!(
        submit(&app, &signed, NEW_MERCHANT, &with_keys)
            .await
            .status()
            .as_u16(),
        303
    );
    let mut device = device_form("dev-key", "roastery");
    device.push(("events_secret", "ev_SECRET_key_1"));
    assert_eq!(
        submit(&app, &signed, NEW_DEVICE, &device)
            .await
            .status()
            .as_u16(),
        303
    );

    let stored = app
        .store
        .merchant(&MerchantKey::parse("roastery").unwrap())
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.yookassa.unwrap().secret_key;
    assert!(sealed.as_str().starts_with("v1:") && !sealed.as_str().contains("live_SECRET"));

    let today = today(&app);
    let fleet = page_text(&app, &signed, "/admin/fleet").await;
    assert!(
        fleet.contains(&format!("магазин shop-42, секретный ключ задан {today}")),
        "{fleet}"
    );
    assert!(fleet.contains(&format!("терминал TERM42, пароль задан {today}")));
    assert!(fleet.contains(&format!("задан {today}")));
    for path in [
        "/admin/fleet",
        "/admin/fleet/merchants/roastery/edit",
        "/admin/fleet/devices/dev-key/edit",
    ] {
        let page = page_text(&app, &signed, path).await;
        for secret in [
            "live_SECRET_yk_1",
            "tb_SECRET_pw_1",
            "ev_SECRET_key_1",
            "v1:",
        ] {
            assert!(!page.contains(secret), "{secret} on {path}");
        }
    }
    let edit = page_text(&app, &signed, "/admin/fleet/merchants/roastery/edit").await;
    assert!(edit.contains(&format!("Сейчас: задан {today}")));
    assert!(edit.contains("readonly"));
    let audit = audit(&app).await.join("\n");
    assert!(!audit.contains("SECRET"), "{audit}");
    assert!(audit.contains("задан заново: yookassa_secret_key, tbank_password"));
}

#[tokio::test]
async fn an_edit_with_an_empty_secret_keeps_the_stored_one_and_a_new_one_replaces_it() {
    let (app, signed) = admin_app().await;
    let mut with_key = MERCHANT.to_vec();
    with_key.extend([
        ("yookassa_shop_id", "shop-42"),
        ("yookassa_secret_key", "live_first"),
    ]);
    submit(&app, &signed, NEW_MERCHANT, &with_key).await;
    let key = MerchantKey::parse("roastery").unwrap();
    let first = app.store.merchant(&key).await.unwrap().unwrap();

    let mut renamed: Vec<(&str, &str)> = MERCHANT[1..].to_vec();
    renamed[0] = ("name", "Обжарка и зерно");
    renamed.extend([("yookassa_shop_id", "shop-42"), ("yookassa_secret_key", "")]);
    let saved = submit(
        &app,
        &signed,
        "/admin/fleet/merchants/roastery/edit",
        &renamed,
    )
    .await;
    assert_eq!(saved.status().as_u16(), 303);
    assert_eq!(location(&saved), "/admin/fleet?result=saved#m-roastery");
    let kept = app.store.merchant(&key).await.unwrap().unwrap();
    assert_eq!(kept.name, "Обжарка и зерно");
    let (before, after) = (
        first.yookassa.unwrap().secret_key,
        kept.yookassa.unwrap().secret_key,
    );
    assert_eq!(after.as_str(), before.as_str());
    assert_eq!(after.set_at(), before.set_at());

    renamed.pop();
    renamed.push(("yookassa_secret_key", "live_second"));
    submit(
        &app,
        &signed,
        "/admin/fleet/merchants/roastery/edit",
        &renamed,
    )
    .await;
    let replaced = app.store.merchant(&key).await.unwrap().unwrap();
    assert_ne!(
        replaced.yookassa.unwrap().secret_key.as_str(),
        before.as_str()
    );

    // The key in the path is the one edited, whatever the form says.
    let mut moved = renamed.clone();
    moved.push(("key", "elsewhere"));
    submit(
        &app,
        &signed,
        "/admin/fleet/merchants/roastery/edit",
        &moved,
    )
    .await;
    assert_eq!(
        app.store
            .merchant(&MerchantKey::parse("elsewhere").unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_disabled_device_refuses_the_next_scan_until_it_is_enabled_again() {
    let (app, signed) = admin_app().await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-1", "1", "0", "mo-a")).await),
        302
    );

    let confirm = page_text(&app, &signed, "/admin/fleet/devices/dev-1/disable").await;
    assert!(confirm.contains("Отключить автомат dev-1?"));
    assert!(confirm.contains("action=\"/admin/fleet/devices/dev-1/disable\""));
    let done = submit(&app, &signed, "/admin/fleet/devices/dev-1/disable", &[]).await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(location(&done), "/admin/fleet?result=disabled#d-dev-1");

    let refused = app.get(&qr("dev-1", "1", "0", "mo-b")).await;
    assert_eq!(scan_status(&refused), 403);
    assert_eq!(
        scan_status(&app.get(&qr("dev-old", "1", "0", "mo-c")).await),
        403,
        "refused like a merchant whose subscription ended"
    );
    let page = page_text(&app, &signed, "/admin/fleet").await;
    assert!(page.contains("id=\"d-dev-1\" class=\"off\""));
    assert!(page.contains("отключён") && page.contains("/admin/fleet/devices/dev-1/enable"));

    submit(&app, &signed, "/admin/fleet/devices/dev-1/enable", &[]).await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-1", "1", "0", "mo-b")).await),
        302
    );
    let lines = audit(&app).await;
    assert_eq!(
        lines[1..],
        [
            "anna fleet_device_disable автомат dev-1, мерчант shop".to_owned(),
            "anna fleet_device_enable автомат dev-1, мерчант shop".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_disabled_merchant_refuses_scans_at_all_its_devices_and_orders_in_flight_carry_on() {
    let (app, signed) = admin_app().await;
    let order = app.scan("dev-1", "1", "0", "mo-in-flight").await;
    submit(&app, &signed, "/admin/fleet/merchants/shop/disable", &[]).await;
    assert!(
        app.store
            .merchant(&MerchantKey::parse("shop").unwrap())
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        scan_status(&app.get(&qr("dev-1", "1", "0", "mo-new")).await),
        403
    );
    assert_eq!(
        scan_status(&app.get(&qr("dev-broken", "1", "1", "mo-new")).await),
        403
    );
    // The order made before still pays.
    assert_eq!(app.initiate(&order, None).await.status().as_u16(), 200);
    submit(&app, &signed, "/admin/fleet/merchants/shop/enable", &[]).await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-1", "1", "0", "mo-new")).await),
        302
    );
}

#[tokio::test]
async fn a_disabled_drink_is_refused_like_a_drink_the_device_does_not_sell() {
    let (app, signed) = admin_app().await;
    let path = "/admin/fleet/devices/dev-1/drinks/1";
    assert!(page_text(&app, &signed, &format!("{path}/disable"))
        .await
        .contains("Отключить напиток №1 «Капучино» автомата dev-1?"));
    submit(&app, &signed, &format!("{path}/disable"), &[]).await;
    let refused = app.get(&qr("dev-1", "1", "0", "mo-d")).await;
    assert_eq!(
        scan_status(&refused),
        scan_status(&app.get(&qr("dev-1", "404", "0", "mo-e")).await)
    );
    assert_eq!(scan_status(&refused), 404);
    assert!(page_text(&app, &signed, "/admin/fleet")
        .await
        .contains(&format!("{path}/enable")));
    submit(&app, &signed, &format!("{path}/enable"), &[]).await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-1", "1", "0", "mo-d")).await),
        302
    );

    // Editing a drink keeps its number and converts rubles exactly.
    let saved = submit(
        &app,
        &signed,
        &format!("{path}/edit"),
        &[
            ("name", "Капучино XL"),
            ("price_medium", "199.99"),
            ("drink_no", "77"),
        ],
    )
    .await;
    assert_eq!(saved.status().as_u16(), 303);
    let drinks = app
        .store
        .drinks(&DeviceUuid::parse("dev-1").unwrap())
        .await
        .unwrap();
    assert_eq!(drinks.len(), 1);
    assert_eq!(drinks[0].name, "Капучино XL");
    assert_eq!(drinks[0].prices.medium.unwrap().kopecks(), 19999);
    assert_eq!(drinks[0].prices.small, None);
}

#[tokio::test]
async fn a_merchant_account_sees_no_edit_links_and_every_fleet_write_answers_404() {
    let app = spawn_app().await;
    add_merchant_user(&app, "shop-user", "shop").await;
    let signed = login(&app, "shop-user").await;
    let page = page_text(&app, &signed, "/admin/fleet").await;
    assert!(page.contains("dev-1"));
    for link in ["/edit", "/disable", "/new", "Добавить"] {
        assert!(!page.contains(link), "{link}");
    }
    for path in [
        NEW_MERCHANT,
        NEW_DEVICE,
        "/admin/fleet/merchants/shop/edit",
        "/admin/fleet/merchants/shop/disable",
        "/admin/fleet/devices/dev-1/edit",
        "/admin/fleet/devices/dev-1/disable",
        "/admin/fleet/devices/dev-1/drinks/new",
        "/admin/fleet/devices/dev-1/drinks/1/edit",
        "/admin/fleet/devices/dev-1/drinks/1/disable",
    ] {
        assert_eq!(
            get_page(&app, &signed.cookie, path).await.status().as_u16(),
            404,
            "GET {path}"
        );
        let mut fields = MERCHANT.to_vec();
        fields.extend(device_form("dev-x", "shop"));
        fields.extend([("name", "Взлом"), ("price_small", "1")]);
        let answer = submit(&app, &signed, path, &fields).await;
        assert_eq!(answer.status().as_u16(), 404, "POST {path}");
    }
    let device = app
        .store
        .device(&DeviceUuid::parse("dev-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!device.disabled);
    assert_eq!(app.store.merchants().await.unwrap().len(), 3);
    assert_eq!(app.store.devices().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_fleet_form_without_the_csrf_token_is_refused_with_403_and_writes_nothing() {
    let (app, signed) = admin_app().await;
    let mut without = MERCHANT.to_vec();
    without.retain(|(k, _)| *k != "csrf");
    let refused = post_form(&app, &signed.cookie, NEW_MERCHANT, &without).await;
    assert_eq!(refused.status().as_u16(), 403);
    let mut wrong = vec![("csrf", "forged")];
    wrong.extend(MERCHANT);
    assert_eq!(
        post_form(&app, &signed.cookie, NEW_MERCHANT, &wrong)
            .await
            .status()
            .as_u16(),
        403
    );
    let off = post_form(
        &app,
        &signed.cookie,
        "/admin/fleet/devices/dev-1/disable",
        &[],
    )
    .await;
    assert_eq!(off.status().as_u16(), 403);
    let edit = post_form(
        &app,
        &signed.cookie,
        "/admin/fleet/devices/dev-1/drinks/1/edit",
        &[("name", "Чужое"), ("price_small", "1")],
    )
    .await;
    assert_eq!(edit.status().as_u16(), 403);
    assert_eq!(
        app.store
            .merchant(&MerchantKey::parse("roastery").unwrap())
            .await
            .unwrap(),
        None
    );
    assert!(
        !app.store
            .device(&DeviceUuid::parse("dev-1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let drinks = app
        .store
        .drinks(&DeviceUuid::parse("dev-1").unwrap())
        .await
        .unwrap();
    assert_eq!(drinks[0].name, "Капучино");
    assert_eq!(audit(&app).await.len(), 1);
}

#[tokio::test]
async fn html_typed_into_a_name_is_escaped_on_the_fleet_page_and_in_the_form() {
    let (app, signed) = admin_app().await;
    let mut fields = MERCHANT.to_vec();
    fields[1] = ("name", "<script>alert(1)</script> & \"Кофе\"");
    assert_eq!(
        submit(&app, &signed, NEW_MERCHANT, &fields)
            .await
            .status()
            .as_u16(),
        303
    );
    let mut device = device_form("dev-html", "roastery");
    device[2] = ("location", "<img src=x onerror=alert(1)>");
    assert_eq!(
        submit(&app, &signed, NEW_DEVICE, &device)
            .await
            .status()
            .as_u16(),
        303
    );
    for path in [
        "/admin/fleet",
        "/admin/fleet/merchants/roastery/edit",
        "/admin/fleet/devices/dev-html/edit",
        "/admin/fleet/merchants/roastery/disable",
    ] {
        let page = page_text(&app, &signed, path).await;
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "{path}"
        );
    }
    let page = page_text(&app, &signed, "/admin/fleet").await;
    assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; &quot;Кофе&quot;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

/// The application on a throwaway Postgres database (`None`: no Postgres outside CI), with an
/// admin `anna` signed in.
async fn postgres_app() -> Option<(TestApp, Signed, coffee_test_support::test_db::TestDb)> {
    use coffee_adapter_memory::{FakeClock, MemoryStore};
    use coffee_server::config::Config;
    use coffee_server::console::Console;
    use coffee_server::startup::{production_wiring, Application};
    use std::sync::Arc;
    let db = coffee_test_support::test_db::TestDb::migrated(|url| {
        coffee_adapter_postgres::run_migrations(url)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let vars: std::collections::HashMap<String, String> = [
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("BASE_URL", address.clone()),
        ("DATABASE_URL", db.url().to_owned()),
        ("MIGRATE_ON_START", "false".to_owned()),
        (
            "SECRET_KEY",
            "console-fleet-test-secret-key-0123456789".to_owned(),
        ),
        ("SANDBOX_ENABLED", "true".to_owned()),
        ("SANDBOX_ALLOW_WITH_DATABASE", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_vars(&vars).unwrap();
    let clock = Arc::new(FakeClock::new(crate::helpers::start_time()));
    let wiring = production_wiring(&config, clock.clone()).await.unwrap();
    let console = Console {
        accounts: wiring.accounts.clone(),
        audit: wiring.audit.clone(),
        queries: wiring.queries.clone(),
        clock: clock.clone(),
        settings: config.console,
        secure_cookies: false,
    };
    console
        .add_user("anna", coffee_domain::Role::Admin, crate::console::PASSWORD)
        .await
        .unwrap();
    let (sandbox, machine, ctx) = (
        wiring.sandbox.clone().unwrap(),
        wiring.machine.clone(),
        wiring.ctx.clone(),
    );
    let app = Application::start_on(
        listener,
        &config,
        wiring,
        std::time::Duration::from_millis(20),
    )
    .unwrap();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        // Not this app's store: everything here goes through HTTP and `ctx`.
        store: Arc::new(MemoryStore::new()),
        sandbox,
        machine,
        ctx,
    };
    let signed = login(&app, "anna").await;
    Some((app, signed, db))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_an_admin_creates_edits_and_disables_through_the_pages() {
    let Some((app, signed, _db)) = postgres_app().await else {
        return;
    };
    let catalog = app.ctx.ports.catalog.clone();
    let mut with_key = MERCHANT.to_vec();
    with_key.extend([
        ("yookassa_shop_id", "shop-42"),
        ("yookassa_secret_key", "live_pg_secret"),
    ]);
    assert_eq!(
        submit(&app, &signed, NEW_MERCHANT, &with_key)
            .await
            .status()
            .as_u16(),
        303
    );
    let mut device = device_form("dev-pg", "roastery");
    device.push(("events_secret", "pg-report-key"));
    assert_eq!(
        submit(&app, &signed, NEW_DEVICE, &device)
            .await
            .status()
            .as_u16(),
        303
    );
    let drink = [
        ("drink_no", "1"),
        ("name", "Американо"),
        ("price_medium", "99,90"),
    ];
    let drinks = "/admin/fleet/devices/dev-pg/drinks/new";
    assert_eq!(
        submit(&app, &signed, drinks, &drink)
            .await
            .status()
            .as_u16(),
        303
    );
    app.scan("dev-pg", "1", "1", "mo-pg-1").await;

    let key = MerchantKey::parse("roastery").unwrap();
    let sealed = catalog
        .merchant(&key)
        .await
        .unwrap()
        .unwrap()
        .yookassa
        .unwrap()
        .secret_key;
    assert!(sealed.set_at().is_some());
    let mut renamed: Vec<(&str, &str)> = MERCHANT[1..].to_vec();
    renamed[0] = ("name", "Обжарка на Postgres");
    renamed.push(("yookassa_shop_id", "shop-42"));
    let saved = submit(
        &app,
        &signed,
        "/admin/fleet/merchants/roastery/edit",
        &renamed,
    )
    .await;
    assert_eq!(saved.status().as_u16(), 303);
    let edited = catalog.merchant(&key).await.unwrap().unwrap();
    assert_eq!(edited.name, "Обжарка на Postgres");
    let kept = edited.yookassa.unwrap().secret_key;
    assert_eq!(
        (kept.as_str(), kept.set_at()),
        (sealed.as_str(), sealed.set_at())
    );

    submit(&app, &signed, "/admin/fleet/devices/dev-pg/disable", &[]).await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-pg", "1", "1", "mo-pg-2")).await),
        403
    );
    let page = page_text(&app, &signed, "/admin/fleet").await;
    assert!(page.contains("отключён") && page.contains(&format!("задан {}", today(&app))));
    assert!(!page.contains("live_pg_secret") && !page.contains("pg-report-key"));
    submit(&app, &signed, "/admin/fleet/devices/dev-pg/enable", &[]).await;
    assert_eq!(
        scan_status(&app.get(&qr("dev-pg", "1", "1", "mo-pg-2")).await),
        302
    );
}

async fn api_put(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.client
        .put(format!("{}{path}", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_fleet_api_creates_and_replaces_with_the_same_rules_for_admin_tokens_only() {
    use coffee_domain::Role;
    let app = spawn_app().await;
    let console = crate::console::console_of(&app);
    let admin = console.add_api_token("ops", Role::Admin).await.unwrap();
    let shop = console
        .add_api_token(
            "shop-books",
            Role::Merchant(MerchantKey::parse("shop").unwrap()),
        )
        .await
        .unwrap();
    let merchant = serde_json::json!({
        "name": "Обжарка",
        "contact_email": "owner@roastery.example",
        "valid_until": "2099-12-31",
        "yookassa": {"shop_id": "shop-42", "secret_key": "live_api_secret", "vat_code": 1},
    });
    let path = "/admin/api/v1/fleet/merchants/roastery";
    assert_eq!(
        api_put(&app, &shop, path, merchant.clone())
            .await
            .status()
            .as_u16(),
        404
    );
    let unauthorized = app
        .client
        .put(format!("{}{path}", app.address))
        .json(&merchant)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let created = api_put(&app, &admin, path, merchant.clone()).await;
    assert_eq!(created.status().as_u16(), 201);
    let body = created.text().await.unwrap();
    assert_eq!(body, r#"{"result":"created"}"#);

    // Without the key: the stored one is kept, and nothing changed.
    let mut keyless = merchant.clone();
    keyless["yookassa"]["secret_key"] = serde_json::Value::Null;
    let again: serde_json::Value = api_put(&app, &admin, path, keyless)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["result"], "unchanged");

    let bad = serde_json::json!({"name": "", "contact_email": "nope", "valid_until": "2099-12-31"});
    let refused = api_put(&app, &admin, "/admin/api/v1/fleet/merchants/other", bad).await;
    assert_eq!(refused.status().as_u16(), 422);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_fleet");
    assert_eq!(
        refused["problems"],
        serde_json::json!(["name is empty", "contact_email is not a valid email"])
    );
    assert_eq!(
        app.store
            .merchant(&MerchantKey::parse("other").unwrap())
            .await
            .unwrap(),
        None
    );

    let device = serde_json::json!({
        "merchant": "roastery", "provider": "yookassa", "machine": "simulated", "test": true,
        "status_texts": {"successful": "Спасибо!"},
    });
    let created = api_put(&app, &admin, "/admin/api/v1/fleet/devices/dev-api", device).await;
    assert_eq!(created.status().as_u16(), 201);
    let drink = serde_json::json!({"name": "Флэт уайт", "prices": {"medium": "180.50"}});
    let drink_path = "/admin/api/v1/fleet/devices/dev-api/drinks/3";
    assert_eq!(
        api_put(&app, &admin, drink_path, drink)
            .await
            .status()
            .as_u16(),
        201
    );
    let stored = app
        .store
        .drink(
            &DeviceUuid::parse("dev-api").unwrap(),
            &DrinkNo::parse("3").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.prices.medium.unwrap().kopecks(), 18050);
    let bad_price = serde_json::json!({"name": "Флэт уайт", "prices": {"medium": "1,555"}});
    assert_eq!(
        api_put(&app, &admin, drink_path, bad_price)
            .await
            .status()
            .as_u16(),
        422
    );
    let unknown = api_put(
        &app,
        &admin,
        "/admin/api/v1/fleet/devices/ghost/drinks/1",
        serde_json::json!({"name": "x", "prices": {}}),
    )
    .await;
    assert_eq!(unknown.status().as_u16(), 404);

    // Switching off through the API: the next scan is refused.
    app.scan("dev-api", "3", "1", "mo-api-1").await;
    let off = serde_json::json!({"merchant": "roastery", "provider": "yookassa", "machine": "simulated", "test": true, "disabled": true});
    let updated: serde_json::Value =
        api_put(&app, &admin, "/admin/api/v1/fleet/devices/dev-api", off)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(updated["result"], "updated");
    assert_eq!(
        scan_status(&app.get(&qr("dev-api", "3", "1", "mo-api-2")).await),
        403
    );

    let lines = audit(&app).await.join("\n");
    assert!(lines.contains("ops fleet_merchant_create мерчант roastery, задан заново: yookassa_secret_key через API"), "{lines}");
    assert!(lines.contains("ops fleet_drink_create напиток 3 автомата dev-api через API"));
    assert!(!lines.contains("live_api_secret"));
}

#[tokio::test]
async fn a_merchant_edit_that_would_strand_its_devices_is_refused_and_a_report_key_can_be_removed()
{
    let (app, signed) = admin_app().await;
    let mut with_shop = MERCHANT.to_vec();
    with_shop.extend([
        ("yookassa_shop_id", "shop-42"),
        ("yookassa_secret_key", "live_k"),
    ]);
    submit(&app, &signed, NEW_MERCHANT, &with_shop).await;
    let mut device = device_form("dev-yk", "roastery");
    device[3] = ("provider", "yookassa");
    device.push(("events_secret", "report-key"));
    assert_eq!(
        submit(&app, &signed, NEW_DEVICE, &device)
            .await
            .status()
            .as_u16(),
        303
    );

    // Without its shop the merchant's YooKassa machine could not take payments.
    let shopless: Vec<(&str, &str)> = MERCHANT[1..].to_vec();
    let refused = submit(
        &app,
        &signed,
        "/admin/fleet/merchants/roastery/edit",
        &shopless,
    )
    .await;
    assert_eq!(refused.status().as_u16(), 422);
    let page = refused.text().await.unwrap();
    assert!(page.contains("автомат dev-yk: provider"), "{page}");
    let key = MerchantKey::parse("roastery").unwrap();
    assert!(app
        .store
        .merchant(&key)
        .await
        .unwrap()
        .unwrap()
        .yookassa
        .is_some());

    let id = DeviceUuid::parse("dev-yk").unwrap();
    let mut edit = device[1..].to_vec();
    edit.retain(|(k, _)| *k != "events_secret");
    edit.push(("events_secret_remove", "1"));
    let saved = submit(&app, &signed, "/admin/fleet/devices/dev-yk/edit", &edit).await;
    assert_eq!(saved.status().as_u16(), 303);
    assert_eq!(
        app.store.device(&id).await.unwrap().unwrap().events_secret,
        None
    );
    assert!(page_text(&app, &signed, "/admin/fleet/devices/dev-yk/edit")
        .await
        .contains("Сейчас: не задан"));
}
