//! Database access for both backends: the connection type, the connection settings every
//! connection gets, the pool, embedded migrations, write transactions, and the configuration
//! version that tells servers (and other replicas) to reload.
//!
//! The `database_url` scheme picks the backend. Queries are written once with diesel's DSL
//! against [`Conn`] (a `MultiConnection` over SQLite and PostgreSQL); the few statements the
//! two dialects spell differently match on the variant, in the store modules only; statements
//! the DSL cannot say are built for their backend by [`sql::Sql`].
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`, PostgreSQL with
//! `synchronous_commit=on`; either way a committed transaction is on disk before `COMMIT`
//! returns, which is what lets ingest acknowledge only durable incidents. The one exception
//! is the ingest writer's SQLite connection, which syncs the WAL itself, once for many
//! commits, before it acknowledges them (see `writer`).

pub mod copy;
pub mod group_count;
pub mod health;
pub mod schema;
pub mod sql;
pub mod writer;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{redact_url, DatabaseUrl};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written with diesel's DSL run on both; match on
/// the variant for what only one dialect has (`ON CONFLICT`, `BEGIN IMMEDIATE`, `strpos`).
#[derive(diesel::MultiConnection)]
pub enum Conn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Per-connection settings. `busy_timeout` lets the CLI, readers and the writer share the
/// file; `foreign_keys` makes instance removal cascade to credentials and samples.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

/// Every PostgreSQL session: UTC timestamps, durable commits whatever the server default,
/// and a bound on how long a statement may wait for a lock (an admin's long transaction
/// must not stall ingest forever: the writer answers 503 instead).
const POSTGRES_SETTINGS: &str = "SET TIME ZONE 'UTC'; SET synchronous_commit = on; \
     SET lock_timeout = '5s'; SET application_name = 'intake';";

/// Runs the same statement on the inner connection of either backend: for what diesel's
/// `MultiConnection` cannot express (`ON CONFLICT`, binding a borrowed payload). The body is
/// compiled once per backend.
macro_rules! on_each_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::storage::Conn::Sqlite($c) => $body,
            $crate::storage::Conn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_each_backend;

/// Which backend a database is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the database lives, validated and ready to open.
#[derive(Debug, Clone)]
pub struct Database {
    url: DatabaseUrl,
}

impl Database {
    /// Parses the URL, creates the SQLite file's directory if needed, and runs pending
    /// migrations.
    pub fn open(url: &str) -> anyhow::Result<Database> {
        let db = Database::without_migrating(url)?;
        db.migrate()?;
        Ok(db)
    }

    /// Parses the URL without touching the database (for `db copy`, which migrates itself).
    pub fn without_migrating(url: &str) -> anyhow::Result<Database> {
        let url = DatabaseUrl::parse(url)?;
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create database directory {}", dir.display())
                })?;
            }
        }
        Ok(Database { url })
    }

    /// Runs the migrations this database has not had yet.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let failed = |e| anyhow::anyhow!("database migration failed: {e}");
        match self.connect()? {
            Conn::Sqlite(mut conn) => {
                // 8 KiB pages for a new database (an existing one keeps its own): a ~1.2 KB
                // incident row fits 6 to a page instead of 3, so arrays of events write fewer
                // pages to the WAL and the checkpointer copies fewer (docs/decisions.md).
                conn.batch_execute("PRAGMA page_size = 8192; PRAGMA journal_mode = WAL;")
                    .context("cannot switch the database to WAL mode")?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(failed)?;
            }
            Conn::Pg(mut conn) => {
                // Replicas starting together must not run the same migration twice.
                conn.batch_execute("SELECT pg_advisory_lock(7355608);")
                    .context("cannot take the migration lock")?;
                let ran = conn
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(drop)
                    .map_err(failed);
                let _ = conn.batch_execute("SELECT pg_advisory_unlock(7355608);");
                ran?;
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.url {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite database file; None on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// SQLite's write-ahead log beside the database file (`<file>-wal`); None on PostgreSQL.
    pub fn sqlite_wal(&self) -> Option<std::path::PathBuf> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                Some(wal.into())
            }
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// What to call the database in messages: the SQLite path, or the URL without password.
    pub fn describe(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => redact_url(url),
        }
    }

    /// A new connection with the standard settings.
    pub fn connect(&self) -> anyhow::Result<Conn> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                configure_sqlite_library();
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .with_context(|| format!("cannot open database {}", path.display()))?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .context("cannot configure database connection")?;
                group_count::register(&mut conn)
                    .context("cannot register SQL functions on the database connection")?;
                Ok(Conn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(&with_fault_timeouts(url))
                    .with_context(|| format!("cannot connect to {}", redact_url(url)))?;
                conn.batch_execute(POSTGRES_SETTINGS)
                    .context("cannot configure database connection")?;
                Ok(Conn::Pg(conn))
            }
        }
    }

    /// A pool of read connections (and for the rare admin write).
    pub fn pool(&self, size: u32) -> anyhow::Result<Pool> {
        r2d2::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_secs(3))
            .build(Manager { db: self.clone() })
            .context("cannot open database pool")
    }
}

/// libpq settings that bound how long a fault can hold a connection, unless the URL sets
/// them: connecting gives up after 3 s, and a connection whose sent data goes unacknowledged
/// for 5 s (a server or network gone silent) fails instead of hanging a request or the writer.
fn with_fault_timeouts(url: &str) -> String {
    let mut url = url.to_string();
    for (name, value) in [("connect_timeout", "3"), ("tcp_user_timeout", "5000")] {
        if !url.contains(&format!("{name}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{name}={value}"));
        }
    }
    url
}

/// SQLite's process-wide settings, made once before the first connection opens.
/// - Multi-thread mode: a connection takes no mutex of its own on each call. Safe here because
///   a diesel connection is used by one thread at a time (it is `Send`, not `Sync`).
/// - No memory statistics: SQLite otherwise takes a global mutex on every allocation.
///
/// Together they take most pthread mutex calls off the writer thread, which inserts every
/// incident (docs/decisions.md).
fn configure_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any connection opens (`Once`, and only
        // here does intake open SQLite connections), as SQLite requires; each option takes
        // the arguments given. Should SQLite be initialised already, it refuses with
        // SQLITE_MISUSE and keeps its defaults, which are correct too.
        let refused = unsafe {
            let multithread =
                libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
            let memstatus =
                libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
            multithread != libsqlite3_sys::SQLITE_OK || memstatus != libsqlite3_sys::SQLITE_OK
        };
        if refused {
            log::debug!("SQLite kept its default threading and memory settings");
        }
    });
}

/// The pool's connection factory: connects by the parsed URL (diesel's own manager would
/// guess the backend by trying each in turn) with the standard settings.
#[derive(Debug)]
pub struct Manager {
    db: Database,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Conn, r2d2::Error> {
        self.db.connect().map_err(|e| {
            r2d2::Error::ConnectionError(ConnectionError::BadConnection(format!("{e:#}")))
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Runs `f` in a transaction that writes. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`), so a transaction that reads first cannot fail later for a write that
/// happened in between; on PostgreSQL a plain `BEGIN` (row locks and unique indexes decide).
pub fn write_transaction<T, E, F>(conn: &mut Conn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Conn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        Conn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        Conn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <Conn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <Conn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

/// The current configuration version (see the `meta` table).
pub fn config_version(conn: &mut Conn) -> QueryResult<i64> {
    use schema::meta::dsl::*;
    meta.filter(key.eq("config_version"))
        .select(value)
        .first(conn)
}

/// A small real write (a counter row in `meta`), for readiness checks while commits fail:
/// it fails as ingest would on a full, read-only or unreachable database.
pub fn write_probe(conn: &mut Conn) -> QueryResult<()> {
    conn.batch_execute(
        "INSERT INTO meta (key, value) VALUES ('write_probe', 0) \
         ON CONFLICT (key) DO UPDATE SET value = meta.value + 1",
    )
}

/// Marks instances/credentials as changed; call inside the transaction that changed them.
pub fn bump_config_version(conn: &mut Conn) -> QueryResult<()> {
    use schema::meta::dsl::*;
    diesel::update(meta.filter(key.eq("config_version")))
        .set(value.eq(value + 1))
        .execute(conn)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's library settings are made before its first connection: with memory
    /// statistics off, SQLite counts nothing even while a connection holds its caches.
    #[test]
    fn sqlite_runs_without_memory_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("intake.db").display());
        let db = Database::open(&url).unwrap();
        let mut conn = db.connect().unwrap();
        conn.batch_execute("SELECT count(*) FROM incidents")
            .unwrap();
        // SAFETY: a read of SQLite's global counter, which SQLite guards itself.
        let counted = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(counted, 0, "SQLite keeps memory statistics");
    }
}
