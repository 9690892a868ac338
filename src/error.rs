//! One JSON error shape for every HTTP answer that is not a success:
//! `{"error":"<code>","message":"<what to fix>"}`. [`ErrorCode`] is the whole vocabulary: every
//! code a client can receive and the one status it is answered with. Internal causes are logged
//! in full, once, when the answer is sent, and never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Every code an error answer carries, as the client reads it in `"error"` (the variant's
/// name in snake_case). Each code is answered with one status, [`ErrorCode::status`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // The request as a whole.
    /// No such instance, route or record.
    NotFound,
    /// No credential, or one that does not match.
    Unauthorized,
    /// A valid API token whose role may not do this.
    Forbidden,
    /// A method the route does not answer.
    MethodNotAllowed,
    /// The body did not arrive within `limits.body_timeout_ms`.
    BodyTimeout,
    /// The body could not be read off the connection.
    UnreadableBody,
    /// A route that takes no query parameter got one.
    UnknownParameter,
    /// A query parameter of the incident routes, or of an extractor, that cannot be read.
    InvalidQuery,
    /// A path segment that cannot be read (an id that is not a number).
    InvalidPath,

    // Ingest bodies.
    /// Nothing but whitespace.
    EmptyBody,
    /// Neither JSON nor form fields.
    UnsupportedBody,
    /// JSON that does not parse, or holds a value no reader can load back.
    InvalidJson,
    /// Form fields that cannot be decoded.
    InvalidForm,
    /// JSON that parses but is not what the route takes (a scalar; an array for an update).
    InvalidBody,
    /// An array element that is not an object, or whose `rawJson` is not one.
    InvalidElement,
    /// JSON nested deeper than `limits.max_depth`.
    TooDeep,
    /// More array elements than `limits.max_elements`.
    TooManyElements,
    /// A body over `limits.max_body_bytes`.
    BodyTooLarge,
    /// An `Idempotency-Key` or `webhook-id` that is not 1-255 visible ASCII characters.
    InvalidIdempotencyKey,
    /// More requests than the instance's rate limit allows.
    RateLimited,

    // The admin and analyst API.
    /// A JSON body the route's extractor rejects: not JSON, an unknown field, a wrong type.
    UnprocessableBody,
    /// A value that breaks a rule; the message names the field.
    Invalid,
    /// The change conflicts with what is stored (a name that is taken, a port in use).
    Conflict,
    /// A certificate and key that cannot be installed.
    InvalidCertificate,
    /// A TLS change on a server without an HTTPS listener.
    NoHttps,

    // The token endpoint (the names of RFC 6749 section 5.2).
    /// A token request that cannot be read.
    InvalidRequest,
    /// A `grant_type` other than `client_credentials`.
    UnsupportedGrantType,
    /// A wrong or missing client id and secret.
    InvalidClient,

    // The server's side.
    /// Too many new credentials waiting for a password check.
    CredentialChecksSaturated,
    /// Storage down, saturated or shutting down: retry, nothing was stored.
    Unavailable,
    /// An unexpected failure; the cause is in the server log.
    Internal,
}

impl ErrorCode {
    /// The status every answer with this code has.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            EmptyBody
            | UnsupportedBody
            | InvalidJson
            | InvalidForm
            | InvalidBody
            | InvalidElement
            | TooDeep
            | InvalidIdempotencyKey
            | UnreadableBody
            | UnknownParameter
            | InvalidQuery
            | InvalidPath
            | Invalid
            | InvalidCertificate
            | InvalidRequest
            | UnsupportedGrantType => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidClient => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Conflict | NoHttps => StatusCode::CONFLICT,
            TooManyElements | BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnprocessableBody => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            CredentialChecksSaturated | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as the client reads it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

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
    use super::*;
    use actix_web::body::MessageBody;
    use diesel::connection::SimpleConnection;
    use strum::IntoEnumIterator;

    /// The API's whole error vocabulary: each code as the client reads it, its status, and a
    /// message it is answered with. No wildcard: a new code is a compile error until it is
    /// written here, and docs/api.md lists it.
    fn vocabulary(code: ErrorCode) -> (&'static str, u16, &'static str) {
        use ErrorCode::*;
        match code {
            NotFound => ("not_found", 404, "No enabled instance named 'edr'."),
            Unauthorized => ("unauthorized", 401, "Authorization failed."),
            Forbidden => ("forbidden", 403, "This needs the admin role."),
            MethodNotAllowed => (
                "method_not_allowed",
                405,
                "Send POST /instance/execute/<name>.",
            ),
            BodyTimeout => (
                "body_timeout",
                408,
                "The body did not arrive within 60000 ms; nothing was stored. Send it again.",
            ),
            UnreadableBody => (
                "unreadable_body",
                400,
                "The body could not be read: connection reset.",
            ),
            UnknownParameter => (
                "unknown_parameter",
                400,
                "Unknown query parameter 'colour': this route takes none.",
            ),
            InvalidQuery => ("invalid_query", 400, "limit: must be 1-1000, not 0."),
            InvalidPath => ("invalid_path", 400, "Path: can not parse \"x\" to a i64."),
            EmptyBody => (
                "empty_body",
                400,
                "The request body is empty; send a JSON object or an array of objects.",
            ),
            UnsupportedBody => (
                "unsupported_body",
                400,
                "The body is neither JSON (which must start with '{' or '[') nor form fields \
                 (Content-Type: application/x-www-form-urlencoded).",
            ),
            InvalidJson => (
                "invalid_json",
                400,
                "The body is not valid JSON: EOF while parsing an object at line 1 column 9.",
            ),
            InvalidForm => (
                "invalid_form",
                400,
                "The form body cannot be read: invalid percent-encoding.",
            ),
            InvalidBody => (
                "invalid_body",
                400,
                "The body is a number; send a JSON object or an array of objects.",
            ),
            InvalidElement => (
                "invalid_element",
                400,
                "Element 2 of the array is a string, not a JSON object.",
            ),
            TooDeep => (
                "too_deep",
                400,
                "The JSON is nested 200 levels deep; the limit is 128.",
            ),
            TooManyElements => (
                "too_many_elements",
                413,
                "The array has 1001 elements; the limit is 1000 per request. Send smaller batches.",
            ),
            BodyTooLarge => (
                "body_too_large",
                413,
                "The body is larger than the limit of 10485760 bytes. Send smaller batches.",
            ),
            InvalidIdempotencyKey => (
                "invalid_idempotency_key",
                400,
                "Idempotency-Key (and webhook-id) must be 1-255 visible ASCII characters.",
            ),
            RateLimited => (
                "rate_limited",
                429,
                "This instance accepts 5 requests per second (burst 10); retry in 1 s.",
            ),
            UnprocessableBody => (
                "unprocessable_body",
                422,
                "Body: Json deserialize error: unknown field `colour` at line 1 column 23.",
            ),
            Invalid => ("invalid", 400, "sample_limit: must be 1-10000"),
            Conflict => ("conflict", 409, "an instance named 'edr' already exists"),
            InvalidCertificate => (
                "invalid_certificate",
                400,
                "the key does not match the certificate",
            ),
            NoHttps => (
                "no_https",
                409,
                "This server has no HTTPS listener (start it with --tls-listen, --tls-cert, \
                 --tls-key).",
            ),
            InvalidRequest => ("invalid_request", 400, "The body is not UTF-8."),
            UnsupportedGrantType => (
                "unsupported_grant_type",
                400,
                "grant_type 'password' is not supported; use client_credentials.",
            ),
            InvalidClient => (
                "invalid_client",
                401,
                "Client authentication failed: send one of the instance's Basic credentials \
                 (client id = username, client secret = password).",
            ),
            CredentialChecksSaturated => (
                "credential_checks_saturated",
                503,
                "Too many credentials are waiting to be checked; retry shortly.",
            ),
            Unavailable => (
                "unavailable",
                503,
                "Storage is unavailable; nothing was stored. Retry shortly.",
            ),
            Internal => (
                "internal",
                500,
                "Internal server error; the cause is in the server log.",
            ),
        }
    }

    fn body_of(response: HttpResponse) -> serde_json::Value {
        let bytes = response
            .into_body()
            .try_into_bytes()
            .unwrap_or_else(|_| panic!("an error body is sent whole"));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn every_code_reads_as_its_string_and_has_its_status() {
        for code in ErrorCode::iter() {
            let (text, status, _) = vocabulary(code);
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(code.status().as_u16(), status, "{text}");
        }
    }

    #[test]
    fn no_two_codes_read_the_same() {
        let mut texts: Vec<_> = ErrorCode::iter().map(ErrorCode::as_str).collect();
        let all = texts.len();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), all);
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
    fn the_api_docs_list_every_code_with_its_status() {
        let docs = include_str!("../docs/api.md");
        for code in ErrorCode::iter() {
            let (text, status, _) = vocabulary(code);
            let row = format!("| `{text}` | {status} |");
            assert!(docs.contains(&row), "docs/api.md has no row {row}");
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
