//! The admin and analyst interface under `/api/v1` (SPEC 4): Bearer tokens with roles,
//! incidents with filters and keyset pagination, NDJSON export, instance management,
//! credentials, samples, and installing the HTTPS certificate.
//!
//! Handlers call the same store functions as the CLI, on the blocking pool. Every change to
//! instances or credentials refreshes this server's registry at once; other processes see it
//! through the configuration version within their reload interval.

mod credentials;
pub mod ops;
mod query;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::tokens::{self, Role};
use crate::auth::{hash_secret, CredentialSpec};
use crate::error::{ApiError, ErrorBody, ServiceError};
use crate::incidents::{self, IncidentFilter};
use crate::incidents::{EventView, IncidentView};
use crate::instances::registry::refresh;
use crate::instances::{store, InstanceChanges, NewInstance};
use crate::instances::{CredentialView, InstanceView, SampleView};
use crate::state::AppState;
use crate::storage::Conn;
use crate::tls::CertInfo;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap_fn(query::refuse_unknown_parameters)
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request("invalid_query", format!("Query: {e}.")).into()
            }))
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(|e, _| {
                        ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "invalid_body",
                            format!("Body: {e}."),
                        )
                        .into()
                    }),
            )
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::bad_request("invalid_path", format!("Path: {e}.")).into()
            }))
            .route("/incidents", web::get().to(list_incidents))
            .route("/incidents/export", web::get().to(export_incidents))
            .route("/incidents/facets", web::get().to(incident_facets))
            .route("/incidents/{id}", web::get().to(show_incident))
            .route("/incidents/{id}", web::patch().to(update_incident))
            .route("/incidents/{id}/events", web::get().to(incident_events))
            .route("/instances", web::get().to(list_instances))
            .route("/instances", web::post().to(create_instance))
            .route("/instances/{name}", web::get().to(show_instance))
            .route("/instances/{name}", web::patch().to(update_instance))
            .route("/instances/{name}", web::delete().to(remove_instance))
            .route(
                "/instances/{name}/credentials",
                web::post().to(credentials::add_credential),
            )
            .route(
                "/instances/{name}/credentials/{id}",
                web::delete().to(remove_credential),
            )
            .route(
                "/instances/{name}/mapping/test",
                web::post().to(test_mapping),
            )
            .route("/instances/{name}/samples", web::get().to(list_samples))
            .route(
                "/instances/{name}/deliveries",
                web::get().to(ops::list_deliveries),
            )
            .route("/instances/{name}/samples", web::delete().to(clear_samples))
            .route("/tls", web::put().to(install_certificate))
            .route("/openapi.json", web::get().to(openapi)),
    );
}

/// The OpenAPI 3 document of `/api/v1`, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "intake", description = "Admin and analyst interface of the intake webhook receiver."),
    paths(
        list_incidents, export_incidents, incident_facets, show_incident, update_incident, incident_events,
        list_instances, create_instance,
        show_instance, update_instance, remove_instance, credentials::add_credential, remove_credential,
        list_samples, clear_samples, test_mapping, install_certificate, ops::list_deliveries
    ),
    components(schemas(
        IncidentView, EventView, incidents::Facets, InstanceView, CredentialView, SampleView, CertInfo, CreateInstance,
        UpdateInstance, credentials::NewCredential, NewCertificate, MappingTest, IncidentChange, ErrorBody,
        crate::ops::store::DeliveryView
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`, unauthenticated: it describes, it reveals nothing.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The authenticated API caller.
pub struct Caller(Role);

impl Caller {
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0 >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("This needs the {} role.", role.as_str()),
            ))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let unauthorized = || {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Send an API token: Authorization: Bearer <token> (intake token create).",
                )
            };
            let (Some(token), Some(state)) = (token, state) else {
                return Err(unauthorized());
            };
            let role = blocking(&state, move |conn| tokens::role_of(conn, &token)).await?;
            role.map(Caller).ok_or_else(unauthorized)
        })
    }
}

/// Runs store work on the blocking pool with a pooled connection.
pub(crate) async fn blocking<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, ServiceError> + Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || -> Result<T, ServiceError> {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(|e| ApiError::internal(&anyhow::anyhow!("blocking task failed: {e}")))?
    .map_err(ApiError::from)
}

/// After a change: this server's ingest path sees it at once.
pub(crate) async fn refresh_now(state: &AppState) {
    let (pool, registry) = (state.pool.clone(), state.registry.clone());
    if let Ok(Err(e)) = web::block(move || refresh(&pool, &registry)).await {
        log::warn!("configuration reload after an API change failed: {e}");
    }
}

// ---- incidents ----

/// Query parameters of the incident list, the export and the facets, as the OpenAPI document
/// shows them. They are parsed by [`IncidentFilter::from_query_string`] (so that repeated
/// parameters work), not through this struct.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct IncidentQuery {
    /// Instance name; repeatable or comma-separated (any of).
    instance: Option<Vec<String>>,
    /// Incident type; repeatable or comma-separated (any of).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    type_: Option<Vec<String>>,
    /// `open`, `acknowledged`, `resolved`; repeatable or comma-separated (any of).
    status: Option<Vec<String>>,
    /// Severity; repeatable or comma-separated (any of).
    severity: Option<Vec<String>>,
    /// `key:value`; repeatable (all of).
    label: Option<Vec<String>>,
    dedup_key: Option<String>,
    /// Case-insensitive substring of the name.
    name_contains: Option<String>,
    /// Free text: every word (and every `"quoted phrase"`) must occur, case-insensitively,
    /// as whole words in the name or in a string value of raw_json.
    q: Option<String>,
    /// RFC 3339, inclusive.
    occurred_after: Option<String>,
    /// RFC 3339, exclusive.
    occurred_before: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    /// 1-1000, default 50 (list only).
    limit: Option<String>,
    /// `next_cursor` of the previous page (list only).
    cursor: Option<String>,
}

/// The filter of a request's query string; a bad parameter is 400 naming it.
fn incident_filter(req: &HttpRequest) -> Result<IncidentFilter, ApiError> {
    IncidentFilter::from_query_string(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_query", format!("{e}.")))
}

/// One page of incidents.
#[derive(serde::Serialize)]
struct Page {
    items: Vec<IncidentView>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "intake", summary = "Incidents, newest first (analyst)", params(IncidentQuery), responses((status = 200, description = "{\"items\":[incident…],\"next_cursor\":\"…\"|null}"), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn list_incidents(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let filter = incident_filter(&req)?;
    let limit = filter.limit;
    let items = blocking(&state, move |conn| incidents::store::list(conn, &filter)).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| incidents::filter::encode_cursor(i.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/incidents/facets", tag = "intake", summary = "Counts of the matching incidents by instance, type, status and severity (analyst)", params(IncidentQuery), responses((status = 200, body = incidents::Facets), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn incident_facets(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let filter = incident_filter(&req)?;
    let facets = blocking(&state, move |conn| incidents::store::facets(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(facets))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "intake", summary = "One incident with raw_json (analyst)", params(("id" = i64, Path)), responses((status = 200, body = IncidentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn show_incident(
    caller: Caller,
    id: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let id = id.into_inner();
    let incident = blocking(&state, move |conn| incidents::store::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(incident))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/events", tag = "intake", summary = "Every delivery of an incident, oldest first (analyst)", params(("id" = i64, Path)), responses((status = 200, body = [EventView]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn incident_events(
    caller: Caller,
    id: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let id = id.into_inner();
    let events = blocking(&state, move |conn| incidents::store::events(conn, id)).await?;
    Ok(HttpResponse::Ok().json(events))
}

/// `PATCH /api/v1/incidents/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChange {
    /// `open`, `acknowledged` or `resolved`.
    status: String,
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "intake", summary = "Change an incident's status (analyst)", params(("id" = i64, Path)), request_body = IncidentChange, responses((status = 200, body = IncidentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn update_incident(
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<IncidentChange>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let (id, status) = (id.into_inner(), body.into_inner().status);
    let updated = blocking(&state, move |conn| {
        incidents::store::set_status(conn, id, &status)
    })
    .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// NDJSON, one incident per line, newest first, read a page at a time so memory stays flat
/// however many match.
#[utoipa::path(get, path = "/api/v1/incidents/export", tag = "intake", summary = "All matching incidents as NDJSON (analyst)", params(IncidentQuery), responses((status = 200, description = "One incident per line", content_type = "application/x-ndjson")), security(("bearer" = [])))]
async fn export_incidents(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let mut first = incident_filter(&req)?;
    // Pages of 500 whatever `limit` says: the export has no page size of its own.
    first.limit = 500;
    let stream = futures_util::stream::unfold(Some(first), move |filter| {
        let state = state.clone();
        async move {
            let filter = filter?;
            let page_filter = filter.clone();
            let page = blocking(&state, move |conn| {
                incidents::store::list(conn, &page_filter)
            })
            .await;
            match page {
                Ok(items) if items.is_empty() => None,
                Ok(items) => {
                    let mut lines = Vec::with_capacity(items.len() * 200);
                    for item in &items {
                        let _ = serde_json::to_writer(&mut lines, item);
                        lines.push(b'\n');
                    }
                    let next = (items.len() as i64 == filter.limit).then(|| IncidentFilter {
                        before_id: items.last().map(|i| i.id),
                        ..filter
                    });
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(lines)), next))
                }
                Err(e) => Some((Err(e.into()), None)),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream))
}

// ---- instances ----

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
    #[serde(default, deserialize_with = "credentials::present_or_null_rate")]
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
    #[serde(default, deserialize_with = "credentials::present_or_null_rate")]
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

/// `POST /api/v1/instances/{name}/mapping/test`: the mapping to try; the instance's own
/// when absent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingTest {
    #[schema(value_type = Option<Object>)]
    mapping: Option<crate::mapping::MappingDoc>,
}

fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Parses and hashes a credential (argon2: on the blocking pool).
pub(crate) async fn hashed(
    username: String,
    password: String,
) -> Result<(CredentialSpec, String), ApiError> {
    let spec = CredentialSpec::parse(&username)
        .map_err(|e| ApiError::bad_request("invalid", format!("username: {e}")))?;
    if password.is_empty() {
        return Err(ApiError::bad_request(
            "invalid",
            "password: must not be empty",
        ));
    }
    let hash = web::block(move || hash_secret(&password))
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok((spec, hash))
}

#[utoipa::path(get, path = "/api/v1/instances", tag = "intake", summary = "Instances (admin)", responses((status = 200, body = [InstanceView])), security(("bearer" = [])))]
async fn list_instances(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let all = blocking(&state, store::list).await?;
    Ok(HttpResponse::Ok().json(all))
}

#[utoipa::path(get, path = "/api/v1/instances/{name}", tag = "intake", summary = "One instance (admin)", params(("name" = String, Path)), responses((status = 200, body = InstanceView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn show_instance(
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
async fn create_instance(
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
            return Err(ApiError::bad_request(
                "invalid",
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
async fn update_instance(
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
async fn remove_instance(
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

#[utoipa::path(delete, path = "/api/v1/instances/{name}/credentials/{id}", tag = "intake", summary = "Remove a credential (admin)", params(("name" = String, Path), ("id" = i32, Path)), responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn remove_credential(
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

#[utoipa::path(get, path = "/api/v1/instances/{name}/samples", tag = "intake", summary = "Stored samples, newest first (analyst)", params(("name" = String, Path)), responses((status = 200, body = [SampleView])), security(("bearer" = [])))]
async fn list_samples(
    caller: Caller,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Analyst)?;
    let name = name.into_inner();
    let found = blocking(&state, move |conn| store::samples(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(found))
}

#[utoipa::path(delete, path = "/api/v1/instances/{name}/samples", tag = "intake", summary = "Delete stored samples (admin)", params(("name" = String, Path)), responses((status = 200, description = "{\"cleared\": n}")), security(("bearer" = [])))]
async fn clear_samples(
    caller: Caller,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let name = name.into_inner();
    let cleared = blocking(&state, move |conn| store::clear_samples(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"cleared": cleared})))
}

#[utoipa::path(post, path = "/api/v1/instances/{name}/mapping/test", tag = "intake", summary = "Run a mapping over the instance's stored samples (admin)", params(("name" = String, Path)), request_body = MappingTest, responses((status = 200, description = "Per-sample results and how many mapped fully"), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn test_mapping(
    caller: Caller,
    name: web::Path<String>,
    body: Option<web::Json<MappingTest>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let name = name.into_inner();
    let doc = body.and_then(|b| b.into_inner().mapping);
    let report = blocking(&state, move |conn| store::mapping_test(conn, &name, doc)).await?;
    Ok(HttpResponse::Ok().json(report))
}

// ---- TLS ----

/// `PUT /api/v1/tls`: a PEM chain and key to serve from now on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    cert: String,
    key: String,
}

/// Validates the pair, writes it over the configured files, and serves it. A bad pair is
/// refused (400, naming the problem) and nothing changes.
#[utoipa::path(put, path = "/api/v1/tls", tag = "intake", summary = "Install and serve a new HTTPS certificate and key (admin)", request_body = NewCertificate, responses((status = 200, body = CertInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn install_certificate(
    caller: Caller,
    body: web::Json<NewCertificate>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let Some(certificate) = state.tls.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_https",
            "This server has no HTTPS listener (start it with --tls-listen, --tls-cert, --tls-key).",
        ));
    };
    let body = body.into_inner();
    let installed =
        web::block(move || certificate.install(body.cert.as_bytes(), body.key.as_bytes()))
            .await
            .map_err(|e| ApiError::internal(&anyhow::anyhow!("{e}")))?
            .map_err(|e| ApiError::bad_request("invalid_certificate", format!("{e:#}")))?;
    crate::tls::log_validity("installed through the API", &installed);
    Ok(HttpResponse::Ok().json(installed))
}
