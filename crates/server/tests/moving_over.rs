#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! `coffee-pay import original`: the original Django system's database (its schema and a
//! sample network, `tests/fixtures/original/`) moved into ours — every row checked, a second
//! run changing nothing, broken rows reported, and a payment the original created paid after
//! the move brewing exactly one drink through our verified path.
//!
//! Each test gets two scratch databases (`coffee_test_support::test_db`: skipped loudly
//! without Postgres, a failure under `CI=true`): the original's and ours.

use chrono::{TimeZone, Utc};
use coffee_adapter_postgres::PgStore;
use coffee_domain::moving_over::ImportChanges;
use coffee_domain::ports::{CatalogRepository, JobQueue, OrderRepository, PaymentRepository};
use coffee_domain::{
    Attention, DeviceUuid, FailureReason, FleetChanges, JobKind, MachineOrderId, MerchantKey,
    OrderStatus, PaymentState, ProviderKind, ReceiptPolicy,
};
use coffee_server::moving_over::{import_original, summary, ImportOptions};
use coffee_server::secrets::SecretBox;
use coffee_test_support::fakes::tmetr::FakeTmetr;
use coffee_test_support::fakes::yookassa::FakeYookassa;
use coffee_test_support::test_db::TestDb;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "import-test-secret-key-0123456789abcdef";
const SCHEMA: &str = include_str!("fixtures/original/schema.sql");
const SAMPLE: &str = include_str!("fixtures/original/sample-data.sql");

const TOCHKA: &str = "3f6d2c1e-8a4b-4c3d-9e2f-1a2b3c4d5e01";
const OLD_BEANS: &str = "7a1e9b44-2c5d-4f60-8b17-9d3e5f7a0c02";
const YK_DEVICE: &str = "b7e4c2a9-1f3d-4e5a-9c8b-2d6f0a1e3b71";
const RECEIPT_DEVICE: &str = "e2d1f0c3-7b6a-4958-8d7c-6b5a4f3e2d12";
const TBANK_DEVICE: &str = "0f9e8d7c-6b5a-4c3d-8e1f-a2b3c4d5e6f7";
const PENDING_ORDER: &str = "20251124085950123ab12c-4f7e-kqzd";
const PENDING_PAYMENT: &str = "30a5e1f2-000f-5000-8000-1c2d3e4f5a6b";

fn migrate(url: &str) -> Result<(), String> {
    coffee_adapter_postgres::run_migrations(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The original's database with its schema and the sample network; ours, migrated.
async fn databases() -> Option<(TestDb, TestDb)> {
    let original = TestDb::empty().await?;
    let ours = TestDb::migrated(migrate).await?;
    let client = sql(original.url()).await;
    client.batch_execute(SCHEMA).await.expect("original schema");
    client.batch_execute(SAMPLE).await.expect("original sample");
    Some((original, ours))
}

/// 2026-12-01 12:00 UTC: after every sample order's expiry.
fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

async fn import(
    original: &TestDb,
    ours: &PgStore,
    options: ImportOptions,
) -> coffee_server::moving_over::ImportOutcome {
    let sealer = SecretBox::from_secret_key(SECRET_KEY).unwrap();
    import_original(ours, original.url(), &sealer, options, now())
        .await
        .expect("import")
}

fn inserted(count: usize) -> FleetChanges {
    FleetChanges {
        inserted: count,
        updated: 0,
        unchanged: 0,
    }
}

#[tokio::test]
async fn the_sample_network_is_imported_row_by_row() {
    let Some((original, ours)) = databases().await else {
        return;
    };
    let store = PgStore::connect(ours.url(), 2).await.unwrap();
    let outcome = import(&original, &store, ImportOptions::default()).await;
    let text = summary(&outcome, ImportOptions::default());
    assert!(outcome.report.skipped.is_empty(), "{text}");
    assert!(outcome.written, "{text}");
    // Tochka used both YooKassa scenarios (two shops) and becomes two merchants.
    assert_eq!(
        outcome.changes,
        ImportChanges {
            merchants: inserted(3),
            devices: inserted(3),
            // Four drinks, each on the three non-custom machines.
            drinks: inserted(12),
            orders_imported: 9,
            orders_already_there: 0,
            payments_imported: 7,
            // Two pending payments to ask about, one make command's deadline.
            jobs_queued: 3,
        },
        "{text}"
    );

    let sealer = SecretBox::from_secret_key(SECRET_KEY).unwrap();
    let tochka = store
        .merchant(&MerchantKey::parse(TOCHKA).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tochka.name, "Кофе Точка ООО");
    assert_eq!(tochka.valid_until.to_string(), "2026-12-31");
    assert_eq!(tochka.receipt, ReceiptPolicy::Off);
    let shop = tochka.yookassa.as_ref().unwrap();
    assert_eq!(shop.shop_id, "100001");
    assert_eq!(
        sealer.open(&shop.secret_key).unwrap(),
        "test_fake_secret_yookassa"
    );
    let receipts = store
        .merchant(&MerchantKey::parse(&format!("{TOCHKA}-receipt")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipts.receipt, ReceiptPolicy::Required);
    let receipt_shop = receipts.yookassa.as_ref().unwrap();
    assert_eq!(receipt_shop.shop_id, "100002");
    assert_eq!(
        (receipt_shop.vat_code, receipt_shop.tax_system_code),
        (1, Some(2))
    );
    let beans = store
        .merchant(&MerchantKey::parse(OLD_BEANS).unwrap())
        .await
        .unwrap()
        .unwrap();
    let terminal = beans.tbank.as_ref().unwrap();
    assert_eq!(terminal.terminal_key, "TestFakeTerminalDEMO");
    assert_eq!(
        sealer.open(&terminal.password).unwrap(),
        "test_fake_secret_tbank"
    );

    let device = |id: &str| {
        let store = store.clone();
        let id = DeviceUuid::parse(id).unwrap();
        async move { store.device(&id).await.unwrap().unwrap() }
    };
    let yk = device(YK_DEVICE).await;
    assert_eq!(
        (
            yk.provider,
            yk.merchant.as_str(),
            yk.location.as_str(),
            yk.test
        ),
        (
            ProviderKind::Yookassa,
            TOCHKA,
            "Москва, ул. Тверская 1, холл",
            false
        )
    );
    // Its face: plain text, links kept; a status we do not have is left out and reported.
    let face = &yk.branding;
    assert_eq!(
        face.logo_url.as_deref(),
        Some("https://cdn.coffee-tochka.example/logo.png")
    );
    assert_eq!(
        face.client_info.as_deref(),
        Some("Спасибо, что выбрали нас!")
    );
    let error_info = face.client_error_info.clone().unwrap();
    assert!(
        error_info.contains("Позвоните нам") && error_info.contains("tel:+74950000000"),
        "{error_info}"
    );
    assert!(!error_info.contains('<'), "{error_info}");
    assert_eq!(
        face.status_text(OrderStatus::Pending),
        Some("Ожидаем подтверждения оплаты…")
    );
    assert_eq!(
        face.status_text(OrderStatus::MakePending),
        Some("Напиток готовится")
    );
    assert!(
        text.contains(&format!(
            "payments_device {YK_DEVICE}: client_error_info: HTML made plain text"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "payments_device {YK_DEVICE}: client_info_manual_make left out"
        )),
        "{text}"
    );
    let receipt_device = device(RECEIPT_DEVICE).await;
    assert_eq!(
        receipt_device.branding.status_text(OrderStatus::Failed),
        Some("Не удалось приготовить напиток"),
        "make_failed's text is our failed's"
    );
    assert_eq!(
        receipt_device.merchant.as_str(),
        format!("{TOCHKA}-receipt")
    );
    assert!(receipt_device.test, "status 'test' skips the online check");
    assert_eq!(device(TBANK_DEVICE).await.provider, ProviderKind::Tbank);
    let drinks = store
        .drinks(&DeviceUuid::parse(YK_DEVICE).unwrap())
        .await
        .unwrap();
    let americano = drinks
        .iter()
        .find(|d| d.drink_no.as_str() == "4c1f7e2ab9d0835e61f2a7c4d8e9b013")
        .unwrap();
    assert_eq!(americano.name, "Американо");
    assert_eq!(
        americano.prices.medium.map(|m| m.kopecks()),
        Some(18_000),
        "180.0 rubles in the JSON"
    );
    // Its receipt data from `meta`.
    assert_eq!(americano.receipt.vat_code, Some(1));
    assert_eq!(americano.receipt.measure.as_deref(), Some("piece"));
    assert_eq!(
        americano.receipt.payment_subject.as_deref(),
        Some("commodity")
    );
    assert_eq!(
        americano.receipt.payment_mode.as_deref(),
        Some("full_payment")
    );
    let foam = drinks
        .iter()
        .find(|d| d.drink_no.as_str() == "9b900a2e63042d350f45b6675ef26ced")
        .unwrap();
    assert!(foam.receipt.is_empty(), "no meta: the merchant's defaults");

    // Orders: (machine order id, device, our status, payment state, attention).
    let expected = [
        // Pending and past its expiry: expired here, its payment still asked about.
        (
            PENDING_ORDER,
            YK_DEVICE,
            OrderStatus::NotPaid,
            Some(PaymentState::Pending),
            None,
        ),
        // In flight: the device's deadline decides.
        (
            "20251123101512907cd34e-1a2b-mxpl",
            YK_DEVICE,
            OrderStatus::MakePending,
            Some(PaymentState::Succeeded),
            None,
        ),
        (
            "20251123120001004ef56a-9c8d-trwe",
            YK_DEVICE,
            OrderStatus::NotPaid,
            None,
            None,
        ),
        (
            "20251122170344210aa77b-3e4f-zzqa",
            YK_DEVICE,
            OrderStatus::NotPaid,
            Some(PaymentState::Canceled),
            None,
        ),
        (
            "20251121081500555bb88c-7d6e-hgfd",
            YK_DEVICE,
            OrderStatus::Failed,
            Some(PaymentState::Succeeded),
            Some(Attention::UnsettledInOriginal),
        ),
        (
            "20251015093012001cc99d-5a6b-pood",
            RECEIPT_DEVICE,
            OrderStatus::Successful,
            Some(PaymentState::Succeeded),
            None,
        ),
        (
            "20251016140203777dd00e-8f9a-lkjh",
            RECEIPT_DEVICE,
            OrderStatus::Failed,
            Some(PaymentState::Succeeded),
            Some(Attention::UnsettledInOriginal),
        ),
        (
            "20250610113045321ee11f-2b3c-tbnk",
            TBANK_DEVICE,
            OrderStatus::NotPaid,
            Some(PaymentState::Pending),
            None,
        ),
        (
            "20250611092010999ff22a-6d7e-errx",
            TBANK_DEVICE,
            OrderStatus::NotPaid,
            None,
            None,
        ),
    ];
    for (machine_order, device, status, payment_state, attention) in expected {
        let order = store
            .find_by_machine_order_id(
                &DeviceUuid::parse(device).unwrap(),
                &MachineOrderId::parse(machine_order).unwrap(),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{machine_order} not imported"));
        assert_eq!(order.status, status, "{machine_order}");
        assert_eq!(order.attention, attention, "{machine_order}");
        let payment = store.for_order(order.id).await.unwrap();
        assert_eq!(
            payment.as_ref().map(|p| p.state),
            payment_state,
            "{machine_order}"
        );
        let history = store.history(order.id).await.unwrap();
        assert!(
            history
                .iter()
                .any(|h| h.message.contains("перенесён из прежней системы")),
            "{machine_order}: {history:?}"
        );
    }
    let pending = store
        .find_by_machine_order_id(
            &DeviceUuid::parse(YK_DEVICE).unwrap(),
            &MachineOrderId::parse(PENDING_ORDER).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.price.kopecks(), 18_000);
    assert_eq!(pending.failure_reason, Some(FailureReason::Expired));
    let (_, payment) = store
        .with_payment_by_provider_id(ProviderKind::Yookassa, PENDING_PAYMENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.order_id, pending.id);
    let jobs = store.jobs_of(pending.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::PollPayment);
    // The receipt contact of the finished receipt order came along.
    let receipted = store
        .find_by_machine_order_id(
            &DeviceUuid::parse(RECEIPT_DEVICE).unwrap(),
            &MachineOrderId::parse("20251015093012001cc99d-5a6b-pood").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        receipted.receipt_contact.map(|c| c.masked()),
        Some("b***@mail.example".to_owned())
    );
}

#[tokio::test]
async fn importing_twice_changes_nothing_the_second_time() {
    let Some((original, ours)) = databases().await else {
        return;
    };
    let store = PgStore::connect(ours.url(), 2).await.unwrap();
    import(&original, &store, ImportOptions::default()).await;
    let again = import(&original, &store, ImportOptions::default()).await;
    let unchanged = |count| FleetChanges {
        inserted: 0,
        updated: 0,
        unchanged: count,
    };
    assert_eq!(
        again.changes,
        ImportChanges {
            merchants: unchanged(3),
            devices: unchanged(3),
            drinks: unchanged(12),
            orders_imported: 0,
            orders_already_there: 9,
            payments_imported: 0,
            jobs_queued: 0,
        }
    );
    let client = sql(ours.url()).await;
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(count("orders").await, 9);
    assert_eq!(count("payments").await, 7);
    assert_eq!(count("jobs").await, 3);
}

#[tokio::test]
async fn a_dry_run_counts_everything_and_writes_nothing() {
    let Some((original, ours)) = databases().await else {
        return;
    };
    let store = PgStore::connect(ours.url(), 2).await.unwrap();
    let options = ImportOptions {
        dry_run: true,
        allow_skips: false,
    };
    let outcome = import(&original, &store, options).await;
    assert!(!outcome.written);
    assert_eq!(outcome.changes.orders_imported, 9);
    assert!(summary(&outcome, options).contains("dry run: nothing was written"));
    let client = sql(ours.url()).await;
    let orders: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    let merchants: i64 = client
        .query_one("SELECT count(*) FROM merchants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!((orders, merchants), (0, 0));
}

#[tokio::test]
async fn broken_rows_are_reported_with_their_reason_and_nothing_is_written_unless_skips_are_allowed(
) {
    let Some((original, ours)) = databases().await else {
        return;
    };
    let client = sql(original.url()).await;
    client
        .batch_execute(&format!(
            "UPDATE public.payments_merchantcredentials SET credentials = credentials - 'terminal_key'
                 WHERE scenario = 'TBank';
             UPDATE public.payments_drink SET prices = '{{\"1\": 2.555}}' WHERE name = 'Молочная пена';
             UPDATE public.payments_order SET status = 'lost' WHERE id = '{PENDING_ORDER}';"
        ))
        .await
        .unwrap();
    let store = PgStore::connect(ours.url(), 2).await.unwrap();
    let refused = import(&original, &store, ImportOptions::default()).await;
    let text = summary(&refused, ImportOptions::default());
    assert!(!refused.written, "{text}");
    assert!(!refused.is_success(ImportOptions::default()));
    assert!(
        text.contains(&format!(
            "payments_merchantcredentials {OLD_BEANS}/TBank: no terminal_key"
        )),
        "{text}"
    );
    assert!(text.contains("terminal_key in a fleet file"), "{text}");
    assert!(
        text.contains(&format!("payments_device {TBANK_DEVICE}")),
        "{text}"
    );
    assert!(
        text.contains("9b900a2e63042d350f45b6675ef26ced: price \"2.555\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "payments_order {PENDING_ORDER}: unknown status \"lost\""
        )),
        "{text}"
    );
    // The T-Bank machine's two orders go with it.
    assert_eq!(refused.report.skipped_in("payments_order"), 3, "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    let orders: i64 = sql(ours.url())
        .await
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 0);

    let allowed = ImportOptions {
        dry_run: false,
        allow_skips: true,
    };
    let partial = import(&original, &store, allowed).await;
    assert!(partial.written);
    assert!(partial.is_success(allowed));
    assert_eq!(partial.changes.orders_imported, 6);
    assert_eq!(
        partial.changes.drinks,
        inserted(6),
        "three drinks on two machines"
    );
}

#[test]
fn whole_kopecks_are_read_exactly_and_fractions_refused() {
    use coffee_domain::moving_over::whole_kopecks;
    assert_eq!(whole_kopecks("18000"), Ok(18_000));
    assert_eq!(whole_kopecks("18000.00"), Ok(18_000));
    assert!(whole_kopecks("18000.50").is_err());
    assert!(whole_kopecks("-5").is_err());
    assert!(whole_kopecks("1e3").is_err());
}

// --- The move, end to end, through the binary --------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moving-over");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn coffee_pay(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coffee-pay"));
    command
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .envs(env.iter().cloned())
        .current_dir(scratch())
        .args(args);
    command
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_payment_the_original_created_and_the_customer_completes_after_the_move_brews_one_drink()
{
    let Some((original, ours)) = databases().await else {
        return;
    };
    // The sample's pending order, still payable at the moment of the move.
    sql(original.url())
        .await
        .batch_execute(&format!(
            "UPDATE public.payments_order SET created_at = now(), payment_started_at = now(),
                 expires_at = now() + interval '15 minutes' WHERE id = '{PENDING_ORDER}'"
        ))
        .await
        .unwrap();
    let yookassa = FakeYookassa::start().await;
    // As the original created it: its shop, its amount, the machine's order id in metadata.
    yookassa.preexisting(
        PENDING_PAYMENT,
        "100001",
        "180.00",
        serde_json::json!({"order_uuid": PENDING_ORDER}),
    );
    let tmetr = FakeTmetr::start().await;
    tmetr.set_default_price(18_000);
    let port = free_port();
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", ours.url().to_owned()),
        ("SECRET_KEY", SECRET_KEY.to_owned()),
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("BASE_URL", format!("http://127.0.0.1:{port}")),
        ("YOOKASSA_API_URL", yookassa.api_url()),
        ("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32".to_owned()),
        ("TMETR_HOST", tmetr.base_url()),
        ("TMETR_TOKEN", "tmetr-test-token".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let from = original.url().to_owned();
    let import_env = env.clone();
    let output: Output = tokio::task::spawn_blocking(move || {
        coffee_pay(&import_env, &["import", "original", "--from", &from])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("written in one transaction"), "{stdout}");

    let _server = Serving(
        coffee_pay(&env, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The customer pays on the page the original sent them to; YooKassa notifies us.
    yookassa.pay(PENDING_PAYMENT);
    let notification = yookassa.notification("payment.succeeded", PENDING_PAYMENT);
    for _ in 0..3 {
        let answer = client
            .post(format!("{base}/v1/yook-pay-webhook"))
            .header("content-type", "application/json")
            .body(notification.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }
    let store = PgStore::connect(ours.url(), 2).await.unwrap();
    let order_id = store
        .find_by_machine_order_id(
            &DeviceUuid::parse(YK_DEVICE).unwrap(),
            &MachineOrderId::parse(PENDING_ORDER).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let order = OrderRepository::get(&store, order_id)
            .await
            .unwrap()
            .unwrap();
        if matches!(
            order.status,
            OrderStatus::MakePending | OrderStatus::Successful
        ) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "imported order still {:?}",
            order.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmetr.accepted_for(PENDING_ORDER) == 0 {
        assert!(Instant::now() < deadline, "no make command");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Three deliveries and the poll job: still one drink.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tmetr.accepted_for(PENDING_ORDER), 1);
    assert_eq!(
        store.for_order(order_id).await.unwrap().map(|p| p.state),
        Some(PaymentState::Succeeded)
    );
}
