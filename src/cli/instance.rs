//! `intake instance …` and `intake mapping test`: instances, their credentials, listeners
//! and mappings.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::common::{connect, fail, read_secret};
use super::{auth, ops, output};
use crate::auth::{hash_secret, CredentialSpec};
use crate::config::Settings;
use crate::instances::{self, store, InstanceChanges, ListenerSpec, NewInstance};

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

/// A credential from `--username` and the secret on stdin, parsed and hashed.
fn new_credential(username: &str) -> anyhow::Result<(CredentialSpec, String)> {
    let spec = CredentialSpec::parse(username).map_err(|e| anyhow::anyhow!("--username: {e}"))?;
    let hash = hash_secret(&read_secret()?)?;
    Ok((spec, hash))
}

pub(super) fn instance(settings: &Settings, command: InstanceCommand) -> anyhow::Result<()> {
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
pub(super) fn read_mapping(file: &std::path::Path) -> anyhow::Result<crate::mapping::MappingDoc> {
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
pub(super) fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
