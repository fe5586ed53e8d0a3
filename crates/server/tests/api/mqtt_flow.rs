//! MQTT machines end to end on a real broker: the make command of a paid order is published
//! once on the device's topic, the machine's `success` completes the order and `failed`
//! returns the money; presence decides the online check, and without a broker configured
//! MQTT machines are offline.

use crate::helpers::{app, qr, TestApp};
use coffee_adapter_mqtt::{Narrator, VirtualMachine, VirtualOutcome};
use coffee_domain::ports::JobSummary;
use coffee_domain::{JobKind, JobState, MachineKind, OrderId, Size};
use coffee_test_support::fixtures::{device, drink, merchant};
use coffee_test_support::fleet_file::{fleet, FleetBuilder};
use coffee_test_support::test_broker::{broker, Broker, OwnBroker, Probe, Received, Topics};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// Two MQTT machines of one shop, and a test device that skips the online check.
fn mqtt_fleet() -> FleetBuilder {
    let mqtt = |id| device(id, "shop").machine(MachineKind::Mqtt);
    fleet()
        .merchant(merchant("shop").name("Кофе MQTT"))
        .device(mqtt("mq-1").location("Холл"))
        .device(mqtt("mq-2"))
        .device(mqtt("mq-test").test_device())
        .drink(drink("mq-1", "1").name("Капучино").medium(15000))
        .drink(drink("mq-2", "1").name("Латте").medium(16000))
        .drink(drink("mq-test", "1").name("Чай").medium(5000))
}

/// The broker and this test's topics; no rate limits, since the tests scan again and again
/// until the server has heard a machine's presence.
fn mqtt_vars(broker: &Broker, topics: &Topics) -> [(&'static str, String); 6] {
    [
        ("RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
        ("RATE_LIMIT_PER_DEVICE_PER_MINUTE", "0".to_owned()),
        ("MQTT_URL", broker.url.clone()),
        ("MQTT_COMMAND_TOPIC", topics.command.clone()),
        ("MQTT_EVENT_TOPIC", topics.event.clone()),
        ("MQTT_STATUS_TOPIC", topics.status.clone()),
    ]
}

/// The application on [`mqtt_fleet`], connected to the broker, and a probe playing the
/// machines that watches every topic of this test; `online` devices announced themselves
/// (retained, as machines do) before the server connected.
async fn spawn_with_broker(broker: &Broker, online: &[&str]) -> (TestApp, Probe, Topics) {
    let topics = broker.topics();
    let machines = Probe::connect(broker, &[format!("{}/+/commands", topics.prefix)]).await;
    for device in online {
        machines
            .publish(&topics.status_of(device), "online", true)
            .await;
    }
    let app = app(&mqtt_fleet())
        .vars(&mqtt_vars(broker, &topics))
        .spawn()
        .await;
    for _ in 0..250 {
        let ready: serde_json::Value = app.get("/ready").await.json().await.unwrap();
        if ready["mqtt"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (app, machines, topics)
}

/// Removes the retained presence this test left on the shared broker.
async fn forget_presence(machines: &Probe, topics: &Topics, devices: &[&str]) {
    for device in devices {
        machines
            .publish(&topics.status_of(device), Vec::new(), true)
            .await;
    }
}

/// Scans drink 1 (medium) once the server has heard the machine's presence; the order id.
async fn scan_when_online(app: &TestApp, device: &str, uuid: &str) -> String {
    for _ in 0..250 {
        let response = app.get(&qr(device, "1", "1", uuid)).await;
        if response.status().as_u16() == 302 {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            return location
                .strip_prefix("/v1/order-status-page?order_id=")
                .unwrap()
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{device} never came online");
}

async fn pay(app: &TestApp, order: &str) {
    let redirect: serde_json::Value = app.initiate(order, None).await.json().await.unwrap();
    let back = app
        .pay(redirect["redirect_url"].as_str().unwrap(), "pay")
        .await;
    assert_eq!(back.status().as_u16(), 303);
}

async fn the_command(machines: &mut Probe) -> Received {
    machines
        .next(WAIT)
        .await
        .expect("a make command on the broker")
}

#[tokio::test]
async fn an_mqtt_drink_paid_in_the_sandbox_is_one_command_on_the_broker_and_success_completes_it() {
    let Some(broker) = broker() else { return };
    let (app, mut machines, topics) = spawn_with_broker(&broker, &["mq-1"]).await;

    let order = scan_when_online(&app, "mq-1", "mq-flow-1").await;
    pay(&app, &order).await;
    let command = the_command(&mut machines).await;
    assert_eq!(command.topic, topics.command_of("mq-1"));
    let json = command.json();
    assert_eq!(json["type"], "make");
    assert_eq!(json["orderUuid"], "mq-flow-1");
    assert_eq!(json["drinkNo"], "1");
    assert_eq!(json["size"], "medium");
    assert_eq!(json["price"], 15000);
    app.wait_for_status(&order, "make_pending").await;

    machines
        .publish(
            &topics.event_of("mq-1"),
            format!(
                r#"{{"v":1,"type":"order_status","orderUuid":"mq-flow-1","commandId":{},"status":"success","seq":2}}"#,
                json["commandId"]
            ),
            false,
        )
        .await;
    let status = app.wait_for_status(&order, "successful").await;
    assert_eq!(status["payment_status"], "succeeded");
    assert_eq!(
        machines.collect(Duration::from_millis(300)).await,
        vec![],
        "exactly one command"
    );
    forget_presence(&machines, &topics, &["mq-1"]).await;
}

#[tokio::test]
async fn an_mqtt_machine_that_reports_failed_gets_the_customers_money_returned() {
    let Some(broker) = broker() else { return };
    let (app, mut machines, topics) = spawn_with_broker(&broker, &["mq-1"]).await;

    let order = scan_when_online(&app, "mq-1", "mq-fail-1").await;
    pay(&app, &order).await;
    the_command(&mut machines).await;
    app.wait_for_status(&order, "make_pending").await;
    machines
        .publish(
            &topics.event_of("mq-1"),
            r#"{"orderUuid":"mq-fail-1","status":"failed","code":"NO_CUPS"}"#,
            false,
        )
        .await;

    app.wait_for_status(&order, "failed").await;
    let json = app.wait_for_payment_status(&order, "refunded").await;
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("Деньги возвращены"),
        "{json}"
    );
    forget_presence(&machines, &topics, &["mq-1"]).await;
}

#[tokio::test]
async fn an_event_on_another_devices_topic_is_refused_and_changes_nothing() {
    let Some(broker) = broker() else { return };
    let (app, mut machines, topics) = spawn_with_broker(&broker, &["mq-1"]).await;
    let order = scan_when_online(&app, "mq-1", "mq-other-1").await;
    pay(&app, &order).await;
    the_command(&mut machines).await;
    app.wait_for_status(&order, "make_pending").await;

    // mq-2 claims mq-1's order, even naming mq-1 in the payload.
    machines
        .publish(
            &topics.event_of("mq-2"),
            r#"{"orderUuid":"mq-other-1","status":"success","deviceUuid":"mq-1"}"#,
            false,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.status(&order).await["status"], "make_pending");

    machines
        .publish(
            &topics.event_of("mq-1"),
            r#"{"orderUuid":"mq-other-1","status":"success"}"#,
            false,
        )
        .await;
    app.wait_for_status(&order, "successful").await;
    forget_presence(&machines, &topics, &["mq-1"]).await;
}

#[tokio::test]
async fn an_mqtt_machine_that_said_offline_or_never_spoke_is_a_503_page_but_test_devices_skip_the_check(
) {
    let Some(broker) = broker() else { return };
    let (app, machines, topics) = spawn_with_broker(&broker, &["mq-1"]).await;
    scan_when_online(&app, "mq-1", "mq-online-1").await;

    // Its last will.
    machines
        .publish(&topics.status_of("mq-1"), "offline", true)
        .await;
    let mut page = String::new();
    for attempt in 0..250 {
        // A new order each time: a scan of an existing order goes straight to its page.
        let uuid = format!("mq-offline-{attempt}");
        let response = app.get(&qr("mq-1", "1", "1", &uuid)).await;
        if response.status().as_u16() == 503 {
            page = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(page.contains("Автомат не в сети"), "{page}");

    let never = app.get(&qr("mq-2", "1", "1", "mq-never-1")).await;
    assert_eq!(never.status().as_u16(), 503);
    app.scan("mq-test", "1", "1", "mq-test-1").await;
    forget_presence(&machines, &topics, &["mq-1"]).await;
}

#[tokio::test]
async fn without_mqtt_url_an_mqtt_machine_is_offline_and_a_paid_test_order_is_refunded() {
    let app = app(&mqtt_fleet()).spawn().await;
    let response = app.get(&qr("mq-1", "1", "1", "no-broker-1")).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.text().await.unwrap().contains("Автомат не в сети"));
    assert!(app.store.all_orders().is_empty());

    // A test device skips the online check; its paid order cannot be made and is refunded.
    let order = app.scan("mq-test", "1", "1", "no-broker-2").await;
    pay(&app, &order).await;
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    let ready: serde_json::Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready, serde_json::json!({ "status": "ready" }));
}

#[tokio::test]
async fn ready_says_degraded_but_answers_200_while_the_broker_is_unreachable() {
    let app = app(&mqtt_fleet())
        .var("MQTT_URL", "mqtt://127.0.0.1:9")
        .spawn()
        .await;
    let response = app.get("/ready").await;
    assert_eq!(response.status().as_u16(), 200);
    let ready: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        ready,
        serde_json::json!({ "status": "degraded", "mqtt": "disconnected" })
    );
}

/// Polls `/ready` until its `mqtt` field says `state` (at most 5 s).
async fn wait_for_mqtt(app: &TestApp, state: &str) {
    for _ in 0..250 {
        let ready: serde_json::Value = app.get("/ready").await.json().await.unwrap();
        if ready["mqtt"] == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("mqtt never {state}");
}

#[tokio::test]
async fn orders_paid_while_the_broker_was_down_each_get_one_command_after_it_restarts_and_complete()
{
    let Some(mut own) = OwnBroker::start("") else {
        return;
    };
    let broker = own.broker();
    let topics = broker.topics();
    let app = app(&mqtt_fleet())
        .vars(&mqtt_vars(&broker, &topics))
        .spawn()
        .await;
    wait_for_mqtt(&app, "connected").await;
    own.kill();
    wait_for_mqtt(&app, "disconnected").await;

    // The test device skips the online check, so it can be sold while the broker is down.
    let uuids = ["restart-1", "restart-2", "restart-3"];
    let mut orders = Vec::new();
    for uuid in uuids {
        let order = app.scan("mq-test", "1", "1", uuid).await;
        pay(&app, &order).await;
        orders.push(order);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for order in &orders {
        // Certainly not sent: still paid, its make job waiting to try again.
        assert_eq!(app.status(order).await["status"], "paid");
    }

    own.restart();
    wait_for_mqtt(&app, "connected").await;
    let mut machines = Probe::connect(&broker, &[format!("{}/+/commands", topics.prefix)]).await;
    // The retries' backoff on the test's clock, step by step, until every command is out
    // (and no further: the dispense deadline runs from then).
    let mut commanded = Vec::new();
    for step in [2, 4, 8, 16, 32] {
        app.clock.advance(chrono::Duration::seconds(step));
        for message in machines.collect(Duration::from_millis(300)).await {
            assert_eq!(message.topic, topics.command_of("mq-test"));
            commanded.push(message.json()["orderUuid"].as_str().unwrap().to_owned());
        }
        if commanded.len() >= uuids.len() {
            break;
        }
    }
    commanded.extend(
        machines
            .collect(Duration::from_millis(300))
            .await
            .iter()
            .map(|m| m.json()["orderUuid"].as_str().unwrap().to_owned()),
    );
    commanded.sort();
    assert_eq!(commanded, uuids, "each paid order's command once");

    for (order, uuid) in orders.iter().zip(uuids) {
        app.wait_for_status(order, "make_pending").await;
        machines
            .publish(
                &topics.event_of("mq-test"),
                format!(r#"{{"orderUuid":"{uuid}","status":"success"}}"#),
                false,
            )
            .await;
        app.wait_for_status(order, "successful").await;
    }
}

/// `coffee-pay machine simulate` as a library: the virtual machine on `device`, its lines
/// collected.
fn virtual_machine(
    broker: &Broker,
    topics: &Topics,
    device: &str,
    outcome: VirtualOutcome,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<String>>>) {
    let mut config = coffee_adapter_mqtt::MqttConfig::new(&broker.url);
    config.command_topic = topics.command.clone();
    config.event_topic = topics.event.clone();
    config.status_topic = topics.status.clone();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let said = lines.clone();
    let say: Narrator = Arc::new(move |line| said.lock().unwrap().push(line));
    let machine = VirtualMachine {
        device: device.to_owned(),
        outcome,
        delay: Duration::from_millis(50),
    };
    let task = tokio::spawn(async move {
        machine.run(&config, say).await.unwrap();
    });
    (task, lines)
}

#[tokio::test]
async fn the_virtual_machine_announces_itself_and_drives_a_paid_order_to_successful() {
    let Some(broker) = broker() else { return };
    let (app, machines, topics) = spawn_with_broker(&broker, &[]).await;
    let (task, lines) = virtual_machine(&broker, &topics, "mq-1", VirtualOutcome::Success);

    let order = scan_when_online(&app, "mq-1", "virtual-1").await;
    pay(&app, &order).await;
    app.wait_for_status(&order, "successful").await;
    let said = lines.lock().unwrap().join("\n");
    assert!(said.contains("announced online"), "{said}");
    assert!(said.contains("make order virtual-1"), "{said}");
    assert!(said.contains("order virtual-1: success"), "{said}");
    task.abort();
    forget_presence(&machines, &topics, &["mq-1"]).await;
}

#[tokio::test]
async fn the_virtual_machine_told_to_fail_gets_the_money_returned() {
    let Some(broker) = broker() else { return };
    let (app, machines, topics) = spawn_with_broker(&broker, &[]).await;
    let (task, _lines) = virtual_machine(&broker, &topics, "mq-2", VirtualOutcome::Failed);

    let order = scan_when_online(&app, "mq-2", "virtual-2").await;
    pay(&app, &order).await;
    app.wait_for_status(&order, "failed").await;
    app.wait_for_payment_status(&order, "refunded").await;
    task.abort();
    forget_presence(&machines, &topics, &["mq-2"]).await;
}

#[tokio::test]
async fn a_paid_order_on_an_mqtt_legacy_machine_is_one_legacy_frame_and_is_taken_as_made_at_its_deadline(
) {
    let Some(broker) = broker() else { return };
    let topics = broker.topics();
    let legacy_topic = format!("{}/technical", topics.prefix);
    let mut machines = Probe::connect(&broker, &[format!("{}/#", topics.prefix)]).await;
    // It declares no on_dispense_deadline: a legacy machine cannot report, so it defaults to
    // assume_success; it never announces presence, which the legacy protocol lacks.
    let fleet = mqtt_fleet()
        .device(
            device("mq-legacy", "shop")
                .machine(MachineKind::MqttLegacy)
                .dispense_deadline_seconds(120),
        )
        .drink(drink("mq-legacy", "1").name("Американо").medium(12000));
    let app = app(&fleet)
        .vars(&mqtt_vars(&broker, &topics))
        .var("MQTT_LEGACY_TOPIC", &legacy_topic)
        .spawn()
        .await;
    wait_for_mqtt(&app, "connected").await;

    let order = scan_when_online(&app, "mq-legacy", "legacy-flow-1").await;
    pay(&app, &order).await;
    let frame = the_command(&mut machines).await;
    assert_eq!(frame.topic, legacy_topic);
    assert!(!frame.retain);
    let expected = coffee_adapter_mqtt::legacy_frame(&coffee_adapter_mqtt::legacy_json(
        "legacy-flow-1",
        "1",
        Size::Medium,
        12000,
    ))
    .unwrap();
    assert_eq!(frame.payload, expected);
    app.wait_for_status(&order, "make_pending").await;
    assert_eq!(
        machines.collect(Duration::from_millis(300)).await,
        vec![],
        "exactly one frame"
    );

    app.clock.advance(chrono::Duration::seconds(119));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.status(&order).await["status"], "make_pending");
    app.clock.advance(chrono::Duration::seconds(2));
    let status = app.wait_for_status(&order, "successful").await;
    assert_eq!(status["payment_status"], "succeeded");
}

/// The order's dispense deadline jobs once `ready` holds for them (at most 5 s).
async fn deadline_jobs_when(
    app: &TestApp,
    order: &str,
    ready: impl Fn(&[JobSummary]) -> bool,
) -> Vec<JobSummary> {
    let order_id = OrderId::parse(order).unwrap();
    let mut jobs = Vec::new();
    for _ in 0..250 {
        jobs = app.ctx.ports.jobs.jobs_of(order_id).await.unwrap();
        jobs.retain(|j| j.kind == JobKind::DispenseDeadline);
        jobs.sort_by_key(|j| j.run_at);
        if ready(&jobs) {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deadline jobs of {order} never got there: {jobs:?}");
}

#[tokio::test]
async fn brewing_before_the_deadline_keeps_the_order_alive_past_it_until_the_machine_says_success()
{
    let Some(broker) = broker() else { return };
    let (app, mut machines, topics) = spawn_with_broker(&broker, &["mq-1"]).await;
    let order = scan_when_online(&app, "mq-1", "mq-brewing-1").await;
    pay(&app, &order).await;
    the_command(&mut machines).await;
    app.wait_for_status(&order, "make_pending").await;
    let first = deadline_jobs_when(&app, &order, |jobs| jobs.len() == 1).await;

    // 100 s into its 180 s deadline the machine says it is brewing: a new whole deadline.
    app.clock.advance(chrono::Duration::seconds(100));
    machines
        .publish(
            &topics.event_of("mq-1"),
            r#"{"orderUuid":"mq-brewing-1","status":"brewing","seq":2}"#,
            false,
        )
        .await;
    let jobs = deadline_jobs_when(&app, &order, |jobs| jobs.len() == 2).await;
    assert_eq!(
        jobs[1].run_at - jobs[0].run_at,
        chrono::Duration::seconds(100)
    );

    // The original deadline passes: its job runs and leaves the order alone.
    app.clock.advance(chrono::Duration::seconds(100));
    deadline_jobs_when(&app, &order, |jobs| {
        jobs.iter()
            .any(|j| j.id == first[0].id && j.state == JobState::Done)
    })
    .await;
    let page = app.status(&order).await;
    assert_eq!(page["status"], "make_pending");
    assert!(
        page["message"]
            .as_str()
            .unwrap()
            .contains("Готовим напиток"),
        "{page}"
    );

    machines
        .publish(
            &topics.event_of("mq-1"),
            r#"{"orderUuid":"mq-brewing-1","status":"success","seq":3}"#,
            false,
        )
        .await;
    let status = app.wait_for_status(&order, "successful").await;
    assert_eq!(status["payment_status"], "succeeded");
    forget_presence(&machines, &topics, &["mq-1"]).await;
}
