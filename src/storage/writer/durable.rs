//! When a committed group's answers go out: at `COMMIT` (PostgreSQL), or after the WAL
//! syncer's next fsync (SQLite).

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::batch::{WriteError, Written};

/// A request's answer, ready to send once its group is durable.
pub(super) type Answer = (
    oneshot::Sender<Result<Written, WriteError>>,
    Result<Written, WriteError>,
);

/// When a committed group is on disk.
pub(super) enum Durable {
    /// When `COMMIT` returns (PostgreSQL, `synchronous_commit=on`): answer at once.
    AtCommit,
    /// After the WAL syncer's next fsync (SQLite): answers go to it, and each commit is
    /// announced to the WAL checkpointer.
    AfterWalSync {
        syncer: mpsc::SyncSender<Vec<Answer>>,
        checkpointer: mpsc::SyncSender<()>,
    },
}

pub(super) fn send_answers(answers: Vec<Answer>) {
    for (reply, result) in answers {
        // A dropped receiver means the client went away; its data is stored regardless.
        let _ = reply.send(result);
    }
}
