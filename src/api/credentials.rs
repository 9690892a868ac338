//! `POST /api/v1/instances/{name}/credentials`: a Basic or header credential
//! (`{"username","password"}`), or a signature rule (`{"signature","secret","header"}`).
//! Secrets are never returned.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::blocking::{blocking, refresh_now};
use super::caller::Caller;
use crate::auth::tokens::Role;
use crate::auth::{hash_secret, CredentialSpec};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::instances::store;
use crate::instances::CredentialView;
use crate::state::AppState;

/// A Basic/header credential, or a signature rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// Basic username, or `_header:<Name>` for a header rule.
    username: Option<String>,
    password: Option<String>,
    /// A signature scheme: github, standard-webhooks, stripe, slack, hmac-sha256.
    signature: Option<String>,
    /// The signing secret (Standard Webhooks: `whsec_…`).
    secret: Option<String>,
    /// The header of an hmac-sha256 rule (default X-Signature).
    header: Option<String>,
}

/// `null` is kept apart from an absent field: it removes the rate limit.
pub fn present_or_null_rate<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

#[utoipa::path(post, path = "/api/v1/instances/{name}/credentials", tag = "intake", summary = "Add a credential or a signature rule; earlier ones stay active (admin)", params(("name" = String, Path)), request_body = NewCredential, responses((status = 201, body = CredentialView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "A signature rule, and the server has no secret key")), security(("bearer" = [])))]
pub async fn add_credential(
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<NewCredential>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let body = body.into_inner();
    let name = name.into_inner();
    let added = match body {
        NewCredential {
            username: Some(username),
            password: Some(password),
            signature: None,
            secret: None,
            header: None,
        } => {
            let (spec, hash) = hashed(username, password).await?;
            blocking(&state, move |conn| {
                store::add_credential(conn, &name, &spec, &hash)
            })
            .await?
        }
        NewCredential {
            username: None,
            password: None,
            signature: Some(scheme),
            secret: Some(secret),
            header,
        } => {
            let secrets = state.registry.load().secrets.clone();
            blocking(&state, move |conn| {
                store::add_signature_rule(
                    conn,
                    &name,
                    &scheme,
                    header.as_deref(),
                    secret.as_bytes(),
                    secrets.as_deref(),
                )
            })
            .await?
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::Invalid,
                "Give either username and password, or signature and secret (and header for \
                 hmac-sha256).",
            ))
        }
    };
    refresh_now(&state).await;
    Ok(HttpResponse::Created().json(added))
}

/// Parses and hashes a credential (argon2: on the blocking pool).
pub(crate) async fn hashed(
    username: String,
    password: String,
) -> Result<(CredentialSpec, String), ApiError> {
    let spec = CredentialSpec::parse(&username)
        .map_err(|e| ApiError::new(ErrorCode::Invalid, format!("username: {e}")))?;
    if password.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Invalid,
            "password: must not be empty",
        ));
    }
    let hash = web::block(move || hash_secret(&password)).await??;
    Ok((spec, hash))
}

#[utoipa::path(delete, path = "/api/v1/instances/{name}/credentials/{id}", tag = "intake", summary = "Remove a credential (admin)", params(("name" = String, Path), ("id" = i32, Path)), responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn remove_credential(
    caller: Caller,
    path: web::Path<(String, i32)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let (name, id) = path.into_inner();
    blocking(&state, move |conn| {
        store::remove_credential(conn, &name, id)
    })
    .await?;
    refresh_now(&state).await;
    Ok(HttpResponse::NoContent().finish())
}
