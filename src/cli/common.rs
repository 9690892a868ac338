//! What every command shares: its database connection and how a store error reads.

use std::io::Read;

use anyhow::{bail, Context};

use crate::config::Settings;
use crate::error::ServiceError;
use crate::storage::{Conn, Database};

pub(super) fn connect(settings: &Settings) -> anyhow::Result<Conn> {
    Database::open(&settings.database_url)?.connect()
}

/// Turns a service error into a message for the terminal.
pub(super) fn fail(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Reads a secret from stdin: everything, less one trailing newline.
pub(super) fn read_secret() -> anyhow::Result<String> {
    let mut secret = String::new();
    std::io::stdin()
        .read_to_string(&mut secret)
        .context("cannot read the secret from stdin")?;
    let secret = secret
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&secret)
        .to_string();
    if secret.is_empty() {
        bail!("no secret on stdin (pipe it in, e.g. `printf %s \"$PASSWORD\" | intake …`)");
    }
    Ok(secret)
}
