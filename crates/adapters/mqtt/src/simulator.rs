//! A virtual machine for operators and tests (`coffee-pay machine simulate`): it connects with
//! the server's own settings, announces itself `online` (retained, `offline` as its last
//! will), answers every make command on its topic with `accepted` and then the outcome, and
//! says what it does through a callback — so an installation can be tried end to end on a
//! real broker before the first real machine is connected.

use crate::config::{ConfigError, MqttConfig};
use crate::transformers::MakePayload;
use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What the virtual machine does with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtualOutcome {
    /// `accepted`, then `success` after the delay.
    Success,
    /// `accepted`, then `failed` with code `SIMULATED` after the delay.
    Failed,
    /// `accepted`, then nothing: the server's deadline decides.
    Silent,
}

impl VirtualOutcome {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Self::Success),
            "failed" => Some(Self::Failed),
            "silent" => Some(Self::Silent),
            _ => None,
        }
    }
}

/// Says what the machine does, one line at a time.
pub type Narrator = Arc<dyn Fn(String) + Send + Sync>;

/// A simulated MQTT coffee machine.
pub struct VirtualMachine {
    pub device: String,
    pub outcome: VirtualOutcome,
    pub delay: Duration,
}

impl VirtualMachine {
    /// Runs until the task is dropped or aborted; errors only for a configuration that
    /// cannot work (the connection itself is retried every second, as a machine would).
    pub async fn run(&self, config: &MqttConfig, say: Narrator) -> Result<(), ConfigError> {
        let checked = config.check()?;
        let bad_device = || ConfigError::BadTopic {
            name: "device",
            template: self.device.clone(),
            why: "cannot be one topic level",
        };
        let commands = checked
            .topics
            .command
            .topic_for(&self.device)
            .ok_or_else(bad_device)?;
        let events = checked
            .topics
            .event
            .topic_for(&self.device)
            .ok_or_else(bad_device)?;
        let status = checked
            .topics
            .status
            .topic_for(&self.device)
            .ok_or_else(bad_device)?;
        let client_id = format!(
            "sim-{}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8],
            self.device
        );
        let mut options = MqttOptions::new(
            client_id,
            checked.endpoint.host.clone(),
            checked.endpoint.port,
        );
        options.set_keep_alive(config.keep_alive);
        options.set_last_will(LastWill::new(&status, "offline", QoS::AtLeastOnce, true));
        if let Some(username) = &config.username {
            options.set_credentials(username, config.password.clone().unwrap_or_default());
        }
        if checked.endpoint.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(crate::client::tls_config(config)?),
            )));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        // What each order came to, so a repeated command is answered, never made again.
        let mut orders: HashMap<String, &'static str> = HashMap::new();
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    say(format!("connected; listening on {commands}"));
                    let _ = client.try_subscribe(&commands, QoS::AtLeastOnce);
                    let _ = client.try_publish(&status, QoS::AtLeastOnce, true, "online");
                    say(format!("announced online on {status}"));
                }
                Ok(Event::Incoming(Packet::Publish(message))) if message.topic == commands => {
                    let command: MakePayload = match serde_json::from_slice(&message.payload) {
                        Ok(command) => command,
                        Err(error) => {
                            say(format!(
                                "ignored a message that is not a make command: {error}"
                            ));
                            continue;
                        }
                    };
                    if let Some(known) = orders.get(&command.order_uuid) {
                        say(format!(
                            "order {} again (command {}): answering {known}, not making it twice",
                            command.order_uuid, command.command_id
                        ));
                        let _ = client.try_publish(
                            &events,
                            QoS::AtLeastOnce,
                            false,
                            event(&command, known, 3),
                        );
                        continue;
                    }
                    say(format!(
                        "make order {} (command {}): drink {} {} for {} kopecks",
                        command.order_uuid,
                        command.command_id,
                        command.drink_no,
                        command.size,
                        command.price
                    ));
                    let _ = client.try_publish(
                        &events,
                        QoS::AtLeastOnce,
                        false,
                        event(&command, "accepted", 1),
                    );
                    say(format!("order {}: accepted", command.order_uuid));
                    let result = match self.outcome {
                        VirtualOutcome::Success => Some("success"),
                        VirtualOutcome::Failed => Some("failed"),
                        VirtualOutcome::Silent => None,
                    };
                    orders.insert(command.order_uuid.clone(), result.unwrap_or("accepted"));
                    if let Some(result) = result {
                        // Later, from its own task: the loop must keep polling meanwhile.
                        let (client, events, say, delay) =
                            (client.clone(), events.clone(), say.clone(), self.delay);
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let sent = client
                                .publish(
                                    &events,
                                    QoS::AtLeastOnce,
                                    false,
                                    event(&command, result, 2),
                                )
                                .await;
                            match sent {
                                Ok(()) => say(format!("order {}: {result}", command.order_uuid)),
                                Err(error) => say(format!(
                                    "order {}: could not report {result}: {error}",
                                    command.order_uuid
                                )),
                            }
                        });
                    } else {
                        say(format!("order {}: staying silent", command.order_uuid));
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    say(format!("connection: {error}; retrying in 1 s"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

fn event(command: &MakePayload, status: &str, seq: u64) -> Vec<u8> {
    let code = (status == "failed").then_some("SIMULATED");
    serde_json::json!({
        "v": 1,
        "type": "order_status",
        "orderUuid": command.order_uuid,
        "commandId": command.command_id,
        "status": status,
        "code": code,
        "seq": seq,
        "ts": chrono::Utc::now().timestamp(),
    })
    .to_string()
    .into_bytes()
}
