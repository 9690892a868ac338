//! Each instance's operational state, kept across registry snapshots: its metric series and
//! the activity counted since the recorder's last flush.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::metrics::InstanceMetrics;
use super::store;
use crate::storage::Conn;

/// One instance's operational state, kept across registry snapshots (a reload must neither
/// reset the counters nor lose unflushed activity).
pub struct InstanceOps {
    pub metrics: InstanceMetrics,
    /// The instance's current database id (a removed and re-added name gets a new one).
    pub(super) instance_id: AtomicI32,
    /// Deliveries accepted and refused since the last flush.
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    /// When the last accepted delivery arrived (ms since the epoch, 0: none since the flush).
    pub(super) last_accepted_ms: AtomicI64,
}

/// Every instance name seen by a registry snapshot, to its state. Locked only while a
/// snapshot is built and when the recorder flushes, never by a request.
static INSTANCES: LazyLock<Mutex<HashMap<String, Arc<InstanceOps>>>> =
    LazyLock::new(Default::default);

impl InstanceOps {
    /// The state of instance `name` (database id `id`), created on first sight.
    pub fn of(id: i32, name: &str) -> Arc<InstanceOps> {
        let mut all = INSTANCES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ops = all.entry(name.to_string()).or_insert_with(|| {
            Arc::new(InstanceOps {
                metrics: InstanceMetrics::resolve(name),
                instance_id: AtomicI32::new(id),
                accepted: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                last_accepted_ms: AtomicI64::new(0),
            })
        });
        ops.instance_id.store(id, Ordering::Relaxed);
        ops.clone()
    }

    /// Takes the counts gathered since the last flush: (id, accepted, refused, last accepted ms).
    pub(super) fn take(&self) -> (i32, u64, u64, i64) {
        (
            self.instance_id.load(Ordering::Relaxed),
            self.accepted.swap(0, Ordering::Relaxed),
            self.refused.swap(0, Ordering::Relaxed),
            self.last_accepted_ms.swap(0, Ordering::Relaxed),
        )
    }

    /// Gives back counts a failed flush could not store, for the next one.
    pub(super) fn give_back(&self, accepted: u64, refused: u64, last_ms: i64) {
        self.accepted.fetch_add(accepted, Ordering::Relaxed);
        self.refused.fetch_add(refused, Ordering::Relaxed);
        self.last_accepted_ms.fetch_max(last_ms, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for InstanceOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceOps")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

/// Drops the state and the metric series of every instance name `live` no longer knows (a
/// removed instance). Call with the registry snapshot that is now in force.
pub fn forget_removed(live: impl Fn(&str) -> bool) {
    let mut all = INSTANCES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    all.retain(|name, _| {
        let keep = live(name);
        if !keep {
            InstanceMetrics::forget(name);
        }
        keep
    });
}

/// Seeds each instance's last-received gauge (instances given as database id and state) from
/// the stored activity: after a restart, and on other servers, the gauge tells when any server
/// last accepted a delivery for it.
pub fn seed_last_received<'a>(
    conn: &mut Conn,
    instances: impl Iterator<Item = (i32, &'a InstanceOps)>,
) {
    let stored = match store::last_accepted_all(conn) {
        Ok(rows) => rows.into_iter().collect::<HashMap<_, _>>(),
        Err(e) => {
            log::warn!("cannot read when instances last accepted a delivery: {e}");
            return;
        }
    };
    for (id, ops) in instances {
        if let Some(last) = stored.get(&id) {
            let seconds = last.and_utc().timestamp_millis() as f64 / 1000.0;
            ops.metrics.seed_last_received(seconds);
        }
    }
}

pub(super) fn all_instances() -> Vec<Arc<InstanceOps>> {
    let all = INSTANCES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    all.values().cloned().collect()
}
