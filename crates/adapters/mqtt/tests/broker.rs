//! The gateway against a real broker (Mosquitto at `MQTT_TEST_URL`), with a probe client
//! playing the machines; and against a silent fake broker for the outcomes no real broker
//! gives on demand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use coffee_adapter_mqtt::{MqttConfig, MqttGateway};
use coffee_domain::ports::{Clock, MachineError, MachineGateway, MakeCommand};
use coffee_domain::services::dispensing::{DispenseReport, DispenseResult};
use coffee_domain::{
    Device, DrinkNo, MachineKind, MachineOrderId, Money, OrderId, ProviderKind, Size,
};
use coffee_test_support::fixtures;
use coffee_test_support::test_broker::{broker, Broker, Probe, Topics};
use rumqttc::QoS;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);

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
        .dispense_deadline_seconds(90)
        .build()
}

fn command(device_id: &str, machine_order: &str) -> MakeCommand {
    MakeCommand {
        order_id: OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
        device: device(device_id),
        machine_order_id: MachineOrderId::parse(machine_order).unwrap(),
        drink_no: DrinkNo::parse("7").unwrap(),
        size: Size::Big,
        price: Money::rub(15000).unwrap(),
    }
}

fn config(url: &str, topics: &Topics) -> MqttConfig {
    let mut config = MqttConfig::new(url);
    config.command_topic = topics.command.clone();
    config.event_topic = topics.event.clone();
    config.status_topic = topics.status.clone();
    config.reconnect_min = Duration::from_millis(100);
    config
}

/// A connected gateway on the test broker and the receiver of its reports.
async fn connected(
    broker: &Broker,
    topics: &Topics,
) -> (MqttGateway, mpsc::UnboundedReceiver<DispenseReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gateway =
        MqttGateway::start(config(&broker.url, topics), tx, Arc::new(SystemClock)).unwrap();
    assert!(
        gateway.wait_until_connected(WAIT).await,
        "gateway never connected"
    );
    // The subscriptions follow the ConnAck; give the broker a moment to grant them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (gateway, rx)
}

async fn next_report(rx: &mut mpsc::UnboundedReceiver<DispenseReport>) -> DispenseReport {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a report in time")
        .expect("channel open")
}

#[tokio::test]
async fn one_make_is_exactly_one_command_on_the_devices_topic_with_qos_1_and_not_retained() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let mut machine = Probe::connect(&broker, &[format!("{}/#", topics.prefix)]).await;
    let (gateway, _reports) = connected(&broker, &topics).await;

    gateway.make(&command("cm-1", "order-1")).await.unwrap();

    let message = machine.next(WAIT).await.expect("the command");
    assert_eq!(message.topic, topics.command_of("cm-1"));
    assert_eq!(message.qos, QoS::AtLeastOnce);
    assert!(!message.retain);
    let json = message.json();
    assert_eq!(json["v"], 1);
    assert_eq!(json["type"], "make");
    assert_eq!(json["orderUuid"], "order-1");
    assert_eq!(json["drinkNo"], "7");
    assert_eq!(json["size"], "big");
    assert_eq!(json["price"], 15000);
    assert_eq!(json["ttlSec"], 90);
    assert!(uuid::Uuid::parse_str(json["commandId"].as_str().unwrap()).is_ok());
    assert!((json["ts"].as_i64().unwrap() - Utc::now().timestamp()).abs() < 10);
    assert_eq!(machine.collect(QUIET).await, vec![], "one command only");

    // Retained, it would be replayed to the machine after every reconnect: a new subscriber
    // gets nothing.
    let mut late = Probe::connect(&broker, &[topics.command_of("cm-1")]).await;
    assert_eq!(late.collect(QUIET).await, vec![]);
}

#[tokio::test]
async fn a_legacy_devices_make_is_exactly_the_legacy_frame_on_the_legacy_topic() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let legacy_topic = format!("{}/technical", topics.prefix);
    let mut machines = Probe::connect(&broker, &[format!("{}/#", topics.prefix)]).await;
    let (tx, _reports) = mpsc::unbounded_channel();
    let mut settings = config(&broker.url, &topics);
    settings.legacy_topic = legacy_topic.clone();
    let gateway = MqttGateway::start(settings, tx, Arc::new(SystemClock)).unwrap();
    assert!(gateway.wait_until_connected(WAIT).await);

    // Vector two of the original system: medium drink "7" at 10 000 kopecks.
    let mut command = command("legacy-1", "11111111-2222-3333-4444-555555555555");
    command.device.machine = MachineKind::MqttLegacy;
    command.size = Size::Medium;
    command.price = Money::rub(10000).unwrap();
    gateway.make(&command).await.unwrap();

    let message = machines.next(WAIT).await.expect("the frame");
    assert_eq!(message.topic, legacy_topic);
    assert_eq!(message.qos, QoS::AtLeastOnce);
    assert!(!message.retain);
    let expected: Vec<u8> = [
        &[0xAA, 0x55, 0x01, 0x00, 0x60, 0xFE, 0x22][..],
        br#"{"orderUuid":"11111111-2222-3333-4444-555555555555","drinkNo":"7","textFlag":"1","price":10000}"#,
        &[0x88, 0x66],
    ]
    .concat();
    assert_eq!(message.payload, expected);
    assert_eq!(
        machines.collect(QUIET).await,
        vec![],
        "one frame only, and nothing on the JSON command topic"
    );
}

#[tokio::test]
async fn each_attempt_carries_a_new_command_id_and_the_same_order_uuid() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let mut machine = Probe::connect(&broker, &[topics.command_of("cm-1")]).await;
    let (gateway, _reports) = connected(&broker, &topics).await;
    gateway.make(&command("cm-1", "order-1")).await.unwrap();
    gateway.make(&command("cm-1", "order-1")).await.unwrap();
    let first = machine.next(WAIT).await.unwrap().json();
    let second = machine.next(WAIT).await.unwrap().json();
    assert_eq!(first["orderUuid"], second["orderUuid"]);
    assert_ne!(first["commandId"], second["commandId"]);
}

#[tokio::test]
async fn a_success_event_on_a_devices_event_topic_is_a_dispensed_report_for_that_device() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let machine = Probe::connect(&broker, &[]).await;
    let (_gateway, mut reports) = connected(&broker, &topics).await;

    machine
        .publish(
            &topics.event_of("cm-1"),
            r#"{"v":1,"type":"order_status","orderUuid":"order-1","commandId":"c-1","status":"success","code":null,"seq":3,"ts":1742198561}"#,
            false,
        )
        .await;

    let report = next_report(&mut reports).await;
    assert_eq!(report.device.as_str(), "cm-1");
    assert_eq!(report.machine_order_id.as_str(), "order-1");
    assert_eq!(report.result, DispenseResult::Dispensed);
}

#[tokio::test]
async fn an_event_naming_another_device_is_reported_for_the_device_of_its_topic() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let machine = Probe::connect(&broker, &[]).await;
    let (_gateway, mut reports) = connected(&broker, &topics).await;

    machine
        .publish(
            &topics.event_of("cm-1"),
            r#"{"orderUuid":"order-of-cm-2","status":"failed","code":"NO_CUPS","deviceId":"cm-2","deviceUuid":"cm-2"}"#,
            false,
        )
        .await;

    let report = next_report(&mut reports).await;
    assert_eq!(
        report.device.as_str(),
        "cm-1",
        "the topic's device, never the payload's"
    );
    assert_eq!(
        report.result,
        DispenseResult::Failed {
            code: Some("NO_CUPS".into())
        }
    );
}

#[tokio::test]
async fn malformed_and_oversized_payloads_are_dropped_and_the_loop_keeps_working() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let mut machine = Probe::connect(&broker, &[topics.command_of("cm-1")]).await;
    let (gateway, mut reports) = connected(&broker, &topics).await;
    let event_topic = topics.event_of("cm-1");

    for payload in [
        b"not json at all".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        br#"{"orderUuid":"o","status":"exploded"}"#.to_vec(),
        br#"{"status":"success"}"#.to_vec(),
        br#"{"orderUuid":"","status":"success"}"#.to_vec(),
        [
            br#"{"orderUuid":"big","status":"success","pad":""#.as_slice(),
            &[b'x'; 100_000],
            b"\"}",
        ]
        .concat(),
        Vec::new(),
    ] {
        machine.publish(&event_topic, payload, false).await;
    }
    machine
        .publish(
            &event_topic,
            r#"{"orderUuid":"after","status":"success"}"#,
            false,
        )
        .await;

    let report = next_report(&mut reports).await;
    assert_eq!(
        report.machine_order_id.as_str(),
        "after",
        "nothing before it got through"
    );
    assert!(gateway.is_connected());
    gateway.make(&command("cm-1", "still-works")).await.unwrap();
    assert_eq!(
        machine.next(WAIT).await.unwrap().json()["orderUuid"],
        "still-works"
    );
}

#[tokio::test]
async fn retained_presence_online_and_offline_decide_the_last_heartbeat() {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let machine = Probe::connect(&broker, &[]).await;
    // Retained before the server connects, as a machine that came up first leaves it.
    machine
        .publish(&topics.status_of("cm-1"), "online", true)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (gateway, _reports) = connected(&broker, &topics).await;

    let seen = gateway.last_heartbeat(&device("cm-1")).await.unwrap();
    assert!(seen.is_some_and(|at| (Utc::now() - at).num_seconds().abs() < 5));
    assert_eq!(
        gateway.last_heartbeat(&device("cm-never")).await.unwrap(),
        None
    );

    // The machine's last will.
    machine
        .publish(&topics.status_of("cm-1"), "offline", true)
        .await;
    let mut offline = false;
    for _ in 0..50 {
        if gateway
            .last_heartbeat(&device("cm-1"))
            .await
            .unwrap()
            .is_none()
        {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(offline, "offline never arrived");
    // Leave no retained message behind.
    machine
        .publish(&topics.status_of("cm-1"), Vec::new(), true)
        .await;
}

#[tokio::test]
async fn prices_are_not_asked_of_mqtt_machines() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let gateway = MqttGateway::start(
        MqttConfig::new("mqtt://127.0.0.1:9"),
        tx,
        Arc::new(SystemClock),
    )
    .unwrap();
    let price = gateway
        .price(&device("cm-1"), &DrinkNo::parse("1").unwrap(), Size::Small)
        .await;
    assert_eq!(price, Err(MachineError::NotSupported));
}

#[tokio::test]
async fn without_a_connection_a_make_is_unavailable_and_certainly_not_sent() {
    // Nothing listens on port 9 (discard) here: the client never connects.
    let (tx, _rx) = mpsc::unbounded_channel();
    let gateway = MqttGateway::start(
        MqttConfig::new("mqtt://127.0.0.1:9"),
        tx,
        Arc::new(SystemClock),
    )
    .unwrap();
    assert!(
        !gateway
            .wait_until_connected(Duration::from_millis(300))
            .await
    );
    let outcome = gateway.make(&command("cm-1", "order-1")).await;
    assert!(
        matches!(outcome, Err(MachineError::Unavailable(_))),
        "{outcome:?}"
    );
}

/// A broker that accepts the connection and then, after reading the first PUBLISH, either
/// stays silent or hangs up: never a PUBACK.
async fn broker_without_pubacks(hang_up_after_publish: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("mqtt://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await; // CONNECT
        socket.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap(); // CONNACK, accepted
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                // A PUBLISH with QoS 1 has the fixed-header type 3 and QoS bits 01.
                Ok(n) if buffer[..n].iter().any(|b| b & 0xF6 == 0x32) && hang_up_after_publish => {
                    return; // drops the socket
                }
                Ok(_) => {}
            }
        }
    });
    url
}

#[tokio::test]
async fn a_command_written_but_never_acknowledged_in_time_has_an_unknown_outcome() {
    let url = broker_without_pubacks(false).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut config = MqttConfig::new(&url);
    config.publish_timeout = Duration::from_millis(300);
    let gateway = MqttGateway::start(config, tx, Arc::new(SystemClock)).unwrap();
    assert!(gateway.wait_until_connected(WAIT).await);
    let outcome = gateway.make(&command("cm-1", "order-1")).await;
    assert!(
        matches!(outcome, Err(MachineError::OutcomeUnknown(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_connection_lost_after_the_command_was_written_leaves_its_outcome_unknown() {
    let url = broker_without_pubacks(true).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let gateway = MqttGateway::start(MqttConfig::new(&url), tx, Arc::new(SystemClock)).unwrap();
    assert!(gateway.wait_until_connected(WAIT).await);
    let outcome = gateway.make(&command("cm-1", "order-1")).await;
    assert!(
        matches!(outcome, Err(MachineError::OutcomeUnknown(_))),
        "{outcome:?}"
    );
    assert!(!gateway.is_connected());
}
