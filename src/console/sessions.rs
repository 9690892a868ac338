//! Console sessions, stored in the database so they survive restarts and work on every
//! replica sharing it. The browser holds a random 256-bit id in an HttpOnly cookie; the
//! database holds only its SHA-256. A session ends at sign-out, when its user is removed or
//! changes password, or after `session_idle_minutes` without a request.
//!
//! The CSRF token of a session is an HMAC of the session id: every form carries it, nothing
//! more is stored, and a page of another origin cannot compute it.

use base64::Engine;
use chrono::{Duration, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::tokens::Role;
use crate::error::ServiceError;
use crate::storage::schema::{console_sessions, users};
use crate::storage::Conn;

/// The cookie holding the session id.
pub const COOKIE: &str = "intake_session";

/// A session's last-seen time is written at most this often, so reading pages costs no
/// write per request.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    /// The cookie value, kept to derive the CSRF token and to end the session.
    pub(super) id: String,
}

impl SessionUser {
    /// The token every state-changing form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_token(&self.id)
    }
}

fn hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random value for a cookie (session ids, the sign-in form's CSRF cookie).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token bound to a cookie value.
pub fn csrf_token(cookie_value: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cookie_value.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"intake console form");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether a submitted CSRF token is the one bound to `cookie_value` (constant time).
pub fn csrf_matches(cookie_value: &str, submitted: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = csrf_token(cookie_value);
    expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}

/// Starts a session for a user; returns the cookie value (the only time it exists in clear).
/// Sessions idle for longer than `idle` are purged on the way.
pub fn create(conn: &mut Conn, user_id: i32, idle: Duration) -> Result<String, ServiceError> {
    let id = random_token();
    let now = now();
    diesel::delete(console_sessions::table.filter(console_sessions::last_seen.lt(now - idle)))
        .execute(conn)?;
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::id_hash.eq(hash(&id)),
            console_sessions::user_id.eq(user_id),
            console_sessions::created.eq(now),
            console_sessions::last_seen.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The user of a live session, or `None` for an unknown, ended or idle-expired one.
pub fn lookup(
    conn: &mut Conn,
    cookie_value: &str,
    idle: Duration,
) -> Result<Option<SessionUser>, ServiceError> {
    let key = hash(cookie_value);
    let found: Option<(NaiveDateTime, String, String)> = console_sessions::table
        .inner_join(users::table)
        .filter(console_sessions::id_hash.eq(&key))
        .select((console_sessions::last_seen, users::name, users::role))
        .first(conn)
        .optional()?;
    let Some((last_seen, name, role)) = found else {
        return Ok(None);
    };
    let now = now();
    if last_seen < now - idle {
        diesel::delete(console_sessions::table.find(&key)).execute(conn)?;
        return Ok(None);
    }
    if now - last_seen >= TOUCH_EVERY {
        diesel::update(console_sessions::table.find(&key))
            .set(console_sessions::last_seen.eq(now))
            .execute(conn)?;
    }
    Ok(Some(SessionUser {
        name,
        role: Role::parse(&role)?,
        id: cookie_value.to_string(),
    }))
}

/// Ends a session (sign-out).
pub fn end(conn: &mut Conn, cookie_value: &str) -> Result<(), ServiceError> {
    diesel::delete(console_sessions::table.find(hash(cookie_value))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_bound_to_its_session() {
        let (a, b) = (random_token(), random_token());
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert_ne!(csrf_token(&a), a, "the token is not the session id");
    }
}
