//! Per-instance sender-authentication settings (`instance_auth`, one optional row per
//! instance): the bearer tokens' lifetime, the signature timestamp tolerance, and the rate
//! limit. An instance without a row has the defaults.

use diesel::prelude::*;
use serde::Serialize;

use crate::error::ServiceError;
use crate::storage::schema::instance_auth;
use crate::storage::Conn;

pub const DEFAULT_TOKEN_TTL: i32 = 3600;
pub const DEFAULT_SIGNATURE_TOLERANCE: i32 = 300;
/// The longest a bearer token may live: 30 days.
const MAX_TOKEN_TTL: i32 = 30 * 24 * 3600;

/// An instance's settings, as stored and as shown in the instance JSON.
#[derive(Debug, Clone, Copy, PartialEq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = instance_auth)]
pub struct AuthSettings {
    #[serde(skip)]
    pub instance_id: i32,
    /// Seconds a token from the token endpoint stays valid.
    pub token_ttl: i32,
    /// Seconds a signed request's timestamp may be from the server's clock.
    pub signature_tolerance_s: i32,
    /// Requests per second this instance accepts (per replica); null: no limit.
    pub rate_limit: Option<f64>,
    /// Requests accepted at once above the rate (default: the rate, at least 1).
    pub rate_burst: Option<i32>,
}

impl AuthSettings {
    pub fn defaults(instance_id: i32) -> AuthSettings {
        AuthSettings {
            instance_id,
            token_ttl: DEFAULT_TOKEN_TTL,
            signature_tolerance_s: DEFAULT_SIGNATURE_TOLERANCE,
            rate_limit: None,
            rate_burst: None,
        }
    }
}

/// Changes to the settings; `None` leaves a setting as it is, `rate_limit: Some(None)`
/// removes the limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthChanges {
    pub token_ttl: Option<i32>,
    pub signature_tolerance_s: Option<i32>,
    pub rate_limit: Option<Option<f64>>,
    pub rate_burst: Option<i32>,
}

impl AuthChanges {
    pub fn is_empty(&self) -> bool {
        self.token_ttl.is_none()
            && self.signature_tolerance_s.is_none()
            && self.rate_limit.is_none()
            && self.rate_burst.is_none()
    }

    pub fn validate(&self) -> Result<(), ServiceError> {
        let invalid = |m: String| Err(ServiceError::Invalid(m));
        if let Some(ttl) = self.token_ttl {
            if !(1..=MAX_TOKEN_TTL).contains(&ttl) {
                return invalid(format!(
                    "token_ttl: {ttl} is out of range (1-{MAX_TOKEN_TTL} seconds)"
                ));
            }
        }
        if let Some(tolerance) = self.signature_tolerance_s {
            if tolerance < 1 {
                return invalid(format!(
                    "signature_tolerance_s: {tolerance} must be at least 1 second"
                ));
            }
        }
        if let Some(Some(rate)) = self.rate_limit {
            if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
                return invalid(format!(
                    "rate_limit: {rate} must be above 0 and at most 1000000 requests per second"
                ));
            }
        }
        if let Some(burst) = self.rate_burst {
            if !(1..=1_000_000).contains(&burst) {
                return invalid(format!("rate_burst: {burst} is out of range (1-1000000)"));
            }
        }
        Ok(())
    }
}

/// The settings of one instance.
pub fn of(conn: &mut Conn, instance_id: i32) -> QueryResult<AuthSettings> {
    Ok(instance_auth::table
        .find(instance_id)
        .select(AuthSettings::as_select())
        .first(conn)
        .optional()?
        .unwrap_or_else(|| AuthSettings::defaults(instance_id)))
}

/// Every instance's stored settings (instances without a row are absent).
pub fn all(conn: &mut Conn) -> QueryResult<Vec<AuthSettings>> {
    instance_auth::table
        .select(AuthSettings::as_select())
        .load(conn)
}

/// Applies `changes` inside the caller's transaction (which bumps the configuration version).
pub fn apply(conn: &mut Conn, instance_id: i32, changes: &AuthChanges) -> Result<(), ServiceError> {
    changes.validate()?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut settings = of(conn, instance_id)?;
    if let Some(v) = changes.token_ttl {
        settings.token_ttl = v;
    }
    if let Some(v) = changes.signature_tolerance_s {
        settings.signature_tolerance_s = v;
    }
    if let Some(v) = changes.rate_limit {
        settings.rate_limit = v;
        if v.is_none() {
            settings.rate_burst = None;
        }
    }
    if let Some(v) = changes.rate_burst {
        if settings.rate_limit.is_none() {
            return Err(ServiceError::Invalid(
                "rate_burst: give a rate_limit (requests per second) too".into(),
            ));
        }
        settings.rate_burst = Some(v);
    }
    diesel::delete(instance_auth::table.find(instance_id)).execute(conn)?;
    diesel::insert_into(instance_auth::table)
        .values((
            instance_auth::instance_id.eq(instance_id),
            instance_auth::token_ttl.eq(settings.token_ttl),
            instance_auth::signature_tolerance_s.eq(settings.signature_tolerance_s),
            instance_auth::rate_limit.eq(settings.rate_limit),
            instance_auth::rate_burst.eq(settings.rate_burst),
        ))
        .execute(conn)?;
    Ok(())
}
