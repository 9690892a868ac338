//! The API's error vocabulary: every code an error answer carries and its one status.

use actix_web::http::StatusCode;

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

#[cfg(test)]
/// The API's whole error vocabulary: each code as the client reads it, its status, and a
/// message it is answered with. No wildcard: a new code is a compile error until it is
/// written here, and docs/api.md lists it.
pub(super) fn vocabulary(code: ErrorCode) -> (&'static str, u16, &'static str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

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
    fn the_api_docs_list_every_code_with_its_status() {
        let docs = include_str!("../../docs/api.md");
        for code in ErrorCode::iter() {
            let (text, status, _) = vocabulary(code);
            let row = format!("| `{text}` | {status} |");
            assert!(docs.contains(&row), "docs/api.md has no row {row}");
        }
    }
}
