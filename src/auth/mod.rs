//! Sender authentication: credential rules, argon2id hashing, and the verified-credential
//! cache that keeps argon2 (about 20 ms a verify) off the steady-state ingest path.
//!
//! The cache never holds a secret: it maps an HMAC-SHA256 fingerprint of (rule, presented
//! secret), keyed with a random per-process key, to the verdict. It lives inside one
//! registry snapshot, so any change to instances or credentials starts a fresh, empty one.

pub mod oauth;
pub mod rules;
pub mod secret_box;
pub mod signature;
pub mod token_store;
pub mod tokens;
pub mod verifier;

use std::collections::HashMap;
use std::sync::RwLock;

use anyhow::anyhow;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use rules::{presented_secrets, CredentialSpec, PresentedSecret, Rule, RuleKind};
pub use verifier::{Unverified, Verifier};

/// Hashes a secret with argon2id and a random salt (PHC string format).
pub fn hash_secret(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("cannot hash secret: {e}"))
}

/// Checks a secret against a stored argon2 hash (constant-time comparison inside argon2).
/// CPU-heavy: call off the async worker threads.
pub fn verify_secret(secret: &[u8], stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default().verify_password(secret, &parsed).is_ok(),
        Err(e) => {
            log::error!("a stored credential hash is unreadable: {e}");
            false
        }
    }
}

/// An HMAC-SHA256 fingerprint of a presented secret for one rule.
pub type Fingerprint = [u8; 32];

/// Most verdicts one snapshot remembers; past that the cache starts over, which costs
/// one argon2 verify per active credential.
const CACHE_CAPACITY: usize = 10_000;

/// Verdicts of earlier argon2 verifications, by fingerprint.
pub struct VerifiedCache {
    key: [u8; 32],
    verdicts: RwLock<HashMap<Fingerprint, bool>>,
}

impl VerifiedCache {
    pub fn new(key: [u8; 32]) -> Self {
        VerifiedCache {
            key,
            verdicts: RwLock::new(HashMap::new()),
        }
    }

    pub fn fingerprint(&self, rule_id: i32, secret: &[u8]) -> Fingerprint {
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(&rule_id.to_be_bytes());
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }

    pub fn get(&self, fingerprint: &Fingerprint) -> Option<bool> {
        let verdicts = self.verdicts.read().unwrap_or_else(|p| p.into_inner());
        verdicts.get(fingerprint).copied()
    }

    pub fn insert(&self, fingerprint: Fingerprint, verdict: bool) {
        let mut verdicts = self.verdicts.write().unwrap_or_else(|p| p.into_inner());
        if verdicts.len() >= CACHE_CAPACITY {
            verdicts.clear();
        }
        verdicts.insert(fingerprint, verdict);
    }
}

/// A fresh random key for a process's caches.
pub fn random_key() -> [u8; 32] {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_secret() {
        let hash = hash_secret("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("s3cret"));
        assert!(verify_secret(b"s3cret", &hash));
        assert!(!verify_secret(b"s3cret ", &hash));
        assert!(!verify_secret(b"s3cret", "not a hash"));
    }

    #[test]
    fn fingerprints_depend_on_key_rule_and_secret() {
        let a = VerifiedCache::new([1; 32]);
        let b = VerifiedCache::new([2; 32]);
        assert_eq!(a.fingerprint(1, b"x"), a.fingerprint(1, b"x"));
        assert_ne!(a.fingerprint(1, b"x"), a.fingerprint(2, b"x"));
        assert_ne!(a.fingerprint(1, b"x"), a.fingerprint(1, b"y"));
        assert_ne!(a.fingerprint(1, b"x"), b.fingerprint(1, b"x"));
    }
}
