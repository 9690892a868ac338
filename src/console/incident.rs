//! One incident's page (`/incidents/{id}`): its fields and labels, the delivery headers,
//! `raw_json` pretty-printed,
//! every delivery it stands for, and the status changes the API allows (a reopen that the
//! API refuses is refused here with the API's message).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::blocking;
use super::form::FormFields;
use super::page::{self, ConsoleError, Notice, Page, Section};
use super::sessions::SessionUser;
use crate::error::ServiceError;
use crate::incidents::{self, EventView, IncidentView};
use crate::state::AppState;

/// A status as a badge.
pub fn status_badge(status: &str) -> Markup {
    html! { span.status data-status=(status) { (status) } }
}

/// A stored RFC 3339 time; the page's script adds the reader's local time and "ago".
pub fn time(rfc3339: &str) -> Markup {
    let shown = rfc3339.replacen('T', " ", 1).replace('Z', " UTC");
    html! { time datetime=(rfc3339) { (shown) } }
}

/// What a status change says it did.
pub fn verb(status: &str) -> &'static str {
    match status {
        "acknowledged" => "Acknowledged",
        "resolved" => "Resolved",
        _ => "Reopened",
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `GET /incidents/{id}`.
pub async fn page(
    user: SessionUser,
    id: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ConsoleError::NotFound(format!("There is no incident '{id}'")))?;
    let (incident, events) = blocking(&state, move |conn| {
        Ok((
            incidents::store::get(conn, id)?,
            incidents::store::events(conn, id)?,
        ))
    })
    .await?;
    let page = Page {
        title: &incident.name,
        user: &user,
        notice: Notice::take(&req),
        section: Section::Incidents,
    };
    let body = view(&user, &incident, &events);
    Ok(page.render(StatusCode::OK, body))
}

fn view(user: &SessionUser, incident: &IncidentView, events: &[EventView]) -> Markup {
    let changes: &[&str] = match incident.status.as_str() {
        "open" => &["acknowledged", "resolved"],
        "acknowledged" => &["resolved", "open"],
        _ => &["open"],
    };
    let raw = incident.raw_json.as_ref().map(pretty).unwrap_or_default();
    html! {
        p.crumbs { a href="/incidents" { "← Incidents" } }
        div.incident-head {
            h1 { (incident.name) }
            (status_badge(&incident.status))
            div.status-actions {
                @for status in changes {
                    form method="post" action=(format!("/incidents/{}/status", incident.id)) {
                        input type="hidden" name="csrf" value=(user.csrf());
                        input type="hidden" name="status" value=(status);
                        button type="submit" { (match *status { "acknowledged" => "Acknowledge", "resolved" => "Resolve", _ => "Reopen" }) }
                    }
                }
            }
        }
        dl.fields {
            dt { "Id" } dd { (incident.id) }
            dt { "Instance" } dd { (incident.instance) }
            dt { "Type" } dd { (incident.type_.as_deref().unwrap_or("—")) }
            dt { "Severity" } dd {
                @if let Some(s) = &incident.severity { span.severity data-severity=(s.to_lowercase()) { (s) } } @else { "—" }
            }
            dt { "Occurrences" } dd { (incident.occurrences) }
            dt { "Occurred" } dd { (time(&incident.occurred)) }
            dt { "Received" } dd { (time(&incident.created)) }
            dt { "Last seen" } dd { @if let Some(t) = &incident.last_seen { (time(t)) } @else { "—" } }
            dt { "Dedup key" } dd { @if let Some(k) = &incident.dedup_key { code { (k) } } @else { "—" } }
            dt { "Labels" } dd {
                @match incident.labels.as_ref().and_then(|l| l.as_object()) {
                    Some(labels) if !labels.is_empty() => {
                        ul.labels {
                            @for (key, value) in labels {
                                li { span.key { (key) } span.value { (value.as_str().map_or_else(|| value.to_string(), str::to_string)) } }
                            }
                        }
                    }
                    _ => { "—" }
                }
            }
        }
        @if let Some(headers) = incident.raw_json.as_ref().and_then(|r| r.get("headers")).and_then(|h| h.as_object()) {
            details.headers open {
                summary { "Delivery headers" }
                p.muted { "As stored: headers that carry a credential are never kept." }
                dl.headers {
                    @for (name, value) in headers {
                        dt { code { (name) } }
                        dd { (value.as_str().map_or_else(|| value.to_string(), str::to_string)) }
                    }
                }
            }
        }
        details.raw open {
            summary { "raw_json" }
            button.copy type="button" data-copy="raw-json" { "Copy" }
            pre #raw-json { code { (raw) } }
        }
        section.history {
            h2 { "Deliveries (" (events.len()) ")" }
            ol.events {
                @for (n, event) in events.iter().enumerate() {
                    li {
                        details open[n + 1 == events.len() && events.len() > 1] {
                            summary { (event.kind) " " (time(&event.received)) }
                            pre { code { (pretty(&event.body)) } }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /incidents/{id}/status`.
pub async fn change_status(
    user: SessionUser,
    id: web::Path<i64>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&user)?;
    let id = id.into_inner();
    let status = fields.get("status").unwrap_or_default().to_string();
    let change = status.clone();
    let result = blocking(&state, move |conn| {
        match incidents::store::set_status(conn, id, &change) {
            Ok(_) => Ok(None),
            Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_))) => Ok(Some(e)),
            Err(e) => Err(e),
        }
    })
    .await?;
    let notice = match result {
        None => {
            log::info!("console: {} set incident {id} to {status}", user.name);
            Notice::done(format!("{} incident {id}.", verb(&status)))
        }
        Some(refusal) => Notice::refused(format!("Not changed: {refusal}.")),
    };
    Ok(page::see_other(&format!("/incidents/{id}"), Some(notice)))
}
