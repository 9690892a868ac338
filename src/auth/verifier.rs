//! Runs argon2 verifications on a few dedicated threads at the lowest CPU priority, so a flood
//! of wrong passwords takes what the CPU has left over, and never an HTTP worker.
//!
//! Dedicated threads rather than the shared blocking pool: argon2id works in 19 MiB of
//! memory, and the allocator keeps that per thread; a small fixed set of threads bounds it.
//! Before each verify the thread looks in the cache again, so many requests that arrive
//! together with the same new credential cost one argon2 run, not one each.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use tokio::sync::oneshot;

use super::{verify_secret, Fingerprint, VerifiedCache};
use crate::error::ApiError;

/// Verifications that may wait for a thread before new ones are turned away.
const MAX_WAITING: usize = 256;

/// One presented secret not yet in the cache.
pub struct Unverified {
    pub fingerprint: Fingerprint,
    pub secret: Vec<u8>,
    pub hash: String,
}

struct Job {
    cache: Arc<VerifiedCache>,
    candidates: Vec<Unverified>,
    reply: oneshot::Sender<bool>,
}

#[derive(Clone)]
pub struct Verifier {
    queue: SyncSender<Job>,
}

impl Verifier {
    /// Starts `threads` verifier threads; they end when every `Verifier` clone is dropped.
    pub fn start(threads: usize) -> std::io::Result<Verifier> {
        let (queue, jobs) = mpsc::sync_channel(MAX_WAITING);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("intake-argon2-{n}"))
                .spawn(move || {
                    lowest_priority();
                    run(&jobs)
                })?;
        }
        Ok(Verifier { queue })
    }

    /// Half the cores, leaving the rest to traffic whose credentials are already verified.
    pub fn for_this_machine() -> std::io::Result<Verifier> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Verifier::start(cores / 2)
    }

    /// Whether any candidate's secret matches its hash. Each verdict goes into `cache`.
    pub async fn any_accepted(
        &self,
        cache: Arc<VerifiedCache>,
        candidates: Vec<Unverified>,
    ) -> Result<bool, ApiError> {
        let (reply, verdict) = oneshot::channel();
        let job = Job {
            cache,
            candidates,
            reply,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let mut busy = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "Too many credentials are waiting to be checked; retry shortly.",
                );
                busy.retry_after = Some(1);
                return Err(busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::unavailable("The server is shutting down."))
            }
        }
        verdict
            .await
            .map_err(|_| ApiError::unavailable("The server is shutting down."))
    }
}

/// Puts the calling verifier thread at the lowest CPU priority (nice 19 on Linux). Requests
/// whose credentials are already verified then keep the CPU under a flood of wrong passwords,
/// and the verifications use what they leave idle.
fn lowest_priority() {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        log::warn!("cannot lower the priority of a credential verifier thread: {e:?}");
    }
}

fn run(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let accepted = job.candidates.iter().any(|c| {
            // Another request may have settled this fingerprint while this one waited.
            job.cache.get(&c.fingerprint).unwrap_or_else(|| {
                let verdict = verify_secret(&c.secret, &c.hash);
                job.cache.insert(c.fingerprint, verdict);
                verdict
            })
        });
        let _ = job.reply.send(accepted);
    }
}
