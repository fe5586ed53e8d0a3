//! Secrets at rest: provider credentials and device keys are stored sealed with AES-256-GCM
//! under a key derived from `SECRET_KEY` (HKDF-SHA256), and opened only for the call that
//! needs them. A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag).
//!
//! The nonce is derived from the plaintext (HMAC under a second derived key, as in SIV modes):
//! the same secret always seals to the same value, so applying a fleet file twice changes
//! nothing, and different secrets never share a nonce.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use coffee_domain::SealedSecret;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
/// Shortest `SECRET_KEY` accepted: 32 characters.
pub const MIN_SECRET_KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("SECRET_KEY must be at least {MIN_SECRET_KEY_LEN} characters")]
    KeyTooShort,
    #[error("sealed secret is malformed")]
    Malformed,
    #[error("sealed secret cannot be opened with this SECRET_KEY")]
    WrongKey,
    #[error("encryption failed")]
    Encryption,
}

/// Seals and opens secrets with the server's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    nonce_key: [u8; 32],
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn from_secret_key(secret_key: &str) -> Result<Self, SecretError> {
        if secret_key.chars().count() < MIN_SECRET_KEY_LEN {
            return Err(SecretError::KeyTooShort);
        }
        let hkdf = Hkdf::<Sha256>::new(Some(b"coffee-pay secrets v1"), secret_key.as_bytes());
        let mut key = [0u8; 32];
        let mut nonce_key = [0u8; 32];
        hkdf.expand(b"aes-256-gcm", &mut key)
            .map_err(|_| SecretError::Encryption)?;
        hkdf.expand(b"nonce", &mut nonce_key)
            .map_err(|_| SecretError::Encryption)?;
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            nonce_key,
        })
    }

    /// A box with a random key: demo mode, where nothing outlives the process.
    pub fn random() -> Result<Self, SecretError> {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_secret_key(&hex::encode(bytes))
    }

    pub fn seal(&self, plaintext: &str) -> Result<SealedSecret, SecretError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key)
            .map_err(|_| SecretError::Encryption)?;
        mac.update(plaintext.as_bytes());
        let digest = mac.finalize().into_bytes();
        let nonce = Nonce::from_slice(&digest[..NONCE_LEN]);
        let ciphertext = self
            .cipher
            .encrypt(nonce, plaintext.as_bytes())
            .map_err(|_| SecretError::Encryption)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(SealedSecret::new(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )))
    }

    pub fn open(&self, sealed: &SealedSecret) -> Result<String, SecretError> {
        let encoded = sealed
            .as_str()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::Malformed)?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if blob.len() <= NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sealed_secret_opens_with_the_same_key_only() {
        let secrets = SecretBox::from_secret_key(KEY).unwrap();
        let sealed = secrets.seal("live_secret_key").unwrap();
        assert!(sealed.as_str().starts_with("v1:"));
        assert!(!sealed.as_str().contains("live_secret_key"));
        assert_eq!(secrets.open(&sealed).unwrap(), "live_secret_key");
        let other = SecretBox::from_secret_key("another key that is long enough!!").unwrap();
        assert_eq!(other.open(&sealed), Err(SecretError::WrongKey));
    }

    #[test]
    fn the_same_secret_seals_the_same_way_and_different_secrets_differently() {
        let secrets = SecretBox::from_secret_key(KEY).unwrap();
        assert_eq!(secrets.seal("x").unwrap(), secrets.seal("x").unwrap());
        assert_ne!(secrets.seal("x").unwrap(), secrets.seal("y").unwrap());
        let random = SecretBox::random().unwrap();
        assert_ne!(random.seal("x").unwrap(), secrets.seal("x").unwrap());
    }

    #[test]
    fn short_keys_and_garbage_are_refused() {
        assert_eq!(
            SecretBox::from_secret_key("short").unwrap_err(),
            SecretError::KeyTooShort
        );
        let secrets = SecretBox::from_secret_key(KEY).unwrap();
        for garbage in ["plain", "v1:!!!", "v1:AAAA"] {
            assert_eq!(
                secrets.open(&SealedSecret::new(garbage)),
                Err(SecretError::Malformed)
            );
        }
        assert!(!format!("{secrets:?}").contains(KEY));
    }
}
