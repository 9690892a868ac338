//! Database access: the connection settings every connection gets, the read pool,
//! embedded migrations, and the configuration version that tells servers to reload.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a committed transaction is on disk
//! before `COMMIT` returns, which is what lets ingest acknowledge only durable incidents.

pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseUrl;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type Conn = SqliteConnection;
pub type Pool = r2d2::Pool<ConnectionManager<SqliteConnection>>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager<SqliteConnection>>;

/// Per-connection settings. `busy_timeout` lets the CLI, readers and the writer share the
/// file; `foreign_keys` makes instance removal cascade to credentials and samples.
const CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute(CONNECTION_PRAGMAS)
            .map_err(r2d2::Error::QueryError)
    }
}

/// Where the database lives, validated and ready to open.
#[derive(Debug, Clone)]
pub struct Database {
    path: PathBuf,
}

impl Database {
    /// Parses the URL, creates the file's directory if needed, and runs pending migrations.
    pub fn open(url: &str) -> anyhow::Result<Database> {
        let DatabaseUrl::Sqlite(path) = DatabaseUrl::parse(url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create database directory {}", dir.display()))?;
        }
        let db = Database { path };
        let mut conn = db.connect()?;
        conn.batch_execute("PRAGMA journal_mode = WAL;")
            .context("cannot switch the database to WAL mode")?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection with the standard settings.
    pub fn connect(&self) -> anyhow::Result<SqliteConnection> {
        let target = self.path.to_string_lossy();
        let mut conn = SqliteConnection::establish(&target)
            .with_context(|| format!("cannot open database {}", self.path.display()))?;
        conn.batch_execute(CONNECTION_PRAGMAS)
            .context("cannot configure database connection")?;
        Ok(conn)
    }

    /// A pool of read connections (and for the rare admin write).
    pub fn pool(&self, size: u32) -> anyhow::Result<Pool> {
        let manager = ConnectionManager::<SqliteConnection>::new(self.path.to_string_lossy());
        r2d2::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(Pragmas))
            .build(manager)
            .context("cannot open database pool")
    }
}

/// The current configuration version (see the `meta` table).
pub fn config_version(conn: &mut Conn) -> QueryResult<i64> {
    use schema::meta::dsl::*;
    meta.filter(key.eq("config_version"))
        .select(value)
        .first(conn)
}

/// Marks instances/credentials as changed; call inside the transaction that changed them.
pub fn bump_config_version(conn: &mut Conn) -> QueryResult<()> {
    use schema::meta::dsl::*;
    diesel::update(meta.filter(key.eq("config_version")))
        .set(value.eq(value + 1))
        .execute(conn)
        .map(drop)
}
