//! Per-instance rate limits (governor's GCRA limiter): requests per second plus a burst,
//! off unless the admin sets one. Excess requests are answered 429 with `Retry-After`: the
//! sender is over its own budget, the one case where 429 is right.
//!
//! The limit holds per server process: every replica counts its own requests, so N
//! replicas behind a load balancer accept up to N times the rate (docs/senders.md).
//! A limiter outlives registry snapshots while its quota stays the same, so a configuration
//! reload does not refill every bucket.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::{ApiError, ErrorCode};
use crate::ops::metrics::Reason;

/// One instance's limiter and the quota it was built for.
pub struct InstanceLimiter {
    limiter: DefaultDirectRateLimiter,
    per_second: f64,
    burst: u32,
}

impl std::fmt::Debug for InstanceLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceLimiter")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

static LIMITERS: LazyLock<Mutex<HashMap<String, Arc<InstanceLimiter>>>> =
    LazyLock::new(Default::default);

/// The limiter of instance `name` for this quota (None: no limit). Called when a snapshot
/// is built, never by a request.
pub fn limiter_for(
    name: &str,
    per_second: Option<f64>,
    burst: Option<i32>,
) -> Option<Arc<InstanceLimiter>> {
    let mut all = LIMITERS.lock().unwrap_or_else(|p| p.into_inner());
    let Some(per_second) = per_second.filter(|r| r.is_finite() && *r > 0.0) else {
        all.remove(name);
        return None;
    };
    // Without a burst, a second's worth of requests (at least one) may arrive at once.
    let burst = burst
        .and_then(|b| u32::try_from(b).ok())
        .unwrap_or(per_second.ceil() as u32)
        .max(1);
    if let Some(existing) = all.get(name) {
        if existing.per_second == per_second && existing.burst == burst {
            return Some(existing.clone());
        }
    }
    let period = Duration::from_secs_f64(1.0 / per_second);
    let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
    let limiter = Arc::new(InstanceLimiter {
        limiter: RateLimiter::direct(quota),
        per_second,
        burst,
    });
    all.insert(name.to_string(), limiter.clone());
    Some(limiter)
}

impl InstanceLimiter {
    /// Takes one request from the budget, or refuses it with the seconds to wait.
    pub fn check(&self) -> Result<(), ApiError> {
        match self.limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
                let refused = ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "This instance accepts {} requests per second (burst {}); retry in {seconds} s.",
                        self.per_second, self.burst
                    ),
                );
                Err(refused.retry_after(seconds).because(Reason::RateLimited))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_excess_waits_and_other_instances_are_untouched() {
        let limited = limiter_for("rl-unit-a", Some(0.5), Some(2)).unwrap();
        assert!(limited.check().is_ok());
        assert!(limited.check().is_ok());
        let refused = limited.check().unwrap_err();
        assert_eq!(refused.status().as_u16(), 429);
        assert!(refused.retry_after.is_some_and(|s| (1..=2).contains(&s)));
        let other = limiter_for("rl-unit-b", Some(0.5), Some(2)).unwrap();
        assert!(other.check().is_ok());
        // The same quota keeps the same bucket; no limit forgets it.
        assert!(Arc::ptr_eq(
            &limited,
            &limiter_for("rl-unit-a", Some(0.5), Some(2)).unwrap()
        ));
        assert!(limiter_for("rl-unit-a", None, None).is_none());
    }
}
