//! Runs argon2 verifications on a few dedicated threads at the lowest CPU priority, so a flood
//! of wrong passwords takes what the CPU has left over, and never an HTTP worker.
//!
//! Dedicated threads rather than the shared blocking pool: argon2id works in 19 MiB of
//! memory, and the allocator keeps that per thread; a small fixed set of threads bounds it.
//! Before each verify the thread looks in the cache again, so many requests that arrive
//! together with the same new credential cost one argon2 run, not one each.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::{verify_secret, Fingerprint, VerifiedCache};
use crate::error::{ApiError, ErrorCode};

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
    reply: oneshot::Sender<Option<usize>>,
}

#[derive(Clone)]
pub struct Verifier {
    queue: Sender<Job>,
}

impl Verifier {
    /// Starts `threads` verifier threads; they end when every `Verifier` clone is dropped.
    pub fn start(threads: usize) -> std::io::Result<Verifier> {
        let (queue, jobs) = crossbeam_channel::bounded(MAX_WAITING);
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
        Ok(self.first_accepted(cache, candidates).await?.is_some())
    }

    /// The index of the first candidate whose secret matches its hash. A saturated checker
    /// is a temporary fault of the server: 503 + `Retry-After`, never 401 or 429, which
    /// some senders take as final.
    pub async fn first_accepted(
        &self,
        cache: Arc<VerifiedCache>,
        candidates: Vec<Unverified>,
    ) -> Result<Option<usize>, ApiError> {
        let (reply, verdict) = oneshot::channel();
        let job = Job {
            cache,
            candidates,
            reply,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let busy = ApiError::new(
                    ErrorCode::CredentialChecksSaturated,
                    "Too many credentials are waiting to be checked; retry shortly.",
                );
                return Err(busy.because(crate::ops::metrics::Reason::CheckerSaturated));
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

fn run(jobs: &Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        let accepted = job.candidates.iter().position(|c| {
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The nice values of this process's threads with this name (from /proc, as `ps -eLo ni`
    /// shows them).
    fn nice_of_threads_named(name: &str) -> Vec<i64> {
        let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
        tasks
            .filter_map(|task| {
                let path = task.ok()?.path();
                let comm = std::fs::read_to_string(path.join("comm")).ok()?;
                let stat = std::fs::read_to_string(path.join("stat")).ok()?;
                // Fields after the command's closing parenthesis start at field 3; nice is 19.
                let after = stat.rsplit_once(')')?.1;
                let nice = after.split_whitespace().nth(16)?.parse().ok()?;
                (comm.trim_end() == name).then_some(nice)
            })
            .collect()
    }

    #[test]
    fn verifier_threads_run_at_the_lowest_priority() {
        let _verifier = Verifier::start(1).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let nice = nice_of_threads_named("intake-argon2-0");
            if !nice.is_empty() && nice.iter().all(|&n| n == 19) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "verifier threads' nice values: {nice:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
