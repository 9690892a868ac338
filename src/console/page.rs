//! What every console page shares: the layout, the security headers, the one-time notice
//! shown after a change (a short-lived cookie, so a redirect can carry it without putting it
//! in the URL), and the error pages.
//!
//! Markup is built with maud, which escapes every interpolated value: payload text always
//! shows as text. Nothing is inline: scripts and styles come from `/assets/`, which the
//! Content-Security-Policy enforces.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::sessions::SessionUser;
use crate::auth::tokens::Role;
use crate::error::ServiceError;

/// No inline script or style, nothing from elsewhere, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every console answer carries.
pub fn secured(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// An HTML answer with the console's headers.
pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    secured(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A 303 to `location` (after a form), optionally leaving a notice for the next page.
pub fn see_other(location: &str, notice: Option<Notice>) -> HttpResponse {
    let mut response = secured(HttpResponse::SeeOther());
    response.insert_header((header::LOCATION, location));
    if let Some(notice) = notice {
        // Percent-encoded: a notice may hold `;`, `,` or any letter, which a raw cookie
        // value cannot (actix-web reads cookies percent-decoded, but writes them as given).
        response.append_header((header::SET_COOKIE, notice.cookie().encoded().to_string()));
    }
    response.finish()
}

/// A message for the page after a change: what was done, or why it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub ok: bool,
    pub text: String,
}

const NOTICE_COOKIE: &str = "intake_notice";

impl Notice {
    pub fn done(text: impl Into<String>) -> Notice {
        Notice {
            ok: true,
            text: text.into(),
        }
    }

    pub fn refused(text: impl Into<String>) -> Notice {
        Notice {
            ok: false,
            text: text.into(),
        }
    }

    fn cookie(&self) -> Cookie<'static> {
        let value = format!("{}{}", if self.ok { "+" } else { "-" }, self.text);
        Cookie::build(NOTICE_COOKIE, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(60))
            .finish()
    }

    /// The notice a redirect left for this request, if any.
    pub fn take(req: &HttpRequest) -> Option<Notice> {
        let raw = req.cookie(NOTICE_COOKIE)?;
        let value = raw.value();
        let (ok, text) = match value.split_at_checked(1)? {
            ("+", text) => (true, text),
            ("-", text) => (false, text),
            _ => return None,
        };
        Some(Notice {
            ok,
            text: text.to_string(),
        })
    }
}

/// Clears a notice once shown (added to the page that shows it).
fn clear_notice(response: &mut HttpResponse) {
    let mut gone = Cookie::build(NOTICE_COOKIE, "").path("/").finish();
    gone.make_removal();
    let _ = response.add_cookie(&gone);
}

/// A page of the signed-in console.
pub struct Page<'a> {
    pub title: &'a str,
    pub user: &'a SessionUser,
    pub notice: Option<Notice>,
    /// Which navigation entry is current.
    pub section: Section,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Incidents,
    Instances,
    Tokens,
    Users,
    Certificate,
}

impl Section {
    /// The admin pages in the navigation, in order: (section, link, label).
    const ADMIN: [(Section, &'static str, &'static str); 4] = [
        (Section::Instances, "/instances", "Instances"),
        (Section::Tokens, "/tokens", "API tokens"),
        (Section::Users, "/users", "Users"),
        (Section::Certificate, "/tls", "Certificate"),
    ];
}

impl Page<'_> {
    /// The whole document around `main`.
    pub fn render(self, status: StatusCode, main: Markup) -> HttpResponse {
        let had_notice = self.notice.is_some();
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                (head(self.title))
                body {
                    header.top {
                        a.brand href="/incidents" { "intake" }
                        nav {
                            a href="/incidents" aria-current=[(self.section == Section::Incidents).then_some("page")] { "Incidents" }
                            // Analysts never see a link to an admin page.
                            @if self.user.role == Role::Admin {
                                @for (section, href, label) in Section::ADMIN {
                                    a href=(href) aria-current=[(self.section == section).then_some("page")] { (label) }
                                }
                            }
                        }
                        div.who {
                            span.user { (self.user.name) }
                            span.role { (self.user.role.as_str()) }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(self.user.csrf());
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    @if let Some(notice) = &self.notice {
                        div.notice.(if notice.ok { "ok" } else { "error" }) role="status" { (notice.text) }
                    }
                    main { (main) }
                }
            }
        };
        let mut response = html(status, markup);
        if had_notice {
            clear_notice(&mut response);
        }
        response
    }
}

/// `<head>` of every page.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · intake" }
            link rel="stylesheet" href=(assets::STYLESHEET.url());
            link rel="icon" href=(assets::ICON.url());
            script src=(assets::SCRIPT.url()) defer {}
        }
    }
}

/// What a console request can fail with; each renders as a page (or a redirect to sign in).
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: sign in, then come back to `next`.
    SignIn {
        next: String,
    },
    /// Signed in, but the page needs another role.
    Forbidden(Role),
    /// A form without the session's CSRF token.
    BadForm,
    NotFound(String),
    /// Storage is down or busy; retrying is right.
    Unavailable,
    Internal,
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::SignIn { .. } => write!(f, "sign in first"),
            ConsoleError::Forbidden(role) => {
                write!(f, "this page needs the {} role", role.as_str())
            }
            ConsoleError::BadForm => write!(f, "the form is out of date"),
            ConsoleError::NotFound(what) => write!(f, "{what}"),
            ConsoleError::Unavailable => write!(f, "storage is unavailable"),
            ConsoleError::Internal => write!(f, "internal error"),
        }
    }
}

impl From<ServiceError> for ConsoleError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(what) => ConsoleError::NotFound(what),
            ServiceError::Unavailable(cause) => {
                log::warn!("console: storage unavailable: {cause}");
                ConsoleError::Unavailable
            }
            other => {
                log::error!("console: {other:#}");
                ConsoleError::Internal
            }
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden(_) | ConsoleError::BadForm => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (heading, text) = match self {
            ConsoleError::SignIn { next } => {
                let location = format!("/login?{}", url_escape_pair("next", next));
                return see_other(&location, None);
            }
            ConsoleError::Forbidden(role) => (
                "Not for your role",
                format!("This page is for users with the {} role.", role.as_str()),
            ),
            ConsoleError::BadForm => (
                "The form is out of date",
                "The page you sent it from belongs to an earlier session. Go back, reload \
                 it and try again."
                    .to_string(),
            ),
            ConsoleError::NotFound(what) => ("Not found", format!("{what}.")),
            ConsoleError::Unavailable => (
                "Storage is unavailable",
                "The database does not answer right now. Reload in a few seconds.".to_string(),
            ),
            ConsoleError::Internal => (
                "Something went wrong",
                "The server's log says what. Reload to try again.".to_string(),
            ),
        };
        let mut response = html(
            self.status_code(),
            html! {
                (DOCTYPE)
                html lang="en" {
                    (head(heading))
                    body.plain {
                        main.message {
                            h1 { (heading) }
                            p { (text) }
                            p { a href="/incidents" { "Back to incidents" } }
                        }
                    }
                }
            },
        );
        if matches!(self, ConsoleError::Unavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        }
        response
    }
}

/// `name=value` with the value escaped for a query string.
pub fn url_escape_pair(name: &str, value: &str) -> String {
    serde_urlencoded::to_string([(name, value)]).unwrap_or_default()
}
