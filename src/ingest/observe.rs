//! What every answer of the sender-facing routes (ingest and the token endpoint) passes
//! through on its way out: the request-duration metric, and for a refusal the delivery log.

use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// Counts an answer in the metrics and, when it refuses, in the delivery log.
pub(crate) fn observed(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
    started: std::time::Instant,
    answer: Result<HttpResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    crate::ops::observe_duration(started);
    if let Err(error) = &answer {
        state.ops.refused(&state.registry.load(), req, name, error);
    }
    answer
}
