//! API tokens: `admin` does everything, `analyst` reads incidents and samples.
//! A token is shown once when created; only its SHA-256 is stored.

use base64::Engine;
use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use crate::storage::schema::api_tokens;
use crate::storage::Conn;
use crate::time::rfc3339;

/// Every token starts with this, so leaked ones are easy to recognise in logs and scanners.
pub const TOKEN_PREFIX: &str = "itk_";

/// Ordered: a role includes every role before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Analyst,
    Admin,
}

impl Role {
    pub fn parse(role: &str) -> Result<Role, ServiceError> {
        role.parse().map_err(|_| {
            ServiceError::Invalid(format!("role: '{role}' is not a role (admin or analyst)"))
        })
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A token as listed: never the token itself.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: i32,
    pub name: String,
    pub role: String,
    pub created: String,
    /// When it last authenticated a request (to the minute), or null.
    pub last_used: Option<String>,
}

/// A token's last use is written at most this often, so API reads cost no write each.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token; returns it (the only time it exists in clear) and its record.
pub fn create(
    conn: &mut Conn,
    role: Role,
    name: &str,
) -> Result<(String, TokenView), ServiceError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let created: NaiveDateTime = Utc::now().naive_utc().trunc_subsecs(3);
    let id: i32 = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::name.eq(name),
            api_tokens::role.eq(role.as_str()),
            api_tokens::token_hash.eq(hash(&token)),
            api_tokens::created.eq(created),
        ))
        .returning(api_tokens::id)
        .get_result(conn)?;
    let view = TokenView {
        id,
        name: name.to_string(),
        role: role.as_str().to_string(),
        created: rfc3339(created),
        last_used: None,
    };
    Ok((token, view))
}

pub fn list(conn: &mut Conn) -> Result<Vec<TokenView>, ServiceError> {
    type Row = (i32, String, String, NaiveDateTime, Option<NaiveDateTime>);
    let rows: Vec<Row> = api_tokens::table
        .order(api_tokens::id)
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::role,
            api_tokens::created,
            api_tokens::last_used,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, role, created, last_used)| TokenView {
            id,
            name,
            role,
            created: rfc3339(created),
            last_used: last_used.map(rfc3339),
        })
        .collect())
}

pub fn revoke(conn: &mut Conn, id: i32) -> Result<(), ServiceError> {
    match diesel::delete(api_tokens::table.find(id)).execute(conn)? {
        0 => Err(ServiceError::NotFound(format!("no token {id}"))),
        _ => Ok(()),
    }
}

/// The role of a presented token, if it is one.
pub fn role_of(conn: &mut Conn, token: &str) -> Result<Option<Role>, ServiceError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let key = hash(token);
    let found: Option<(i32, String, Option<NaiveDateTime>)> = api_tokens::table
        .filter(api_tokens::token_hash.eq(&key))
        .select((api_tokens::id, api_tokens::role, api_tokens::last_used))
        .first(conn)
        .optional()?;
    let Some((id, role, last_used)) = found else {
        return Ok(None);
    };
    let now = Utc::now().naive_utc().trunc_subsecs(3);
    if last_used.is_none_or(|at| now - at >= TOUCH_EVERY) {
        // Best effort: a database that refuses writes must not refuse API reads.
        if let Err(e) = diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used.eq(now))
            .execute(conn)
        {
            log::debug!("API token {id}: last use not recorded: {e}");
        }
    }
    Role::parse(&role).map(Some)
}
