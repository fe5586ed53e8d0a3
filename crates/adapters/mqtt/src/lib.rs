//! # coffee-adapter-mqtt
//!
//! The domain's [`MachineGateway`](coffee_domain::ports::MachineGateway) for coffee machines
//! that speak MQTT through a broker the operator runs (Mosquitto, or any MQTT 3.1.1 broker).
//! It owns:
//!
//! * the connection: rumqttc's event loop in its own task, TLS through the workspace's
//!   rustls, reconnects with exponential backoff and jitter, subscriptions again after every
//!   ConnAck, one log line per change of state;
//! * make commands: one QoS 1, never retained publish per call on the device's command topic,
//!   counted as delivered only on the broker's PUBACK for that publish — never connected or
//!   lost before it was written is `Unavailable`, written without a PUBACK in time is
//!   `OutcomeUnknown`;
//! * what machines publish: order events on the device's event topic (the device is the
//!   topic's, never the payload's) become `DispenseReport`s on the server's channel; retained
//!   `online`/`offline` on the status topic is the device's presence;
//! * the JSON of the proposed protocol and the March-2025 legacy binary frame.
//!
//! It decides nothing: what a report does to an order is the domain's. Configuration
//! ([`MqttConfig`]) is injected by the server; this crate reads no environment variables.
//!
//! Files by role (the same in every external-service adapter): `config.rs` settings and topic
//! templates, `client.rs` transport, `transformers.rs` wire types and the legacy frame,
//! `gateway.rs` the port; besides them `events.rs` (inbound messages, in place of
//! `notification.rs`) and `simulator.rs` (a virtual machine for operators and tests).

mod client;
mod config;
mod events;
mod gateway;
mod simulator;
mod transformers;

pub use config::{
    unique_client_id, ConfigError, Endpoint, MqttConfig, TopicTemplate, DEFAULT_COMMAND_TOPIC,
    DEFAULT_EVENT_TOPIC, DEFAULT_KEEP_ALIVE, DEFAULT_LEGACY_TOPIC, DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_PUBLISH_TIMEOUT, DEFAULT_SHARED_GROUP, DEFAULT_STATUS_TOPIC,
};
pub use events::Handled;
pub use gateway::MqttGateway;
pub use simulator::{Narrator, VirtualMachine, VirtualOutcome};
pub use transformers::{
    crc8, legacy_frame, legacy_json, legacy_make_frame, EventStatus, MakePayload, OrderEvent,
    Presence,
};
