//! The in-memory view of every instance and its credential rules that the ingest path
//! reads, so a request costs no database read before its commit.
//!
//! A snapshot is immutable; a change (seen through the configuration version, whoever made
//! it: this server, the CLI, another replica) builds a new snapshot and swaps it in
//! atomically. Each snapshot has its own verified-credential cache, so a removed or
//! changed credential can never be honoured from a stale verdict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::HeaderName;
use arc_swap::ArcSwap;

use super::auth_settings::AuthSettings;
use super::store::{self, CredentialRow, InstanceRow};
use crate::auth::secret_box::SecretBox;
use crate::auth::signature::{SignatureRule, SignatureSpec};
use crate::auth::token_store::TokenCache;
use crate::auth::{random_key, Rule, RuleKind, VerifiedCache};
use crate::error::ServiceError;
use crate::mapping::{preset, Mapping, MappingDoc};
use crate::storage::{config_version, Conn, Pool};

/// One instance, as ingest needs it.
#[derive(Debug)]
pub struct InstanceConfig {
    pub id: i32,
    pub name: String,
    pub incident_type: Option<String>,
    pub store_samples: bool,
    pub sample_limit: i32,
    pub allow_anonymous: bool,
    pub enabled: bool,
    pub rules: Vec<Rule>,
    /// The instance's mapping (its own, or its preset's), compiled once here.
    pub mapping: Option<Arc<Mapping>>,
    /// Headers that carry this instance's secrets, besides the standard credential headers.
    pub secret_headers: Vec<HeaderName>,
    /// Its metrics handles and activity counters (kept across snapshots).
    pub ops: Arc<crate::ops::instance::InstanceOps>,
    /// Token lifetime, signature tolerance and rate limit.
    pub auth: AuthSettings,
    /// The signature rules among `rules`, checked once the body is read.
    pub signature_rules: Vec<Arc<SignatureRule>>,
    /// The instance's rate limiter (kept across snapshots while its quota stays).
    pub rate_limiter: Option<Arc<crate::ingest::rate_limit::InstanceLimiter>>,
}

/// The instance's mapping: its own document (which may name a preset as `base`), else its
/// preset. Both were validated when saved; one that no longer compiles is logged and skipped.
fn compiled_mapping(row: &InstanceRow) -> Option<Arc<Mapping>> {
    let doc = match (&row.mapping, &row.preset) {
        (Some(text), _) => MappingDoc::parse(text),
        (None, Some(name)) => preset(name).ok_or_else(|| format!("unknown preset '{name}'")),
        (None, None) => return None,
    };
    match doc.and_then(|d| d.compile()) {
        Ok(mapping) => Some(Arc::new(mapping)),
        Err(e) => {
            log::error!("instance '{}': mapping ignored: {e}", row.name);
            None
        }
    }
}

/// A signature rule with its secret opened; None (logged) when it cannot be.
fn signature_rule(c: &CredentialRow, secrets: Option<&SecretBox>) -> Option<Rule> {
    let opened = secrets
        .ok_or_else(|| anyhow::anyhow!("{}", crate::auth::secret_box::NO_KEY))
        .and_then(|b| b.open(&c.secret_hash));
    let secret = match opened {
        Ok(secret) => secret,
        Err(e) => {
            log::error!("signature rule {}: {e:#}", c.id);
            return None;
        }
    };
    let spec = SignatureSpec::from_stored(&c.username)?;
    let rule = SignatureRule::new(c.id, &spec, &secret)?;
    Some(Rule {
        id: c.id,
        kind: RuleKind::Signature(Arc::new(rule)),
        hash: String::new(),
    })
}

impl InstanceConfig {
    fn from_rows(
        row: InstanceRow,
        creds: Vec<CredentialRow>,
        auth: AuthSettings,
        secrets: Option<&SecretBox>,
    ) -> InstanceConfig {
        let rules: Vec<Rule> = creds
            .into_iter()
            .filter_map(|c| {
                let rule = if c.kind == "signature" {
                    signature_rule(&c, secrets)
                } else {
                    Rule::from_stored(c.id, &c.kind, &c.username, c.secret_hash)
                };
                if rule.is_none() {
                    log::error!(
                        "credential {} of '{}' is unreadable; ignored",
                        c.id,
                        row.name
                    );
                }
                rule
            })
            .collect();
        let secret_headers = rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Header { name } => Some(name.clone()),
                RuleKind::Basic { .. } | RuleKind::Signature(_) => None,
            })
            .collect();
        let signature_rules = rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Signature(rule) => Some(rule.clone()),
                _ => None,
            })
            .collect();
        let mapping = compiled_mapping(&row);
        InstanceConfig {
            rate_limiter: crate::ingest::rate_limit::limiter_for(
                &row.name,
                auth.rate_limit,
                auth.rate_burst,
            ),
            auth,
            signature_rules,
            mapping,
            ops: crate::ops::instance::InstanceOps::of(row.id, &row.name),
            id: row.id,
            name: row.name,
            incident_type: row.incident_type,
            store_samples: row.store_samples,
            sample_limit: row.sample_limit,
            allow_anonymous: row.allow_anonymous,
            enabled: row.enabled,
            rules,
            secret_headers,
        }
    }

    /// Whether the rule with this id is still one of the instance's.
    pub fn has_rule(&self, id: i32) -> bool {
        self.rules.iter().any(|r| r.id == id)
    }

    /// Whether a 401 should carry a Basic challenge.
    pub fn has_basic_rule(&self) -> bool {
        self.rules.iter().any(Rule::is_basic)
    }
}

/// An immutable snapshot of all instances.
pub struct Registry {
    pub version: i64,
    instances: HashMap<String, Arc<InstanceConfig>>,
    pub verified: Arc<VerifiedCache>,
    /// Bearer tokens seen by this snapshot: a removed credential starts a new snapshot, so a
    /// cached token never outlives its credential.
    pub tokens: Arc<TokenCache>,
    /// The key that opens signing secrets (None: signature rules are not served).
    pub secrets: Option<Arc<SecretBox>>,
}

impl Registry {
    pub fn load(
        conn: &mut Conn,
        secrets: Option<Arc<SecretBox>>,
    ) -> Result<Registry, ServiceError> {
        let (version, rows, creds, auth) = store::load_for_registry(conn)?;
        let mut by_instance: HashMap<i32, Vec<CredentialRow>> = HashMap::new();
        for cred in creds {
            by_instance.entry(cred.instance_id).or_default().push(cred);
        }
        let mut auth: HashMap<i32, AuthSettings> =
            auth.into_iter().map(|a| (a.instance_id, a)).collect();
        let instances = rows
            .into_iter()
            .map(|row| {
                let creds = by_instance.remove(&row.id).unwrap_or_default();
                let settings = auth
                    .remove(&row.id)
                    .unwrap_or_else(|| AuthSettings::defaults(row.id));
                (
                    row.name.clone(),
                    Arc::new(InstanceConfig::from_rows(
                        row,
                        creds,
                        settings,
                        secrets.as_deref(),
                    )),
                )
            })
            .collect::<HashMap<_, _>>();
        crate::ops::instance::seed_last_received(conn, instances.values().map(|i| (i.id, &*i.ops)));
        Ok(Registry {
            version,
            instances,
            verified: Arc::new(VerifiedCache::new(random_key())),
            tokens: Arc::new(TokenCache::default()),
            secrets,
        })
    }

    /// An enabled instance by name.
    pub fn enabled(&self, name: &str) -> Option<Arc<InstanceConfig>> {
        self.instances.get(name).filter(|i| i.enabled).cloned()
    }

    /// An instance by name, enabled or not.
    pub fn configured(&self, name: &str) -> Option<&Arc<InstanceConfig>> {
        self.instances.get(name)
    }
}

/// The current snapshot, shared by every worker.
pub type SharedRegistry = Arc<ArcSwap<Registry>>;

/// Reloads the snapshot if the configuration version moved. Blocking: call off the workers.
pub fn refresh(pool: &Pool, shared: &SharedRegistry) -> Result<bool, ServiceError> {
    // One refresh at a time: a slower, older load must not replace a newer snapshot, nor
    // forget an instance the newer one holds. A refresh that waited here finds the version
    // current and returns at once.
    static REFRESHING: Mutex<()> = Mutex::new(());
    let _one = REFRESHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut conn = pool.get()?;
    let version = config_version(&mut conn)?;
    if version == shared.load().version {
        return Ok(false);
    }
    let secrets = shared.load().secrets.clone();
    let registry = Registry::load(&mut conn, secrets)?;
    log::info!(
        "configuration version {} loaded ({} instances)",
        registry.version,
        registry.instances.len()
    );
    let registry = Arc::new(registry);
    shared.store(registry.clone());
    crate::ops::instance::forget_removed(|name| registry.configured(name).is_some());
    Ok(true)
}

/// Checks for configuration changes every `interval`, for as long as the server runs.
pub fn spawn_reloader(pool: Pool, shared: SharedRegistry, interval: Duration) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(interval).await;
            let (pool, shared) = (pool.clone(), shared.clone());
            match actix_web::web::block(move || refresh(&pool, &shared)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::warn!("configuration reload failed: {e}"),
                Err(e) => log::warn!("configuration reload did not run: {e}"),
            }
        }
    });
}
