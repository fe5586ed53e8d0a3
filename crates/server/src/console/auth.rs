//! Secrets of the console: argon2id password hashes, random session and API tokens stored as
//! SHA-256 digests, the CSRF token derived from the session's token. Hashing lives here, in
//! the server: the domain only stores and compares what this module produces.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Why a password could not be hashed (the platform's randomness failed, or argon2 refused
/// the parameters).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

impl HashError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

/// The shortest password `users add` / `users passwd` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// An argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored PHC string; a malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time of one verification against a fixed hash, so an unknown user name answers
/// as slowly as a wrong password.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get_or_init(|| hash_password("not a password").ok()) {
        let _ = verify_password(password, hash);
    }
}

/// `bytes` random bytes as URL-safe base64 without padding.
fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0_u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// A new random token (session cookie, API token, login form nonce): 256 bits.
pub fn new_token() -> String {
    random_text(32)
}

/// A random password to print once (`users add` without one, the demo admin).
pub fn random_password() -> String {
    random_text(12)
}

/// What is stored of a token: its SHA-256 digest in hex.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session: derived from the session's own (secret, HttpOnly) token, so
/// a page from elsewhere can neither read nor compute it.
pub fn csrf_of(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"coffee-console-csrf:");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_own_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse").unwrap());
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
        assert_ne!(csrf_of(&a), csrf_of(&b));
        assert!(same_secret(&csrf_of(&a), &csrf_of(&a)));
        assert!(!same_secret(&csrf_of(&a), &csrf_of(&b)));
        assert!(!same_secret("abc", "abcd"));
    }
}
