//! Settings: built-in defaults, then an optional TOML file (`--config` / `INTAKE_CONFIG`),
//! then `INTAKE_*` environment variables, then command-line flags. Validated once at start.
//!
//! clap reads each flag's environment variable itself, so a value that clap hands over is
//! already "env or flag, flag wins"; it only has to override what the file said.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The default database: an SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/intake.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
/// How long a key's response is replayed unless configured (`idempotency_retention_hours`).
pub const DEFAULT_IDEMPOTENCY_RETENTION_HOURS: u32 = 24;

/// Bounds on what one ingest request may carry.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestLimits {
    /// Largest accepted body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Most elements in one JSON array body (413 above).
    pub max_elements: usize,
    /// Deepest JSON nesting (400 above).
    pub max_depth: usize,
    /// Longest time reading one ingest body may take, in ms (408 above).
    pub body_timeout_ms: u64,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 10 * 1024 * 1024,
            max_elements: 1000,
            max_depth: 128,
            body_timeout_ms: 60_000,
        }
    }
}

/// How long the HTTP server waits for slow or idle clients, and how many connections it holds
/// (actix-web's settings of the same names; see docs/operations.md).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// A request's head (request line and headers) must arrive within this many ms of the
    /// connection opening, else 408 and the connection is closed.
    pub client_request_timeout_ms: u64,
    /// How long a closing connection may take to shut down, in ms.
    pub client_disconnect_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this many seconds; 0 turns keep-alive off.
    pub keep_alive_seconds: u64,
    /// Connections held at once, per HTTP worker; more wait in the listen backlog.
    pub max_connections: usize,
    /// TLS handshakes in progress at once, per process (actix-web's `max_connection_rate`).
    pub max_tls_handshakes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            client_request_timeout_ms: 5_000,
            client_disconnect_timeout_ms: 1_000,
            keep_alive_seconds: 15,
            max_connections: 4096,
            max_tls_handshakes: 256,
        }
    }
}

impl HttpLimits {
    fn validate(&self) -> anyhow::Result<()> {
        if self.client_request_timeout_ms == 0 {
            bail!("http.client_request_timeout_ms must be greater than zero (0 would let a client hold a connection forever)");
        }
        if self.client_disconnect_timeout_ms == 0 {
            bail!("http.client_disconnect_timeout_ms must be greater than zero");
        }
        if self.max_connections == 0 || self.max_tls_handshakes == 0 {
            bail!("http.max_connections and http.max_tls_handshakes must be greater than zero");
        }
        Ok(())
    }
}

/// Everything `intake` needs to run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database_url: String,
    /// HTTP listen address. Without it and without `tls_listen`, 127.0.0.1:8000.
    pub listen: Option<String>,
    /// HTTPS listen address; needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<String>,
    /// PEM certificate chain, leaf first.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    pub limits: IngestLimits,
    /// Timeouts and connection caps for HTTP clients.
    pub http: HttpLimits,
    /// Requests that may wait for the writer before ingest answers 503.
    pub writer_queue: usize,
    /// How often a server checks the database for instance/credential changes, in ms.
    pub reload_interval_ms: u64,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// How long a response to an `Idempotency-Key` is replayed for retries.
    pub idempotency_retention_hours: u32,
    /// Database connections for reads and admin writes (per server process).
    pub database_pool_size: u32,
    /// Connections committing ingest groups. SQLite has one writer whatever this says;
    /// on PostgreSQL 0 means 2 (see docs/scaling.md for sizing).
    pub writer_connections: usize,
    /// Serve `/metrics` without an API token.
    pub metrics_public: bool,
    /// Refused requests kept per instance in the delivery log.
    pub delivery_log_limit: u32,
    /// Addresses of reverse proxies whose `X-Forwarded-For` the delivery log records.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The file holding the key that encrypts signing secrets (`INTAKE_SECRET_KEY` wins).
    /// Without either, an SQLite database gets a generated key file beside it.
    pub secret_key_file: Option<PathBuf>,
    /// A console session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// Where each setting given other than by default came from (`limits.max_depth` for
    /// the table's keys).
    #[serde(skip)]
    pub sources: BTreeMap<String, Source>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    File(PathBuf),
    /// An `INTAKE_*` environment variable.
    Env(&'static str),
    /// A command-line flag (the setting's name with dashes).
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::Flag(arg) => write!(f, "flag --{}", arg.replace('_', "-")),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            listen: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            limits: IngestLimits::default(),
            http: HttpLimits::default(),
            writer_queue: 4096,
            reload_interval_ms: 500,
            workers: 0,
            idempotency_retention_hours: DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
            database_pool_size: 8,
            writer_connections: 0,
            metrics_public: false,
            delivery_log_limit: 100,
            trusted_proxies: Vec::new(),
            secret_key_file: None,
            session_idle_minutes: 12 * 60,
            sources: BTreeMap::new(),
        }
    }
}

/// Values given on the command line or in `INTAKE_*` variables; `None` leaves the file's value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub tls_listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_elements: Option<usize>,
    pub max_depth: Option<usize>,
    /// Where each given value came from, by setting name (`limits.max_depth`).
    pub sources: HashMap<&'static str, Source>,
}

/// The deepest nesting that may be configured: parsing, serialising and dropping JSON
/// recurse once per level, on a worker thread's stack.
const DEEPEST_ALLOWED: usize = 512;

impl Settings {
    /// Loads defaults, then `file` when given, then `overrides`; then validates.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
        let mut settings = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let mut settings: Settings = toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                let table: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                for (key, value) in &table {
                    let source = Source::File(path.to_path_buf());
                    match value.as_table() {
                        Some(inner) => {
                            for inner_key in inner.keys() {
                                settings
                                    .sources
                                    .insert(format!("{key}.{inner_key}"), source.clone());
                            }
                        }
                        None => {
                            settings.sources.insert(key.clone(), source);
                        }
                    }
                }
                settings
            }
            None => Settings::default(),
        };
        for (name, source) in &overrides.sources {
            settings.sources.insert(name.to_string(), source.clone());
        }
        if let Some(v) = overrides.database_url {
            settings.database_url = v;
        }
        if let Some(v) = overrides.listen {
            settings.listen = Some(v);
        }
        if let Some(v) = overrides.tls_listen {
            settings.tls_listen = Some(v);
        }
        if let Some(v) = overrides.tls_cert {
            settings.tls_cert = Some(v);
        }
        if let Some(v) = overrides.tls_key {
            settings.tls_key = Some(v);
        }
        if let Some(file) = std::env::var_os("INTAKE_SECRET_KEY_FILE") {
            settings.secret_key_file = Some(file.into());
            settings.sources.insert(
                "secret_key_file".into(),
                Source::Env("INTAKE_SECRET_KEY_FILE"),
            );
        }
        if settings.listen.is_none() && settings.tls_listen.is_none() {
            settings.listen = Some(DEFAULT_LISTEN.to_string());
        }
        if let Some(v) = overrides.max_body_bytes {
            settings.limits.max_body_bytes = v;
        }
        if let Some(v) = overrides.max_elements {
            settings.limits.max_elements = v;
        }
        if let Some(v) = overrides.max_depth {
            settings.limits.max_depth = v;
        }
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        DatabaseUrl::parse(&self.database_url)?;
        self.listen_addr()?;
        self.tls_listen_addr()?;
        match (&self.tls_listen, &self.tls_cert, &self.tls_key) {
            (Some(_), Some(_), Some(_)) | (None, _, _) => {}
            _ => bail!("tls_listen needs both tls_cert and tls_key (PEM files)"),
        }
        let limits = &self.limits;
        if limits.max_body_bytes == 0
            || limits.max_elements == 0
            || limits.max_depth == 0
            || limits.body_timeout_ms == 0
        {
            bail!("limits must be greater than zero: {limits:?}");
        }
        if limits.max_depth > DEEPEST_ALLOWED {
            bail!(
                "max_depth {} is above the supported maximum of {DEEPEST_ALLOWED}",
                limits.max_depth
            );
        }
        self.http.validate()?;
        if self.idempotency_retention_hours == 0 {
            bail!("idempotency_retention_hours must be greater than zero");
        }
        if self.writer_queue == 0 {
            bail!("writer_queue must be greater than zero");
        }
        if self.delivery_log_limit == 0 {
            bail!("delivery_log_limit must be greater than zero");
        }
        if self.session_idle_minutes == 0 {
            bail!("session_idle_minutes must be greater than zero");
        }
        if self.database_pool_size == 0 {
            bail!("database_pool_size must be greater than zero");
        }
        Ok(())
    }

    /// Each setting as `name = value (source)`, `limits` flattened to `limits.<key>`, a
    /// PostgreSQL password left out. Secrets are not settings (the signing-secret key is
    /// named by where it comes from only).
    pub fn describe(&self) -> Vec<String> {
        let mut shown = serde_json::Map::new();
        if let Ok(serde_json::Value::Object(all)) = serde_json::to_value(self) {
            for (key, value) in all {
                match value {
                    serde_json::Value::Object(inner) => {
                        for (inner_key, value) in inner {
                            shown.insert(format!("{key}.{inner_key}"), value);
                        }
                    }
                    other => {
                        shown.insert(key, other);
                    }
                }
            }
        }
        shown.insert(
            "database_url".into(),
            serde_json::Value::String(redact_url(&self.database_url)),
        );
        let mut lines: Vec<String> = shown
            .iter()
            .map(|(key, value)| {
                let source = self.sources.get(key).unwrap_or(&Source::Default);
                format!("setting {key} = {value} ({source})")
            })
            .collect();
        lines.sort();
        lines
    }

    /// The HTTP address, if HTTP is served.
    pub fn listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        parse_addr("listen", self.listen.as_deref())
    }

    /// The HTTPS address, if HTTPS is served.
    pub fn tls_listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        parse_addr("tls_listen", self.tls_listen.as_deref())
    }
}

fn parse_addr(what: &str, addr: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    addr.map(|a| {
        a.parse()
            .with_context(|| format!("invalid {what} address '{a}' (want IP:PORT)"))
    })
    .transpose()
}

/// A parsed `database_url`.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// A libpq connection URL, kept whole (it may carry a password: never log it).
    Postgres(String),
}

impl DatabaseUrl {
    /// `sqlite://PATH` (relative, or absolute with a third slash), `sqlite:PATH`, or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> anyhow::Result<DatabaseUrl> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                bail!("database_url '{url}' names no file (want sqlite://PATH)");
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        bail!(
            "database_url must start with sqlite:// or postgres:// (got '{}')",
            redact_url(url)
        )
    }
}

/// A URL with any password removed, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_accept_relative_and_absolute_paths() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/intake.db").unwrap(),
            DatabaseUrl::Sqlite("data/intake.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/intake/intake.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/intake/intake.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn postgres_urls_are_kept_whole_and_redacted_in_messages() {
        let url = "postgres://intake:s3cret@db.internal:5432/intake";
        assert_eq!(
            DatabaseUrl::parse(url).unwrap(),
            DatabaseUrl::Postgres(url.into())
        );
        assert_eq!(redact_url(url), "postgres://***@db.internal:5432/intake");
        let refused = DatabaseUrl::parse("mysql://intake:s3cret@db").unwrap_err();
        assert!(!refused.to_string().contains("s3cret"), "{refused}");
    }

    #[test]
    fn file_then_overrides_with_overrides_winning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intake.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[limits]\nmax_elements = 5\nmax_depth = 10\n",
        )
        .unwrap();
        let settings = Settings::load(
            Some(&path),
            Overrides {
                max_depth: Some(20),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(settings.limits.max_elements, 5);
        assert_eq!(settings.limits.max_depth, 20);
        assert_eq!(settings.limits.max_body_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn https_alone_needs_no_http_listener_but_needs_its_files() {
        let https_only = Settings::load(
            None,
            Overrides {
                tls_listen: Some("127.0.0.1:8443".into()),
                tls_cert: Some("c.pem".into()),
                tls_key: Some("k.pem".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(https_only.listen, None);
        assert_eq!(
            Settings::load(None, Overrides::default())
                .unwrap()
                .listen
                .as_deref(),
            Some(DEFAULT_LISTEN)
        );
        let missing_key = Settings::load(
            None,
            Overrides {
                tls_listen: Some("127.0.0.1:8443".into()),
                tls_cert: Some("c.pem".into()),
                ..Overrides::default()
            },
        );
        assert!(missing_key.unwrap_err().to_string().contains("tls_key"));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad = |o: Overrides| Settings::load(None, o).is_err();
        assert!(bad(Overrides {
            listen: Some("nowhere".into()),
            ..Overrides::default()
        }));
        assert!(bad(Overrides {
            max_depth: Some(513),
            ..Overrides::default()
        }));
        assert!(bad(Overrides {
            max_elements: Some(0),
            ..Overrides::default()
        }));
    }

    #[test]
    fn http_limits_come_from_the_file_and_zero_timeouts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            let path = dir.path().join("intake.toml");
            std::fs::write(&path, text).unwrap();
            Settings::load(Some(&path), Overrides::default())
        };
        let settings =
            load("[http]\nclient_request_timeout_ms = 800\nkeep_alive_seconds = 0\n").unwrap();
        assert_eq!(settings.http.client_request_timeout_ms, 800);
        assert_eq!(settings.http.keep_alive_seconds, 0);
        assert_eq!(
            settings.http.max_connections,
            HttpLimits::default().max_connections
        );
        let zero = load("[http]\nclient_request_timeout_ms = 0\n").unwrap_err();
        assert!(
            zero.to_string().contains("client_request_timeout_ms"),
            "{zero}"
        );
        assert!(load("[http]\nmax_connections = 0\n").is_err());
        assert!(load("[limits]\nbody_timeout_ms = 0\n").is_err());
        assert!(load("[http]\nunknown = 1\n").is_err());
    }
}
