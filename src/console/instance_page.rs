//! One instance's page (`/instances/{name}`): where senders deliver (the webhook URL on each
//! listener, the token URL, a ready curl), its activity and settings, its credentials with
//! the forms to add more, and its delivery log of refused requests, which refreshes itself
//! while the page is open so an admin can watch a sender being set up.

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped};

use super::admin::{self, enabled_badge, path_of, Admin};
use super::blocking;
use super::credential_form::{self, CredentialDraft, NewSecret};
use super::incident::time;
use super::page::{ConsoleError, Notice, Page, Section};
use crate::instances::{store, InstanceView};
use crate::ops::store::{deliveries_of, show_with_activity, DeliveryView, InstanceWithActivity};
use crate::state::AppState;

/// The instance, or a 404 page naming it.
pub async fn find(state: &AppState, name: &str) -> Result<InstanceView, ConsoleError> {
    let name = name.to_string();
    blocking(state, move |conn| store::show(conn, &name)).await
}

/// Where senders reach an instance on one listener.
pub struct Endpoint {
    pub scheme: &'static str,
    pub webhook: String,
    pub token: String,
}

/// The host the browser used, without its port (`[::1]` keeps its brackets).
fn request_host(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let host = info.host();
    if let Some(end) = host.find(']') {
        return host[..=end].to_string();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host.to_string(),
    }
}

/// The instance's URLs on every listener of this server. A listener bound to every address
/// is shown with the host name the browser used to reach the console.
pub fn endpoints(req: &HttpRequest, state: &AppState, name: &str) -> Vec<Endpoint> {
    let host = request_host(req);
    let mut bases: Vec<(&'static str, String)> = state
        .console
        .listeners()
        .iter()
        .filter_map(|url| {
            let (scheme, addr) = url.split_once("://")?;
            let scheme = if scheme == "https" { "https" } else { "http" };
            let addr: SocketAddr = addr.parse().ok()?;
            let shown_host = if addr.ip().is_unspecified() {
                host.clone()
            } else if addr.is_ipv6() {
                format!("[{}]", addr.ip())
            } else {
                addr.ip().to_string()
            };
            Some((scheme, format!("{scheme}://{shown_host}:{}", addr.port())))
        })
        .collect();
    if bases.is_empty() {
        let info = req.connection_info();
        let scheme = if info.scheme() == "https" {
            "https"
        } else {
            "http"
        };
        bases.push((scheme, format!("{scheme}://{}", info.host())));
    }
    bases
        .into_iter()
        .map(|(scheme, base)| Endpoint {
            scheme,
            webhook: format!("{base}/instance/execute/{name}"),
            token: format!("{base}/instance/token/{name}"),
        })
        .collect()
}

/// What the instance page shows besides the stored state.
#[derive(Default)]
pub struct Extras {
    pub notice: Option<Notice>,
    /// A credential form sent back with its refusal.
    pub draft: Option<CredentialDraft>,
    /// A generated secret, shown this once.
    pub new_secret: Option<NewSecret>,
}

/// Everything the page shows, read in one go.
pub struct Loaded {
    pub instance: InstanceWithActivity,
    pub deliveries: Vec<DeliveryView>,
}

pub async fn load(state: &AppState, name: &str) -> Result<Loaded, ConsoleError> {
    let name = name.to_string();
    blocking(state, move |conn| {
        Ok(Loaded {
            instance: show_with_activity(conn, &name)?,
            deliveries: deliveries_of(conn, &name)?,
        })
    })
    .await
}

/// `GET /instances/{name}`.
pub async fn page(
    admin: Admin,
    name: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let loaded = load(&state, &name).await?;
    let extras = Extras {
        notice: Notice::take(&req),
        ..Default::default()
    };
    Ok(render(
        &admin,
        &req,
        &state,
        &loaded,
        extras,
        StatusCode::OK,
    ))
}

/// The whole instance page.
pub fn render(
    admin: &Admin,
    req: &HttpRequest,
    state: &AppState,
    loaded: &Loaded,
    extras: Extras,
    status: StatusCode,
) -> HttpResponse {
    let instance = &loaded.instance.instance;
    let activity = &loaded.instance.activity;
    let name = instance.name.as_str();
    let endpoints = endpoints(req, state, name);
    let body = html! {
        p.crumbs { a href="/instances" { "← Instances" } }
        div.page-head {
            h1 { (name) }
            (enabled_badge(instance.enabled))
            div.head-actions {
                form method="post" action=(path_of(name, "/enabled")) {
                    (admin::csrf(admin))
                    @if instance.enabled {
                        input type="hidden" name="enabled" value="false";
                        button.secondary type="submit" { "Disable" }
                    } @else {
                        input type="hidden" name="enabled" value="true";
                        button type="submit" { "Enable" }
                    }
                }
                a.button.secondary href=(path_of(name, "/edit")) { "Edit settings" }
                a.button.secondary href=(path_of(name, "/samples")) { "Samples" }
                a.button.danger href=(path_of(name, "/remove")) { "Remove" }
            }
        }
        @if let Some(secret) = &extras.new_secret {
            (credential_form::shown_once(secret))
        }
        section.panel #endpoints {
            h2 { "Where senders deliver" }
            dl.fields {
                @for endpoint in &endpoints {
                    dt { "Webhook URL (" (endpoint.scheme.to_uppercase()) ")" }
                    dd { code.url data-kind="webhook" data-scheme=(endpoint.scheme) { (endpoint.webhook) } }
                }
                @for endpoint in &endpoints {
                    dt { "Token URL (" (endpoint.scheme.to_uppercase()) ")" }
                    dd { code.url data-kind="token" data-scheme=(endpoint.scheme) { (endpoint.token) } }
                }
            }
            p.muted { "Senders that fetch a bearer token first (OAuth client credentials) send a Basic credential's username and password to the token URL; the token then works on the webhook URL for " (instance.token_ttl) " s." }
            h3 { "Test delivery" }
            @if let Some(first) = endpoints.first() {
                (credential_form::test_curl(instance, &first.webhook))
            }
        }
        (credential_form::section(admin, instance, extras.draft.as_ref()))
        section.panel #delivery-log {
            h2 { "Delivery log" }
            p.muted { "The newest refused requests, newest first. It refreshes itself while this page is open." }
            div #deliveries data-live=(path_of(name, "/deliveries")) {
                (delivery_table(&loaded.deliveries))
            }
        }
        div.two-panels {
        section.panel #activity {
            h2 { "Activity" }
            dl.fields {
                dt { "Last accepted delivery" }
                dd { @match activity.last_accepted { Some(at) => { (time(&crate::time::rfc3339(at))) } None => { "never" } } }
                dt { "Accepted (24 h)" } dd { (activity.accepted_24h) }
                dt { "Refused (24 h)" } dd { (activity.refused_24h) }
            }
        }
        section.panel #settings {
            h2 { "Settings" }
            dl.fields {
                dt { "Default type" } dd { (instance.incident_type.as_deref().unwrap_or("—")) }
                dt { "Preset" } dd { (instance.preset.as_deref().unwrap_or("—")) }
                dt { "Mapping" } dd {
                    @if instance.mapping.is_some() { "own mapping" } @else { "—" }
                    " · " a href=(path_of(name, "/mapping")) { "Mapping editor" }
                }
                dt { "Samples" } dd {
                    @if instance.store_samples { "kept, newest " (instance.sample_limit) } @else { "not kept" }
                }
                dt { "Anonymous deliveries" } dd { (if instance.allow_anonymous { "allowed" } else { "refused" }) }
                dt { "Token lifetime" } dd { (instance.token_ttl) " s" }
                dt { "Signature tolerance" } dd { (instance.signature_tolerance_s) " s" }
                dt { "Rate limit" } dd {
                    @match instance.rate_limit {
                        Some(rate) => { (rate) " requests/s" @if let Some(burst) = instance.rate_burst { ", burst " (burst) } }
                        None => { "none" }
                    }
                }
            }
        }
        }
    };
    let page = Page {
        title: name,
        user: admin,
        notice: extras.notice,
        section: Section::Instances,
    };
    page.render(status, body)
}

/// The delivery log's table (also served alone, for the live view).
fn delivery_table(deliveries: &[DeliveryView]) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.empty { "No refused requests." }
        } @else {
            div.scroll {
                table.list.deliveries {
                    thead { tr {
                        th { "Time" } th.num { "Status" } th { "Error" } th { "Reason" } th { "Message" }
                        th { "From" } th.num { "Bytes" } th { "User agent" }
                    } }
                    tbody {
                        @for d in deliveries {
                            tr data-id=(d.id) {
                                td { (time(&d.received)) }
                                td.num.status-code { (d.status) }
                                td.error { code { (d.error) } }
                                td.reason { @if let Some(r) = &d.reason { code { (r) } } @else { "—" } }
                                td.message { (d.message) }
                                td.from { (d.remote_addr) @if let Some(f) = &d.forwarded_for { br; span.muted { "for " (f) } } }
                                td.num { @if let Some(b) = d.body_bytes { (b) } @else { "—" } }
                                td.agent { (d.user_agent.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /instances/{name}/deliveries`: the delivery log alone, for the page's live view.
pub async fn deliveries(
    _admin: Admin,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let rows = blocking(&state, move |conn| deliveries_of(conn, &name)).await?;
    let fragment = delivery_table(&rows);
    Ok(super::page::html(
        StatusCode::OK,
        PreEscaped(fragment.into_string()),
    ))
}
