//! The token endpoint (OAuth 2.0 client credentials, RFC 6749 4.4) and the bearer tokens it
//! issues: `GET|POST|PUT /instance/token/{name}` (also under `/xsoar/`) exchanges one of the
//! instance's Basic credentials for a token that its ingest routes accept until it expires
//! or the credential is removed.
//!
//! Senders do not document how they send the pair, so every form real clients use is read:
//! an `Authorization: Basic` header, or `client_id`/`client_secret` (or `username`/`password`)
//! in a form body, a JSON body or the query string. The password check goes through the
//! shared verifier (argon2 on its own threads, bounded queue; saturated, it answers 503 +
//! `Retry-After`) and the instance's rate limit counts token requests as it counts
//! deliveries, so the endpoint is protected against floods like ingest is. Checking a token costs a SHA-256 and, once per snapshot, a
//! database read; never a password hash.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{SubsecRound, Utc};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::token_store::{self, TokenGrant};
use super::{rules::basic_credentials, RuleKind, Unverified};
use crate::error::{ApiError, ErrorCode};
use crate::instances::{InstanceConfig, Registry};
use crate::ops::metrics::Reason;
use crate::state::AppState;

/// The largest token request body read: the pair and a few parameters.
const MAX_TOKEN_REQUEST: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/instance/token", "/xsoar/instance/token"] {
        cfg.service(web::scope(prefix).default_service(web::to(token_endpoint)));
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What a bearer token presented on ingest turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum BearerVerdict {
    Valid,
    Expired,
    /// Not a token of this instance (unknown, another instance's, or its credential is gone).
    Unknown,
}

/// The bearer token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks a bearer token for `instance`: from the snapshot's cache, else the database.
pub async fn check_bearer(
    state: &AppState,
    registry: &Registry,
    instance: &InstanceConfig,
    token: &str,
) -> Result<BearerVerdict, ApiError> {
    let hash = digest(token);
    let grant = match registry.tokens.get(&hash) {
        Some(grant) => Some(grant),
        None => {
            let (pool, key) = (state.pool.clone(), hex::encode(hash));
            let found = web::block(move || -> Result<_, crate::error::ServiceError> {
                let mut conn = pool.get()?;
                token_store::find(&mut conn, &key)
            })
            .await??;
            if let Some(grant) = found {
                registry.tokens.insert(hash, grant);
            }
            found
        }
    };
    Ok(match grant {
        Some(g) if g.instance_id == instance.id && instance.has_rule(g.credential_id) => {
            if g.expires > Utc::now().timestamp() {
                BearerVerdict::Valid
            } else {
                BearerVerdict::Expired
            }
        }
        _ => BearerVerdict::Unknown,
    })
}

async fn token_endpoint(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let name = req
        .match_info()
        .unprocessed()
        .strip_prefix('/')
        .unwrap_or_default()
        .to_string();
    let answer = if name.is_empty() || name.contains('/') {
        Err(ApiError::not_found(
            "Tokens come from /instance/token/<instance>.",
        ))
    } else if ![Method::GET, Method::POST, Method::PUT].contains(req.method()) {
        Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "Ask for a token with POST, PUT or GET.",
        ))
    } else {
        issue(&req, &name, payload, &state).await
    };
    crate::ingest::observe::observed(&req, &state, &name, started, answer)
}

/// The client id and secret a token request presents.
#[derive(Debug, PartialEq)]
struct ClientPair {
    id: String,
    secret: String,
}

fn invalid_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

fn invalid_client(reason: Reason) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidClient,
        "Client authentication failed: send one of the instance's Basic credentials \
         (client id = username, client secret = password).",
    )
    .with_basic_challenge()
    .because(reason)
}

/// Adds `pairs` to `params`; a parameter given twice with different values is malformed.
fn merge(
    params: &mut HashMap<String, String>,
    pairs: Vec<(String, String)>,
) -> Result<(), ApiError> {
    for (key, value) in pairs {
        match params.get(&key) {
            Some(existing) if *existing != value => {
                return Err(invalid_request(format!(
                    "Parameter '{key}' is given more than once with different values."
                )))
            }
            _ => {
                params.insert(key, value);
            }
        }
    }
    Ok(())
}

/// The request's parameters: the query string's and the body's (a JSON object, else a form).
fn parameters(query: &str, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| invalid_request(format!("The query string cannot be read: {e}.")))?;
    merge(&mut params, query)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| invalid_request("The body is not UTF-8."))?
        .trim();
    if text.is_empty() {
        return Ok(params);
    }
    let pairs: Vec<(String, String)> = if text.starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| invalid_request(format!("The body is not a JSON object: {e}.")))?;
        object
            .into_iter()
            .filter_map(|(key, value)| match value {
                serde_json::Value::String(s) => Some((key, s)),
                serde_json::Value::Number(n) => Some((key, n.to_string())),
                serde_json::Value::Bool(b) => Some((key, b.to_string())),
                _ => None,
            })
            .collect()
    } else {
        serde_urlencoded::from_str(text).map_err(|e| {
            invalid_request(format!(
                "The body is neither a JSON object nor form fields: {e}."
            ))
        })?
    };
    merge(&mut params, pairs)?;
    Ok(params)
}

/// Reads the client pair and checks `grant_type`.
fn client_pair(headers: &HeaderMap, query: &str, body: &[u8]) -> Result<ClientPair, ApiError> {
    let params = parameters(query, body)?;
    if let Some(grant) = params.get("grant_type") {
        if grant != "client_credentials" {
            return Err(ApiError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type '{grant}' is not supported; use client_credentials."),
            ));
        }
    }
    let field = |a: &str, b: &str| params.get(a).or_else(|| params.get(b)).cloned();
    let from_params = match (
        field("client_id", "username"),
        field("client_secret", "password"),
    ) {
        (Some(id), Some(secret)) => Some(ClientPair { id, secret }),
        _ => None,
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic "));
    let from_header = if basic {
        let (id, secret) = basic_credentials(headers)
            .ok_or_else(|| invalid_request("The Authorization: Basic header cannot be decoded."))?;
        let secret = String::from_utf8(secret)
            .map_err(|_| invalid_request("The client secret is not UTF-8."))?;
        Some(ClientPair { id, secret })
    } else {
        None
    };
    match (from_header, from_params) {
        (Some(a), Some(b)) if a != b => Err(invalid_request(
            "The Authorization header and the parameters name different clients; send one.",
        )),
        (Some(pair), _) | (None, Some(pair)) => Ok(pair),
        (None, None) => Err(invalid_client(Reason::MissingCredentials)),
    }
}

/// Reads the body within `timeout_ms` (the ingest body timeout), so a trickled request
/// cannot hold its connection.
async fn read_small_body(mut payload: web::Payload, timeout_ms: u64) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| invalid_request(format!("The body could not be read: {e}.")))?;
            if body.len() + chunk.len() > MAX_TOKEN_REQUEST {
                return Err(invalid_request(format!(
                    "A token request body is at most {MAX_TOKEN_REQUEST} bytes."
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), read).await {
        Ok(result) => result.map(|()| body),
        Err(_) => Err(ApiError::new(
            ErrorCode::BodyTimeout,
            format!("The body did not arrive within {timeout_ms} ms. Send it again."),
        )),
    }
}

/// The id of the basic credential the pair matches, if any.
async fn matching_credential(
    state: &AppState,
    registry: &Registry,
    instance: &InstanceConfig,
    pair: &ClientPair,
) -> Result<Option<i32>, ApiError> {
    let cache = &registry.verified;
    let mut unverified = Vec::new();
    let mut ids = Vec::new();
    for rule in &instance.rules {
        let RuleKind::Basic { username } = &rule.kind else {
            continue;
        };
        if !bool::from(username.as_bytes().ct_eq(pair.id.as_bytes())) {
            continue;
        }
        let fingerprint = cache.fingerprint(rule.id, pair.secret.as_bytes());
        match cache.get(&fingerprint) {
            Some(true) => return Ok(Some(rule.id)),
            Some(false) => {}
            None => {
                ids.push(rule.id);
                unverified.push(Unverified {
                    fingerprint,
                    secret: pair.secret.as_bytes().to_vec(),
                    hash: rule.hash.clone(),
                });
            }
        }
    }
    if unverified.is_empty() {
        return Ok(None);
    }
    let accepted = state
        .verifier
        .first_accepted(cache.clone(), unverified)
        .await?;
    Ok(accepted.map(|i| ids[i]))
}

/// Finds the instance and the credential, looking once for a newer configuration before
/// refusing (a credential added a moment ago, maybe on another replica, works at once).
async fn authenticate_client(
    state: &AppState,
    name: &str,
    pair: &ClientPair,
) -> Result<(Arc<InstanceConfig>, i32), ApiError> {
    let mut registry = state.registry.load_full();
    let mut refreshed = false;
    loop {
        let verdict = match registry.enabled(name) {
            Some(instance) => match matching_credential(state, &registry, &instance, pair).await? {
                Some(id) => return Ok((instance, id)),
                None => invalid_client(Reason::WrongSecret),
            },
            None => ApiError::not_found(format!("No enabled instance named '{name}'.")).because(
                if registry.configured(name).is_some() {
                    Reason::DisabledInstance
                } else {
                    Reason::UnknownInstance
                },
            ),
        };
        if refreshed {
            return Err(verdict);
        }
        refreshed = true;
        let newer = state.fresher_registry().await?;
        if newer.version == registry.version {
            return Err(verdict);
        }
        registry = newer;
    }
}

async fn issue(
    req: &HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    // The instance's rate limit counts token requests too, before any body or hash work.
    if let Some(limiter) = state
        .registry
        .load()
        .enabled(name)
        .and_then(|i| i.rate_limiter.clone())
    {
        limiter.check()?;
    }
    let body = read_small_body(payload, state.limits.body_timeout_ms).await?;
    let pair = client_pair(req.headers(), req.query_string(), &body)?;
    let (instance, credential_id) = authenticate_client(state, name, &pair).await?;

    let token = {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let hash = digest(&token);
    let now = Utc::now().naive_utc().trunc_subsecs(0);
    let ttl = instance.auth.token_ttl;
    let grant = TokenGrant {
        instance_id: instance.id,
        credential_id,
        expires: now.and_utc().timestamp() + i64::from(ttl),
    };
    let (pool, key) = (state.pool.clone(), hex::encode(hash));
    web::block(move || -> Result<_, crate::error::ServiceError> {
        let mut conn = pool.get()?;
        token_store::insert(&mut conn, &key, grant, now)
    })
    .await??;
    state.registry.load().tokens.insert(hash, grant);
    instance.ops.metrics.tokens_issued.inc();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "token": token,
        })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn pair(id: &str, secret: &str) -> ClientPair {
        ClientPair {
            id: id.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn the_pair_is_read_from_every_place_clients_put_it() {
        let none = HeaderMap::new();
        let mut basic = HeaderMap::new();
        // cii:s3cret
        basic.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Y2lpOnMzY3JldA=="),
        );
        let want = pair("cii", "s3cret");
        assert_eq!(client_pair(&basic, "", b"").unwrap(), want);
        let form = b"grant_type=client_credentials&client_id=cii&client_secret=s3cret&scope=x";
        assert_eq!(client_pair(&none, "", form).unwrap(), want);
        let json = br#"{"username":"cii","password":"s3cret","audience":1}"#;
        assert_eq!(client_pair(&none, "", json).unwrap(), want);
        let query = "client_id=cii&client_secret=s3cret";
        assert_eq!(client_pair(&none, query, b"").unwrap(), want);
    }

    #[test]
    fn malformed_requests_get_rfc_6749_error_names() {
        let none = HeaderMap::new();
        let code = |r: Result<ClientPair, ApiError>| r.unwrap_err().code.as_str();
        assert_eq!(
            code(client_pair(&none, "grant_type=password", b"")),
            "unsupported_grant_type"
        );
        assert_eq!(
            code(client_pair(&none, "", b"{not json")),
            "invalid_request"
        );
        assert_eq!(
            code(client_pair(&none, "client_id=a", b"client_id=b")),
            "invalid_request"
        );
        assert_eq!(code(client_pair(&none, "", b"")), "invalid_client");
        let mut bad = HeaderMap::new();
        bad.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic %%%"));
        assert_eq!(code(client_pair(&bad, "", b"")), "invalid_request");
    }
}
