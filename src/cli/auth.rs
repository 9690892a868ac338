//! Sender-authentication flags of `intake instance add|update` (token lifetime, signature
//! tolerance, rate limit) and `intake instance credential add --signature`.

use clap::Args;

use crate::config::Settings;
use crate::instances::auth_settings::AuthChanges;
use crate::instances::{store, CredentialView};
use crate::storage::Database;

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Seconds a token from /instance/token/NAME stays valid (default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub token_ttl: Option<i32>,
    /// Seconds a signed request's timestamp may differ from this server's clock (default 300).
    #[arg(long, value_name = "SECONDS")]
    pub signature_tolerance: Option<i32>,
    /// Accept at most this many requests per second (per server process); excess get 429.
    #[arg(long, value_name = "RPS")]
    pub rate_limit: Option<f64>,
    /// Requests accepted at once above the rate (default: one second's worth).
    #[arg(long, value_name = "N", requires = "rate_limit")]
    pub rate_burst: Option<i32>,
    /// Remove the rate limit.
    #[arg(long, conflicts_with_all = ["rate_limit", "rate_burst"])]
    pub no_rate_limit: bool,
}

impl AuthArgs {
    pub fn changes(&self) -> AuthChanges {
        AuthChanges {
            token_ttl: self.token_ttl,
            signature_tolerance_s: self.signature_tolerance,
            rate_limit: match (self.rate_limit, self.no_rate_limit) {
                (Some(rate), _) => Some(Some(rate)),
                (None, true) => Some(None),
                (None, false) => None,
            },
            rate_burst: self.rate_burst,
        }
    }
}

/// `intake instance credential add NAME --signature SCHEME --secret-stdin [--header H]`.
pub fn add_signature_rule(
    settings: &Settings,
    name: &str,
    scheme: &str,
    header: Option<&str>,
    secret: &str,
) -> anyhow::Result<CredentialView> {
    let db = Database::open(&settings.database_url)?;
    let secrets = crate::auth::secret_box::load(settings, &db)?;
    let mut conn = db.connect()?;
    store::add_signature_rule(
        &mut conn,
        name,
        scheme,
        header,
        secret.as_bytes(),
        secrets.as_deref(),
    )
    .map_err(super::common::fail)
}
