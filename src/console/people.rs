//! Console users for admins (`/users`): the list, adding one, changing a role, setting a new
//! password (which ends that user's sessions) and removing one. The same `users` functions
//! and password rule as `intake user …`. An admin cannot demote or remove themselves, so the
//! console always keeps someone who can manage it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::admin::{self, Admin, FieldErrors};
use super::blocking;
use super::form::FormFields;
use super::incident::time;
use super::page::{self, ConsoleError, Notice, Page, Section};
use super::users::{self, UserView, MIN_PASSWORD_CHARS};
use crate::auth::tokens::Role;
use crate::error::ServiceError;
use crate::state::AppState;

fn roles() -> Vec<(String, String)> {
    vec![
        ("analyst".to_string(), "analyst".to_string()),
        ("admin".to_string(), "admin".to_string()),
    ]
}

/// Which form was refused, with what was typed (never a password) and why.
#[derive(Default)]
struct Draft {
    /// `add`, or the user whose row form it was.
    form: String,
    name: String,
    role: String,
    errors: FieldErrors,
}

fn render(
    admin: &Admin,
    list: &[UserView],
    draft: &Draft,
    notice: Option<Notice>,
    status: StatusCode,
) -> HttpResponse {
    let none = FieldErrors::default();
    let errors_for = |form: &str| {
        if draft.form == form {
            &draft.errors
        } else {
            &none
        }
    };
    let body = html! {
        h1 { "Users" }
        p.muted { "People who sign in to this console. Analysts work incidents; admins also manage instances, tokens, users and the certificate." }
        @if draft.form != "add" { (draft.errors.general()) }
        table.list #users {
            thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "New password" } th { span.hidden { "Actions" } } } }
            tbody {
                @for user in list {
                    @let me = user.name == admin.name;
                    tr data-name=(user.name) {
                        td.name { (user.name) @if me { " " span.muted { "(you)" } } }
                        td.role {
                            @if me {
                                (user.role)
                            } @else {
                                form method="post" action=(format!("/users/{}/role", user.name)) {
                                    (admin::csrf(admin))
                                    label.hidden for=(format!("role-{}", user.name)) { "Role of " (user.name) }
                                    select id=(format!("role-{}", user.name)) name="role" {
                                        @for (value, text) in roles() {
                                            option value=(value) selected[value == user.role] { (text) }
                                        }
                                    }
                                    " " button.secondary type="submit" { "Change role" }
                                }
                            }
                        }
                        td { (time(&user.created)) }
                        td {
                            form method="post" action=(format!("/users/{}/password", user.name)) {
                                (admin::csrf(admin))
                                label.hidden for=(format!("password-{}", user.name)) { "New password for " (user.name) }
                                input type="password" id=(format!("password-{}", user.name)) name="password" autocomplete="new-password";
                                " " button.secondary type="submit" { "Set password" }
                                @if let Some(e) = errors_for(&user.name).of("password") {
                                    p.field-error id=(format!("password-{}-error", user.name)) role="alert" { (e) }
                                }
                            }
                        }
                        td {
                            @if !me { a href=(format!("/users/{}/remove", user.name)) { "Remove" } }
                        }
                    }
                }
            }
        }
        section.panel {
            h2 { "Add a user" }
            @if draft.form == "add" { (draft.errors.general()) }
            form.settings method="post" action="/users" {
                (admin::csrf(admin))
                fieldset {
                    (admin::text_field("name", "Username", if draft.form == "add" { &draft.name } else { "" },
                        Some("Letters, digits, '.', '_', '@' or '-'."), errors_for("add")))
                    (admin::select_field("role", "Role", &roles(), if draft.form == "add" { &draft.role } else { "analyst" }, None, errors_for("add")))
                    (admin::input_field("password", "password", "Password", "",
                        Some(&format!("At least {MIN_PASSWORD_CHARS} characters.")), errors_for("add")))
                }
                div.form-actions { button type="submit" { "Add user" } }
            }
        }
    };
    let page = Page {
        title: "Users",
        user: admin,
        notice,
        section: Section::Users,
    };
    page.render(status, body)
}

async fn all(state: &AppState) -> Result<Vec<UserView>, ConsoleError> {
    blocking(state, users::list).await
}

async fn refused(
    admin: &Admin,
    state: &AppState,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let list = all(state).await?;
    Ok(render(
        admin,
        &list,
        &draft,
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

/// `GET /users`.
pub async fn page(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let list = all(&state).await?;
    Ok(render(
        &admin,
        &list,
        &Draft::default(),
        Notice::take(&req),
        StatusCode::OK,
    ))
}

async fn hashed(password: String) -> Result<String, ConsoleError> {
    web::block(move || crate::auth::hash_secret(&password))
        .await
        .map_err(|_| ConsoleError::Internal)?
        .map_err(|e| ConsoleError::from(ServiceError::Internal(e)))
}

/// A refusal of the store as errors of a form with these fields.
fn refusal(e: ServiceError, form: &str, fields: &[&str]) -> Result<Draft, ConsoleError> {
    Ok(Draft {
        form: form.to_string(),
        errors: FieldErrors::from_refusal(e, fields)?,
        ..Default::default()
    })
}

/// `POST /users`: name, role, password.
pub async fn add(
    admin: Admin,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = admin::trimmed(&fields, "name").to_string();
    let role_text = admin::trimmed(&fields, "role").to_string();
    let password = fields.get("password").unwrap_or_default().to_string();
    let fields_of_add = ["name", "role", "password"];
    let checked = Role::parse(&role_text).and_then(|role| {
        users::check_password(&password)?;
        Ok(role)
    });
    let role = match checked {
        Ok(role) => role,
        Err(e) => {
            let mut draft = refusal(e, "add", &fields_of_add)?;
            (draft.name, draft.role) = (name, role_text);
            return refused(&admin, &state, draft).await;
        }
    };
    let hash = hashed(password).await?;
    let new_name = name.clone();
    let added = blocking(&state, move |conn| {
        Ok(users::add(conn, &new_name, role, &hash))
    })
    .await?;
    match added {
        Ok(user) => {
            log::info!(
                "console: {} added {} user {}",
                admin.name,
                user.role,
                user.name
            );
            Ok(page::see_other(
                "/users",
                Some(Notice::done(format!("Added {} {}.", user.role, user.name))),
            ))
        }
        Err(e) => {
            let mut draft = refusal(e, "add", &fields_of_add)?;
            (draft.name, draft.role) = (name, role_text);
            refused(&admin, &state, draft).await
        }
    }
}

/// Refuses a change an admin would make to their own account that could lock everyone out.
fn not_yourself(admin: &Admin, name: &str, what: &str) -> Option<Draft> {
    (admin.name == name).then(|| {
        let mut draft = Draft {
            form: name.to_string(),
            ..Default::default()
        };
        draft.errors.add_message(
            &format!("You cannot {what} yourself: another admin has to."),
            &[],
        );
        draft
    })
}

/// `POST /users/{name}/role`.
pub async fn set_role(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    if let Some(draft) = not_yourself(&admin, &name, "change the role of") {
        return refused(&admin, &state, draft).await;
    }
    let role = Role::parse(admin::trimmed(&fields, "role")).map_err(|_| ConsoleError::BadForm)?;
    let target = name.clone();
    blocking(&state, move |conn| users::set_role(conn, &target, role)).await?;
    log::info!("console: {} made user {name} {}", admin.name, role.as_str());
    Ok(page::see_other(
        "/users",
        Some(Notice::done(format!("{name} is now {}.", role.as_str()))),
    ))
}

/// `POST /users/{name}/password`: ends the user's sessions.
pub async fn set_password(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    let password = fields.get("password").unwrap_or_default().to_string();
    if let Err(e) = users::check_password(&password) {
        let draft = refusal(e, &name, &["password"])?;
        return refused(&admin, &state, draft).await;
    }
    let hash = hashed(password).await?;
    let target = name.clone();
    blocking(&state, move |conn| {
        users::set_password(conn, &target, &hash)
    })
    .await?;
    log::info!("console: {} set a new password for user {name}", admin.name);
    let text = if name == admin.name {
        "Your password is changed; sign in again with it.".to_string()
    } else {
        format!("Set a new password for {name} and ended their sessions.")
    };
    Ok(page::see_other("/users", Some(Notice::done(text))))
}

/// `GET /users/{name}/remove`.
pub async fn remove_form(
    admin: Admin,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let name = name.into_inner();
    let user = all(&state)
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no user '{name}'")))?;
    let title = format!("Remove user {}?", user.name);
    let button = format!("Remove {}", user.name);
    let action = format!("/users/{}/remove", user.name);
    Ok(admin::Confirmation {
        section: Section::Users,
        crumbs: html! { p.crumbs { a href="/users" { "← Users" } } },
        title: &title,
        explanation: html! {
            p { "The " (user.role) " " (user.name) " can no longer sign in, and every session of theirs ends now. Incidents they changed stay as they are." }
        },
        action: &action,
        button: &button,
        cancel: "/users",
    }
    .render(&admin))
}

/// `POST /users/{name}/remove`.
pub async fn remove(
    admin: Admin,
    name: web::Path<String>,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&admin)?;
    let name = name.into_inner();
    if let Some(draft) = not_yourself(&admin, &name, "remove") {
        return refused(&admin, &state, draft).await;
    }
    let target = name.clone();
    blocking(&state, move |conn| users::remove(conn, &target)).await?;
    log::info!("console: {} removed user {name}", admin.name);
    Ok(page::see_other(
        "/users",
        Some(Notice::done(format!(
            "Removed {name} and ended their sessions."
        ))),
    ))
}
