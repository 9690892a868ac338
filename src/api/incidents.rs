//! `/api/v1/incidents` (analyst): the list with filters and keyset pagination, facets, one
//! incident and its events, a status change, and the NDJSON export.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::blocking::blocking;
use super::caller::Caller;
use super::pagination::Page;
use crate::auth::tokens::Role;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::incidents::{self, IncidentFilter};
use crate::incidents::{EventView, IncidentView};
use crate::state::AppState;

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
        .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("{e}.")))
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "intake", summary = "Incidents, newest first (analyst)", params(IncidentQuery), responses((status = 200, body = super::pagination::Page), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_incidents(
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
pub(super) async fn incident_facets(
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
pub(super) async fn show_incident(
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
pub(super) async fn incident_events(
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
pub(super) async fn update_incident(
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
pub(super) async fn export_incidents(
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
