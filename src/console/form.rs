//! A submitted console form as its `(name, value)` pairs, in order: forms repeat names
//! (one `id` per selected row), which a struct cannot express.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::page::ConsoleError;
use super::sessions::{self, SessionUser};

/// Largest form body accepted (a selection of a whole page of rows fits many times over).
const MAX_FORM_BYTES: usize = 64 * 1024;

pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses a form that does not carry the session's CSRF token.
    pub fn check_csrf(&self, user: &SessionUser) -> Result<(), ConsoleError> {
        match self.get("csrf") {
            Some(token) if sessions::csrf_matches(&user.id, token) => Ok(()),
            _ => {
                log::warn!(
                    "console: a form for {} came without its CSRF token",
                    user.name
                );
                Err(ConsoleError::BadForm)
            }
        }
    }
}

impl FromRequest for FormFields {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<FormFields, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let is_form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        Box::pin(async move {
            let body = body.await.map_err(|_| ConsoleError::BadForm)?;
            if !is_form || body.len() > MAX_FORM_BYTES {
                return Err(ConsoleError::BadForm);
            }
            serde_urlencoded::from_bytes(&body)
                .map(FormFields)
                .map_err(|_| ConsoleError::BadForm)
        })
    }
}
