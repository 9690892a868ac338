//! Store work off the HTTP workers, and the registry refresh after a change.

use actix_web::web;

use crate::error::{ApiError, ServiceError};
use crate::instances::registry::refresh;
use crate::state::AppState;
use crate::storage::Conn;

/// Runs store work on the blocking pool with a pooled connection.
pub(crate) async fn blocking<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, ServiceError> + Send + 'static,
{
    let pool = state.pool.clone();
    web::block(move || -> Result<T, ServiceError> {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
    .map_err(ApiError::from)
}

/// After a change: this server's ingest path sees it at once.
pub(crate) async fn refresh_now(state: &AppState) {
    let (pool, registry) = (state.pool.clone(), state.registry.clone());
    if let Ok(Err(e)) = web::block(move || refresh(&pool, &registry)).await {
        log::warn!("configuration reload after an API change failed: {e}");
    }
}
