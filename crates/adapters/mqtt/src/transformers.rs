//! Wire types and their mapping: the JSON make command (server → machine), the order event
//! and the presence word (machine → server) of the proposed protocol, and the March-2025
//! legacy binary frame. The machines' vocabulary (`success`, `rejected`, `"1"` for medium…)
//! stops here.

use coffee_domain::ports::MakeCommand;
use coffee_domain::Size;
use serde::{Deserialize, Serialize};

/// Protocol version of the commands we send.
pub const PROTOCOL_VERSION: u32 = 1;

/// `{"v":1,"type":"make","commandId":…,"orderUuid":…,"drinkNo":…,"size":…,"price":…,"ts":…,"ttlSec":…}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MakePayload {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: String,
    /// New for every send attempt, so events can be tied to the attempt that caused them.
    pub command_id: String,
    /// The machine's own order id: its idempotency key, the same on every attempt.
    pub order_uuid: String,
    pub drink_no: String,
    /// `small` / `medium` / `big`.
    pub size: String,
    /// Kopecks.
    pub price: i64,
    /// Server time of issue, Unix seconds.
    pub ts: i64,
    /// The machine must not start the drink after `ts + ttlSec`.
    pub ttl_sec: u32,
}

impl MakePayload {
    pub fn new(command: &MakeCommand, command_id: String, ts: i64) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            kind: "make".to_owned(),
            command_id,
            order_uuid: command.machine_order_id.as_str().to_owned(),
            drink_no: command.drink_no.as_str().to_owned(),
            size: command.size.as_str().to_owned(),
            price: command.price.kopecks(),
            ts,
            ttl_sec: command.device.dispense_deadline_seconds,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// What a machine says about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    Brewing,
    Success,
    Failed,
    Rejected,
}

impl EventStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventStatus::Success | EventStatus::Failed | EventStatus::Rejected
        )
    }
}

/// `{"v":1,"type":"order_status","orderUuid":…,"commandId":…,"status":…,"code":…,"seq":…,"ts":…}`;
/// only `orderUuid` and `status` are required. The device is never read from here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    pub order_uuid: String,
    pub status: EventStatus,
    #[serde(default)]
    pub command_id: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub seq: Option<u64>,
    /// The machine's clock: informational only.
    #[serde(default)]
    pub ts: Option<i64>,
}

/// Why a payload was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("not an order event: {0}")]
    NotAnEvent(String),
    #[error("not a presence word (online/offline)")]
    NotPresence,
}

pub fn parse_event(payload: &[u8]) -> Result<OrderEvent, PayloadError> {
    serde_json::from_slice(payload).map_err(|e| PayloadError::NotAnEvent(e.to_string()))
}

/// Retained presence on the status topic, the machine's last will being `offline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Online,
    Offline,
}

/// `online` / `offline`, case and surrounding blanks ignored; also `{"status":"online"}`
/// for firmware that only speaks JSON.
pub fn parse_presence(payload: &[u8]) -> Result<Presence, PayloadError> {
    #[derive(Deserialize)]
    struct Wrapped {
        status: String,
    }
    let text = std::str::from_utf8(payload).map_err(|_| PayloadError::NotPresence)?;
    let text = text.trim();
    let word = match serde_json::from_str::<Wrapped>(text) {
        Ok(wrapped) => wrapped.status,
        Err(_) => text.to_owned(),
    };
    match word.trim().to_ascii_lowercase().as_str() {
        "online" => Ok(Presence::Online),
        "offline" => Ok(Presence::Offline),
        _ => Err(PayloadError::NotPresence),
    }
}

// --- The legacy frame (original system §10) ---------------------------------------------

const FRAME_HEADER: [u8; 2] = [0xAA, 0x55];
const FRAME_VERSION: u8 = 0x01;
const FRAME_TAIL: [u8; 2] = [0x88, 0x66];
const MAKE_COMMAND_BYTE: u8 = 0x22;
/// The original's initial value ("as per the C++ code"), not CRC-8/MAXIM's 0x00.
const CRC_INIT: u8 = 0x8C;

/// The Dallas/Maxim CRC-8 table (reflected polynomial 0x8C), built at compile time.
const CRC_TABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x8C } else { c >> 1 };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The legacy frame's CRC-8: Dallas/Maxim table, initial value 0x8C, no final XOR.
pub fn crc8(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(CRC_INIT, |crc, byte| CRC_TABLE[(crc ^ byte) as usize])
}

/// The legacy JSON, byte for byte as Python's `json.dumps(…, separators=(",", ":"))`: keys in
/// this order, no spaces, non-ASCII escaped as `\uXXXX`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyJson<'a> {
    order_uuid: &'a str,
    drink_no: &'a str,
    /// The QR's size code: `"0"` small, `"1"` medium, `"2"` big.
    text_flag: &'a str,
    price: i64,
}

fn qr_size(size: Size) -> &'static str {
    match size {
        Size::Small => "0",
        Size::Medium => "1",
        Size::Big => "2",
    }
}

/// Python's `ensure_ascii=True`: every character above U+007F as `\uXXXX` (UTF-16 units).
/// Such characters only ever occur inside JSON strings, so escaping the whole text is safe.
fn ensure_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for ch in json.chars() {
        if ch.is_ascii() {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The body's JSON for one make command.
pub fn legacy_json(order_uuid: &str, drink_no: &str, size: Size, kopecks: i64) -> Vec<u8> {
    let json = serde_json::to_string(&LegacyJson {
        order_uuid,
        drink_no,
        text_flag: qr_size(size),
        price: kopecks,
    })
    .unwrap_or_default();
    ensure_ascii(&json).into_bytes()
}

/// Why a frame could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("legacy frame body of {0} bytes does not fit its 16-bit length")]
pub struct FrameTooLong(pub usize);

/// `AA 55 | 01 | len (u16 BE) | CRC-8 of body | body = 0x22 + JSON | 88 66`.
pub fn legacy_frame(json: &[u8]) -> Result<Vec<u8>, FrameTooLong> {
    let mut body = Vec::with_capacity(json.len() + 1);
    body.push(MAKE_COMMAND_BYTE);
    body.extend_from_slice(json);
    let len = u16::try_from(body.len()).map_err(|_| FrameTooLong(body.len()))?;
    let mut frame = Vec::with_capacity(body.len() + 8);
    frame.extend_from_slice(&FRAME_HEADER);
    frame.push(FRAME_VERSION);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(crc8(&body));
    frame.extend_from_slice(&body);
    frame.extend_from_slice(&FRAME_TAIL);
    Ok(frame)
}

/// The whole legacy frame of a make command.
pub fn legacy_make_frame(command: &MakeCommand) -> Result<Vec<u8>, FrameTooLong> {
    legacy_frame(&legacy_json(
        command.machine_order_id.as_str(),
        command.drink_no.as_str(),
        command.size,
        command.price.kopecks(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_crc_table_is_dallas_maxim_and_the_check_value_uses_the_initial_0x8c() {
        assert_eq!(&CRC_TABLE[..8], &[0, 94, 188, 226, 97, 63, 221, 131]);
        assert_eq!(crc8(b"123456789"), 0xF3);
    }

    #[test]
    fn vector_one_is_reproduced_byte_for_byte() {
        let json = legacy_json(
            "20250317110122659ba6d7-9ace-cndn",
            "9b900a2e63042d350f45b6675ef26ced",
            Size::Medium,
            5000,
        );
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"orderUuid":"20250317110122659ba6d7-9ace-cndn","drinkNo":"9b900a2e63042d350f45b6675ef26ced","textFlag":"1","price":5000}"#
        );
        assert_eq!(json.len(), 121);
        let frame = legacy_frame(&json).unwrap();
        assert_eq!(frame.len(), 130);
        assert_eq!(frame[5], 0x91);
        assert_eq!(
            frame,
            hex("aa5501007a91227b226f7264657255756964223a22323032353033313731313031323236353962613664372d396163652d636e646e222c226472696e6b4e6f223a223962393030613265363330343264333530663435623636373565663236636564222c2274657874466c6167223a2231222c227072696365223a353030307d8866")
        );
    }

    #[test]
    fn vector_two_is_reproduced_byte_for_byte() {
        let json = legacy_json(
            "11111111-2222-3333-4444-555555555555",
            "7",
            Size::Medium,
            10000,
        );
        assert_eq!(json.len(), 95);
        let frame = legacy_frame(&json).unwrap();
        assert_eq!(frame.len(), 104);
        assert_eq!(&frame[3..6], &[0x00, 0x60, 0xFE]);
        assert_eq!(
            frame,
            hex("aa 55 01 00 60 fe 22 7b 22 6f 72 64 65 72 55 75 69 64 22 3a 22 31 31 31 31 31 31 31 31 2d 32 32 32 32
                 2d 33 33 33 33 2d 34 34 34 34 2d 35 35 35 35 35 35 35 35 35 35 35 35 22 2c 22 64 72 69 6e 6b 4e 6f 22
                 3a 22 37 22 2c 22 74 65 78 74 46 6c 61 67 22 3a 22 31 22 2c 22 70 72 69 63 65 22 3a 31 30 30 30 30 7d
                 88 66")
        );
    }

    #[test]
    fn legacy_json_escapes_non_ascii_like_python_and_sizes_are_qr_codes() {
        let json = legacy_json("о-1", "☕😀", Size::Big, 1);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"orderUuid":"\u043e-1","drinkNo":"\u2615\ud83d\ude00","textFlag":"2","price":1}"#
        );
        assert!(legacy_json("o", "d", Size::Small, 1).ends_with(br#""textFlag":"0","price":1}"#));
    }

    #[test]
    fn an_event_needs_an_order_and_a_known_status_and_ignores_anything_else() {
        let event = parse_event(
            br#"{"v":1,"type":"order_status","orderUuid":"o-1","commandId":"c","status":"failed","code":"NO_CUPS","seq":3,"ts":1742198561,"deviceId":"other"}"#,
        )
        .unwrap();
        assert_eq!(event.order_uuid, "o-1");
        assert_eq!(event.status, EventStatus::Failed);
        assert_eq!(event.code.as_deref(), Some("NO_CUPS"));
        assert!(parse_event(br#"{"orderUuid":"o","status":"exploded"}"#).is_err());
        assert!(parse_event(br#"{"status":"success"}"#).is_err());
        assert!(parse_event(b"\xff\xfe").is_err());
    }

    #[test]
    fn presence_is_online_or_offline_as_a_word_or_in_json() {
        assert_eq!(parse_presence(b"online"), Ok(Presence::Online));
        assert_eq!(parse_presence(b" OFFLINE\n"), Ok(Presence::Offline));
        assert_eq!(
            parse_presence(br#"{"status":"online"}"#),
            Ok(Presence::Online)
        );
        assert_eq!(parse_presence(b"maybe"), Err(PayloadError::NotPresence));
    }
}
