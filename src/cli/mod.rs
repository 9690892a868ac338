//! The command line: `serve`, `migrate`, `instance …`, `incidents …`, `samples`.
//! Commands call the same store functions as the HTTP API. Secrets are read from stdin only.

mod access;
mod auth;
mod common;
mod db;
mod incidents;
mod instance;
mod ops;
mod output;
mod serve;
mod tls;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Settings, Source};
use crate::instances::store;
use crate::storage::Database;
use access::{token, user, TokenCommand, UserCommand};
use common::{connect, fail};
use db::{db_copy, DbCommand};
use incidents::{incidents_command, samples, IncidentsCommand, SamplesArgs};
use instance::{instance, read_mapping, InstanceCommand, MappingCommand};
use serve::{serve, ServeArgs};
use tls::{tls, TlsCommand};

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
    let settings = settings(&cli, matches)?;
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

/// The settings a parsed command line runs with: defaults, the config file, then the
/// `INTAKE_*` variables and flags `matches` holds (which also tell where each came from).
pub fn settings(cli: &Cli, matches: &clap::ArgMatches) -> anyhow::Result<Settings> {
    let mut overrides = Overrides {
        database_url: cli.database_url.clone(),
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
    Settings::load(cli.config.as_deref(), overrides)
}
