//! `PUT /api/v1/tls` (admin): installs and serves a new HTTPS certificate and key.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::caller::Caller;
use crate::auth::tokens::Role;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::tls::CertInfo;

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
pub(super) async fn install_certificate(
    caller: Caller,
    body: web::Json<NewCertificate>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let Some(certificate) = state.tls.clone() else {
        return Err(ApiError::new(
            ErrorCode::NoHttps,
            "This server has no HTTPS listener (start it with --tls-listen, --tls-cert, --tls-key).",
        ));
    };
    let body = body.into_inner();
    let installed =
        web::block(move || certificate.install(body.cert.as_bytes(), body.key.as_bytes()))
            .await?
            .map_err(|e| ApiError::new(ErrorCode::InvalidCertificate, format!("{e:#}")))?;
    crate::tls::log_validity("installed through the API", &installed);
    Ok(HttpResponse::Ok().json(installed))
}
