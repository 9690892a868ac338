//! The writer: committing threads, each with its own connection, take whatever requests are
//! waiting and commit them in one transaction (group commit), then answer each request.
//! SQLite has one such thread (it has one writer anyway); PostgreSQL several, which take
//! turns: one gathers and commits while the others stand by, and commits overlap only when
//! one is slow (see `Turns`).
//!
//! Invariants:
//! - A request's incidents and samples are stored in one transaction: all or none.
//! - A request is answered `Ok` only after the transaction holding it is on disk. PostgreSQL's
//!   `COMMIT` returns then. SQLite's writer commits without waiting for the disk
//!   (`synchronous=NORMAL`: the WAL is written, not synced) and hands the group to the WAL
//!   syncer, which answers it after an fsync of the WAL that began after that `COMMIT`
//!   returned. So the writer inserts the next group while the disk syncs the last one, and one
//!   fsync covers every group committed before it began.
//! - SQLite's WAL checkpointer, a thread with a connection of its own, copies committed WAL
//!   pages into the database file beside the writer; the writer checkpoints only as a
//!   backstop (see `WRITER_PRAGMAS`).
//! - If a group fails, its requests are retried one transaction each, so one request
//!   that cannot be stored does not take its neighbours down with it.
//! - The queue is bounded: when it is full, `submit` refuses at once and ingest answers 503.
//! - Ids come from the database (SQLite's AUTOINCREMENT, PostgreSQL's sequence), so any
//!   number of writers and replicas never hand out the same id.
//! - On PostgreSQL, what must stay exact across concurrent writers and replicas (an
//!   instance's sample cap, an idempotency key answered once) is serialised by transaction
//!   advisory locks, taken in one sorted order so writers cannot deadlock on them.

mod batch;
mod bulk_sql;
mod durable;
mod group_commit;
mod handle;
mod idempotency;
mod samples;
mod transaction;
mod turns;
mod upsert;
mod wal;

pub use crate::config::DEFAULT_IDEMPOTENCY_RETENTION_HOURS;
pub use batch::{
    Idempotency, NewIncident, NewSample, Outcome, RenderResponse, Stored, WriteBatch, WriteError,
    Written,
};
pub(super) use bulk_sql::IncidentRow;
pub use handle::Writer;
pub use samples::trim_samples;
pub use turns::DEFAULT_POSTGRES_WRITERS;
