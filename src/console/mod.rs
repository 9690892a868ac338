//! The web console, served by the same binary on the same listeners: server-rendered
//! HTML (maud) with a small stylesheet and script embedded in the binary, no framework and no
//! build step.
//!
//! People sign in with a user name and password (`intake user add`); a session lives in the
//! database. Analysts work the incident feed and incident pages; every state-changing form
//! carries the session's CSRF token.

mod admin;
mod assets;
mod certificate;
mod credential_form;
mod credentials;
mod feed;
mod form;
mod incident;
mod instance_page;
mod instances;
mod mapping_editor;
mod page;
mod people;
mod samples;
pub mod sessions;
mod signin;
pub mod state;
mod tokens;
pub mod users;

use actix_web::{web, HttpResponse};

use crate::error::ServiceError;
use crate::state::AppState;
use crate::storage::Conn;
use page::ConsoleError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(signin::login_page))
        .route("/login", web::post().to(signin::login))
        .route("/logout", web::post().to(signin::logout))
        .route("/assets/{name}", web::get().to(assets::serve))
        .route("/incidents", web::get().to(feed::page))
        .route("/incidents/latest", web::get().to(feed::latest))
        .route("/incidents/counts", web::get().to(feed::counts))
        .route("/incidents/status", web::post().to(feed::change_status))
        .route("/incidents/{id}", web::get().to(incident::page))
        .route(
            "/incidents/{id}/status",
            web::post().to(incident::change_status),
        )
        .configure(admin_routes);
}

/// The admin pages: every one answers 403 to an analyst.
fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/instances", web::get().to(instances::list))
        .route("/instances", web::post().to(instances::create))
        .route("/instances/new", web::get().to(instances::new_form))
        .route("/instances/{name}", web::get().to(instance_page::page))
        .route(
            "/instances/{name}/edit",
            web::get().to(instances::edit_form),
        )
        .route("/instances/{name}/edit", web::post().to(instances::update))
        .route(
            "/instances/{name}/enabled",
            web::post().to(instances::set_enabled),
        )
        .route(
            "/instances/{name}/remove",
            web::get().to(instances::remove_form),
        )
        .route(
            "/instances/{name}/remove",
            web::post().to(instances::remove),
        )
        .route(
            "/instances/{name}/deliveries",
            web::get().to(instance_page::deliveries),
        )
        .route(
            "/instances/{name}/credentials",
            web::post().to(credentials::add),
        )
        .route(
            "/instances/{name}/credentials/{id}/remove",
            web::get().to(credentials::remove_form),
        )
        .route(
            "/instances/{name}/credentials/{id}/remove",
            web::post().to(credentials::remove),
        )
        .route("/instances/{name}/samples", web::get().to(samples::page))
        .route(
            "/instances/{name}/samples/clear",
            web::get().to(samples::clear_form),
        )
        .route(
            "/instances/{name}/samples/clear",
            web::post().to(samples::clear),
        )
        .route(
            "/instances/{name}/mapping",
            web::get().to(mapping_editor::page),
        )
        .route(
            "/instances/{name}/mapping",
            web::post().to(mapping_editor::save),
        )
        .route(
            "/instances/{name}/mapping/preview",
            web::post().to(mapping_editor::preview_fragment),
        )
        .route("/tokens", web::get().to(tokens::page))
        .route("/tokens", web::post().to(tokens::create))
        .route("/tokens/{id}/revoke", web::get().to(tokens::revoke_form))
        .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
        .route("/users", web::get().to(people::page))
        .route("/users", web::post().to(people::add))
        .route("/users/{name}/role", web::post().to(people::set_role))
        .route(
            "/users/{name}/password",
            web::post().to(people::set_password),
        )
        .route("/users/{name}/remove", web::get().to(people::remove_form))
        .route("/users/{name}/remove", web::post().to(people::remove))
        .route("/tls", web::get().to(certificate::page))
        .route("/tls", web::post().to(certificate::install));
}

/// `/`: the feed (which sends a visitor without a session to sign in).
async fn home() -> HttpResponse {
    page::see_other("/incidents", None)
}

/// Runs store work on the blocking pool with a pooled connection.
async fn blocking<T, F>(state: &AppState, work: F) -> Result<T, ConsoleError>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, ServiceError> + Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || -> Result<T, ServiceError> {
        let mut conn = pool
            .get()
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        work(&mut conn)
    })
    .await
    .map_err(|_| ConsoleError::Internal)?
    .map_err(ConsoleError::from)
}
