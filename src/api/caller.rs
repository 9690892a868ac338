//! The API caller: the Bearer token of a request, looked up, as an extractor that refuses
//! a missing or unknown token (401) and checks the role a route needs (403).

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::blocking::blocking;
use crate::auth::tokens::{self, Role};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The authenticated API caller.
pub struct Caller(Role);

impl Caller {
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0 >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("This needs the {} role.", role.as_str()),
            ))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let unauthorized = || {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "Send an API token: Authorization: Bearer <token> (intake token create).",
                )
            };
            let (Some(token), Some(state)) = (token, state) else {
                return Err(unauthorized());
            };
            let role = blocking(&state, move |conn| tokens::role_of(conn, &token)).await?;
            role.map(Caller).ok_or_else(unauthorized)
        })
    }
}
