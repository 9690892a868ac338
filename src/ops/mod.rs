//! Operability: the Prometheus metrics, the delivery log of refused requests and each
//! instance's activity (last accepted delivery, deliveries accepted and refused in 24 h).
//!
//! The ingest path only touches atomics and, for a refused request, pushes a small record
//! into a bounded queue ([`Ops::refused`]); it never waits for this module. The recorder
//! thread drains that queue into the database in batches, trims the log to the newest
//! `delivery_log_limit` per instance in the same transaction, and flushes the activity
//! counters every [`FLUSH_INTERVAL`] and at shutdown.

pub mod instance;
pub mod metrics;
pub mod recorder;
pub mod store;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::HttpRequest;
use chrono::Utc;

use crate::error::ApiError;
use crate::instances::{InstanceConfig, Registry};
use crate::storage::writer::{Outcome as Stored, Stored as StoredIncident};
pub use metrics::{InstanceMetrics, Outcome, Reason, METRICS};

/// How often the recorder writes what it gathered.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Refusals that may wait for the recorder; more are dropped (and counted).
const RECORDER_QUEUE: usize = 4096;

/// The longest user agent kept in the delivery log.
const MAX_USER_AGENT: usize = 256;

/// An accepted ingest request: `stored` holds each incident's outcome (empty for `[]`),
/// `mapping_errors` the events whose mapping failed.
pub fn accepted(instance: &InstanceConfig, stored: &[StoredIncident], mapping_errors: u64) {
    let created = stored
        .iter()
        .filter(|s| s.outcome == Stored::Created)
        .count();
    let outcome = if created > 0 || stored.is_empty() {
        Outcome::Created
    } else if stored.iter().any(|s| s.outcome == Stored::Updated) {
        Outcome::Updated
    } else {
        Outcome::Duplicate
    };
    accepted_as(instance, outcome, created as u64, mapping_errors);
}

/// An accepted request with this outcome (`PUT …/{id}` is `Updated`).
pub fn accepted_as(instance: &InstanceConfig, outcome: Outcome, created: u64, mapping_errors: u64) {
    let ops = &instance.ops;
    let now = Utc::now().timestamp_millis();
    ops.metrics.request(outcome);
    ops.metrics
        .accepted(created, mapping_errors, now as f64 / 1000.0);
    ops.accepted.fetch_add(1, Ordering::Relaxed);
    ops.last_accepted_ms.fetch_max(now, Ordering::Relaxed);
}

/// Settings of this module, from the server's settings.
#[derive(Debug, Clone)]
pub struct OpsSettings {
    /// `/metrics` without a token.
    pub metrics_public: bool,
    /// Refused requests kept per instance.
    pub delivery_log_limit: u32,
    /// Peers whose `X-Forwarded-For` is logged.
    pub trusted_proxies: Vec<IpAddr>,
}

/// What the HTTP workers hold of this module: the recorder's queue and the settings.
pub struct Ops {
    queue: std::sync::mpsc::SyncSender<store::NewDelivery>,
    pub settings: OpsSettings,
}

impl Ops {
    /// Records a refused ingest request: metrics at once, then the delivery log and the
    /// activity counters through the recorder (never waiting for it), and one info line.
    /// `name` is the instance named by the path.
    pub fn refused(&self, registry: &Registry, req: &HttpRequest, name: &str, error: &ApiError) {
        let outcome = match (error.reason, error.status().as_u16()) {
            // Over its own budget: the sender's doing, not a fault of the server.
            (Some(Reason::RateLimited), _) => Outcome::RejectedAuth,
            (Some(Reason::CheckerSaturated), _) | (_, 429 | 500..) => Outcome::Unavailable,
            (Some(_), _) | (_, 401 | 403 | 407) => Outcome::RejectedAuth,
            _ => Outcome::RejectedInput,
        };
        let instance = registry.configured(name);
        let metrics = instance.map_or(&*metrics::UNKNOWN, |i| &i.ops.metrics);
        metrics.request(outcome);
        if let Some(reason) = error.reason {
            metrics.auth_failure(reason);
        }
        let reason = error.reason.map(Reason::as_str);
        log::info!(
            "refused: instance '{}' status {} error {} reason {}",
            instance.map_or(metrics::UNKNOWN_INSTANCE, |i| i.name.as_str()),
            error.status().as_u16(),
            error.code,
            reason.unwrap_or("-")
        );
        // A name no instance has is counted, never stored: a flood of invented names must
        // not fill the database.
        let Some(instance) = instance else { return };
        instance.ops.refused.fetch_add(1, Ordering::Relaxed);
        let record = store::NewDelivery {
            instance_id: instance.id,
            received: Utc::now().naive_utc(),
            remote_addr: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            forwarded_for: self.forwarded_for(req),
            method: req.method().to_string(),
            path: req.path().to_string(),
            status: i32::from(error.status().as_u16()),
            error: error.code.as_str().to_string(),
            reason: reason.map(str::to_string),
            message: error.message.clone(),
            body_bytes: req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .map(|v| truncated(&String::from_utf8_lossy(v.as_bytes()), MAX_USER_AGENT)),
        };
        self.enqueue(record);
    }

    /// Hands a record to the recorder, or drops and counts it when the queue is full: a flood
    /// of refusals never makes a request wait, nor grows memory.
    fn enqueue(&self, record: store::NewDelivery) {
        if self.queue.try_send(record).is_err() {
            METRICS.delivery_log_dropped.inc();
        }
    }

    /// `X-Forwarded-For`, only from a configured trusted proxy (anyone else could write it).
    fn forwarded_for(&self, req: &HttpRequest) -> Option<String> {
        let peer = req.peer_addr()?.ip();
        if !self.settings.trusted_proxies.contains(&peer) {
            return None;
        }
        let value = req.headers().get("x-forwarded-for")?;
        Some(truncated(&String::from_utf8_lossy(value.as_bytes()), 512))
    }
}

fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// How many events' mapping failed, from each event's warnings.
pub fn mapping_errors(warnings: &[Vec<String>]) -> u64 {
    warnings
        .iter()
        .filter(|w| w.iter().any(|m| m.starts_with("mapping:")))
        .count() as u64
}

/// Observes an ingest request's duration (from `started`, when it arrived).
pub fn observe_duration(started: Instant) {
    METRICS
        .request_duration
        .observe(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str) -> store::NewDelivery {
        store::NewDelivery {
            instance_id: 1,
            received: Utc::now().naive_utc(),
            remote_addr: "127.0.0.1".into(),
            forwarded_for: None,
            method: "POST".into(),
            path: "/instance/execute/probe".into(),
            status: 401,
            error: "unauthorized".into(),
            reason: Some("wrong_secret".into()),
            message: message.into(),
            body_bytes: Some(2),
            user_agent: None,
        }
    }

    #[test]
    fn a_full_recorder_queue_drops_and_counts_the_record() {
        let (queue, records) = std::sync::mpsc::sync_channel(2);
        let ops = Ops {
            queue,
            settings: OpsSettings {
                metrics_public: false,
                delivery_log_limit: 100,
                trusted_proxies: Vec::new(),
            },
        };
        let before = METRICS.delivery_log_dropped.get();
        for n in 0..5 {
            ops.enqueue(record(&format!("refusal {n}")));
        }
        assert_eq!(METRICS.delivery_log_dropped.get() - before, 3);
        let kept: Vec<String> = records.try_iter().map(|r| r.message).collect();
        assert_eq!(kept, ["refusal 0", "refusal 1"]);
        assert!(METRICS
            .render()
            .unwrap()
            .contains(&format!("intake_delivery_log_dropped_total {}", before + 3)));
    }
}
