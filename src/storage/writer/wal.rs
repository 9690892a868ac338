//! SQLite's write-ahead log beside the writer: the WAL syncer, which makes committed groups
//! durable with one fsync for many, the WAL checkpointer, which copies them into the
//! database file, and the writer's own checkpoint threshold.

use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::batch::storage_error_text;
use super::durable::{send_answers, Answer};
use crate::storage::{Conn, Database};

/// The writer's own checkpoint threshold (`wal_autocheckpoint`, SQLite's default of 1000
/// pages of 4 KiB) for groups of single events; larger groups raise it (see
/// `own_checkpoint_threshold`).
pub(super) const WRITER_CHECKPOINT_BYTES: usize = 1000 * 4096;

/// The database's page size, in bytes.
#[derive(QueryableByName)]
pub(super) struct PageSize {
    #[diesel(sql_type = Integer)]
    pub(super) page_size: i32,
}

/// The WAL checkpointer runs at most this often while ingest is busy (longer intervals make
/// larger checkpoints, which raised single events' p99), and retries pages a reader kept it
/// from copying after the longer interval if no commit comes first.
const CHECKPOINT_BUSY_INTERVAL: Duration = Duration::from_millis(5);

const CHECKPOINT_IDLE_INTERVAL: Duration = Duration::from_millis(500);

/// Bytes a stored incident takes besides its `raw_json`, roughly (its other columns, its
/// index entry).
pub(super) const ROW_OVERHEAD: usize = 200;

/// The WAL size, in pages of `page_size` bytes, past which the SQLite writer checkpoints
/// itself after committing a group of about `group_bytes`: at least twice what the group
/// writes, so a large group's own pages are left to the checkpointer, which copies them while
/// the writer inserts the next group, instead of the writer copying them at once while every
/// request waits. Groups of arrays write megabytes each: below twice that they gained nothing
/// from the checkpointer; one high threshold for every group raised single events' p99.
pub(super) fn own_checkpoint_threshold(group_bytes: usize, page_size: usize) -> i64 {
    let page_size = page_size.max(512);
    let base = WRITER_CHECKPOINT_BYTES.div_ceil(page_size);
    let pages = group_bytes / page_size;
    let mut threshold = base;
    while threshold < 2 * pages && threshold < 8 * base {
        threshold *= 2;
    }
    i64::try_from(threshold).unwrap_or(i64::MAX)
}

/// Opens SQLite's write-ahead log (`<database>-wal`) for the WAL syncer. The writer's
/// connection has it open from its first read until it closes, so the file is never
/// removed while the syncer uses it.
pub(super) fn open_wal(
    conn: &mut diesel::SqliteConnection,
    db: &Database,
) -> anyhow::Result<std::fs::File> {
    conn.batch_execute("SELECT count(*) FROM meta")
        .context("cannot read the database")?;
    let path = db
        .sqlite_wal()
        .context("the writer's database is not a SQLite file")?;
    std::fs::File::open(&path)
        .with_context(|| format!("cannot open the write-ahead log {}", path.display()))
}

/// The WAL syncer (SQLite): takes every group committed so far, syncs the WAL once, and
/// answers them all. After a failed fsync the kernel may have dropped the unwritten pages, so
/// later syncs prove nothing: it answers what it holds as failed and stops, and the writer
/// stops with it.
pub(super) fn sync_wal(wal: &std::fs::File, committed: &Receiver<Vec<Answer>>) {
    while let Ok(mut answers) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            answers.extend(more);
        }
        match wal.sync_data() {
            Ok(()) => send_answers(answers),
            Err(e) => {
                log::error!(
                    "syncing the write-ahead log failed ({e}): ingest stops; check the disk \
                     and restart intake"
                );
                let error =
                    storage_error_text(&format!("the write-ahead log could not be synced: {e}"));
                let failed = answers
                    .into_iter()
                    .map(|(reply, _)| (reply, Err(error.clone())));
                send_answers(failed.collect());
                return;
            }
        }
    }
}

/// What `PRAGMA wal_checkpoint` reports: the WAL's length and how much of it is now in the
/// database file, in pages.
#[derive(QueryableByName)]
struct CheckpointReport {
    #[diesel(sql_type = Integer)]
    log: i32,
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

/// The WAL checkpointer (SQLite): copies committed WAL pages into the database file on its own
/// connection, beside the writer, so the writer's own checkpoints (see `WRITER_PRAGMAS`)
/// find little left to copy. It runs after each commit the writer announces, at most once per
/// `CHECKPOINT_BUSY_INTERVAL`. A PASSIVE checkpoint never waits for the writer or for readers:
/// it copies what no reader still needs; what it leaves is tried again after
/// `CHECKPOINT_IDLE_INTERVAL` if no commit comes first. Ends when the writer does.
pub(super) fn checkpoint_wal(mut conn: Conn, commits: &Receiver<()>) {
    let mut left_behind = false;
    loop {
        let next = if left_behind {
            commits.recv_timeout(CHECKPOINT_IDLE_INTERVAL)
        } else {
            commits.recv().map_err(mpsc::RecvTimeoutError::from)
        };
        if let Err(mpsc::RecvTimeoutError::Disconnected) = next {
            return;
        }
        left_behind = match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .get_result::<CheckpointReport>(&mut conn)
        {
            Ok(report) => report.checkpointed < report.log,
            Err(e) => {
                // The writer's own checkpoints go on; this one tries again later.
                log::warn!("WAL checkpoint failed: {e}");
                true
            }
        };
        std::thread::sleep(CHECKPOINT_BUSY_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_leaves_a_large_groups_pages_to_the_checkpointer() {
        // Groups of single events: SQLite's default threshold (4 MB of WAL).
        assert_eq!(own_checkpoint_threshold(0, 4096), 1000);
        assert_eq!(own_checkpoint_threshold(30 * 1200, 4096), 1000);
        assert_eq!(own_checkpoint_threshold(30 * 1200, 8192), 500);
        // 40 requests of 100 ~1.1 KB events: ~1270 pages of 4 KiB, so at least 2540.
        assert_eq!(own_checkpoint_threshold(4000 * 1300, 4096), 4000);
        assert_eq!(own_checkpoint_threshold(4000 * 1300, 8192), 2000);
        // Never more than 32 MB of WAL, however large the group.
        assert_eq!(own_checkpoint_threshold(1 << 40, 4096), 8000);
        assert_eq!(own_checkpoint_threshold(1 << 40, 8192), 4000);
    }
}
