//! Tmetr's wire types: the request bodies and the reading of answers, with the translation of
//! the domain's sizes and money into Tmetr's vocabulary. Tmetr publishes no API documentation;
//! these shapes come from the original system, and answer fields beyond the ones read here are
//! unknown and ignored.

use crate::client::excerpt;
use chrono::{DateTime, Utc};
use coffee_domain::ports::{MachineError, MakeCommand};
use coffee_domain::{DeviceUuid, DrinkNo, Money, Size};
use serde_json::{json, Value};

/// `static/drink` spells sizes in upper case.
fn drink_size(size: Size) -> &'static str {
    match size {
        Size::Small => "SMALL",
        Size::Medium => "MEDIUM",
        Size::Big => "BIG",
    }
}

/// `command/make` spells sizes in lower case, and the big one is `big`: the original settled
/// on it, and its later `large` was a bug.
fn make_size(size: Size) -> &'static str {
    match size {
        Size::Small => "small",
        Size::Medium => "medium",
        Size::Big => "big",
    }
}

/// Body of `POST /api/ui/v1/static/drink`.
pub(crate) fn drink_request(device: &DeviceUuid, drink_no: &DrinkNo, size: Size) -> Value {
    json!({
        "deviceId": device.as_str(),
        "drinkIdAtDevice": drink_no.as_str(),
        "drinkSize": drink_size(size),
    })
}

/// Body of `POST /api/commander/v1/command/make`: an array, since the endpoint takes a batch;
/// we always send one command. `orderUuid` is the machine's order id from the QR, so the cloud
/// can recognise a repeat; the price is integer kopecks.
pub(crate) fn make_request(command: &MakeCommand) -> Value {
    json!([{
        "deviceId": command.device.device_uuid.as_str(),
        "orderUuid": command.machine_order_id.as_str(),
        "drinkUuid": command.drink_no.as_str(),
        "size": make_size(command.size),
        "price": command.price.kopecks(),
    }])
}

/// Body of `POST /api/ui/v1/stat/heartbeat/recent`: the one latest heartbeat of one device.
pub(crate) fn heartbeat_request(device: &DeviceUuid) -> Value {
    json!({"deviceIds": [device.as_str()], "offset": 0, "limit": 1})
}

fn unreadable(what: &str, body: &str) -> MachineError {
    MachineError::Unavailable(format!(
        "{what} answered unreadable JSON: {}",
        excerpt(body)
    ))
}

/// The `price` of a `static/drink` answer, integer kopecks. Missing, null, zero, negative or
/// non-integer prices are `PriceUnknown` — the original's invented 50 ₽ is never used.
pub(crate) fn parse_price(body: &str) -> Result<Money, MachineError> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| unreadable("tmetr static/drink", body))?;
    let Value::Object(drink) = value else {
        return Err(unreadable("tmetr static/drink", body));
    };
    let price = drink.get("price").unwrap_or(&Value::Null);
    match price.as_i64() {
        Some(kopecks) if kopecks > 0 => Money::rub(kopecks).map_err(|_| MachineError::PriceUnknown),
        _ => {
            tracing::warn!(%price, "tmetr static/drink has no usable price; not selling");
            Err(MachineError::PriceUnknown)
        }
    }
}

/// Above this, `heartbeatCreatedAt` is in milliseconds (10^12 s is the year 33658; 10^12 ms
/// is September 2001).
const MILLIS_THRESHOLD: i64 = 1_000_000_000_000;

/// Reads `heartbeatCreatedAt` as seconds or milliseconds since the epoch.
pub fn heartbeat_time(raw: i64) -> Option<DateTime<Utc>> {
    if raw <= 0 {
        None
    } else if raw > MILLIS_THRESHOLD {
        DateTime::from_timestamp_millis(raw)
    } else {
        DateTime::from_timestamp(raw, 0)
    }
}

/// The last heartbeat in a `heartbeat/recent` answer: `None` for an empty `content`; a missing
/// or unreadable `heartbeatCreatedAt` is `Unavailable` ("heartbeat check failed" upstream).
pub(crate) fn parse_heartbeat(
    body: &str,
    device: &DeviceUuid,
) -> Result<Option<DateTime<Utc>>, MachineError> {
    const WHAT: &str = "tmetr heartbeat/recent";
    let value: Value = serde_json::from_str(body).map_err(|_| unreadable(WHAT, body))?;
    let Some(content) = value.get("content").and_then(Value::as_array) else {
        return Err(MachineError::Unavailable(format!(
            "{WHAT} answer has no content array: {}",
            excerpt(body)
        )));
    };
    // Entries naming another device must not vouch for ours; entries without deviceId do.
    let entry = content.iter().find(|entry| match entry.get("deviceId") {
        Some(Value::String(id)) => id == device.as_str(),
        _ => true,
    });
    let Some(entry) = entry else {
        if content.is_empty() {
            return Ok(None);
        }
        return Err(MachineError::Unavailable(format!(
            "{WHAT} answered for another device: {}",
            excerpt(body)
        )));
    };
    match entry.get("heartbeatCreatedAt") {
        None | Some(Value::Null) => Err(MachineError::Unavailable(format!(
            "{WHAT} answer has no heartbeatCreatedAt: {}",
            excerpt(body)
        ))),
        Some(raw) => raw
            .as_i64()
            .and_then(heartbeat_time)
            .map(Some)
            .ok_or_else(|| {
                MachineError::Unavailable(format!("{WHAT}: unreadable heartbeatCreatedAt {raw}"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_times_in_seconds_and_milliseconds_mean_the_same_moment() {
        let seconds = heartbeat_time(1_730_479_734).unwrap();
        let millis = heartbeat_time(1_730_479_734_000).unwrap();
        assert_eq!(seconds, millis);
        assert_eq!(seconds.to_rfc3339(), "2024-11-01T16:48:54+00:00");
        assert_eq!(heartbeat_time(0), None);
        assert_eq!(heartbeat_time(-5), None);
    }

    #[test]
    fn prices_that_are_not_positive_integers_are_unknown() {
        for body in [
            r#"{}"#,
            r#"{"price":null}"#,
            r#"{"price":0}"#,
            r#"{"price":-100}"#,
            r#"{"price":"15000"}"#,
            r#"{"price":150.5}"#,
        ] {
            assert_eq!(parse_price(body), Err(MachineError::PriceUnknown), "{body}");
        }
        assert_eq!(
            parse_price(r#"{"price":15000,"name":"Latte"}"#),
            Ok(Money::rub(15000).unwrap())
        );
        assert!(matches!(
            parse_price("<html>"),
            Err(MachineError::Unavailable(_))
        ));
        assert!(matches!(
            parse_price("[1]"),
            Err(MachineError::Unavailable(_))
        ));
    }

    #[test]
    fn a_heartbeat_for_another_device_does_not_vouch_for_ours() {
        let ours = DeviceUuid::parse("ours").unwrap();
        let body = r#"{"content":[{"deviceId":"other","heartbeatCreatedAt":1730479734}]}"#;
        assert!(matches!(
            parse_heartbeat(body, &ours),
            Err(MachineError::Unavailable(_))
        ));
        let body = r#"{"content":[{"deviceId":"ours","heartbeatCreatedAt":1730479734}]}"#;
        assert!(parse_heartbeat(body, &ours).unwrap().is_some());
    }
}
