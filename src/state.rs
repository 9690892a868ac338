//! The state every request handler reaches: the registry, the writer, the pool, the limits
//! and each feature's share. It sits below every route and depends on none of them.

use std::sync::Arc;

use crate::auth::Verifier;
use crate::config::IngestLimits;
use crate::console::state::Console;
use crate::error::ApiError;
use crate::instances::freshness::Freshness;
use crate::instances::registry::{Registry, SharedRegistry};
use crate::ops::Ops;
use crate::storage::writer::Writer;
use crate::storage::{Backend, Pool};
use crate::tls::ReloadableCert;

/// What every request handler can reach.
pub struct AppState {
    pub registry: SharedRegistry,
    pub writer: Writer,
    pub pool: Pool,
    pub limits: IngestLimits,
    /// Which database ingest writes to (PostgreSQL refuses some payloads SQLite stores).
    pub backend: Backend,
    pub verifier: Verifier,
    /// The main HTTPS certificate, when HTTPS is served (for `PUT /api/v1/tls`).
    pub tls: Option<Arc<ReloadableCert>>,
    /// Metrics and the delivery log's recorder.
    pub ops: Ops,
    /// Coalesces the configuration checks made before refusing a request.
    pub(crate) freshness: Freshness,
    /// Sessions and sign-in throttling of the web console.
    pub console: Console,
}

impl AppState {
    /// Before refusing a request (unknown instance, failed authentication): the registry as
    /// of a configuration check begun after the request arrived, so an instance or credential
    /// added a moment ago works at once (see [`Freshness`]).
    /// When the configuration cannot be read, the refusal could be wrong: 503, retry.
    pub async fn fresher_registry(&self) -> Result<Arc<Registry>, ApiError> {
        self.freshness
            .check(&self.pool, &self.registry)
            .await
            .map_err(|e| {
                log::warn!("configuration check before refusing a request failed: {e}");
                ApiError::unavailable(
                    "The configuration cannot be read right now; nothing was stored. \
                     Retry shortly.",
                )
            })
    }
}
