//! `POST /instance/execute/{name}` (and the XSOAR 8 alias): authenticate the sender before
//! reading the body, turn the body into incidents, store them all in one transaction
//! through the writer, and answer only after the commit.

mod admission;
pub mod body;
pub mod fields;
pub mod observe;
pub mod rate_limit;

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{SubsecRound, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use crate::config::IngestLimits;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::storage::writer::{Idempotency, NewIncident, Stored, WriteBatch, WriteError};
use crate::time::rfc3339;
use admission::admit;
use fields::{prepare, RequestContext};
use observe::observed;

/// Both paths are static prefixes: matching them is a string comparison, where a `{name}`
/// pattern would run a regex on every request. The rest of the path is the instance name.
/// The instance a dedicated listener serves at `POST /`.
pub struct ServedInstance(pub String);

pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/instance/execute", "/xsoar/instance/execute"] {
        cfg.service(web::scope(prefix).default_service(web::to(dispatch)));
    }
}

async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let rest = req.match_info().unprocessed();
    let segments: Vec<&str> = rest
        .strip_prefix('/')
        .unwrap_or_default()
        .split('/')
        .collect();
    let not_allowed = |what: &str| {
        Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("Send {what}."),
        ))
    };
    let answer = match segments.as_slice() {
        [name] if !name.is_empty() && req.method() == Method::POST => {
            execute(&req, name, payload, &state).await
        }
        [name] if !name.is_empty() => not_allowed("events with POST"),
        [name, id] if !name.is_empty() && req.method() == Method::PUT => {
            update(&req, name, id, payload, &state).await
        }
        [name, _] if !name.is_empty() => not_allowed("updates to an incident with PUT"),
        _ => Err(ApiError::not_found(format!(
            "No route for {} {}. Events go to POST /instance/execute/<instance>.",
            req.method(),
            req.path()
        ))),
    };
    let name = segments.first().copied().unwrap_or_default();
    observed(&req, &state, name, started, answer)
}

/// `PUT /instance/execute/{name}/{id}`: updates incident `id` of that instance from the body
/// (the correlated-update flow of senders such as Cato CMA). The body is one object; the
/// instance's mapping applies; fields the delivery does not name keep their values.
async fn update(
    req: &HttpRequest,
    name: &str,
    id: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let received = Utc::now().naive_utc().trunc_subsecs(3);
    let admitted = admit(state, name, req.headers()).await?;
    let missing = || ApiError::not_found(format!("Instance '{name}' has no incident {id}."));
    let id: i64 = id.parse().map_err(|_| missing())?;
    let bytes = read_body(payload, req.headers(), &state.limits).await?;
    admitted.verify_body(req.headers(), &bytes)?;
    let instance = admitted.instance;
    let mut elements = body::parse(&bytes, content_type(req), &state.limits)?;
    if elements.len() != 1 {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "An update takes one JSON object (or one form), not an array.",
        ));
    }
    let headers = redacted_headers(req.headers(), &instance.secret_headers);
    let ctx = RequestContext {
        instance: &instance,
        received,
        headers: &headers,
    };
    let mut prepared = prepare(0, elements.remove(0), &ctx)?;
    refuse_unstorable(state, prepared.iter().map(|p| &p.incident))?;
    let first = prepared.remove(0);
    let incident = first.incident;
    let delivery = crate::incidents::store::Delivery {
        // Defaults are not news: only what the delivery itself names replaces a field.
        name: (incident.name != fields::DEFAULT_NAME).then_some(incident.name),
        type_: incident
            .type_
            .filter(|t| Some(t) != instance.incident_type.as_ref()),
        severity: incident.severity,
        labels: incident.labels,
        raw_json: incident.raw_json,
        received,
    };
    let pool = state.pool.clone();
    let instance_name = instance.name.clone();
    let updated = web::block(move || -> Result<_, crate::error::ServiceError> {
        let mut conn = pool.get()?;
        crate::incidents::store::update_from_delivery(&mut conn, &instance_name, id, &delivery)
    })
    .await??;
    crate::ops::accepted_as(
        &instance,
        crate::ops::metrics::Outcome::Updated,
        0,
        crate::ops::mapping_errors(std::slice::from_ref(&first.warnings)),
    );
    let item = Created {
        id: updated.id,
        instance: updated.instance,
        name: updated.name,
        type_: updated.type_,
        occurred: updated.occurred,
        created: updated.created,
        status: "updated",
        warnings: first.warnings,
    };
    Ok(json_response(render_items(vec![item], wants_object(req))))
}

/// `POST /` on an instance's own listener (see `listeners`).
pub async fn execute_served_instance(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    served: web::Data<ServedInstance>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let answer = execute(&req, &served.0, payload, &state).await;
    observed(&req, &state, &served.0, started, answer)
}

/// One incident in the response.
#[derive(Serialize)]
struct Created {
    id: i64,
    instance: String,
    name: String,
    #[serde(rename = "type")]
    type_: Option<String>,
    occurred: String,
    created: String,
    /// `created`, or `updated` when the delivery updated an existing incident.
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Everything the response needs but the ids: rendered once the incidents are stored (by the
/// writer itself for an idempotent request, so that retries get these very bytes).
struct ResponsePlan {
    instance: String,
    created: String,
    incidents: Vec<(String, Option<String>, String, Vec<String>)>,
    as_object: bool,
}

impl ResponsePlan {
    fn render(&self, stored: &[Stored]) -> String {
        let items: Vec<Created> = stored
            .iter()
            .zip(&self.incidents)
            .map(|(stored, (name, type_, occurred, warnings))| Created {
                id: stored.id,
                instance: self.instance.clone(),
                name: name.clone(),
                type_: type_.clone(),
                occurred: occurred.clone(),
                created: self.created.clone(),
                status: stored.outcome.as_str(),
                warnings: warnings.clone(),
            })
            .collect();
        render_items(items, self.as_object)
    }
}

/// The incidents as an array, or, with `?response=object` (senders that read one correlation
/// id at a JSON path, such as Cato CMA), as `{"id": <first id>, "incidents": [...]}`.
fn render_items(items: Vec<Created>, as_object: bool) -> String {
    let rendered = if as_object {
        let first = items.first().map(|i| i.id);
        serde_json::to_string(&serde_json::json!({"id": first, "incidents": items}))
    } else {
        serde_json::to_string(&items)
    };
    rendered.unwrap_or_else(|_| "[]".to_string())
}

fn wants_object(req: &HttpRequest) -> bool {
    req.query_string()
        .split('&')
        .any(|pair| pair == "response=object")
}

fn json_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

async fn execute(
    req: &HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let received = Utc::now().naive_utc().trunc_subsecs(3);
    let admitted = admit(state, name, req.headers()).await?;
    let bytes = read_body(payload, req.headers(), &state.limits).await?;
    // Before anything is parsed or stored: a signed request's signature over these bytes.
    let signed_id = admitted.verify_body(req.headers(), &bytes)?;
    let instance = admitted.instance;
    let elements = body::parse(&bytes, content_type(req), &state.limits)?;
    if elements.is_empty() {
        crate::ops::accepted(&instance, &[], 0);
        return Ok(json_response(render_items(Vec::new(), wants_object(req))));
    }

    let headers = redacted_headers(req.headers(), &instance.secret_headers);
    let ctx = RequestContext {
        instance: &instance,
        received,
        headers: &headers,
    };
    let mut batch = WriteBatch {
        instance_id: instance.id,
        incidents: Vec::with_capacity(elements.len()),
        samples: Vec::new(),
        sample_limit: instance.sample_limit,
        idempotency: None,
    };
    let mut warnings = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        for prepared in prepare(index, element, &ctx)? {
            batch.incidents.push(prepared.incident);
            batch.samples.extend(prepared.sample);
            warnings.push(prepared.warnings);
        }
    }
    refuse_unstorable(state, &batch.incidents)?;
    let mapping_errors = crate::ops::mapping_errors(&warnings);
    // Kept for the response: the batch moves to the writer.
    let plan = Arc::new(ResponsePlan {
        instance: instance.name.clone(),
        created: rfc3339(received),
        incidents: batch
            .incidents
            .iter()
            .zip(warnings)
            .map(|(i, w)| (i.name.clone(), i.type_.clone(), rfc3339(i.occurred), w))
            .collect(),
        as_object: wants_object(req),
    });
    // A Standard Webhooks `webhook-id` names the delivery as an Idempotency-Key does.
    let key = match idempotency_key(req.headers().get("idempotency-key"))? {
        Some(key) => Some(key),
        None => idempotency_key(signed_id.as_ref())?,
    };
    if let Some(key) = key {
        let plan = plan.clone();
        batch.idempotency = Some(Idempotency {
            instance: instance.name.clone(),
            key,
            render: Box::new(move |stored| plan.render(stored)),
        });
    }

    let written = state.writer.write(batch).await.map_err(|e| match e {
        WriteError::Saturated => {
            ApiError::unavailable("The server is saturated; nothing was stored. Retry shortly.")
        }
        WriteError::Stopped | WriteError::Storage(_) => {
            ApiError::unavailable("Storage is unavailable; nothing was stored. Retry shortly.")
        }
        WriteError::TimedOut => ApiError::unavailable(
            "Storage did not confirm the commit in time. Retry (with the same Idempotency-Key, \
             a retry is never stored twice).",
        ),
    })?;
    crate::ops::accepted(&instance, &written.stored, mapping_errors);
    let body = written
        .response
        .unwrap_or_else(|| plan.render(&written.stored));
    Ok(json_response(body))
}

/// The `Idempotency-Key` header (or a `webhook-id`): 1-255 visible ASCII characters.
fn idempotency_key(
    value: Option<&actix_web::http::header::HeaderValue>,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_string()))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key (and webhook-id) must be 1-255 visible ASCII characters.",
        )),
    }
}

fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Reads the body up to the size limit; a larger one is refused without reading the rest.
async fn read_body(
    mut payload: web::Payload,
    headers: &HeaderMap,
    limits: &IngestLimits,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "The body is larger than the limit of {} bytes. Send smaller batches.",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(8192));
    // A body trickled slowly would hold its connection and worker slot: it has a deadline.
    let timeout = std::time::Duration::from_millis(limits.body_timeout_ms);
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    ErrorCode::UnreadableBody,
                    format!("The body could not be read: {e}."),
                )
            })?;
            if body.len() + chunk.len() > limits.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result.map(|()| body),
        Err(_) => Err(ApiError::new(
            ErrorCode::BodyTimeout,
            format!(
                "The body did not arrive within {} ms; nothing was stored. Send it again.",
                limits.body_timeout_ms
            ),
        )),
    }
}

/// Headers that carry credentials whatever the instance's rules say.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// The request headers as a JSON object's text: names lower-cased (repeated headers joined
/// with ", "), without any header that carries a credential.
fn redacted_headers(headers: &HeaderMap, secret_headers: &[HeaderName]) -> String {
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in headers {
        if CREDENTIAL_HEADERS.contains(name) || secret_headers.contains(name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        fields
            .entry(name.as_str())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    serde_json::to_string(&fields).unwrap_or_else(|_| "{}".to_string())
}

/// PostgreSQL's text columns cannot hold the NUL character. The payload keeps it escaped
/// (`\u0000` in `raw_json`, and in `labels`, which is JSON text too), but a field taken out of
/// it (name, type, severity, dedup key) holds the character itself: refuse such a request with
/// a message the sender can act on, instead of a storage failure it would retry forever.
fn refuse_unstorable<'a>(
    state: &AppState,
    incidents: impl IntoIterator<Item = &'a NewIncident>,
) -> Result<(), ApiError> {
    if state.backend != crate::storage::Backend::Postgres {
        return Ok(());
    }
    for (n, incident) in incidents.into_iter().enumerate() {
        let fields = [
            ("name", Some(&incident.name)),
            ("type", incident.type_.as_ref()),
            ("severity", incident.severity.as_ref()),
            ("dedup key", incident.dedup_key.as_ref()),
        ];
        if let Some((field, _)) = fields
            .iter()
            .find(|(_, value)| value.is_some_and(|v| v.contains('\0')))
        {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                format!(
                    "Event {n}'s {field} contains the NUL character (\\u0000), which this \
                     server's database (PostgreSQL) cannot store. Remove it from that field."
                ),
            ));
        }
    }
    Ok(())
}
