//! `/api/v1/instances/{name}/samples` and the mapping test over them: the received elements
//! an instance keeps, listed (analyst) or cleared (admin), and a mapping tried on them.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::blocking::blocking;
use super::caller::Caller;
use crate::auth::tokens::Role;
use crate::error::{ApiError, ErrorBody};
use crate::instances::store;
use crate::instances::SampleView;
use crate::state::AppState;

/// `POST /api/v1/instances/{name}/mapping/test`: the mapping to try; the instance's own
/// when absent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingTest {
    #[schema(value_type = Option<Object>)]
    mapping: Option<crate::mapping::MappingDoc>,
}

#[utoipa::path(get, path = "/api/v1/instances/{name}/samples", tag = "intake", summary = "Stored samples, newest first (analyst)", params(("name" = String, Path)), responses((status = 200, body = [SampleView])), security(("bearer" = [])))]
pub(super) async fn list_samples(
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
pub(super) async fn clear_samples(
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
pub(super) async fn test_mapping(
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
