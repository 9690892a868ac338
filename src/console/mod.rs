//! The web console (SPEC 10), served by the same binary on the same listeners: server-rendered
//! HTML (maud) with a small stylesheet and script embedded in the binary, no framework and no
//! build step.
//!
//! People sign in with a user name and password (`intake user add`); a session lives in the
//! database. Analysts work the incident feed and incident pages; every state-changing form
//! carries the session's CSRF token.

mod assets;
mod feed;
mod form;
mod incident;
mod page;
pub mod sessions;
mod signin;
pub mod state;
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
        );
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
