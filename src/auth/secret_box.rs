//! Signing secrets at rest: an HMAC needs the secret itself, so signature rules keep theirs
//! sealed with ChaCha20-Poly1305 under the server's secret key, never in clear.
//!
//! The key comes from `INTAKE_SECRET_KEY` (32 bytes as base64 or 64 hex digits), else from
//! `secret_key_file`. With neither, an SQLite database gets a key file generated beside it
//! (`<database>.key`, mode 0600) on first use; a PostgreSQL database gets none, because every
//! replica needs the same key: signature rules are refused until one is given.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::config::Settings;
use crate::storage::Database;

/// Marks the format of a sealed value: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
const SEALED_PREFIX: &str = "v1:";
/// Bound into every sealed value, so a ciphertext cannot be passed off as another kind.
const ASSOCIATED_DATA: &[u8] = b"intake signing secret";
const NONCE_LEN: usize = 12;

/// Encrypts and decrypts signing secrets with the server's key.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box for a key written as base64 or hex (surrounding blanks ignored).
    pub fn from_key_text(text: &str) -> anyhow::Result<SecretBox> {
        let text = text.trim();
        let key = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .context("the secret key is neither base64 nor 64 hex digits")?
        };
        if key.len() != 32 {
            bail!(
                "the secret key must be 32 bytes (base64 or 64 hex digits), not {}",
                key.len()
            );
        }
        Ok(SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    /// Seals a secret under a fresh random nonce.
    pub fn seal(&self, secret: &[u8]) -> anyhow::Result<String> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt the signing secret"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Opens a value made by [`SecretBox::seal`] with the same key.
    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let encoded = sealed
            .strip_prefix(SEALED_PREFIX)
            .context("not a sealed secret")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("a sealed secret is not base64")?;
        if bytes.len() < NONCE_LEN {
            bail!("a sealed secret is truncated");
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("a signing secret does not open with this server's secret key")
            })
    }
}

/// The key file generated beside an SQLite database.
pub fn default_key_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    name.into()
}

/// The server's secret box: from `INTAKE_SECRET_KEY`, else `secret_key_file`, else (SQLite)
/// the key file beside the database, generated when missing. None on PostgreSQL without a key.
pub fn load(settings: &Settings, db: &Database) -> anyhow::Result<Option<Arc<SecretBox>>> {
    if let Ok(text) = std::env::var("INTAKE_SECRET_KEY") {
        return SecretBox::from_key_text(&text)
            .context("INTAKE_SECRET_KEY")
            .map(|b| Some(Arc::new(b)));
    }
    if let Some(file) = &settings.secret_key_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read secret_key_file {}", file.display()))?;
        return SecretBox::from_key_text(&text)
            .with_context(|| format!("secret_key_file {}", file.display()))
            .map(|b| Some(Arc::new(b)));
    }
    let Some(database) = db.sqlite_path() else {
        return Ok(None);
    };
    let file = default_key_file(database);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate_key_file(&file)?,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    SecretBox::from_key_text(&text)
        .with_context(|| format!("key file {}", file.display()))
        .map(|b| Some(Arc::new(b)))
}

/// Writes a new random key, readable by its owner only. Two processes starting together
/// cannot both win: the file is created exclusively, and the loser reads the winner's.
fn generate_key_file(file: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let text = base64::engine::general_purpose::STANDARD.encode(super::random_key());
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(mut out) => {
            out.write_all(format!("{text}\n").as_bytes())
                .and_then(|()| out.sync_all())
                .with_context(|| format!("cannot write {}", file.display()))?;
            log::info!(
                "generated the key that encrypts signing secrets: {}",
                file.display()
            );
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", file.display())),
    }
}

/// Why a signature rule cannot be added on this database.
pub const NO_KEY: &str = "signature rules need the secret key that encrypts signing secrets: \
     set INTAKE_SECRET_KEY (32 bytes, base64) or secret_key_file, the same on every replica";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_hold_no_clear_text() {
        let a = SecretBox::from_key_text(&"ab".repeat(32)).unwrap();
        let b =
            SecretBox::from_key_text(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .unwrap();
        let sealed = a.seal(b"It's a Secret to Everybody").unwrap();
        assert!(!sealed.contains("Secret"));
        assert_ne!(sealed, a.seal(b"It's a Secret to Everybody").unwrap());
        assert_eq!(a.open(&sealed).unwrap(), b"It's a Secret to Everybody");
        assert!(b.open(&sealed).is_err());
        assert!(SecretBox::from_key_text("short").is_err());
    }
}
