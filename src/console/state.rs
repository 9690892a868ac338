//! The console's share of the server state: how long a session lives, and the sign-in
//! throttle.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

/// Sign-in attempts per user name and minute before further ones wait.
pub const ATTEMPTS_PER_MINUTE: u32 = 5;

/// The console's share of the server state.
pub struct Console {
    /// A session ends after this long without a request.
    pub idle: chrono::Duration,
    pub(super) sign_ins: Guard,
    /// The server's listeners (`http://IP:PORT`, `https://IP:PORT`), once bound: instance
    /// pages show an instance's URLs on each.
    listeners: std::sync::OnceLock<Vec<String>>,
}

impl Console {
    pub fn new(idle_minutes: u32) -> Console {
        Console {
            idle: chrono::Duration::minutes(i64::from(idle_minutes)),
            sign_ins: Guard::default(),
            listeners: std::sync::OnceLock::new(),
        }
    }

    /// Records the bound listeners (once, after binding).
    pub fn set_listeners(&self, urls: &[String]) {
        let _ = self.listeners.set(urls.to_vec());
    }

    pub fn listeners(&self) -> &[String] {
        self.listeners.get().map_or(&[], Vec::as_slice)
    }
}

/// Throttles sign-ins: per user name, and argon2 runs at a time.
pub struct Guard {
    pub(super) attempts: DefaultKeyedRateLimiter<String>,
    pub(super) hashing: Semaphore,
}

impl Default for Guard {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Guard {
            attempts: RateLimiter::keyed(Quota::per_minute(per_minute)),
            hashing: Semaphore::new((cores / 2).max(1)),
        }
    }
}
