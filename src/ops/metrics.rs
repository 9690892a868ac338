//! The Prometheus metrics: every family, its labels, and the per-instance handles that the
//! ingest path increments.
//!
//! Cardinality is bounded by construction: the `instance` label only ever holds the name of a
//! configured instance or [`UNKNOWN_INSTANCE`], `outcome` and `reason` come from the fixed
//! enums below. The ingest path never formats a label: it increments handles resolved once
//! per instance when the registry snapshot is built ([`InstanceMetrics`]), which are plain
//! atomics (no lock, no allocation).

use std::sync::LazyLock;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The `instance` label of requests to a name no configured instance has.
pub const UNKNOWN_INSTANCE: &str = "_unknown";

/// What became of one ingest request (`intake_requests_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; at least one incident was created (or the body was `[]`).
    Created,
    /// Accepted; it updated existing incidents and created none.
    Updated,
    /// Accepted; every event was a repeat of an open incident (or an `Idempotency-Key` replay).
    Duplicate,
    /// Refused: unknown or disabled instance, or the sender failed authentication.
    RejectedAuth,
    /// Refused: the request itself is wrong (body, size, method, incident id).
    RejectedInput,
    /// Not stored because of a fault on the server's side (503, 500).
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Created,
        Outcome::Updated,
        Outcome::Duplicate,
        Outcome::RejectedAuth,
        Outcome::RejectedInput,
        Outcome::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Duplicate => "duplicate",
            Outcome::RejectedAuth => "rejected_auth",
            Outcome::RejectedInput => "rejected_input",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Why a sender was refused before its body was read (`intake_auth_failures_total{reason}`,
/// and the delivery log's `reason`). The one list of these reasons: signature and token
/// checks and rate limits name theirs here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    UnknownInstance,
    DisabledInstance,
    /// The request presents no credential that any of the instance's rules reads.
    MissingCredentials,
    /// A credential was presented and none of the rules accepted it.
    WrongSecret,
    BadSignature,
    StaleTimestamp,
    ExpiredToken,
    RateLimited,
    /// Too many credentials were waiting to be checked (answered 503 with `Retry-After`).
    CheckerSaturated,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::UnknownInstance,
        Reason::DisabledInstance,
        Reason::MissingCredentials,
        Reason::WrongSecret,
        Reason::BadSignature,
        Reason::StaleTimestamp,
        Reason::ExpiredToken,
        Reason::RateLimited,
        Reason::CheckerSaturated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownInstance => "unknown_instance",
            Reason::DisabledInstance => "disabled_instance",
            Reason::MissingCredentials => "missing_credentials",
            Reason::WrongSecret => "wrong_secret",
            Reason::BadSignature => "bad_signature",
            Reason::StaleTimestamp => "stale_timestamp",
            Reason::ExpiredToken => "expired_token",
            Reason::RateLimited => "rate_limited",
            Reason::CheckerSaturated => "checker_saturated",
        }
    }
}

/// Request durations: a refused or cached-credential request takes well under a
/// millisecond, a commit a few milliseconds, a saturated server up to seconds.
const REQUEST_BUCKETS: [f64; 14] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Group commit durations: an fsync-free PostgreSQL commit is sub-millisecond, a large SQLite
/// group with its checkpoint can take a second.
const COMMIT_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Every family, registered in one registry.
pub struct Families {
    registry: Registry,
    requests: IntCounterVec,
    pub request_duration: Histogram,
    incidents_created: IntCounterVec,
    auth_failures: IntCounterVec,
    mapping_errors: IntCounterVec,
    last_received: GaugeVec,
    tokens_issued: IntCounterVec,
    /// Batches waiting for the writer.
    pub write_queue_depth: IntGauge,
    /// Time to commit one group of batches (the writer's transaction).
    pub commit_duration: Histogram,
    /// Delivery log records dropped because the recorder's queue was full.
    pub delivery_log_dropped: IntCounter,
}

/// The process's metrics. One registry per process: the writer threads and the HTTP workers
/// reach it without threading a handle through every layer.
pub static METRICS: LazyLock<Families> = LazyLock::new(Families::new);

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, name, Box::new(family.clone()));
    family
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let family = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, name, Box::new(family.clone()));
    family
}

/// The families are fixed at compile time: a failure here is a programming error, caught by
/// the first test that starts a server.
fn register(registry: &Registry, name: &str, family: Box<dyn prometheus::core::Collector>) {
    registry
        .register(family)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
}

impl Families {
    fn new() -> Families {
        let registry = Registry::new();
        let r = &registry;
        let last_received = GaugeVec::new(
            Opts::new(
                "intake_last_received_timestamp_seconds",
                "When the instance last accepted a delivery (Unix time).",
            ),
            &["instance"],
        )
        .unwrap_or_else(|e| panic!("metric intake_last_received_timestamp_seconds: {e}"));
        register(r, "last_received", Box::new(last_received.clone()));
        let write_queue_depth = IntGauge::new(
            "intake_write_queue_depth",
            "Ingest requests waiting for the writer.",
        )
        .unwrap_or_else(|e| panic!("metric intake_write_queue_depth: {e}"));
        register(r, "write_queue_depth", Box::new(write_queue_depth.clone()));
        let delivery_log_dropped = IntCounter::new(
            "intake_delivery_log_dropped_total",
            "Refused requests not written to the delivery log because its queue was full.",
        )
        .unwrap_or_else(|e| panic!("metric intake_delivery_log_dropped_total: {e}"));
        register(
            r,
            "delivery_log_dropped",
            Box::new(delivery_log_dropped.clone()),
        );
        Families {
            requests: counter_vec(
                r,
                "intake_requests_total",
                "Ingest requests by instance and outcome.",
                &["instance", "outcome"],
            ),
            request_duration: histogram(
                r,
                "intake_request_duration_seconds",
                "Time from an ingest request's arrival to its answer.",
                &REQUEST_BUCKETS,
            ),
            incidents_created: counter_vec(
                r,
                "intake_incidents_created_total",
                "Incidents created by instance.",
                &["instance"],
            ),
            auth_failures: counter_vec(
                r,
                "intake_auth_failures_total",
                "Refused senders by instance and reason.",
                &["instance", "reason"],
            ),
            mapping_errors: counter_vec(
                r,
                "intake_mapping_errors_total",
                "Events whose instance mapping failed (stored with the defaults).",
                &["instance"],
            ),
            tokens_issued: counter_vec(
                r,
                "intake_tokens_issued_total",
                "Bearer tokens issued by an instance's token endpoint.",
                &["instance"],
            ),
            commit_duration: histogram(
                r,
                "intake_commit_duration_seconds",
                "Time the writer takes to commit one group of requests.",
                &COMMIT_BUCKETS,
            ),
            last_received,
            write_queue_depth,
            delivery_log_dropped,
            registry,
        }
    }

    /// The text exposition of every family.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

/// One instance's series, resolved once: incrementing them is an atomic add.
pub struct InstanceMetrics {
    requests: [IntCounter; Outcome::ALL.len()],
    auth_failures: [IntCounter; Reason::ALL.len()],
    incidents_created: IntCounter,
    mapping_errors: IntCounter,
    last_received: Gauge,
    /// For the token endpoint.
    pub tokens_issued: IntCounter,
}

impl InstanceMetrics {
    /// Resolves (and so creates, at zero) every series of instance `name`.
    pub fn resolve(name: &str) -> InstanceMetrics {
        let m = &*METRICS;
        InstanceMetrics {
            requests: Outcome::ALL.map(|o| m.requests.with_label_values(&[name, o.as_str()])),
            auth_failures: Reason::ALL
                .map(|r| m.auth_failures.with_label_values(&[name, r.as_str()])),
            incidents_created: m.incidents_created.with_label_values(&[name]),
            mapping_errors: m.mapping_errors.with_label_values(&[name]),
            last_received: m.last_received.with_label_values(&[name]),
            tokens_issued: m.tokens_issued.with_label_values(&[name]),
        }
    }

    /// Removes every series of instance `name` (a removed instance's series must not stay
    /// exposed until the server restarts).
    pub fn forget(name: &str) {
        let m = &*METRICS;
        for outcome in Outcome::ALL {
            m.requests
                .remove_label_values(&[name, outcome.as_str()])
                .ok();
        }
        for reason in Reason::ALL {
            m.auth_failures
                .remove_label_values(&[name, reason.as_str()])
                .ok();
        }
        for family in [&m.incidents_created, &m.mapping_errors, &m.tokens_issued] {
            family.remove_label_values(&[name]).ok();
        }
        m.last_received.remove_label_values(&[name]).ok();
    }

    /// Moves the last-received time forward to `seconds` (a stored time, read at start and on
    /// every reload, so the gauge does not read 0 after a restart; never moves it back).
    pub fn seed_last_received(&self, seconds: f64) {
        if seconds > self.last_received.get() {
            self.last_received.set(seconds);
        }
    }

    pub fn request(&self, outcome: Outcome) {
        self.requests[outcome as usize].inc();
    }

    pub fn auth_failure(&self, reason: Reason) {
        self.auth_failures[reason as usize].inc();
    }

    /// An accepted delivery: its incidents created, its mapping failures, and now as the
    /// last time the instance received something.
    pub fn accepted(&self, created: u64, mapping_errors: u64, now_seconds: f64) {
        self.incidents_created.inc_by(created);
        self.mapping_errors.inc_by(mapping_errors);
        self.last_received.set(now_seconds);
    }
}

/// The series that requests to unknown instance names count under.
pub static UNKNOWN: LazyLock<InstanceMetrics> =
    LazyLock::new(|| InstanceMetrics::resolve(UNKNOWN_INSTANCE));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_index_their_enum_in_order() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn every_family_is_rendered_with_its_labels() {
        let probe = InstanceMetrics::resolve("probe");
        probe.request(Outcome::RejectedAuth);
        probe.auth_failure(Reason::WrongSecret);
        let text = METRICS.render().unwrap();
        assert!(
            text.contains(r#"intake_requests_total{instance="probe",outcome="rejected_auth"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"intake_auth_failures_total{instance="probe",reason="wrong_secret"} 1"#
            ),
            "{text}"
        );
        for family in [
            "intake_request_duration_seconds_bucket",
            "intake_commit_duration_seconds_bucket",
            "intake_write_queue_depth",
            "intake_last_received_timestamp_seconds",
            "intake_incidents_created_total",
            "intake_mapping_errors_total",
            "intake_tokens_issued_total",
        ] {
            assert!(text.contains(family), "{family} missing: {text}");
        }
    }
}
