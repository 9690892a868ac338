//! API tokens for admins (`/tokens`): the list (never a token), creating one (shown once, in
//! the answer to the form, with a curl that uses it) and revoking one after a confirmation.
//! The same `auth::tokens` functions as `intake token …`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::admin::{self, Admin, FieldErrors};
use super::blocking;
use super::form::FormFields;
use super::incident::time;
use super::page::{self, ConsoleError, Notice, Page, Section};
use crate::auth::tokens::{self, Role, TokenView};
use crate::state::AppState;

/// The longest token name accepted.
const MAX_NAME: usize = 128;

fn roles() -> Vec<(String, String)> {
    vec![
        (
            "analyst".to_string(),
            "analyst: reads incidents and samples, changes status".to_string(),
        ),
        ("admin".to_string(), "admin: everything".to_string()),
    ]
}

/// A token just created: shown in this answer only.
struct Created {
    token: String,
    view: TokenView,
    api: String,
}

fn render(
    admin: &Admin,
    list: &[TokenView],
    created: Option<&Created>,
    typed: (&str, &str),
    errors: &FieldErrors,
    notice: Option<Notice>,
    status: StatusCode,
) -> HttpResponse {
    let body = html! {
        h1 { "API tokens" }
        p.muted { "Tokens authenticate scripts and tools at " code { "/api/v1" } " (" code { "Authorization: Bearer …" } "). People sign in with a user instead." }
        @if let Some(created) = created {
            (shown_once(created))
        }
        @if list.is_empty() {
            p.empty { "No API tokens." }
        } @else {
            table.list #tokens {
                thead { tr { th.num { "Id" } th { "Name" } th { "Role" } th { "Created" } th { "Last used" } th { span.hidden { "Actions" } } } }
                tbody {
                    @for token in list {
                        tr data-id=(token.id) {
                            td.num { (token.id) }
                            td.name { (token.name) }
                            td.role { (token.role) }
                            td { (time(&token.created)) }
                            td.last-used {
                                @match &token.last_used {
                                    Some(at) => { (time(at)) }
                                    None => { span.muted { "never" } }
                                }
                            }
                            td { a href=(format!("/tokens/{}/revoke", token.id)) { "Revoke" } }
                        }
                    }
                }
            }
        }
        section.panel {
            h2 { "New token" }
            (errors.general())
            form.settings method="post" action="/tokens" {
                (admin::csrf(admin))
                fieldset {
                    (admin::text_field("name", "Name", typed.0, Some("What uses it, e.g. grafana-dashboard."), errors))
                    (admin::select_field("role", "Role", &roles(), typed.1, None, errors))
                }
                div.form-actions { button type="submit" { "Create token" } }
            }
        }
    };
    let page = Page {
        title: "API tokens",
        user: admin,
        notice,
        section: Section::Tokens,
    };
    page.render(status, body)
}

fn shown_once(created: &Created) -> Markup {
    let curl = format!(
        "curl -sS -H 'Authorization: Bearer {}' {}",
        created.token, created.api
    );
    html! {
        section.panel.once #new-token-panel role="status" {
            h2 { "Token " (created.view.name) " (" (created.view.role) ")" }
            p { strong { "Copy it now: it is shown this once." } " intake keeps only its SHA-256." }
            div.copyable {
                button.copy type="button" data-copy="new-token" { "Copy" }
                pre { code #new-token { (created.token) } }
            }
            div.copyable {
                button.copy type="button" data-copy="new-token-curl" { "Copy" }
                pre #new-token-curl { code { (curl) } }
            }
        }
    }
}

async fn all(state: &AppState) -> Result<Vec<TokenView>, ConsoleError> {
    blocking(state, tokens::list).await
}

/// `GET /tokens`.
pub async fn page(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let list = all(&state).await?;
    Ok(render(
        &admin,
        &list,
        None,
        ("", "analyst"),
        &FieldErrors::default(),
        Notice::take(&req),
        StatusCode::OK,
    ))
}

/// `POST /tokens`: name, role.
pub async fn create(
    admin: Admin,
    fields: FormFields,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = admin::trimmed(&fields, "name").to_string();
    let role_text = admin::trimmed(&fields, "role").to_string();
    let mut errors = FieldErrors::default();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        errors.add("name", format!("give a name of 1-{MAX_NAME} characters"));
    }
    let role = match Role::parse(&role_text) {
        Ok(role) => Some(role),
        Err(e) => {
            errors.add_message(&e.to_string(), &["role"]);
            None
        }
    };
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        let list = all(&state).await?;
        return Ok(render(
            &admin,
            &list,
            None,
            (&name, &role_text),
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let token_name = name.clone();
    let (token, view) =
        blocking(&state, move |conn| tokens::create(conn, role, &token_name)).await?;
    log::info!(
        "console: {} created API token {} '{}' ({})",
        admin.name,
        view.id,
        view.name,
        view.role
    );
    let api = {
        let info = req.connection_info();
        format!("{}://{}/api/v1/incidents", info.scheme(), info.host())
    };
    let list = all(&state).await?;
    let created = Created { token, view, api };
    Ok(render(
        &admin,
        &list,
        Some(&created),
        ("", "analyst"),
        &FieldErrors::default(),
        Some(Notice::done(format!("Created token '{name}'."))),
        StatusCode::OK,
    ))
}

async fn token_of(state: &AppState, id: i32) -> Result<TokenView, ConsoleError> {
    all(state)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no API token {id}")))
}

/// `GET /tokens/{id}/revoke`.
pub async fn revoke_form(
    admin: Admin,
    id: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let token = token_of(&state, id).await?;
    let title = format!("Revoke token '{}'?", token.name);
    let action = format!("/tokens/{id}/revoke");
    Ok(admin::Confirmation {
        section: Section::Tokens,
        crumbs: html! { p.crumbs { a href="/tokens" { "← API tokens" } } },
        title: &title,
        explanation: html! {
            p { "Whatever uses this " (token.role) " token gets 401 from the next request. This cannot be undone; a new token can be created." }
        },
        action: &action,
        button: "Revoke token",
        cancel: "/tokens",
    }
    .render(&admin))
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(
    admin: Admin,
    id: web::Path<i32>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let id = id.into_inner();
    let token = token_of(&state, id).await?;
    blocking(&state, move |conn| tokens::revoke(conn, id)).await?;
    log::info!(
        "console: {} revoked API token {id} '{}'",
        admin.name,
        token.name
    );
    Ok(page::see_other(
        "/tokens",
        Some(Notice::done(format!("Revoked token '{}'.", token.name))),
    ))
}
