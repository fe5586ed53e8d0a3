#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

//! The logs of a full order, from the real `coffee-pay` binary in JSON: a customer's receipt
//! e-mail or phone appears in no line, and the lines about the order carry its id.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EMAIL: &str = "secret.customer@example.com";
const PHONE: &str = "+7 (912) 345-67-89";
/// The phone's digits as any log line would carry them.
const PHONE_DIGITS: &str = "9123456789";

#[tokio::test]
async fn a_full_order_logs_its_id_and_never_the_customers_receipt_contact() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("order-logs.json");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_coffee-pay"))
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The merchant of demo-hold requires a receipt contact.
    let scan = client
        .get(format!(
            "{base}/v1/pay?deviceUuid=demo-hold&drinkNo=1&size=1&uuid=logs-1&drinkName=X"
        ))
        .send()
        .await
        .unwrap();
    let location = scan.headers()["location"].to_str().unwrap().to_owned();
    let order = location.rsplit('=').next().unwrap().to_owned();
    let initiated: serde_json::Value = client
        .post(format!("{base}/v1/initiate-payment"))
        .json(&serde_json::json!({"order_id": order, "email": EMAIL}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checkout = initiated["redirect_url"].as_str().unwrap().to_owned();
    client.post(format!("{checkout}/pay")).send().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: serde_json::Value = client
            .get(format!("{base}/v1/order-status/{order}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "successful" {
            break;
        }
        assert!(Instant::now() < deadline, "order stuck: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second customer leaves a phone number instead.
    let scan = client
        .get(format!(
            "{base}/v1/pay?deviceUuid=demo-hold&drinkNo=1&size=1&uuid=logs-2&drinkName=X"
        ))
        .send()
        .await
        .unwrap();
    let second = scan.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let initiated = client
        .post(format!("{base}/v1/initiate-payment"))
        .json(&serde_json::json!({"order_id": second, "phone": PHONE}))
        .send()
        .await
        .unwrap();
    assert_eq!(initiated.status().as_u16(), 200);
    server.kill().unwrap();
    server.wait().unwrap();

    let mut logs = String::new();
    std::fs::File::open(&log_path)
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let local_part = EMAIL.split('@').next().unwrap();
    let leaking: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(local_part) || l.contains(PHONE_DIGITS))
        .collect();
    assert!(leaking.is_empty(), "the contact is logged: {leaking:?}");
    let about_the_order = logs
        .lines()
        .filter(|line| line.contains(&order))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .count();
    assert!(about_the_order >= 3, "few lines name the order:\n{logs}");
    assert!(
        logs.lines()
            .all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()),
        "every line is JSON"
    );
}
