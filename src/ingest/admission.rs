//! Who may deliver to an instance: the rate limit, then the rules — bearer tokens from the
//! token endpoint, Basic and header rules (before the body is read), and signature rules
//! (over the exact body bytes, once read, before anything is parsed or stored).

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderValue};
use chrono::Utc;

use crate::auth::oauth::{bearer_token, check_bearer, BearerVerdict};
use crate::auth::signature::verify_any;
use crate::auth::{presented_secrets, Unverified};
use crate::error::ApiError;
use crate::instances::{InstanceConfig, Registry};
use crate::ops::metrics::Reason;
use crate::state::AppState;

/// An instance that let the sender in, or will once the body's signature is checked.
pub struct Admitted {
    pub instance: Arc<InstanceConfig>,
    /// No rule passed before the body, but a signature rule's headers are present.
    signature_pending: bool,
}

/// How far authentication got before the body.
enum Pass {
    Done,
    SignaturePending,
}

impl Admitted {
    /// Checks a pending signature over the body. Returns the `webhook-id` of a Standard
    /// Webhooks delivery, the delivery's idempotency key.
    pub fn verify_body(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<HeaderValue>, ApiError> {
        if !self.signature_pending {
            return Ok(None);
        }
        let instance = &self.instance;
        let tolerance = i64::from(instance.auth.signature_tolerance_s);
        match verify_any(
            &instance.signature_rules,
            headers,
            body,
            Utc::now().timestamp(),
            tolerance,
        ) {
            Ok(verified) => Ok(verified
                .message_id
                .and_then(|id| HeaderValue::from_str(&id).ok())),
            Err(refusal) => Err(ApiError::unauthorized(instance.has_basic_rule())
                .with_message(refusal.message)
                .because(refusal.reason)),
        }
    }
}

/// Finds the enabled instance, applies its rate limit and authenticates the sender. Before
/// refusing, looks once for a newer configuration, so an instance or credential added a
/// moment ago works at once.
pub async fn admit(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
) -> Result<Admitted, ApiError> {
    let mut registry = state.registry.load_full();
    if let Some(limiter) = registry.enabled(name).and_then(|i| i.rate_limiter.clone()) {
        limiter.check()?;
    }
    let mut refreshed = false;
    loop {
        let verdict = match registry.enabled(name) {
            Some(instance) => authenticate(state, &registry, &instance, headers)
                .await
                .map(|pass| Admitted {
                    signature_pending: matches!(pass, Pass::SignaturePending),
                    instance,
                }),
            None => Err(
                ApiError::not_found(format!("No enabled instance named '{name}'.")).because(
                    if registry.configured(name).is_some() {
                        Reason::DisabledInstance
                    } else {
                        Reason::UnknownInstance
                    },
                ),
            ),
        };
        let refusal = match verdict {
            Ok(admitted) => return Ok(admitted),
            Err(e) if refreshed || !matches!(e.status().as_u16(), 401 | 404) => return Err(e),
            Err(e) => e,
        };
        refreshed = true;
        let newer = state.fresher_registry().await?;
        if newer.version == registry.version {
            return Err(refusal);
        }
        registry = newer;
    }
}

/// Passes when any of the instance's rules accepts what the request presents.
async fn authenticate(
    state: &AppState,
    registry: &Arc<Registry>,
    instance: &InstanceConfig,
    headers: &HeaderMap,
) -> Result<Pass, ApiError> {
    let refuse = |reason| ApiError::unauthorized(instance.has_basic_rule()).because(reason);
    if instance.rules.is_empty() {
        return if instance.allow_anonymous {
            Ok(Pass::Done)
        } else {
            // No credential could pass: none is configured.
            Err(refuse(Reason::MissingCredentials))
        };
    }
    // Tokens are issued for basic credentials: an instance without one has none to check.
    let mut bearer = None;
    if instance.has_basic_rule() {
        if let Some(token) = bearer_token(headers) {
            match check_bearer(state, registry, instance, token).await? {
                BearerVerdict::Valid => return Ok(Pass::Done),
                other => bearer = Some(other),
            }
        }
    }
    let cache = &registry.verified;
    let mut unverified = Vec::new();
    let mut presented_any = false;
    for presented in presented_secrets(&instance.rules, headers) {
        presented_any = true;
        let fingerprint = cache.fingerprint(presented.rule.id, &presented.secret);
        match cache.get(&fingerprint) {
            Some(true) => return Ok(Pass::Done),
            Some(false) => {}
            None => unverified.push(Unverified {
                fingerprint,
                secret: presented.secret,
                hash: presented.rule.hash.clone(),
            }),
        }
    }
    if !unverified.is_empty()
        && state
            .verifier
            .any_accepted(cache.clone(), unverified)
            .await?
    {
        return Ok(Pass::Done);
    }
    let signatures = &instance.signature_rules;
    if signatures
        .iter()
        .any(|rule| rule.missing_header(headers).is_none())
    {
        return Ok(Pass::SignaturePending);
    }
    if let Some(verdict) = bearer {
        let (reason, message) = if verdict == BearerVerdict::Expired {
            (
                Reason::ExpiredToken,
                "The bearer token has expired; fetch a new one from the token endpoint.",
            )
        } else {
            (
                Reason::WrongSecret,
                "The bearer token is not valid for this instance; fetch one from the token endpoint.",
            )
        };
        return Err(refuse(reason).with_bearer_challenge().with_message(message));
    }
    match signatures.first().and_then(|r| r.missing_header(headers)) {
        Some(header) if !presented_any => {
            Err(refuse(Reason::MissingCredentials).with_message(format!("missing {header}")))
        }
        _ => Err(refuse(if presented_any {
            Reason::WrongSecret
        } else {
            Reason::MissingCredentials
        })),
    }
}
