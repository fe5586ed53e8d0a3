//! The gateway against a Mosquitto of the test's own (killed and restarted at will, or
//! listening with TLS): reconnects, and commands per second with PUBACK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use coffee_adapter_mqtt::{MqttConfig, MqttGateway};
use coffee_domain::ports::{Clock, MachineError, MachineGateway, MakeCommand};
use coffee_domain::{
    Device, DrinkNo, MachineKind, MachineOrderId, Money, OrderId, ProviderKind, Size,
};
use coffee_test_support::fixtures;
use coffee_test_support::test_broker::{OwnBroker, Probe};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

fn device(id: &str) -> Device {
    fixtures::device(id, "coffee-co")
        .provider(ProviderKind::Sandbox)
        .machine(MachineKind::Mqtt)
        .build()
}

fn command(machine_order: &str) -> MakeCommand {
    MakeCommand {
        order_id: OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
        device: device("cm-1"),
        machine_order_id: MachineOrderId::parse(machine_order).unwrap(),
        drink_no: DrinkNo::parse("7").unwrap(),
        size: Size::Medium,
        price: Money::rub(15000).unwrap(),
    }
}

fn gateway(config: MqttConfig) -> MqttGateway {
    let (tx, _rx) = mpsc::unbounded_channel();
    MqttGateway::start(config, tx, Arc::new(SystemClock)).unwrap()
}

fn fast_reconnects(url: &str) -> MqttConfig {
    let mut config = MqttConfig::new(url);
    config.reconnect_min = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(500);
    config
}

/// Measured figures go straight to stderr: libtest would swallow `eprintln!`.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < WAIT, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_broker_killed_and_restarted_refuses_commands_while_down_and_delivers_the_retry_once() {
    let Some(mut own) = OwnBroker::start("") else {
        return;
    };
    let gateway = gateway(fast_reconnects(&own.url()));
    assert!(gateway.wait_until_connected(WAIT).await);
    let mut machine = Probe::connect(&own.broker(), &["+/+/commands".to_owned()]).await;
    gateway.make(&command("before")).await.unwrap();
    assert_eq!(
        machine.next(WAIT).await.unwrap().json()["orderUuid"],
        "before"
    );

    own.kill();
    until("the drop noticed", || !gateway.is_connected()).await;
    // Certainly not sent: the job may send it again later.
    let down = gateway.make(&command("during")).await;
    assert!(
        matches!(down, Err(MachineError::Unavailable(_))),
        "{down:?}"
    );

    own.restart();
    let restarted = Instant::now();
    assert!(
        gateway.wait_until_connected(WAIT).await,
        "never reconnected"
    );
    let reconnected = restarted.elapsed();
    let mut machine = Probe::connect(&own.broker(), &["+/+/commands".to_owned()]).await;
    gateway.make(&command("during")).await.unwrap();
    let delivered = restarted.elapsed();
    let received = machine.collect(Duration::from_millis(300)).await;
    assert_eq!(received.len(), 1, "the retry, once: {received:?}");
    assert_eq!(received[0].json()["orderUuid"], "during");
    note(&format!(
        "mqtt broker restart: reconnected after {} ms, first command acknowledged {} ms after the restart",
        reconnected.as_millis(),
        delivered.as_millis()
    ));
}

#[tokio::test]
async fn commands_are_acknowledged_one_by_one_and_in_parallel_each_arriving_once() {
    let Some(own) = OwnBroker::start("") else {
        return;
    };
    let gateway = Arc::new(gateway(MqttConfig::new(&own.url())));
    assert!(gateway.wait_until_connected(WAIT).await);
    let mut machine = Probe::connect(&own.broker(), &["+/+/commands".to_owned()]).await;

    const N: usize = 300;
    let started = Instant::now();
    for i in 0..N {
        gateway.make(&command(&format!("seq-{i}"))).await.unwrap();
    }
    let sequential = started.elapsed();

    // As many at once as the job loops of a few replicas would ever send, well within the
    // client's request queue (64).
    const AT_ONCE: usize = 50;
    let started = Instant::now();
    for round in 0..N / AT_ONCE {
        let mut all = tokio::task::JoinSet::new();
        for i in 0..AT_ONCE {
            let gateway = gateway.clone();
            let order = format!("par-{}", round * AT_ONCE + i);
            all.spawn(async move { gateway.make(&command(&order)).await });
        }
        while let Some(outcome) = all.join_next().await {
            outcome.unwrap().unwrap();
        }
    }
    let parallel = started.elapsed();

    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 * N {
        let message = machine
            .next(WAIT)
            .await
            .expect("every acknowledged command");
        let order = message.json()["orderUuid"].as_str().unwrap().to_owned();
        assert!(seen.insert(order.clone()), "{order} twice");
    }
    assert!(machine.collect(Duration::from_millis(200)).await.is_empty());
    note(&format!(
        "mqtt commands with PUBACK: {:.0}/s one by one, {:.0}/s {AT_ONCE} at a time",
        N as f64 / sequential.as_secs_f64(),
        N as f64 / parallel.as_secs_f64(),
    ));
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A private CA and a certificate for `localhost` signed by it.
fn make_certificates(dir: &Path) -> Result<(), String> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Coffee Test CA",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    )?;
    // Mosquitto started as root reads its files as the `mosquitto` user: a throw-away key
    // may be readable by all.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_tls_broker_with_a_private_ca_is_trusted_through_the_ca_file_and_not_without_it() {
    let dir = OwnBroker::scratch_dir();
    if let Err(error) = make_certificates(&dir) {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("openssl could not make test certificates and CI=true: {error}");
        }
        note(&format!(
            "SKIPPED: openssl could not make test certificates ({error})"
        ));
        return;
    }
    let tls = format!(
        "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key",
        dir.display()
    );
    let Some(own) = OwnBroker::start_in(&dir, &tls) else {
        return;
    };
    let url = format!("mqtts://localhost:{}", own.port);

    let mut trusted = MqttConfig::new(&url);
    trusted.ca_file = Some(dir.join("ca.pem"));
    let gateway = gateway(trusted);
    assert!(
        gateway.wait_until_connected(WAIT).await,
        "TLS with the CA file"
    );
    gateway.make(&command("over-tls")).await.unwrap();

    let untrusted = self::gateway(MqttConfig::new(&url));
    assert!(
        !untrusted.wait_until_connected(Duration::from_secs(1)).await,
        "the Mozilla roots must not trust a private CA"
    );
    let refused = untrusted.make(&command("refused")).await;
    assert!(
        matches!(refused, Err(MachineError::Unavailable(_))),
        "{refused:?}"
    );
}
