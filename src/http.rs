//! What every listener serves alike, the main one and each instance's own: the access log,
//! keep-alive from configuration, `/healthz`, and the JSON answer for a route that does not
//! exist.

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{HttpRequest, HttpResponse};

use crate::config::HttpLimits;
use crate::error::ApiError;

/// The access log's target: `RUST_LOG=info,intake::access=warn` turns it off.
const ACCESS_LOG: &str = "intake::access";

/// One line per request at info level: peer address, method, path (never the query string,
/// which may hold tokens), status, latency, user agent. Never a header that could carry a
/// credential. Costs nothing when the level is off.
pub(crate) fn access_log<S>(
    req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let line = log::log_enabled!(target: ACCESS_LOG, log::Level::Info).then(|| {
        let peer = req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        (
            Instant::now(),
            format!("{peer} \"{} {}\"", req.method(), req.path()),
            agent,
        )
    });
    let response = service.call(req);
    async move {
        let response = response.await?;
        if let Some((started, request, agent)) = line {
            log::info!(
                target: ACCESS_LOG,
                "{request} {} {:.3}ms \"{agent}\"",
                response.status().as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        Ok(response)
    }
}

/// Keep-alive as configured: `keep_alive_seconds = 0` turns it off.
pub(crate) fn keep_alive(http: &HttpLimits) -> actix_web::http::KeepAlive {
    match http.keep_alive_seconds {
        0 => actix_web::http::KeepAlive::Disabled,
        seconds => actix_web::http::KeepAlive::Timeout(Duration::from_secs(seconds)),
    }
}

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub(crate) async fn no_route(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(format!(
        "No route for {} {}. Events go to POST /instance/execute/<instance>.",
        req.method(),
        req.path()
    ))
    .error_response()
}
