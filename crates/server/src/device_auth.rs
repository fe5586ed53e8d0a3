//! Authenticity of machines' HTTP reports (`POST /v1/devices/{device_uuid}/events`).
//!
//! A report is believed only when `X-Signature` is the hex HMAC-SHA256 of the raw body under
//! the device's secret (an optional `sha256=` prefix is accepted), its `at` is within the
//! window around now, and the same body was not seen before inside that window.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// How far a report's `at` may be from the server's clock.
pub const TIMESTAMP_WINDOW_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("missing or malformed signature")]
    MissingSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp outside the allowed window")]
    StaleTimestamp,
    #[error("report already received")]
    Replayed,
}

/// Checks `signature_header` against the HMAC of `body` under `secret`, in constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<(), DeviceAuthError> {
    let header = signature_header
        .ok_or(DeviceAuthError::MissingSignature)?
        .trim();
    let hex_part = header.strip_prefix("sha256=").unwrap_or(header);
    let expected = hex::decode(hex_part).map_err(|_| DeviceAuthError::MissingSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| DeviceAuthError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| DeviceAuthError::BadSignature)
}

/// The hex signature a machine must send (used by tests and machine-side tooling).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

pub fn check_timestamp(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), DeviceAuthError> {
    if (now - at).num_seconds().abs() > TIMESTAMP_WINDOW_SECONDS {
        return Err(DeviceAuthError::StaleTimestamp);
    }
    Ok(())
}

/// Remembers the bodies accepted inside the window; an identical body again is a replay.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<[u8; 32], DateTime<Utc>>>,
}

impl ReplayGuard {
    pub fn check_and_remember(
        &self,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), DeviceAuthError> {
        let digest: [u8; 32] = Sha256::digest(body).into();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now - Duration::seconds(2 * TIMESTAMP_WINDOW_SECONDS);
        seen.retain(|_, at| *at > horizon);
        if seen.contains_key(&digest) {
            return Err(DeviceAuthError::Replayed);
        }
        seen.insert(digest, now);
        Ok(())
    }

    /// Forgets a remembered body whose report was not applied (storage unavailable), so the
    /// machine's retry of the very same body is not refused as a replay.
    pub fn forget(&self, body: &[u8]) {
        let digest: [u8; 32] = Sha256::digest(body).into();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(&digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_signature_is_accepted_with_or_without_prefix() {
        let body = br#"{"order_uuid":"x","result":"dispensed"}"#;
        let signature = sign(b"secret", body);
        assert_eq!(verify_signature(b"secret", body, Some(&signature)), Ok(()));
        assert_eq!(
            verify_signature(b"secret", body, Some(&format!("sha256={signature}"))),
            Ok(())
        );
    }

    #[test]
    fn wrong_missing_or_garbled_signatures_are_refused() {
        let body = b"{}";
        let signature = sign(b"secret", body);
        assert_eq!(
            verify_signature(b"other", body, Some(&signature)),
            Err(DeviceAuthError::BadSignature)
        );
        assert_eq!(
            verify_signature(b"secret", b"{ }", Some(&signature)),
            Err(DeviceAuthError::BadSignature)
        );
        assert_eq!(
            verify_signature(b"secret", body, None),
            Err(DeviceAuthError::MissingSignature)
        );
        assert_eq!(
            verify_signature(b"secret", body, Some("zz")),
            Err(DeviceAuthError::MissingSignature)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_are_stale() {
        let now = Utc::now();
        assert_eq!(check_timestamp(now - Duration::seconds(299), now), Ok(()));
        assert_eq!(
            check_timestamp(now - Duration::seconds(301), now),
            Err(DeviceAuthError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp(now + Duration::seconds(301), now),
            Err(DeviceAuthError::StaleTimestamp)
        );
    }

    #[test]
    fn the_same_body_twice_is_a_replay() {
        let guard = ReplayGuard::default();
        let now = Utc::now();
        assert_eq!(guard.check_and_remember(b"a", now), Ok(()));
        assert_eq!(
            guard.check_and_remember(b"a", now),
            Err(DeviceAuthError::Replayed)
        );
        assert_eq!(guard.check_and_remember(b"b", now), Ok(()));
    }

    #[test]
    fn a_forgotten_body_may_come_again() {
        let guard = ReplayGuard::default();
        let now = Utc::now();
        assert_eq!(guard.check_and_remember(b"a", now), Ok(()));
        guard.forget(b"a");
        assert_eq!(guard.check_and_remember(b"a", now), Ok(()));
        assert_eq!(
            guard.check_and_remember(b"a", now),
            Err(DeviceAuthError::Replayed)
        );
    }
}
