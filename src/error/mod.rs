//! One JSON error shape for every HTTP answer that is not a success:
//! `{"error":"<code>","message":"<what to fix>"}`. [`ErrorCode`] is the whole vocabulary: every
//! code a client can receive and the one status it is answered with. Internal causes are logged
//! in full, once, when the answer is sent, and never sent to the client.

mod code;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use code::ErrorCode;

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
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
    /// The line logged when this error is answered: an internal cause, never sent.
    cause: Option<(log::Level, String)>,
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
    /// An answer with `code`'s status. A 503 says when to retry: a temporary fault on the
    /// server's side always carries `Retry-After`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            basic_challenge: false,
            bearer_challenge: false,
            retry_after: (code.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
            reason: None,
            cause: None,
        }
    }

    /// The status it is answered with, which its code decides.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The same error, recorded as a refusal for `reason`.
    pub fn because(self, reason: crate::ops::metrics::Reason) -> Self {
        ApiError {
            reason: Some(reason),
            ..self
        }
    }

    /// The same error with another message.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            ..self
        }
    }

    /// The same error, asking for Basic credentials.
    pub fn with_basic_challenge(self) -> Self {
        ApiError {
            basic_challenge: true,
            ..self
        }
    }

    /// The same error, asking OAuth clients for a new token.
    pub fn with_bearer_challenge(self) -> Self {
        ApiError {
            bearer_challenge: true,
            ..self
        }
    }

    /// The same error, with `Retry-After: seconds`.
    pub fn retry_after(self, seconds: u32) -> Self {
        ApiError {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(basic_challenge: bool) -> Self {
        ApiError {
            basic_challenge,
            ..Self::new(ErrorCode::Unauthorized, "Authorization failed.")
        }
    }

    /// Storage is down or saturated: the sender should retry; nothing of the request was stored.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// An unexpected failure: the cause goes to the log when this is answered, the client
    /// gets an opaque message.
    pub fn internal(cause: &anyhow::Error) -> Self {
        ApiError {
            cause: Some((log::Level::Error, format!("internal error: {cause:#}"))),
            ..Self::new(
                ErrorCode::Internal,
                "Internal server error; the cause is in the server log.",
            )
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// The answer; also where a cause is logged, so each is logged once, for the answer it
    /// explains.
    fn error_response(&self) -> HttpResponse {
        if let Some((level, cause)) = &self.cause {
            log::log!(*level, "{cause}");
        }
        let mut response = HttpResponse::build(self.status());
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
            error: self.code.as_str(),
            message: &self.message,
        })
    }
}

/// What the service functions shared by the CLI and the HTTP API can fail with. Every message a
/// client reads is ours, never a database's text (which may name tables, columns or values):
/// `Unavailable` and `Internal` carry their cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    /// Another record of the same kind has the name; the message names it. (The console shows
    /// it on the form's name field.)
    #[error("{0}")]
    NameTaken(String),
    #[error("{0}")]
    Conflict(String),
    /// Input that breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// Storage is down or busy. The text is the cause, for the log.
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
            // A store function that can break a unique rule maps this to a message naming
            // the value; this one is for a rule broken by a concurrent change.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ServiceError::Conflict(UNIQUE_TAKEN.into())
            }
            Error::DatabaseError(_, ref info) if is_busy(info.message()) => {
                ServiceError::Unavailable(info.message().to_string())
            }
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// The message of a unique rule broken where the store function names no value.
const UNIQUE_TAKEN: &str =
    "It conflicts with a stored record: a value that must be unique is taken (perhaps by a \
     change made at the same moment).";

/// Whether SQLite refused for a lock another connection holds (`database is locked`,
/// `database table is locked`). Only the text tells: diesel keeps SQLite's message but folds
/// its result codes (`SQLITE_BUSY`, `SQLITE_LOCKED`) into `DatabaseErrorKind::Unknown`, and
/// its error information offers no code to ask for.
fn is_busy(message: &str) -> bool {
    message.contains("locked")
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
            ServiceError::NameTaken(m) | ServiceError::Conflict(m) => {
                ApiError::new(ErrorCode::Conflict, m)
            }
            ServiceError::Invalid(m) => ApiError::new(ErrorCode::Invalid, m),
            ServiceError::Unavailable(cause) => ApiError {
                cause: Some((log::Level::Warn, format!("storage unavailable: {cause}"))),
                ..ApiError::unavailable("Storage is unavailable right now; retry shortly.")
            },
            ServiceError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(cause: anyhow::Error) -> Self {
        ApiError::internal(&cause)
    }
}

/// Work handed to the blocking pool that did not run to the end (the pool shut down, or the
/// work panicked).
impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::internal(&anyhow::anyhow!("blocking task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::code::vocabulary;
    use super::*;
    use actix_web::body::MessageBody;
    use diesel::connection::SimpleConnection;
    use strum::IntoEnumIterator;

    fn body_of(response: HttpResponse) -> serde_json::Value {
        let bytes = response
            .into_body()
            .try_into_bytes()
            .unwrap_or_else(|_| panic!("an error body is sent whole"));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn an_answer_is_its_code_and_message_with_retry_after_on_a_503() {
        for code in ErrorCode::iter() {
            let (text, status, example) = vocabulary(code);
            let response = ApiError::new(code, example).error_response();
            assert_eq!(response.status().as_u16(), status, "{text}");
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                status == 503,
                "{text}"
            );
            assert_eq!(
                body_of(response),
                serde_json::json!({"error": text, "message": example})
            );
        }
    }

    #[test]
    fn an_internal_answer_hides_its_cause() {
        let cause = anyhow::anyhow!("connection to server at 10.0.0.5 refused");
        let response = ApiError::internal(&cause).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response);
        assert_eq!(body["error"], "internal");
        assert!(!body["message"].as_str().unwrap().contains("10.0.0.5"));
    }

    /// A migrated SQLite database in a temporary folder, opened as the server opens it.
    fn sqlite() -> (tempfile::TempDir, crate::storage::Database) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("intake.db").display());
        let db = crate::storage::Database::open(&url).unwrap();
        (dir, db)
    }

    #[test]
    fn a_unique_rule_broken_in_sqlite_is_a_conflict_in_our_words() {
        let (_dir, db) = sqlite();
        let mut conn = db.connect().unwrap();
        let insert = "INSERT INTO meta (key, value) VALUES ('taken', 0)";
        conn.batch_execute(insert).unwrap();
        let broken = conn.batch_execute(insert).unwrap_err();
        let error = ServiceError::from(broken);
        assert!(
            matches!(&error, ServiceError::Conflict(m) if m == UNIQUE_TAKEN),
            "{error:?}"
        );
        let answer = ApiError::from(error);
        assert_eq!(answer.status(), StatusCode::CONFLICT);
        assert_eq!(answer.code, ErrorCode::Conflict);
        assert!(!answer.message.contains("meta"), "{}", answer.message);
    }

    #[test]
    fn a_locked_sqlite_database_is_unavailable_and_its_text_stays_in_the_log() {
        let (_dir, db) = sqlite();
        let mut holder = db.connect().unwrap();
        holder.batch_execute("BEGIN IMMEDIATE").unwrap();
        let mut other = db.connect().unwrap();
        other.batch_execute("PRAGMA busy_timeout = 0").unwrap();
        let refused = other.batch_execute("BEGIN IMMEDIATE").unwrap_err();
        let error = ServiceError::from(refused);
        assert!(
            matches!(&error, ServiceError::Unavailable(cause) if cause == "database is locked"),
            "{error:?}"
        );
        let answer = ApiError::from(error);
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.retry_after, Some(1));
        assert!(!answer.message.contains("locked"), "{}", answer.message);
    }
}
