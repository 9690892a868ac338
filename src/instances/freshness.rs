//! Makes a change made by the CLI, the API or another replica count for the very next request
//! this server answers, without reading the database on every request.
//!
//! The ingest path reads the in-memory registry. Only before it would refuse a request
//! (unknown instance, credential that does not match) does it ask for a configuration check:
//! one read of the configuration version, and a reload when it moved. Checks run one at a
//! time, and a request waits for the first check that *began after it arrived*: that check
//! sees every change committed before the request was sent, so there is no window in which a
//! just-added instance or credential is refused. Requests arriving while a check runs share
//! the next one, so a flood of requests for names that do not exist costs one version read at
//! a time, not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::web;

use super::registry::{refresh, Registry, SharedRegistry};
use crate::error::ServiceError;
use crate::storage::Pool;

/// Coalesces on-demand configuration checks.
#[derive(Default)]
pub struct Freshness {
    /// Held while a check runs, so checks run one at a time.
    turn: tokio::sync::Mutex<()>,
    /// Checks begun, and checks finished (successfully or not).
    begun: AtomicU64,
    finished: AtomicU64,
}

impl Freshness {
    /// The registry as of a check that began after this call: the current snapshot if one
    /// such check has already finished, else after running one. Fails when the configuration
    /// cannot be read (storage unavailable): the caller then cannot know whether a refusal
    /// is right.
    pub async fn check(
        &self,
        pool: &Pool,
        shared: &SharedRegistry,
    ) -> Result<Arc<Registry>, ServiceError> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        if self.finished.load(Ordering::SeqCst) > arrived {
            return Ok(shared.load_full());
        }
        self.begun.fetch_add(1, Ordering::SeqCst);
        let (pool, registry) = (pool.clone(), shared.clone());
        let outcome = web::block(move || refresh(&pool, &registry)).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(Ok(_)) => Ok(shared.load_full()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ServiceError::Unavailable(format!(
                "the configuration check did not run: {e}"
            ))),
        }
    }
}
