//! `/api/v1/instances` (admin): list, show, create, change and remove instances.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::blocking::{blocking, refresh_now};
use super::caller::Caller;
use super::credentials::hashed;
use crate::auth::tokens::Role;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::instances::InstanceView;
use crate::instances::{store, InstanceChanges, NewInstance};
use crate::state::AppState;

/// `POST /api/v1/instances`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstance {
    name: String,
    incident_type: Option<String>,
    #[serde(default)]
    store_samples: bool,
    sample_limit: Option<i32>,
    #[serde(default)]
    allow_anonymous: bool,
    #[serde(default = "yes")]
    enabled: bool,
    /// First credential (`_header:<Name>` for a header rule).
    username: Option<String>,
    password: Option<String>,
    /// Seconds a token from the token endpoint stays valid (default 3600).
    token_ttl: Option<i32>,
    /// Seconds a signed request's timestamp may differ from the server's clock (default 300).
    signature_tolerance_s: Option<i32>,
    /// Requests per second accepted (per replica).
    #[serde(default, deserialize_with = "super::credentials::present_or_null_rate")]
    #[schema(value_type = Option<f64>)]
    rate_limit: Option<Option<f64>>,
    /// Requests accepted at once above the rate.
    rate_burst: Option<i32>,
}

fn yes() -> bool {
    true
}

/// `PATCH /api/v1/instances/{name}`: absent fields stay; `incident_type: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInstance {
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    incident_type: Option<Option<String>>,
    store_samples: Option<bool>,
    sample_limit: Option<i32>,
    allow_anonymous: Option<bool>,
    enabled: Option<bool>,
    /// A mapping document (docs/mapping.md), or null to remove it.
    #[serde(default, deserialize_with = "present_or_null_mapping")]
    #[schema(value_type = Option<Object>)]
    mapping: Option<Option<crate::mapping::MappingDoc>>,
    /// A preset name, or null to remove it.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    preset: Option<Option<String>>,
    /// Seconds a token from the token endpoint stays valid (default 3600).
    token_ttl: Option<i32>,
    /// Seconds a signed request's timestamp may differ from the server's clock (default 300).
    signature_tolerance_s: Option<i32>,
    /// Requests per second accepted (per replica); null removes the limit.
    #[serde(default, deserialize_with = "super::credentials::present_or_null_rate")]
    #[schema(value_type = Option<f64>)]
    rate_limit: Option<Option<f64>>,
    /// Requests accepted at once above the rate.
    rate_burst: Option<i32>,
}

fn present_or_null_mapping<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<crate::mapping::MappingDoc>>, D::Error> {
    Option::<crate::mapping::MappingDoc>::deserialize(d).map(Some)
}

fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(get, path = "/api/v1/instances", tag = "intake", summary = "Instances (admin)", responses((status = 200, body = [InstanceView])), security(("bearer" = [])))]
pub(super) async fn list_instances(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let all = blocking(&state, store::list).await?;
    Ok(HttpResponse::Ok().json(all))
}

#[utoipa::path(get, path = "/api/v1/instances/{name}", tag = "intake", summary = "One instance (admin)", params(("name" = String, Path)), responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn show_instance(
    caller: Caller,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let name = name.into_inner();
    let found = blocking(&state, move |conn| {
        crate::ops::store::show_with_activity(conn, &name)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

#[utoipa::path(post, path = "/api/v1/instances", tag = "intake", summary = "Create an instance (admin)", request_body = CreateInstance, responses((status = 201, body = InstanceView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn create_instance(
    caller: Caller,
    body: web::Json<CreateInstance>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let body = body.into_inner();
    let credential = match (body.username, body.password) {
        (Some(username), Some(password)) => Some(hashed(username, password).await?),
        (None, None) => None,
        _ => {
            return Err(ApiError::new(
                ErrorCode::Invalid,
                "username and password: give both or neither",
            ))
        }
    };
    let mut new = NewInstance::named(&body.name);
    new.incident_type = body.incident_type;
    new.store_samples = body.store_samples;
    new.sample_limit = body.sample_limit.unwrap_or(new.sample_limit);
    new.allow_anonymous = body.allow_anonymous;
    new.enabled = body.enabled;
    new.auth = crate::instances::auth_settings::AuthChanges {
        token_ttl: body.token_ttl,
        signature_tolerance_s: body.signature_tolerance_s,
        rate_limit: body.rate_limit,
        rate_burst: body.rate_burst,
    };
    let created = blocking(&state, move |conn| {
        let credential = credential
            .as_ref()
            .map(|(spec, hash)| (spec, hash.as_str()));
        store::create(conn, &new, credential)
    })
    .await?;
    refresh_now(&state).await;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(patch, path = "/api/v1/instances/{name}", tag = "intake", summary = "Change an instance (admin)", params(("name" = String, Path)), request_body = UpdateInstance, responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn update_instance(
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<UpdateInstance>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let (name, body) = (name.into_inner(), body.into_inner());
    let changes = InstanceChanges {
        incident_type: body.incident_type,
        store_samples: body.store_samples,
        sample_limit: body.sample_limit,
        allow_anonymous: body.allow_anonymous,
        enabled: body.enabled,
        listener: None,
        mapping: body.mapping,
        preset: body.preset,
        auth: crate::instances::auth_settings::AuthChanges {
            token_ttl: body.token_ttl,
            signature_tolerance_s: body.signature_tolerance_s,
            rate_limit: body.rate_limit,
            rate_burst: body.rate_burst,
        },
    };
    let updated = blocking(&state, move |conn| store::update(conn, &name, &changes)).await?;
    refresh_now(&state).await;
    Ok(HttpResponse::Ok().json(updated))
}

#[utoipa::path(delete, path = "/api/v1/instances/{name}", tag = "intake", summary = "Remove an instance; its incidents stay (admin)", params(("name" = String, Path)), responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn remove_instance(
    caller: Caller,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let name = name.into_inner();
    blocking(&state, move |conn| store::remove(conn, &name)).await?;
    refresh_now(&state).await;
    Ok(HttpResponse::NoContent().finish())
}
