//! Signing in and out, and finding the signed-in user of a request.
//!
//! Wrong sign-ins are slowed: every refused attempt is answered no sooner than
//! [`REFUSAL_DELAY`] after it arrived, a user name gets
//! [`ATTEMPTS_PER_MINUTE`](super::state::ATTEMPTS_PER_MINUTE) attempts a minute, and argon2
//! runs for unknown names too (against a hash of nothing), so neither the answer nor its
//! timing tells whether a user exists.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use maud::{html, DOCTYPE};

use super::form::FormFields;
use super::page::{self, ConsoleError};
use super::sessions::{self, SessionUser};
use super::{blocking, users};
use crate::state::AppState;

/// The least time a refused sign-in takes.
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);

/// The cookie that binds the sign-in form's CSRF token (there is no session yet).
const FORM_COOKIE: &str = "intake_signin";

/// A hash to verify against when the user name is unknown, so that case costs the same.
static NOBODY: LazyLock<String> =
    LazyLock::new(|| crate::auth::hash_secret(&sessions::random_token()).unwrap_or_default());

impl FromRequest for SessionUser {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<SessionUser, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let cookie = req.cookie(sessions::COOKIE).map(|c| c.value().to_string());
        // After signing in, come back here (a form's target is not a page: go to the feed).
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or("/incidents".to_string(), |p| p.to_string())
        } else {
            "/incidents".to_string()
        };
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(cookie), Some(state)) = (cookie, state) else {
                return Err(ConsoleError::SignIn { next });
            };
            let idle = state.console.idle;
            blocking(&state, move |conn| sessions::lookup(conn, &cookie, idle))
                .await?
                .ok_or(ConsoleError::SignIn { next })
        })
    }
}

/// Only a path of this site: never a redirect elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/incidents",
    }
}

fn session_cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    Cookie::build(sessions::COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(req.app_config().secure())
        .same_site(SameSite::Lax)
        .finish()
}

fn removal(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "").path("/").finish();
    cookie.make_removal();
    cookie
}

/// The sign-in page, with a message when an attempt was refused.
fn form(
    req: &HttpRequest,
    status: StatusCode,
    username: &str,
    next: &str,
    refusal: Option<&str>,
) -> HttpResponse {
    let form_cookie = req
        .cookie(FORM_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_else(sessions::random_token);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (page::head("Sign in"))
            body.plain {
                main.signin {
                    h1 { "intake" }
                    form method="post" action="/login" {
                        @if let Some(refusal) = refusal {
                            p.notice.error role="alert" { (refusal) }
                        }
                        input type="hidden" name="csrf" value=(sessions::csrf_token(&form_cookie));
                        input type="hidden" name="next" value=(next);
                        label for="username" { "Username" }
                        input #username name="username" type="text" autocomplete="username"
                            autocapitalize="none" required value=(username) autofocus[username.is_empty()];
                        label for="password" { "Password" }
                        input #password name="password" type="password"
                            autocomplete="current-password" required autofocus[!username.is_empty()];
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    let mut response = page::html(status, markup);
    let cookie = Cookie::build(FORM_COOKIE, form_cookie)
        .path("/login")
        .http_only(true)
        .secure(req.app_config().secure())
        .same_site(SameSite::Strict)
        .finish();
    let _ = response.add_cookie(&cookie);
    response
}

/// `GET /login`.
pub async fn login_page(
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let next = query
        .iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.as_str());
    let next = safe_next(next).to_string();
    // Signed in already: straight on.
    if let Some(cookie) = req.cookie(sessions::COOKIE) {
        let (cookie, idle) = (cookie.value().to_string(), state.console.idle);
        if let Ok(Some(_)) = blocking(&state, move |c| sessions::lookup(c, &cookie, idle)).await {
            return page::see_other(&next, None);
        }
    }
    form(&req, StatusCode::OK, "", &next, None)
}

/// `POST /login`: username, password, csrf, next.
pub async fn login(
    req: HttpRequest,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let arrived = Instant::now();
    let username = fields
        .get("username")
        .unwrap_or_default()
        .trim()
        .to_string();
    let password = fields.get("password").unwrap_or_default().to_string();
    let next = safe_next(fields.get("next")).to_string();
    let form_cookie = req.cookie(FORM_COOKIE).map(|c| c.value().to_string());
    let csrf_ok = form_cookie
        .is_some_and(|c| sessions::csrf_matches(&c, fields.get("csrf").unwrap_or_default()));
    if !csrf_ok {
        return Ok(form(
            &req,
            StatusCode::FORBIDDEN,
            &username,
            &next,
            Some("The sign-in form had expired. Sign in again."),
        ));
    }
    let guard = &state.console.sign_ins;
    if guard.attempts.check_key(&username.to_lowercase()).is_err() {
        log::warn!("console: sign-in attempts for user name '{username}' are being throttled");
        guard.attempts.retain_recent();
        actix_web::rt::time::sleep_until((arrived + REFUSAL_DELAY).into()).await;
        return Ok(form(
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            &next,
            Some("Too many sign-in attempts for this username. Wait a minute, then try again."),
        ));
    }
    let lookup_name = username.clone();
    let account = blocking(&state, move |conn| users::account(conn, &lookup_name)).await?;
    let accepted = {
        let _permit = guard
            .hashing
            .acquire()
            .await
            .map_err(|_| ConsoleError::Unavailable)?;
        let (hash, known) = match &account {
            Some(account) => (account.password_hash.clone(), true),
            None => (NOBODY.clone(), false),
        };
        web::block(move || known && crate::auth::verify_secret(password.as_bytes(), &hash))
            .await
            .map_err(|_| ConsoleError::Internal)?
    };
    let Some(account) = account.filter(|_| accepted) else {
        log::info!("console: a sign-in as '{username}' was refused");
        actix_web::rt::time::sleep_until((arrived + REFUSAL_DELAY).into()).await;
        return Ok(form(
            &req,
            StatusCode::UNAUTHORIZED,
            &username,
            &next,
            Some("Wrong username or password."),
        ));
    };
    let (user_id, idle) = (account.id, state.console.idle);
    let session = blocking(&state, move |conn| sessions::create(conn, user_id, idle)).await?;
    log::info!("console: {username} ({}) signed in", account.role.as_str());
    let mut response = page::see_other(&next, None);
    let _ = response.add_cookie(&session_cookie(&req, session));
    let _ = response.add_cookie(&{
        let mut c = removal(FORM_COOKIE);
        c.set_path("/login");
        c
    });
    Ok(response)
}

/// `POST /logout`: ends the session on the server, then forgets the cookie.
pub async fn logout(
    user: SessionUser,
    fields: FormFields,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    fields.check_csrf(&user)?;
    let name = user.name.clone();
    blocking(&state, move |conn| sessions::end(conn, &user.id)).await?;
    log::info!("console: {name} signed out");
    let mut response = page::see_other("/login", None);
    let _ = response.add_cookie(&removal(sessions::COOKIE));
    Ok(response)
}
