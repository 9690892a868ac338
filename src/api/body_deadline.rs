//! `/api/v1` request bodies have the ingest body deadline (`limits.body_timeout_ms`): a body
//! trickled a byte at a time would otherwise hold its connection and handler for as long as
//! the client likes. Past the deadline the request is answered 408 `body_timeout`, and the
//! handler, which never got a whole body, has changed nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::StreamExt;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// `from_fn` middleware: the request's body stream ends in an error once the deadline has
/// passed, and the answer is then a 408 whatever the handler made of that error.
pub async fn within_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(timeout_ms) = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.limits.body_timeout_ms)
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let timed = futures_util::stream::unfold(Some(req.take_payload()), move |payload| {
        let flag = flag.clone();
        async move {
            let mut payload = payload?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "body timeout");
                    Some((Err(PayloadError::Io(late)), None))
                }
            }
        }
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(timed),
    });
    let response = next.call(req).await?;
    if !expired.load(Ordering::Relaxed) {
        return Ok(response.map_into_left_body());
    }
    let refusal = ApiError::new(
        ErrorCode::BodyTimeout,
        format!(
            "The body did not arrive within {timeout_ms} ms; nothing was changed. Send it again."
        ),
    );
    let (req, _) = response.into_parts();
    Ok(ServiceResponse::new(req, refusal.error_response()).map_into_right_body())
}
