//! The command line (SPEC 4): `serve`, `migrate`, `instance …`, `incidents …`, `samples`.
//! Commands call the same store functions as the HTTP API. Secrets are read from stdin only.

mod auth;
mod ops;
mod output;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::app::Application;
use crate::auth::{hash_secret, CredentialSpec};
use crate::config::{Overrides, Settings, Source};
use crate::error::ServiceError;
use crate::incidents::{self, IncidentFilter};
use crate::instances::{self, store, InstanceChanges, ListenerSpec, NewInstance};
use crate::storage::{Conn, Database};

#[derive(Debug, Parser)]
#[command(
    name = "intake",
    version,
    about = "Receive webhooks and turn them into incidents"
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "INTAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// sqlite://PATH (default: sqlite://data/intake.db) or postgres://USER@HOST/DB. Keep a
    /// PostgreSQL password out of the URL: libpq reads PGPASSWORD or ~/.pgpass.
    #[arg(long, global = true, env = "INTAKE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Log lines as text, or as one JSON object a line for log shippers.
    #[arg(
        long,
        global = true,
        env = "INTAKE_LOG_FORMAT",
        value_enum,
        default_value_t = crate::logging::LogFormat::Text
    )]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the receiver (migrates the database first).
    Serve(ServeArgs),
    /// Create or upgrade the database schema.
    Migrate,
    /// Manage instances (inbound endpoints) and their credentials.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Query incidents.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Show (or clear) the samples an instance kept.
    Samples(SamplesArgs),
    /// Check certificates, or make development ones.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// API tokens for /api/v1.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Console users (who sign in at /login).
    #[command(subcommand)]
    User(UserCommand),
    /// Field mappings.
    #[command(subcommand)]
    Mapping(MappingCommand),
    /// Database moves.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy instances, credentials, tokens, incidents (with their events) and samples to
    /// another database, keeping ids and timestamps. Resumable: run it again after an
    /// interruption. Verified by counting every table on both sides.
    Copy {
        /// The database to read, e.g. sqlite://data/intake.db.
        #[arg(long, env = "INTAKE_COPY_FROM", value_name = "URL")]
        from: String,
        /// The database to fill, e.g. postgres://intake@db-host/intake.
        #[arg(long, env = "INTAKE_COPY_TO", value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Run a mapping (the file's, else the instance's) over the instance's stored samples.
    Test {
        name: String,
        #[arg(long, value_name = "FILE")]
        mapping_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints only the token, once.
    Create {
        #[arg(long, value_parser = ["admin", "analyst"])]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: i32 },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "analyst"])]
        role: String,
        /// Read the password from stdin (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users (never their passwords).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a user and end their sessions.
    Remove { name: String },
    /// Set a new password (read from stdin) and end the user's sessions.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Parse a certificate chain and key, check they match and are valid; print what they are.
    Check {
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write a local CA (ca.pem) and a server certificate signed by it (cert.pem, key.pem).
    SelfSigned {
        /// Name (or IP address) clients connect to.
        #[arg(long, default_value = "localhost")]
        hostname: String,
        #[arg(long, value_name = "DIR", default_value = "certs")]
        out_dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address (default 127.0.0.1:8000 unless only HTTPS is asked for).
    #[arg(long, env = "INTAKE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// HTTPS listen address; needs --tls-cert and --tls-key.
    #[arg(long, env = "INTAKE_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain (leaf first). Re-read on SIGHUP.
    #[arg(long, env = "INTAKE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP.
    #[arg(long, env = "INTAKE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Largest accepted body in bytes.
    #[arg(long, env = "INTAKE_MAX_BODY_BYTES", value_name = "N")]
    pub max_body_bytes: Option<usize>,
    /// Most elements in one JSON array body.
    #[arg(long, env = "INTAKE_MAX_ELEMENTS", value_name = "N")]
    pub max_elements: Option<usize>,
    /// Deepest accepted JSON nesting.
    #[arg(long, env = "INTAKE_MAX_DEPTH", value_name = "N")]
    pub max_depth: Option<usize>,
    /// On a database with no instances, create a `demo` instance and print a curl to try it.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance.
    Add(InstanceArgs),
    /// Change an instance's settings (a --username adds a credential).
    Update(InstanceArgs),
    /// List instances.
    List(JsonFlag),
    /// Show one instance.
    Show(NameArgs),
    /// Remove an instance with its credentials and samples (its incidents stay).
    Remove(NameArgs),
    /// The instance's newest refused requests (the delivery log), newest first.
    Deliveries(NameArgs),
    /// Add or remove credentials.
    #[command(subcommand)]
    Credential(CredentialCommand),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON only.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstanceArgs {
    pub name: String,
    /// Basic username, or `_header:<Header-Name>` for a header rule. The secret is read from stdin.
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password (or header value) from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Type given to incidents that do not name one.
    #[arg(long, value_name = "TYPE")]
    pub incident_type: Option<String>,
    /// Forget the default incident type.
    #[arg(long, conflicts_with = "incident_type")]
    pub no_incident_type: bool,
    /// Keep the newest received elements as samples.
    #[arg(long)]
    pub store_samples: bool,
    #[arg(long, conflicts_with = "store_samples")]
    pub no_store_samples: bool,
    /// How many samples to keep (default 20).
    #[arg(long, value_name = "N")]
    pub sample_limit: Option<i32>,
    /// Accept requests without credentials while the instance has none (explicit opt-in).
    #[arg(long)]
    pub allow_anonymous: bool,
    #[arg(long, conflicts_with = "allow_anonymous")]
    pub no_allow_anonymous: bool,
    /// Also serve this instance at `POST /` on its own port (XSOAR's per-instance listener).
    #[arg(long, value_name = "PORT")]
    pub listen_port: Option<i32>,
    /// Certificate (PEM chain) for the instance's own port; with --tls-key it serves HTTPS.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "listen_port"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for the instance's own port.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Map fields with a built-in preset: cato, cado, cii, connectsecure, alertmanager, grafana, github.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    #[arg(long, conflicts_with = "preset")]
    pub no_preset: bool,
    /// Map fields with this mapping document (JSON, see docs/mapping.md); checked before saving.
    #[arg(long, value_name = "FILE")]
    pub mapping_file: Option<PathBuf>,
    #[arg(long, conflicts_with = "mapping_file")]
    pub no_mapping: bool,
    /// Remove the instance's own listener.
    #[arg(long, conflicts_with_all = ["listen_port", "tls_cert"])]
    pub no_listen_port: bool,
    #[command(flatten)]
    pub auth: auth::AuthArgs,
    /// Stop accepting events (404) without removing the instance.
    #[arg(long)]
    pub disable: bool,
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Add a credential or a signature rule; earlier ones stay active (rotation). The secret
    /// is read from stdin.
    Add {
        name: String,
        #[arg(
            long,
            required_unless_present = "signature",
            requires = "password_stdin"
        )]
        username: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        /// A signature rule: github, standard-webhooks, stripe, slack or hmac-sha256.
        #[arg(long, value_name = "SCHEME", conflicts_with_all = ["username", "password_stdin"], requires = "secret_stdin")]
        signature: Option<String>,
        /// Read the signing secret from standard input.
        #[arg(long, requires = "signature")]
        secret_stdin: bool,
        /// The header an hmac-sha256 rule reads (default X-Signature).
        #[arg(long, value_name = "H", requires = "signature")]
        header: Option<String>,
    },
    /// Remove the credentials with this username (or `_header:<Name>`), or one by --id.
    Remove {
        name: String,
        #[arg(long, required_unless_present = "id")]
        username: Option<String>,
        #[arg(long, conflicts_with = "username")]
        id: Option<i32>,
    },
}

/// The incident filters of the API, as flags of the same names (SPEC 4); each list flag is
/// repeatable or comma-separated.
#[derive(Debug, clap::Args)]
pub struct IncidentFilterArgs {
    #[arg(long)]
    pub instance: Vec<String>,
    #[arg(long = "type", value_name = "TYPE")]
    pub type_: Vec<String>,
    /// open, acknowledged or resolved.
    #[arg(long)]
    pub status: Vec<String>,
    #[arg(long)]
    pub severity: Vec<String>,
    /// KEY:VALUE; every one given must match.
    #[arg(long, value_name = "KEY:VALUE")]
    pub label: Vec<String>,
    #[arg(long, alias = "dedup_key")]
    pub dedup_key: Option<String>,
    /// Case-insensitive substring of the name.
    #[arg(long, alias = "name_contains")]
    pub name_contains: Option<String>,
    /// Free text: every word (or "quoted phrase") must occur in the name or the payload.
    #[arg(long)]
    pub q: Option<String>,
    /// RFC 3339.
    #[arg(long, alias = "occurred_after")]
    pub occurred_after: Option<String>,
    #[arg(long, alias = "occurred_before")]
    pub occurred_before: Option<String>,
    #[arg(long, alias = "created_after")]
    pub created_after: Option<String>,
    #[arg(long, alias = "created_before")]
    pub created_before: Option<String>,
}

impl IncidentFilterArgs {
    /// The filter, checked by the same parser as the API's query parameters.
    fn parse(self) -> anyhow::Result<IncidentFilter> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, values) in [
            ("instance", self.instance),
            ("type", self.type_),
            ("status", self.status),
            ("severity", self.severity),
            ("label", self.label),
        ] {
            pairs.extend(values.into_iter().map(|v| (name, v)));
        }
        for (name, value) in [
            ("dedup_key", self.dedup_key),
            ("name_contains", self.name_contains),
            ("q", self.q),
            ("occurred_after", self.occurred_after),
            ("occurred_before", self.occurred_before),
            ("created_after", self.created_after),
            ("created_before", self.created_before),
        ] {
            pairs.extend(value.map(|v| (name, v)));
        }
        IncidentFilter::from_pairs(pairs).map_err(|e| anyhow::anyhow!("--{e}"))
    }
}

// Parsed once per process: the size of the filter flags costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        #[command(flatten)]
        filter: IncidentFilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only incidents with an id below this (next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Change an incident's status: open, acknowledged or resolved.
    Update {
        id: i64,
        #[arg(long)]
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one incident with its raw JSON.
    Show {
        id: i64,
        /// Every delivery of the incident instead, oldest first.
        #[arg(long)]
        events: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SamplesArgs {
    pub name: String,
    /// Delete the instance's samples.
    #[arg(long)]
    pub clear: bool,
    #[arg(long)]
    pub json: bool,
}

/// Where the value of `arg` (a clap argument id) came from, if it was given at all.
fn given_by(matches: &clap::ArgMatches, arg: &'static str, env: &'static str) -> Option<Source> {
    let level = match matches.subcommand() {
        Some((_, sub)) if sub.try_contains_id(arg).is_ok() => sub,
        _ => matches,
    };
    level.try_contains_id(arg).ok()?;
    match level.value_source(arg)? {
        clap::parser::ValueSource::EnvVariable => Some(Source::Env(env)),
        clap::parser::ValueSource::CommandLine => Some(Source::Flag(arg)),
        _ => None,
    }
}

/// Runs a parsed command line; `matches` tells where each value came from.
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let mut overrides = Overrides {
        database_url: cli.database_url,
        ..Overrides::default()
    };
    for (setting, arg, env) in [
        ("database_url", "database_url", "INTAKE_DATABASE_URL"),
        ("listen", "listen", "INTAKE_LISTEN"),
        ("tls_listen", "tls_listen", "INTAKE_TLS_LISTEN"),
        ("tls_cert", "tls_cert", "INTAKE_TLS_CERT"),
        ("tls_key", "tls_key", "INTAKE_TLS_KEY"),
        (
            "limits.max_body_bytes",
            "max_body_bytes",
            "INTAKE_MAX_BODY_BYTES",
        ),
        ("limits.max_elements", "max_elements", "INTAKE_MAX_ELEMENTS"),
        ("limits.max_depth", "max_depth", "INTAKE_MAX_DEPTH"),
    ] {
        if let Some(source) = given_by(matches, arg, env) {
            overrides.sources.insert(setting, source);
        }
    }
    if let Command::Serve(args) = &cli.command {
        overrides.listen = args.listen.clone();
        overrides.tls_listen = args.tls_listen.clone();
        overrides.tls_cert = args.tls_cert.clone();
        overrides.tls_key = args.tls_key.clone();
        overrides.max_body_bytes = args.max_body_bytes;
        overrides.max_elements = args.max_elements;
        overrides.max_depth = args.max_depth;
    }
    let settings = Settings::load(cli.config.as_deref(), overrides)?;
    match cli.command {
        Command::Serve(args) => serve(&settings, args.demo),
        Command::Migrate => {
            let db = Database::open(&settings.database_url)?;
            println!("database {} is up to date", db.describe());
            Ok(())
        }
        Command::Instance(command) => instance(&settings, command),
        Command::Incidents(command) => incidents_command(&settings, command),
        Command::Samples(args) => samples(&settings, args),
        Command::Tls(command) => tls(command),
        Command::Token(command) => token(&settings, command),
        Command::User(command) => user(&settings, command),
        Command::Db(DbCommand::Copy { from, to }) => db_copy(&from, &to),
        Command::Mapping(MappingCommand::Test {
            name,
            mapping_file,
            json,
        }) => {
            let doc = mapping_file.as_deref().map(read_mapping).transpose()?;
            let mut conn = connect(&settings)?;
            let report = store::mapping_test(&mut conn, &name, doc).map_err(fail)?;
            output::mapping_report(&report, json);
            Ok(())
        }
    }
}

fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    use crate::auth::tokens::{self, Role};
    let mut conn = connect(settings)?;
    match command {
        TokenCommand::Create { role, name } => {
            let role = Role::parse(&role).map_err(fail)?;
            let (token, _) = tokens::create(&mut conn, role, &name).map_err(fail)?;
            println!("{token}");
        }
        TokenCommand::List { json } => {
            output::tokens(&tokens::list(&mut conn).map_err(fail)?, json)
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(&mut conn, id).map_err(fail)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

fn user(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    use crate::auth::tokens::Role;
    use crate::console::users;
    let mut conn = connect(settings)?;
    match command {
        UserCommand::Add { name, role, .. } => {
            let role = Role::parse(&role).map_err(fail)?;
            let password = read_secret()?;
            users::check_password(&password).map_err(fail)?;
            let user =
                users::add(&mut conn, &name, role, &hash_secret(&password)?).map_err(fail)?;
            println!("added {} user '{}'", user.role, user.name);
        }
        UserCommand::List { json } => output::users(&users::list(&mut conn).map_err(fail)?, json),
        UserCommand::Remove { name } => {
            users::remove(&mut conn, &name).map_err(fail)?;
            println!("removed user '{name}' and ended their sessions");
        }
        UserCommand::Passwd { name, .. } => {
            let password = read_secret()?;
            users::check_password(&password).map_err(fail)?;
            users::set_password(&mut conn, &name, &hash_secret(&password)?).map_err(fail)?;
            println!("changed the password of '{name}' and ended their sessions");
        }
    }
    Ok(())
}

fn tls(command: TlsCommand) -> anyhow::Result<()> {
    match command {
        TlsCommand::Check { cert, key, json } => {
            let pair = crate::tls::load_pair(&cert, &key)?;
            output::cert(&pair.info, json);
            if pair.info.days_left() < crate::tls::EXPIRY_WARNING_DAYS {
                eprintln!(
                    "warning: the certificate expires in {} days",
                    pair.info.days_left()
                );
            }
        }
        TlsCommand::SelfSigned {
            hostname,
            out_dir,
            days,
        } => {
            let files = crate::tls::self_signed(&hostname, &out_dir, days)?;
            println!(
                "wrote {} (CA: give it to clients, e.g. curl --cacert), {} and {} (serve with \
                 --tls-cert/--tls-key)",
                files.ca_cert.display(),
                files.cert.display(),
                files.key.display()
            );
        }
    }
    Ok(())
}

/// `intake db copy`: prints each table's counts; fails unless every table matches.
fn db_copy(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (
        Database::without_migrating(from)?,
        Database::without_migrating(to)?,
    );
    let report = crate::storage::copy::copy(&from, &to)?;
    println!(
        "{:<18} {:>10} {:>12} {:>12}",
        "table", "copied", "source rows", "target rows"
    );
    for table in &report {
        println!(
            "{:<18} {:>10} {:>12} {:>12}{}",
            table.table,
            table.copied,
            table.source_rows,
            table.target_rows,
            if table.verified() { "" } else { "  MISMATCH" }
        );
    }
    if report.iter().any(|t| !t.verified()) {
        anyhow::bail!(
            "the copy does not match the source: rows were added to the source meanwhile, or \
             the target had rows of its own; stop the servers writing to the source and run it again"
        );
    }
    println!(
        "copied {} to {}: every table verified",
        from.describe(),
        to.describe()
    );
    Ok(())
}

fn connect(settings: &Settings) -> anyhow::Result<Conn> {
    Database::open(&settings.database_url)?.connect()
}

/// Turns a service error into a message for the terminal.
fn fail(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

fn serve(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    for line in settings.describe() {
        log::info!("{line}");
    }
    actix_web::rt::System::new().block_on(async {
        // Before the server loads its instances, so the demo works from the first request.
        let demo = if demo {
            create_demo(settings)?
        } else {
            Demo::default()
        };
        let app = Application::build(settings).await?;
        let mut addr = app.addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let base = app.urls()[0].replace(&app.addr().to_string(), &addr.to_string());
        if let Some(password) = demo.sender_password {
            println!(
                "\nCreated instance 'demo' with user 'demo' and password {password} (shown only now).\n\
                 Send it an event:\n\n  \
                 curl -u 'demo:{password}' -d '{{\"name\":\"Hello from curl\",\"type\":\"Test\"}}' {base}/instance/execute/demo\n\n\
                 Then list incidents:  ./target/release/intake incidents list\n"
            );
        }
        if let Some(password) = demo.admin_password {
            println!(
                "Created console user 'admin' with password {password} (shown only now).\n\
                 Open the console:  {base}/\n"
            );
        }
        for url in app.urls() {
            log::info!("listening on {url}");
            println!("intake listening on {url}");
        }
        println!("console at {base}/");
        println!("intake ready");
        app.run_until_stopped().await
    })
}

/// What the first start of `serve --demo` created, with the passwords to show once.
#[derive(Default)]
struct Demo {
    sender_password: Option<String>,
    admin_password: Option<String>,
}

/// First start on an empty database: a `demo` instance and an `admin` console user, each
/// with a generated password, which the caller shows once (never logged). Each is created
/// only when there is no instance (no user) yet.
fn create_demo(settings: &Settings) -> anyhow::Result<Demo> {
    use crate::console::users;
    let mut conn = connect(settings)?;
    let mut demo = Demo::default();
    if store::list(&mut conn).map_err(fail)?.is_empty() {
        let password = generate_password();
        let spec = CredentialSpec::parse("demo").map_err(anyhow::Error::msg)?;
        let hash = hash_secret(&password)?;
        let mut instance = NewInstance::named("demo");
        instance.store_samples = true;
        store::create(&mut conn, &instance, Some((&spec, &hash))).map_err(fail)?;
        demo.sender_password = Some(password);
    }
    if !users::any(&mut conn).map_err(fail)? {
        let password = generate_password();
        let role = crate::auth::tokens::Role::Admin;
        users::add(&mut conn, "admin", role, &hash_secret(&password)?).map_err(fail)?;
        demo.admin_password = Some(password);
    }
    Ok(demo)
}

fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
}

/// Reads a secret from stdin: everything, less one trailing newline.
fn read_secret() -> anyhow::Result<String> {
    let mut secret = String::new();
    std::io::stdin()
        .read_to_string(&mut secret)
        .context("cannot read the secret from stdin")?;
    let secret = secret
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&secret)
        .to_string();
    if secret.is_empty() {
        bail!("no secret on stdin (pipe it in, e.g. `printf %s \"$PASSWORD\" | intake …`)");
    }
    Ok(secret)
}

/// A credential from `--username` and the secret on stdin, parsed and hashed.
fn new_credential(username: &str) -> anyhow::Result<(CredentialSpec, String)> {
    let spec = CredentialSpec::parse(username).map_err(|e| anyhow::anyhow!("--username: {e}"))?;
    let hash = hash_secret(&read_secret()?)?;
    Ok((spec, hash))
}

fn instance(settings: &Settings, command: InstanceCommand) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    match command {
        InstanceCommand::Add(args) => {
            let credential = args.username.as_deref().map(new_credential).transpose()?;
            let mut new = NewInstance::named(&args.name);
            new.incident_type = args.incident_type.clone();
            new.store_samples = args.store_samples;
            new.sample_limit = args
                .sample_limit
                .unwrap_or(instances::model::DEFAULT_SAMPLE_LIMIT);
            new.allow_anonymous = args.allow_anonymous;
            new.enabled = !args.disable;
            new.listener = listener_spec(&args)?;
            new.mapping = args.mapping_file.as_deref().map(read_mapping).transpose()?;
            new.preset = args.preset.clone();
            new.auth = args.auth.changes();
            let credential = credential
                .as_ref()
                .map(|(spec, hash)| (spec, hash.as_str()));
            let created = store::create(&mut conn, &new, credential).map_err(fail)?;
            output::instance(&created, args.json);
            if created.credentials.is_empty() && !created.allow_anonymous {
                eprintln!(
                    "note: '{}' has no credential yet, so it refuses every request; add one with \
                     `intake instance credential add {} --username USER --password-stdin`",
                    created.name, created.name
                );
            }
        }
        InstanceCommand::Update(args) => {
            if let Some(username) = &args.username {
                let (spec, hash) = new_credential(username)?;
                store::add_credential(&mut conn, &args.name, &spec, &hash).map_err(fail)?;
            }
            let changes = InstanceChanges {
                incident_type: match (&args.incident_type, args.no_incident_type) {
                    (Some(t), _) => Some(Some(t.clone())),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                store_samples: flag(args.store_samples, args.no_store_samples),
                sample_limit: args.sample_limit,
                allow_anonymous: flag(args.allow_anonymous, args.no_allow_anonymous),
                enabled: flag(args.enable, args.disable),
                listener: match listener_spec(&args)? {
                    Some(spec) => Some(Some(spec)),
                    None if args.no_listen_port => Some(None),
                    None => None,
                },
                mapping: match &args.mapping_file {
                    Some(file) => Some(Some(read_mapping(file)?)),
                    None if args.no_mapping => Some(None),
                    None => None,
                },
                preset: match &args.preset {
                    Some(name) => Some(Some(name.clone())),
                    None if args.no_preset => Some(None),
                    None => None,
                },
                auth: args.auth.changes(),
            };
            let updated = store::update(&mut conn, &args.name, &changes).map_err(fail)?;
            output::instance(&updated, args.json);
        }
        InstanceCommand::List(args) => {
            let all = store::list(&mut conn).map_err(fail)?;
            output::instances(&all, args.json);
        }
        InstanceCommand::Show(args) => {
            let found =
                crate::ops::store::show_with_activity(&mut conn, &args.name).map_err(fail)?;
            ops::instance(&found, args.json);
        }
        InstanceCommand::Deliveries(args) => {
            let found = crate::ops::store::deliveries_of(&mut conn, &args.name).map_err(fail)?;
            ops::deliveries(&found, args.json);
        }
        InstanceCommand::Remove(args) => {
            store::remove(&mut conn, &args.name).map_err(fail)?;
            println!("removed instance '{}'", args.name);
        }
        InstanceCommand::Credential(CredentialCommand::Add {
            name,
            signature: Some(scheme),
            header,
            ..
        }) => {
            let secret = read_secret()?;
            let added =
                auth::add_signature_rule(settings, &name, &scheme, header.as_deref(), &secret)?;
            println!(
                "added signature rule {} ({}) to '{name}'",
                added.id, added.username
            );
        }
        InstanceCommand::Credential(CredentialCommand::Add { name, username, .. }) => {
            let username = username.context("give --username or --signature")?;
            let (spec, hash) = new_credential(&username)?;
            let added = store::add_credential(&mut conn, &name, &spec, &hash).map_err(fail)?;
            println!(
                "added {} credential {} ({}) to '{name}'",
                added.kind, added.id, added.username
            );
        }
        InstanceCommand::Credential(CredentialCommand::Remove { name, username, id }) => {
            match (username, id) {
                (_, Some(id)) => {
                    store::remove_credential(&mut conn, &name, id).map_err(fail)?;
                    println!("removed credential {id} from '{name}'");
                }
                (Some(username), None) => {
                    let n = store::remove_credentials(&mut conn, &name, &username).map_err(fail)?;
                    println!("removed {n} credential(s) '{username}' from '{name}'");
                }
                (None, None) => bail!("give --username or --id"),
            }
        }
    }
    Ok(())
}

/// A mapping document from a file; the error names the file and the field.
fn read_mapping(file: &std::path::Path) -> anyhow::Result<crate::mapping::MappingDoc> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read mapping file {}", file.display()))?;
    crate::mapping::MappingDoc::parse(&text)
        .map_err(|e| anyhow::anyhow!("mapping file {}: {e}", file.display()))
}

/// `--listen-port` with optional `--tls-cert`/`--tls-key`, paths made absolute so a server
/// started from another directory finds them.
fn listener_spec(args: &InstanceArgs) -> anyhow::Result<Option<ListenerSpec>> {
    let Some(port) = args.listen_port else {
        return Ok(None);
    };
    let absolute = |path: &PathBuf| -> anyhow::Result<String> {
        let path = std::path::absolute(path)
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        Ok(path.to_string_lossy().into_owned())
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((absolute(cert)?, absolute(key)?)),
        _ => None,
    };
    Ok(Some(ListenerSpec { port, tls }))
}

/// `--x` / `--no-x` → Some(true) / Some(false); neither → None.
fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

fn incidents_command(settings: &Settings, command: IncidentsCommand) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    match command {
        IncidentsCommand::List {
            filter,
            limit,
            before,
            json,
        } => {
            if !(1..=1000).contains(&limit) {
                bail!("--limit must be between 1 and 1000");
            }
            let filter = IncidentFilter {
                before_id: before,
                limit,
                ..filter.parse()?
            };
            let found = incidents::store::list(&mut conn, &filter).map_err(fail)?;
            output::incidents(&found, json);
        }
        IncidentsCommand::Show {
            id,
            events: true,
            json,
        } => {
            let found = incidents::store::events(&mut conn, id).map_err(fail)?;
            output::events(&found, json);
        }
        IncidentsCommand::Show { id, json, .. } => {
            let found = incidents::store::get(&mut conn, id).map_err(fail)?;
            output::incident(&found, json);
        }
        IncidentsCommand::Update { id, status, json } => {
            let updated = incidents::store::set_status(&mut conn, id, &status).map_err(fail)?;
            output::incident(&updated, json);
        }
    }
    Ok(())
}

fn samples(settings: &Settings, args: SamplesArgs) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    if args.clear {
        let n = store::clear_samples(&mut conn, &args.name).map_err(fail)?;
        println!("cleared {n} sample(s) of '{}'", args.name);
        return Ok(());
    }
    let found = store::samples(&mut conn, &args.name).map_err(fail)?;
    output::samples(&found, args.json);
    Ok(())
}
