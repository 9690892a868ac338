//! An instance's stored samples (`/instances/{name}/samples`): the newest deliveries as they
//! arrived, pretty-printed, with their headers as stored (a header that carries a credential
//! is never kept), and clearing them after a confirmation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::admin::path_of;
use super::admin::{self, Admin};
use super::blocking;
use super::form::FormFields;
use super::incident::time;
use super::page::{self, ConsoleError, Notice, Page, Section};
use crate::instances::store;
use crate::state::AppState;

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `GET /instances/{name}/samples`.
pub async fn page(
    admin: Admin,
    name: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let target = name.clone();
    let (instance, samples) = blocking(&state, move |conn| {
        Ok((store::show(conn, &target)?, store::samples(conn, &target)?))
    })
    .await?;
    let title = format!("Samples of {name}");
    let page = Page {
        title: &title,
        user: &admin,
        notice: Notice::take(&req),
        section: Section::Instances,
    };
    let body = html! {
        p.crumbs { a href="/instances" { "Instances" } " / " a href=(path_of(&name, "")) { (name) } }
        div.page-head {
            h1 { (title) }
            div.head-actions {
                a.button.secondary href=(path_of(&name, "/mapping")) { "Mapping editor" }
                @if !samples.is_empty() {
                    a.button.danger href=(path_of(&name, "/samples/clear")) { "Clear samples" }
                }
            }
        }
        p.muted {
            @if instance.store_samples {
                "The newest " (instance.sample_limit) " deliveries are kept, newest first."
            } @else {
                "This instance keeps no samples now; turn on Keep samples in its "
                a href=(path_of(&name, "/edit")) { "settings" } "."
            }
        }
        @if samples.is_empty() {
            p.empty { "No samples stored." }
        } @else {
            ol.samples.plain #samples {
                @for (n, sample) in samples.iter().enumerate() {
                    li.panel data-id=(sample.id) {
                        h2 { "Received " (time(&sample.received)) }
                        @if let Some(headers) = sample.headers.as_object().filter(|h| !h.is_empty()) {
                            details.headers open[n == 0] {
                                summary { "Headers (" (headers.len()) ")" }
                                dl.headers {
                                    @for (header, value) in headers {
                                        dt { code { (header) } }
                                        dd { (value.as_str().map_or_else(|| value.to_string(), str::to_string)) }
                                    }
                                }
                            }
                        }
                        div.copyable {
                            button.copy type="button" data-copy=(format!("sample-{}", sample.id)) { "Copy" }
                            pre id=(format!("sample-{}", sample.id)) { code { (pretty(&sample.body)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page.render(StatusCode::OK, body))
}

/// `GET /instances/{name}/samples/clear`.
pub async fn clear_form(
    admin: Admin,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let target = name.clone();
    let count = blocking(&state, move |conn| Ok(store::samples(conn, &target)?.len())).await?;
    let title = format!("Clear the samples of {name}?");
    let action = path_of(&name, "/samples/clear");
    let cancel = path_of(&name, "/samples");
    Ok(admin::Confirmation {
        section: Section::Instances,
        crumbs: admin::instance_crumbs(&name),
        title: &title,
        explanation: html! {
            p { "Deletes its " (count) " stored sample" (if count == 1 { "" } else { "s" })
                ". Incidents and the instance's settings stay; new deliveries are kept again as they arrive." }
        },
        action: &action,
        button: "Clear samples",
        cancel: &cancel,
    }
    .render(&admin))
}

/// `POST /instances/{name}/samples/clear`.
pub async fn clear(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let target = name.clone();
    let cleared = blocking(&state, move |conn| store::clear_samples(conn, &target)).await?;
    log::info!(
        "console: {} cleared {cleared} samples of instance {name}",
        admin.name
    );
    Ok(page::see_other(
        &path_of(&name, "/samples"),
        Some(Notice::done(format!("Cleared {cleared} samples."))),
    ))
}
