//! One JSON error shape for every HTTP answer that is not a success:
//! `{"error":"<code>","message":"<what to fix>"}`. Internal causes are logged in full
//! and never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Adds `WWW-Authenticate: Basic realm="intake"` to a 401.
    pub basic_challenge: bool,
    /// Adds `WWW-Authenticate: Bearer error="invalid_token"` to a 401, which makes OAuth
    /// clients fetch a new token.
    pub bearer_challenge: bool,
    /// Adds `Retry-After` (seconds) to a 503 or 429.
    pub retry_after: Option<u32>,
    /// Why a sender was refused, for the metrics and the delivery log (never sent).
    pub reason: Option<crate::ops::metrics::Reason>,
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// A stable code, e.g. `unauthorized`, `invalid_query`.
    pub error: &'a str,
    /// What went wrong and what to fix.
    pub message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            basic_challenge: false,
            bearer_challenge: false,
            retry_after: None,
            reason: None,
        }
    }

    /// The same error, recorded as a refusal for `reason`.
    pub fn because(self, reason: crate::ops::metrics::Reason) -> Self {
        ApiError {
            reason: Some(reason),
            ..self
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn payload_too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(basic_challenge: bool) -> Self {
        ApiError {
            basic_challenge,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authorization failed.",
            )
        }
    }

    /// Storage is down or saturated: the sender should retry; nothing of the request was stored.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// An unexpected failure: the cause goes to the log, the client gets an opaque message.
    pub fn internal(cause: &anyhow::Error) -> Self {
        log::error!("internal error: {cause:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error; the cause is in the server log.",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.basic_challenge {
            response.append_header((header::WWW_AUTHENTICATE, r#"Basic realm="intake""#));
        }
        if self.bearer_challenge {
            response.append_header((
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="intake", error="invalid_token""#,
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(ErrorBody {
            error: self.code,
            message: &self.message,
        })
    }
}

/// What the service functions shared by the CLI and the HTTP API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Input that breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for ServiceError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => ServiceError::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ServiceError::Conflict(info.message().to_string())
            }
            Error::DatabaseError(_, ref info) if info.message().contains("locked") => {
                ServiceError::Unavailable(info.message().to_string())
            }
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ServiceError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ServiceError::Unavailable(error.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(m) => ApiError::not_found(m),
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ServiceError::Invalid(m) => ApiError::bad_request("invalid", m),
            ServiceError::Unavailable(m) => ApiError::unavailable(m),
            ServiceError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}
