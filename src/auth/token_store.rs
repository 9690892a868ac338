//! Bearer tokens of the token endpoint in the database (`sender_tokens`), by SHA-256 of the
//! token: every replica sharing the database accepts a token any of them issued, and the
//! database never holds a token itself. Removing a credential removes its tokens (foreign
//! key, ON DELETE CASCADE). In front of the table, each registry snapshot keeps a
//! [`TokenCache`] of the tokens it has seen.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::error::ServiceError;
use crate::storage::schema::sender_tokens;
use crate::storage::Conn;

/// What a stored token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenGrant {
    pub instance_id: i32,
    pub credential_id: i32,
    /// Unix seconds.
    pub expires: i64,
}

/// Most tokens one snapshot remembers; past that the cache starts over (each token then
/// costs one database read again).
const CACHE_CAPACITY: usize = 100_000;

/// Tokens this registry snapshot has seen, by SHA-256 of the token.
#[derive(Default)]
pub struct TokenCache {
    grants: RwLock<HashMap<[u8; 32], TokenGrant>>,
}

impl TokenCache {
    pub(super) fn get(&self, hash: &[u8; 32]) -> Option<TokenGrant> {
        let grants = self.grants.read().unwrap_or_else(|p| p.into_inner());
        grants.get(hash).copied()
    }

    pub(super) fn insert(&self, hash: [u8; 32], grant: TokenGrant) {
        let mut grants = self.grants.write().unwrap_or_else(|p| p.into_inner());
        if grants.len() >= CACHE_CAPACITY {
            grants.clear();
        }
        grants.insert(hash, grant);
    }
}

/// Stores a new token's hash; drops every expired token on the way, so the table holds
/// only live ones (and those expired since the last issue).
pub fn insert(
    conn: &mut Conn,
    token_hash: &str,
    grant: TokenGrant,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let expires = chrono::DateTime::from_timestamp(grant.expires, 0)
        .ok_or_else(|| ServiceError::Invalid("token expiry out of range".into()))?
        .naive_utc();
    crate::storage::write_transaction(conn, |conn| {
        diesel::delete(sender_tokens::table.filter(sender_tokens::expires.lt(now)))
            .execute(conn)?;
        diesel::insert_into(sender_tokens::table)
            .values((
                sender_tokens::token_hash.eq(token_hash),
                sender_tokens::instance_id.eq(grant.instance_id),
                sender_tokens::credential_id.eq(grant.credential_id),
                sender_tokens::created.eq(now),
                sender_tokens::expires.eq(expires),
            ))
            .execute(conn)?;
        Ok::<_, ServiceError>(())
    })
}

/// The grant of a token hash, if one is stored (expired or not).
pub fn find(conn: &mut Conn, token_hash: &str) -> Result<Option<TokenGrant>, ServiceError> {
    let row: Option<(i32, i32, NaiveDateTime)> = sender_tokens::table
        .find(token_hash)
        .select((
            sender_tokens::instance_id,
            sender_tokens::credential_id,
            sender_tokens::expires,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(instance_id, credential_id, expires)| TokenGrant {
        instance_id,
        credential_id,
        expires: expires.and_utc().timestamp(),
    }))
}
