//! The recorder thread: drains refused-request records into the delivery log and flushes the
//! activity counters, in one transaction per batch, off the HTTP workers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::instance::all_instances;
use super::store::{self, NewDelivery};
use super::{Ops, OpsSettings, FLUSH_INTERVAL, RECORDER_QUEUE};
use crate::storage::{write_transaction, Pool};

/// Most records written in one transaction.
const MAX_BATCH: usize = 512;

/// The running recorder; [`Recorder::stop`] flushes what is left and ends it.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts the recorder on its own thread; the returned [`Ops`] feeds it.
pub fn start(pool: Pool, settings: OpsSettings) -> anyhow::Result<(Ops, Recorder)> {
    // The `_unknown` series exist from the start, so every family is exposed at once.
    std::sync::LazyLock::force(&super::metrics::UNKNOWN);
    let (queue, records) = mpsc::sync_channel(RECORDER_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let limit = settings.delivery_log_limit;
    let thread = std::thread::Builder::new()
        .name("intake-recorder".into())
        .spawn({
            let stop = stop.clone();
            move || run(&pool, &records, &stop, limit)
        })
        .context("cannot start the delivery log recorder")?;
    Ok((Ops { queue, settings }, Recorder { stop, thread }))
}

impl Recorder {
    /// Writes what is queued and the activity counters, then ends the thread. Blocking.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            log::error!("the delivery log recorder panicked");
        }
    }
}

fn run(pool: &Pool, records: &Receiver<NewDelivery>, stop: &AtomicBool, limit: u32) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let deadline = Instant::now() + FLUSH_INTERVAL;
        let mut closed = false;
        while batch.len() < MAX_BATCH {
            match records.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(record) => batch.push(record),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let stopping = closed || stop.load(Ordering::Relaxed);
        if stopping {
            batch.extend(records.try_iter());
        }
        flush(pool, &mut batch, limit);
        if stopping {
            return;
        }
    }
}

/// Writes the batch and the activity gathered since the last flush. On a storage failure the
/// batch is dropped (the log is best effort and bounded) and the counts are kept for the
/// next flush.
fn flush(pool: &Pool, batch: &mut Vec<NewDelivery>, limit: u32) {
    let now = Utc::now().naive_utc();
    let activity: Vec<_> = all_instances()
        .into_iter()
        .map(|ops| (ops.take(), ops))
        .filter(|((_, accepted, refused, _), _)| *accepted > 0 || *refused > 0)
        .collect();
    if batch.is_empty() && activity.is_empty() {
        return;
    }
    let written = pool
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| {
            write_transaction(&mut conn, |conn| -> diesel::QueryResult<()> {
                // An instance removed meanwhile takes its records and counts with it.
                let live = store::instance_ids(conn)?;
                batch.retain(|d| live.contains(&d.instance_id));
                store::insert_deliveries(conn, batch, limit)?;
                for ((id, accepted, refused, last_ms), _) in &activity {
                    if !live.contains(id) {
                        continue;
                    }
                    let last = (*last_ms > 0)
                        .then(|| DateTime::from_timestamp_millis(*last_ms))
                        .flatten()
                        .map(|t| t.naive_utc());
                    store::add_activity(conn, *id, now, *accepted as i64, *refused as i64, last)?;
                }
                Ok(())
            })
            .map_err(anyhow::Error::from)
        });
    if let Err(e) = written {
        log::warn!(
            "delivery log: {} refused request(s) not recorded: {e:#}",
            batch.len()
        );
        for ((_, accepted, refused, last_ms), ops) in activity {
            ops.give_back(accepted, refused, last_ms);
        }
    }
    batch.clear();
}
