//! Secrets at rest: provider credentials and device keys are stored sealed with AES-256-GCM
//! under a key derived from `SECRET_KEY` (HKDF-SHA256), and opened only for the call that
//! needs them. A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hkdf::Hkdf;
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
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(b"coffee-pay secrets v1"), secret_key.as_bytes())
            .expand(b"aes-256-gcm", &mut key)
            .map_err(|_| SecretError::Encryption)?;
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        })
    }

    pub fn seal(&self, plaintext: &str) -> Result<String, SecretError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| SecretError::Encryption)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        ))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
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
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("live_secret_key"));
        assert_eq!(secrets.open(&sealed).unwrap(), "live_secret_key");
        let other = SecretBox::from_secret_key("another key that is long enough!!").unwrap();
        assert_eq!(other.open(&sealed), Err(SecretError::WrongKey));
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let secrets = SecretBox::from_secret_key(KEY).unwrap();
        assert_ne!(secrets.seal("x").unwrap(), secrets.seal("x").unwrap());
    }

    #[test]
    fn short_keys_and_garbage_are_refused() {
        assert_eq!(
            SecretBox::from_secret_key("short").unwrap_err(),
            SecretError::KeyTooShort
        );
        let secrets = SecretBox::from_secret_key(KEY).unwrap();
        assert_eq!(secrets.open("plain"), Err(SecretError::Malformed));
        assert_eq!(secrets.open("v1:!!!"), Err(SecretError::Malformed));
        assert_eq!(secrets.open("v1:AAAA"), Err(SecretError::Malformed));
        assert!(!format!("{secrets:?}").contains(KEY));
    }
}
