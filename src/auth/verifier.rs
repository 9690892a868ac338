//! Runs argon2 verifications on the blocking pool with bounded concurrency, so a flood of
//! wrong passwords can take at most its share of the CPU and never a worker thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::http::StatusCode;
use tokio::sync::Semaphore;

use super::verify_secret;
use crate::error::ApiError;

/// Verifications that may wait for a slot before new ones are turned away.
const MAX_WAITING: usize = 256;

#[derive(Clone)]
pub struct Verifier {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Verifier {
    /// `parallel` argon2 runs at once (half the cores leaves the rest to good traffic).
    pub fn new(parallel: usize) -> Verifier {
        Verifier {
            slots: Arc::new(Semaphore::new(parallel.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A verifier sized for this machine.
    pub fn for_this_machine() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Verifier::new(cores / 2)
    }

    /// Verifies each (secret, hash) pair; true where the secret matches.
    pub async fn verify(&self, pairs: Vec<(Vec<u8>, String)>) -> Result<Vec<bool>, ApiError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            let mut busy = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many credentials are waiting to be checked; retry shortly.",
            );
            busy.retry_after = Some(1);
            return Err(busy);
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| ApiError::unavailable("The server is shutting down."))?;
        let verdicts = actix_web::web::block(move || {
            let _permit = permit;
            pairs
                .iter()
                .map(|(secret, hash)| verify_secret(secret, hash))
                .collect::<Vec<bool>>()
        })
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("credential check did not run: {e}")))?;
        Ok(verdicts)
    }
}
