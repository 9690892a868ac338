//! The door to the admin pages and what their forms share.
//!
//! Every admin handler takes [`Admin`] instead of a plain session user: a signed-in analyst
//! gets 403 on every admin URL, whatever the method, before the form is even read. Forms are
//! checked by the same store functions the HTTP API and the CLI call; their refusals name the
//! field (`sample_limit: …`), which is how an error lands next to its field here.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::page::{ConsoleError, Page, Section};
use super::sessions::SessionUser;
use crate::auth::tokens::Role;
use crate::error::ServiceError;
use crate::state::AppState;

/// A signed-in user with the admin role.
pub struct Admin(pub SessionUser);

impl Deref for Admin {
    type Target = SessionUser;

    fn deref(&self) -> &SessionUser {
        &self.0
    }
}

impl FromRequest for Admin {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = SessionUser::from_request(req, payload);
        let path = req.path().to_string();
        Box::pin(async move {
            let user = user.await?;
            if user.role != Role::Admin {
                log::warn!(
                    "console: {} ({}) was refused the admin page {path}",
                    user.name,
                    user.role.as_str()
                );
                return Err(ConsoleError::Forbidden(Role::Admin));
            }
            Ok(Admin(user))
        })
    }
}

/// After a change through the console: this server's ingest path sees it at once (other
/// servers through the configuration version).
pub async fn applied(state: &web::Data<AppState>) {
    crate::api::blocking::refresh_now(state).await;
}

/// A form's refusals: by field, and those that belong to no one field.
#[derive(Debug, Default)]
pub struct FieldErrors {
    by_field: Vec<(String, String)>,
    general: Vec<String>,
}

impl FieldErrors {
    /// The refusal of a store call as errors of the form whose fields are `fields`. Only
    /// refusals of the input (invalid, conflicting) become form errors; anything else stays
    /// an error of the request.
    pub fn from_refusal(error: ServiceError, fields: &[&str]) -> Result<FieldErrors, ConsoleError> {
        let mut errors = FieldErrors::default();
        match error {
            ServiceError::NameTaken(m) if fields.contains(&"name") => errors.add("name", m),
            ServiceError::Invalid(m) | ServiceError::Conflict(m) | ServiceError::NameTaken(m) => {
                errors.add_message(&m, fields)
            }
            other => return Err(other.into()),
        }
        Ok(errors)
    }

    /// Adds a `field: text` message (or one naming no field of this form).
    pub fn add_message(&mut self, message: &str, fields: &[&str]) {
        let named = message.split_once(": ").and_then(|(prefix, text)| {
            // `mapping.name: …` belongs to the mapping field.
            let field = prefix.split('.').next().unwrap_or(prefix);
            fields.contains(&field).then_some((field, text))
        });
        match named {
            Some((field, text)) => self.add(field, text),
            None => self.general.push(message.to_string()),
        }
    }

    pub fn add(&mut self, field: &str, text: impl Into<String>) {
        self.by_field.push((field.to_string(), text.into()));
    }

    pub fn of(&self, field: &str) -> Option<&str> {
        self.by_field
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, t)| t.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }

    /// Errors that name no field, shown above the form.
    pub fn general(&self) -> Markup {
        html! {
            @for message in &self.general {
                p.notice.error role="alert" { (message) }
            }
            @if !self.by_field.is_empty() && self.general.is_empty() {
                p.notice.error role="alert" { "Nothing was saved: see the fields marked below." }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(user: &SessionUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf()); }
}

/// What a field shows under its input: a hint, and the refusal if there was one.
fn below(name: &str, hint: Option<&str>, errors: &FieldErrors) -> Markup {
    html! {
        @if let Some(error) = errors.of(name) {
            p.field-error id=(format!("{name}-error")) role="alert" { (error) }
        }
        @if let Some(hint) = hint {
            p.hint { (hint) }
        }
    }
}

/// A labelled text input.
pub fn text_field(
    name: &str,
    label: &str,
    value: &str,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    input_field("text", name, label, value, hint, errors)
}

/// A labelled input of `kind` (`text`, `password`, `number`).
pub fn input_field(
    kind: &str,
    name: &str,
    label: &str,
    value: &str,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    placeholder_field(kind, name, label, value, None, hint, errors)
}

/// A labelled input that shows `placeholder` while empty.
pub fn placeholder_field(
    kind: &str,
    name: &str,
    label: &str,
    value: &str,
    placeholder: Option<&str>,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    let invalid = errors.of(name).is_some();
    html! {
        div.field.invalid[invalid] {
            label for=(name) { (label) }
            input #(name) name=(name) type=(kind) value=(value) autocomplete="off" placeholder=[placeholder]
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[invalid.then(|| format!("{name}-error"))];
            (below(name, hint, errors))
        }
    }
}

/// A labelled checkbox (an unchecked box is absent from the submitted form).
pub fn checkbox(name: &str, label: &str, checked: bool, hint: Option<&str>) -> Markup {
    html! {
        div.field.check {
            label {
                input #(name) name=(name) type="checkbox" value="on" checked[checked];
                " " (label)
            }
            @if let Some(hint) = hint { p.hint { (hint) } }
        }
    }
}

/// A labelled drop-down of (value, label) options.
pub fn select_field(
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    html! {
        div.field.invalid[errors.of(name).is_some()] {
            label for=(name) { (label) }
            select #(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            (below(name, hint, errors))
        }
    }
}

/// A field's text, trimmed; empty when absent.
pub fn trimmed<'a>(fields: &'a super::form::FormFields, name: &str) -> &'a str {
    fields.get(name).unwrap_or_default().trim()
}

/// An optional whole number: empty is `None`; anything else must parse.
pub fn optional_number<T: std::str::FromStr>(
    fields: &super::form::FormFields,
    name: &str,
    errors: &mut FieldErrors,
) -> Option<T> {
    let text = trimmed(fields, name);
    if text.is_empty() {
        return None;
    }
    match text.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add(name, format!("'{text}' is not a number"));
            None
        }
    }
}

/// The console path of an instance's page (`suffix` empty) or one of its sub-pages.
pub fn path_of(name: &str, suffix: &str) -> String {
    format!("/instances/{name}{suffix}")
}

pub fn enabled_badge(enabled: bool) -> Markup {
    html! {
        @if enabled { span.badge.on { "enabled" } } @else { span.badge.off { "disabled" } }
    }
}

/// The breadcrumbs of a page under one instance: Instances / NAME.
pub fn instance_crumbs(name: &str) -> Markup {
    html! {
        p.crumbs { a href="/instances" { "Instances" } " / " a href=(path_of(name, "")) { (name) } }
    }
}

/// A page that asks before a change that cannot be undone: what it does, one button that does
/// it (a POST with the session's CSRF token) and a way back.
pub struct Confirmation<'a> {
    pub section: Section,
    pub crumbs: Markup,
    pub title: &'a str,
    pub explanation: Markup,
    pub action: &'a str,
    pub button: &'a str,
    pub cancel: &'a str,
}

impl Confirmation<'_> {
    pub fn render(self, admin: &Admin) -> HttpResponse {
        let page = Page {
            title: self.title,
            user: admin,
            notice: None,
            section: self.section,
        };
        page.render(
            StatusCode::OK,
            html! {
                (self.crumbs)
                div.confirm #confirm {
                    h1 { (self.title) }
                    (self.explanation)
                    form method="post" action=(self.action) {
                        (csrf(admin))
                        button.danger type="submit" { (self.button) }
                        " " a href=(self.cancel) { "Cancel" }
                    }
                }
            },
        )
    }
}
