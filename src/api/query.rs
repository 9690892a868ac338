//! `/api/v1` answers an unknown query parameter with 400 naming it, so a misspelt filter
//! (`?stauts=open`) is an error instead of a silently unfiltered answer.
//!
//! The incident routes parse their query themselves (`IncidentFilter::from_query_string`)
//! and refuse unknown names there; every other route takes no query parameter at all.

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::ResponseError;
use futures_util::future::{ready, Either, Ready};

use crate::error::{ApiError, ErrorCode};

/// Paths (under `/api/v1`) whose handlers read query parameters.
const WITH_QUERY: &[&str] = &[
    "/api/v1/incidents",
    "/api/v1/incidents/export",
    "/api/v1/incidents/facets",
];

/// `wrap_fn` middleware for the `/api/v1` scope.
pub fn refuse_unknown_parameters<S>(
    req: ServiceRequest,
    service: &S,
) -> Either<S::Future, Ready<Result<ServiceResponse, actix_web::Error>>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let query = req.query_string();
    if query.is_empty() || WITH_QUERY.contains(&req.path()) {
        return Either::Left(service.call(req));
    }
    let name = form_urlencoded_name(query);
    let error = ApiError::new(
        ErrorCode::UnknownParameter,
        format!("Unknown query parameter '{name}': this route takes none."),
    );
    let response = error.error_response();
    Either::Right(ready(Ok(req.into_response(response))))
}

/// The first parameter's name, decoded.
fn form_urlencoded_name(query: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()
        .and_then(|pairs| pairs.into_iter().next().map(|(name, _)| name))
        .unwrap_or_else(|| query.split(['=', '&']).next().unwrap_or(query).to_string())
}
