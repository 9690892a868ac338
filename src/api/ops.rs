//! `GET /metrics` and an instance's delivery log (`GET /api/v1/instances/{name}/deliveries`).

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use super::blocking::blocking;
use super::caller::Caller;
use crate::auth::tokens::Role;
use crate::error::{ApiError, ErrorBody};
use crate::ops::store::{deliveries_of, DeliveryView};
use crate::state::AppState;

/// `GET /metrics`: the Prometheus text exposition, for any API token (or none with
/// `metrics_public = true`).
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.ops.settings.metrics_public {
        Caller::extract(&req).await?.require(Role::Analyst)?;
    }
    let text = crate::ops::metrics::METRICS
        .render()
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("cannot render the metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

#[utoipa::path(get, path = "/api/v1/instances/{name}/deliveries", tag = "intake", summary = "The instance's newest refused requests, newest first (admin)", params(("name" = String, Path)), responses((status = 200, body = [DeliveryView]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_deliveries(
    caller: Caller,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let name = name.into_inner();
    let found = blocking(&state, move |conn| deliveries_of(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(found))
}
