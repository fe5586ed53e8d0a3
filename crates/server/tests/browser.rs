#![allow(clippy::unwrap_used, clippy::expect_used, clippy::zombie_processes)] // test code: failing loudly is the point

//! The customer's flow and the operator console in a real headless Chromium, driven over
//! WebDriver (chromedriver) with fantoccini: the customer at a phone's 360 px width, the
//! operator at 1280 px and at 360 px. Screenshots land in `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the tests say loudly that
//! they were skipped — and fail instead when `CI=true`.

#[allow(dead_code)] // the API tests use the rest
#[path = "api/helpers.rs"]
mod helpers;

use coffee_adapter_memory::SystemClock;
use coffee_domain::ports::CatalogRepository;
use coffee_domain::{DeviceUuid, OrderStatus, ProviderKind, ReceiptPolicy};
use coffee_test_support::fakes::tbank::FakeTbank;
use coffee_test_support::fakes::yookassa::FakeYookassa;
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{app, demo_app};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tool(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// `None` (after a loud message) when the browser is not installed outside CI.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    if chromium.exists() && chromedriver.exists() {
        return Some((chromium, chromedriver));
    }
    let message = format!(
        "browser tests need {} and {} (apt-get install chromium chromium-driver)",
        chromium.display(),
        chromedriver.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {message}");
    }
    eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The chromedriver this test started, stopped when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    async fn start(chromedriver: &Path) -> Driver {
        let port = free_port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{url}/status")).send().await {
                if response.status().is_success() {
                    return Driver { process, url };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// How wide the browser's window is: a phone (mobile emulation) or a laptop.
#[derive(Clone, Copy)]
enum Screen {
    Phone,
    Laptop,
}

/// A Chromium session through fantoccini, with the few moves these tests are written in.
struct Browser {
    client: Client,
    profile: PathBuf,
}

/// A test that fails before `close` leaves no Chromium behind: its processes are found by
/// their unique profile directory.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .arg("-f")
            .arg("--")
            .arg(format!("--user-data-dir={}", self.profile.display()))
            .status();
    }
}

impl Browser {
    async fn open(driver: &Driver, chromium: &Path, profile: &Path, screen: Screen) -> Browser {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut options = json!({ "binary": chromium.to_string_lossy() });
        match screen {
            Screen::Phone => {
                options["mobileEmulation"] =
                    json!({"deviceMetrics": {"width": 360, "height": 800, "pixelRatio": 1.0}});
            }
            Screen::Laptop => args.push("--window-size=1280,900".to_owned()),
        }
        options["args"] = json!(args);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            profile: profile.to_path_buf(),
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (20 s at most) for an element to exist and returns it.
    async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Waits until the element's text contains `expected`.
    async fn wait_for_text(&self, css: &str, expected: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(expected) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{css} never said {expected:?}; last text: {last:?}");
    }

    /// Clicks the element; one that went stale (its page was replaced meanwhile) is found
    /// again on the new page.
    async fn click(&self, css: &str) {
        for _ in 0..50 {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(error) if error.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("click {css}: {error}"),
            }
        }
        panic!("{css} kept going stale");
    }

    /// Waits until the address contains `part` (after a form was submitted).
    async fn wait_for_url(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(url) = self.client.current_url().await {
                if url.as_str().contains(part) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the address never contained {part:?}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css).await.send_keys(text).await.unwrap();
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }

    /// Runs `script` in the page (WebDriver's, not the page's: the page's policy allows none)
    /// and returns what it returns.
    async fn execute(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The demo application, as `cargo run` starts it, on a free port and the real clock.
async fn spawn_demo() -> String {
    demo_app()
        .clock(Arc::new(SystemClock))
        .spawn()
        .await
        .address
}

/// A fleet with one YooKassa device (a receipt is required, as for most real shops).
fn yookassa_fleet() -> FleetBuilder {
    fleet()
        .merchant(
            merchant("yk")
                .name("Кофе ЮKassa")
                .receipt(ReceiptPolicy::Required)
                .yookassa("shop-1", "test_secret", 1),
        )
        .device(
            device("yk-browser", "yk")
                .location("Офис, 2 этаж")
                .provider(ProviderKind::Yookassa)
                .simulated_delay_ms(1000),
        )
        .drink(drink("yk-browser", "1").name("Капучино").medium(15000))
}

/// A fleet with one T-Bank device whose merchant takes SBP too.
fn tbank_fleet() -> FleetBuilder {
    fleet()
        .merchant(
            merchant("tb")
                .name("Кофе Т-Банк")
                .tbank("BrowserTerminalDEMO", "browser-password")
                .tbank_sbp(),
        )
        .device(
            device("tb-browser", "tb")
                .location("Вокзал, зал ожидания")
                .provider(ProviderKind::Tbank)
                .simulated_delay_ms(1000),
        )
        .drink(drink("tb-browser", "1").name("Капучино").medium(15000))
}

const HOSTILE: &str = "<script>alert(1)</script> <a href=\"javascript:alert(1)\">x</a>";

/// A branded device (logo at `logo_url`, its texts with a link, a phone and line breaks) and
/// one whose texts try to be markup.
fn branded_fleet(logo_url: &str) -> FleetBuilder {
    fleet()
        .merchant(merchant("utro").name("Кофейня «Утро»"))
        .device(
            device("utro-1", "utro")
                .location("Бизнес-центр «Север», 3 этаж")
                .simulated_delay_ms(1000)
                .logo_url(logo_url)
                .client_info(
                    "Свежая обжарка каждую неделю.\nМеню и акции: https://utro-coffee.example/menu",
                )
                .client_error_info(
                    "Поддержка: tel:+79001234567 (9:00–21:00)\nили напишите help@utro-coffee.example",
                )
                .status_text(OrderStatus::Successful, "Спасибо, что выбрали «Утро»!"),
        )
        .device(
            device("hostile-1", "utro")
                .simulated_delay_ms(1000)
                .client_info(HOSTILE)
                .client_error_info(HOSTILE),
        )
        .drink(drink("utro-1", "1").name("Капучино").medium(15000))
        .drink(drink("hostile-1", "1").name("Латте").medium(15000))
}

/// The page fits a 360 px phone: nothing wider than the screen.
async fn assert_fits_360_px(browser: &Browser) {
    let width = browser
        .execute("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        width.as_i64().unwrap() <= 360,
        "the page is {width} px wide"
    );
}

fn profile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coffee-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_customer_scans_enters_a_receipt_email_pays_in_the_sandbox_and_sees_ready() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let address = spawn_demo().await;
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium, &profile_dir("happy"), Screen::Phone).await;

    browser
        .goto(&format!(
            "{address}/v1/pay?deviceUuid=demo-1&drinkNo=1&size=1&uuid=browser-happy-{}&drinkName=%D0%9A%D0%B0%D0%BF%D1%83%D1%87%D0%B8%D0%BD%D0%BE",
            std::process::id()
        ))
        .await;
    browser
        .wait_for_text("#price", "150,00 ₽", Duration::from_secs(10))
        .await;
    browser
        .wait_for_text("#drink", "Капучино", Duration::from_secs(5))
        .await;
    browser.type_into("#contact", "anna@example.com").await;
    browser.screenshot("01-order-page.png").await;
    browser.click("#pay-button").await;

    browser.wait_for("#sandbox-pay").await;
    browser.screenshot("02-sandbox-checkout.png").await;
    browser.click("#sandbox-pay").await;

    browser
        .wait_for_text("#status-message", "Готово", Duration::from_secs(30))
        .await;
    browser.screenshot("03-ready.png").await;
    browser.close().await;
}

#[tokio::test]
async fn a_customer_of_a_failing_machine_is_told_the_money_is_returned() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let address = spawn_demo().await;
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium, &profile_dir("broken"), Screen::Phone).await;

    browser
        .goto(&format!(
            "{address}/v1/pay?deviceUuid=demo-broken&drinkNo=1&size=1&uuid=browser-broken-{}&drinkName=Latte",
            std::process::id()
        ))
        .await;
    browser
        .wait_for_text("#price", "160,00 ₽", Duration::from_secs(10))
        .await;
    browser.click("#pay-button").await;
    browser.click("#sandbox-pay").await;

    let text = browser
        .wait_for_text(
            "#status-message",
            "Деньги возвращены",
            Duration::from_secs(30),
        )
        .await;
    assert!(text.contains("Не удалось приготовить напиток"), "{text}");
    browser.screenshot("04-failed-refunded.png").await;
    browser.close().await;
}

#[tokio::test]
async fn a_customer_of_a_yookassa_machine_pays_on_the_yookassa_checkout_page_and_sees_ready() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let fake = FakeYookassa::start().await;
    let address = app(&yookassa_fleet())
        .var("YOOKASSA_API_URL", fake.api_url())
        .var("YOOKASSA_TRUSTED_IPS", "127.0.0.1/32")
        .clock(Arc::new(SystemClock))
        .spawn()
        .await
        .address;
    fake.send_webhooks_to(format!("{address}/v1/yook-pay-webhook"));
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium, &profile_dir("yookassa"), Screen::Phone).await;

    browser
        .goto(&format!(
            "{address}/v1/yook-pay?deviceUuid=yk-browser&drinkNo=1&size=1&uuid=browser-yk-{}&drinkName=%D0%9A%D0%B0%D0%BF%D1%83%D1%87%D0%B8%D0%BD%D0%BE",
            std::process::id()
        ))
        .await;
    browser
        .wait_for_text("#price", "150,00 ₽", Duration::from_secs(10))
        .await;
    browser.type_into("#contact", "anna@example.com").await;
    browser.click("#pay-button").await;

    // YooKassa's checkout page (the local fake).
    browser.wait_for("#yookassa-pay").await;
    let created = fake.requests();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].body["amount"]["value"], "150.00");
    assert_eq!(
        created[0].body["receipt"]["customer"]["email"],
        "anna@example.com"
    );
    browser.click("#yookassa-pay").await;

    browser
        .wait_for_text("#status-message", "Готово", Duration::from_secs(30))
        .await;
    browser.screenshot("05-yookassa-ready.png").await;
    let payment = fake.payments().pop().unwrap();
    assert_eq!(payment.status, "succeeded");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == format!("/v3/payments/{}", payment.id)),
        "the webhook was checked against the API"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_customer_of_a_t_bank_machine_pays_by_card_on_t_bank_checkout_or_sees_the_sbp_qr_code() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let fake = FakeTbank::start(&[("BrowserTerminalDEMO", "browser-password")]).await;
    let address = app(&tbank_fleet())
        .var("TBANK_API_URL", fake.api_url())
        .clock(Arc::new(SystemClock))
        .spawn()
        .await
        .address;
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium, &profile_dir("tbank"), Screen::Phone).await;
    let scan = |uuid: &str| {
        format!(
            "{address}/v1/tbank-pay?deviceUuid=tb-browser&drinkNo=1&size=1&uuid={uuid}-{}&drinkName=%D0%9A%D0%B0%D0%BF%D1%83%D1%87%D0%B8%D0%BD%D0%BE",
            std::process::id()
        )
    };

    // By card: T-Bank's payment form (the local fake), then back to «Готово».
    browser.goto(&scan("browser-tb-card")).await;
    browser
        .wait_for_text("#price", "150,00 ₽", Duration::from_secs(10))
        .await;
    browser
        .wait_for_text("#sbp-button", "Оплатить через СБП", Duration::from_secs(5))
        .await;
    browser.screenshot("06-tbank-order-page.png").await;
    browser.click("#pay-button").await;
    browser.wait_for("#tbank-pay").await;
    let init = fake.calls_of("Init");
    assert_eq!(init.len(), 1, "{init:?}");
    assert_eq!(init[0].body["Amount"], 15000);
    browser.click("#tbank-pay").await;
    browser
        .wait_for_text("#status-message", "Готово", Duration::from_secs(30))
        .await;
    browser.screenshot("07-tbank-ready.png").await;

    // By SBP: the QR code on our own page, and the link to a bank's app.
    browser.goto(&scan("browser-tb-sbp")).await;
    browser.click("#sbp-button").await;
    browser.wait_for("#sbp-qr svg").await;
    let link = browser
        .wait_for_text(
            "#sbp-open",
            "Открыть в приложении банка",
            Duration::from_secs(10),
        )
        .await;
    assert!(!link.is_empty());
    assert_eq!(fake.calls_of("GetQr").len(), 1);
    browser.screenshot("08-tbank-sbp-qr.png").await;
    browser.close().await;
}

#[tokio::test]
async fn a_branded_devices_pages_show_its_logo_and_texts_and_hostile_texts_stay_text() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let app = app(&branded_fleet("https://cdn.example/logo.png"))
        .clock(Arc::new(SystemClock))
        .spawn()
        .await;
    // The logo from the application itself: the pages take images from it or over https.
    let logo = format!("{}/static/demo-logo.svg", app.address);
    app.store
        .apply_fleet(&branded_fleet(&logo).build(), chrono::Utc::now())
        .await
        .unwrap();
    let address = app.address.clone();
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium, &profile_dir("branded"), Screen::Phone).await;
    let scan = |device: &str, drink: &str, uuid: &str| {
        format!(
            "{address}/v1/pay?deviceUuid={device}&drinkNo={drink}&size=1&uuid={uuid}-{}&drinkName=Coffee",
            std::process::id()
        )
    };

    // The order page: logo, the device's text with its link kept.
    browser.goto(&scan("utro-1", "1", "browser-brand")).await;
    browser
        .wait_for_text("#price", "150,00 ₽", Duration::from_secs(10))
        .await;
    let info = browser
        .wait_for_text("#client-info", "Свежая обжарка", Duration::from_secs(5))
        .await;
    assert!(
        info.contains("Меню и акции: https://utro-coffee.example/menu"),
        "{info}"
    );
    let loaded = browser
        .execute("const i = document.getElementById('logo'); return i.complete && i.naturalWidth > 0 && i.alt;")
        .await;
    assert_eq!(loaded, json!("Логотип продавца"), "the logo is shown");
    let link = browser
        .execute("return document.querySelector('#client-info a').getAttribute('href');")
        .await;
    assert_eq!(link, json!("https://utro-coffee.example/menu"));
    assert_fits_360_px(&browser).await;
    browser.screenshot("09-branded-order-page.png").await;

    // An error page about the device: its support text, the phone a link.
    app.machine
        .set_offline(&DeviceUuid::parse("utro-1").unwrap(), true);
    browser
        .goto(&scan("utro-1", "1", "browser-brand-offline"))
        .await;
    browser
        .wait_for_text("[role=alert]", "Автомат не в сети", Duration::from_secs(10))
        .await;
    let support = browser
        .wait_for_text("#client-error-info", "Поддержка", Duration::from_secs(5))
        .await;
    assert!(support.contains("help@utro-coffee.example"), "{support}");
    let phone = browser
        .execute("return document.querySelector('#client-error-info a').getAttribute('href');")
        .await;
    assert_eq!(phone, json!("tel:+79001234567"));
    assert_fits_360_px(&browser).await;
    browser.screenshot("10-branded-error-page.png").await;

    // Hostile texts are shown as the characters they are: no script, no javascript: link.
    for page in [
        scan("hostile-1", "1", "browser-hostile"),
        scan("hostile-1", "99", "browser-hostile-error"),
    ] {
        browser.goto(&page).await;
        let shown = browser
            .wait_for_text(
                "#client-info, #client-error-info",
                "<script>alert(1)</script>",
                Duration::from_secs(10),
            )
            .await;
        assert!(
            shown.contains("<a href=\"javascript:alert(1)\">x</a>"),
            "{shown}"
        );
        let inline_scripts = browser
            .execute("return Array.from(document.scripts).filter(s => !s.src).length;")
            .await;
        assert_eq!(inline_scripts, json!(0), "{page}");
        let javascript_links = browser
            .execute("return Array.from(document.querySelectorAll('[href]')).filter(e => /^\\s*javascript:/i.test(e.getAttribute('href'))).length;")
            .await;
        assert_eq!(javascript_links, json!(0), "{page}");
    }
    browser.close().await;
}

/// A successful order of the demo's `demo-1` with machine uuid `uuid`, paid through the API
/// moves.
async fn successful_order(app: &helpers::TestApp<SystemClock>, uuid: &str) -> String {
    let order = app.scan("demo-1", "1", "1", uuid).await;
    let redirect: serde_json::Value = app
        .initiate(&order, Some("ivan@example.ru"))
        .await
        .json()
        .await
        .unwrap();
    app.pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    app.wait_for_status(&order, "successful").await;
    order
}

/// The operator's round, at one screen width: sign in, find the order by the machine's uuid,
/// refund it after confirming, and see the timeline grow.
async fn operator_refunds(
    browser: &Browser,
    address: &str,
    order: &str,
    uuid: &str,
    shots: Option<[&str; 3]>,
) {
    browser.goto(&format!("{address}/admin")).await;
    browser.type_into("#name", "anna").await;
    browser.type_into("#password", "операторский-пароль").await;
    browser.click("form[action='/admin/login'] button").await;
    browser
        .wait_for_text("main h1", "Обзор", Duration::from_secs(10))
        .await;
    if let Some([overview, _, _]) = shots {
        browser.screenshot(overview).await;
    }

    browser.goto(&format!("{address}/admin/orders")).await;
    browser.type_into("#q", uuid).await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for_url(&format!("q={uuid}")).await;
    assert_eq!(
        browser.count("a[href^='/admin/orders/']").await,
        1,
        "one order found"
    );
    browser
        .click(&format!("a[href='/admin/orders/{order}']"))
        .await;
    browser
        .wait_for_text("main h1", "Выдан", Duration::from_secs(10))
        .await;
    let before = browser.count("ol.timeline li").await;
    assert!(before >= 3, "the order's history: {before} lines");

    browser.click("a[href$='confirm?action=refund']").await;
    browser
        .wait_for_text(
            "main h1",
            "Вернуть деньги полностью",
            Duration::from_secs(10),
        )
        .await;
    browser.click("form[action$='/actions'] button").await;
    browser
        .wait_for_text(".notice", "Сделано.", Duration::from_secs(10))
        .await;
    let after = browser.count("ol.timeline li").await;
    assert!(after > before, "the timeline grew: {before} → {after}");
    let page = browser.client.source().await.unwrap();
    assert!(page.contains("оператор anna: полный возврат денег поставлен в очередь"));
    if let Some([_, order_shot, fleet]) = shots {
        // The refund job has run by now, most likely: show the page as it settled.
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser
            .goto(&format!("{address}/admin/orders/{order}"))
            .await;
        browser.wait_for("ol.timeline").await;
        browser.screenshot(order_shot).await;
        browser.goto(&format!("{address}/admin/fleet")).await;
        browser.wait_for("main h1").await;
        browser.screenshot(fleet).await;
    }
}

#[tokio::test]
async fn an_operator_signs_in_finds_an_order_by_its_machine_uuid_and_refunds_it_on_a_laptop_and_a_phone(
) {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let app = demo_app().clock(Arc::new(SystemClock)).spawn().await;
    let console = coffee_server::console::Console {
        accounts: app.store.clone(),
        audit: app.store.clone(),
        queries: app.store.clone(),
        clock: Arc::new(SystemClock),
        settings: coffee_server::config::Config::from_vars(&Default::default())
            .unwrap()
            .console,
        secure_cookies: false,
    };
    console
        .add_user("anna", coffee_domain::Role::Admin, "операторский-пароль")
        .await
        .unwrap();
    let laptop_order = successful_order(&app, "console-laptop").await;
    let phone_order = successful_order(&app, "console-phone").await;
    let driver = Driver::start(&chromedriver).await;

    let laptop = Browser::open(
        &driver,
        &chromium,
        &profile_dir("console-laptop"),
        Screen::Laptop,
    )
    .await;
    operator_refunds(
        &laptop,
        &app.address,
        &laptop_order,
        "console-laptop",
        Some([
            "09-console-overview.png",
            "10-console-order.png",
            "11-console-fleet.png",
        ]),
    )
    .await;
    laptop.close().await;

    let phone = Browser::open(
        &driver,
        &chromium,
        &profile_dir("console-phone"),
        Screen::Phone,
    )
    .await;
    operator_refunds(&phone, &app.address, &phone_order, "console-phone", None).await;
    phone.screenshot("12-console-order-phone.png").await;
    phone.close().await;
    app.wait_for_payment_status(&laptop_order, "refunded").await;
    app.wait_for_payment_status(&phone_order, "refunded").await;
}
