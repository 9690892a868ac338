//! Console users: people who sign in at `/login`, each with a role (`admin` or `analyst`,
//! the same roles as API tokens). Passwords are stored as argon2id hashes; removing a user
//! or changing their password ends their sessions.

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::tokens::Role;
use crate::error::ServiceError;
use crate::storage::schema::{console_sessions, users};
use crate::storage::Conn;
use crate::time::rfc3339;

/// A user as listed: never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: i32,
    pub name: String,
    pub role: String,
    pub created: String,
}

/// Names people type at a sign-in form: letters, digits and `._@-`, at most 64.
fn check_name(name: &str) -> Result<(), ServiceError> {
    let allowed = |c: char| c.is_alphanumeric() || "._@-".contains(c);
    if name.is_empty() || name.chars().count() > 64 || !name.chars().all(allowed) {
        return Err(ServiceError::Invalid(format!(
            "name: '{name}' is not a user name (1-64 letters, digits, '.', '_', '@' or '-')"
        )));
    }
    Ok(())
}

/// Shortest password accepted for a console user.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A new password must be long enough to resist guessing.
pub fn check_password(password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::Invalid(format!(
            "password: at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Adds a user with an argon2id `password_hash` (see [`crate::auth::hash_secret`]).
pub fn add(
    conn: &mut Conn,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<UserView, ServiceError> {
    check_name(name)?;
    let created: NaiveDateTime = Utc::now().naive_utc().trunc_subsecs(3);
    let id: i32 = diesel::insert_into(users::table)
        .values((
            users::name.eq(name),
            users::role.eq(role.as_str()),
            users::password_hash.eq(password_hash),
            users::created.eq(created),
        ))
        .returning(users::id)
        .get_result(conn)
        .map_err(|e| match ServiceError::from(e) {
            ServiceError::Conflict(_) => {
                ServiceError::NameTaken(format!("user '{name}' exists already"))
            }
            other => other,
        })?;
    Ok(UserView {
        id,
        name: name.to_string(),
        role: role.as_str().to_string(),
        created: rfc3339(created),
    })
}

pub fn list(conn: &mut Conn) -> Result<Vec<UserView>, ServiceError> {
    let rows: Vec<(i32, String, String, NaiveDateTime)> = users::table
        .order(users::name)
        .select((users::id, users::name, users::role, users::created))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, role, created)| UserView {
            id,
            name,
            role,
            created: rfc3339(created),
        })
        .collect())
}

/// Whether any user exists (the demo start creates an admin only on a database without one).
pub fn any(conn: &mut Conn) -> Result<bool, ServiceError> {
    let n: i64 = users::table.count().get_result(conn)?;
    Ok(n > 0)
}

fn id_of(conn: &mut Conn, name: &str) -> Result<i32, ServiceError> {
    users::table
        .filter(users::name.eq(name))
        .select(users::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| ServiceError::NotFound(format!("no user '{name}'")))
}

/// Removes a user and ends every session of theirs.
pub fn remove(conn: &mut Conn, name: &str) -> Result<(), ServiceError> {
    crate::storage::write_transaction(conn, |conn| {
        let id = id_of(conn, name)?;
        diesel::delete(console_sessions::table.filter(console_sessions::user_id.eq(id)))
            .execute(conn)?;
        diesel::delete(users::table.find(id)).execute(conn)?;
        Ok(())
    })
}

/// Sets a new password hash and ends every session of the user: whoever knew the old
/// password is signed out.
pub fn set_password(conn: &mut Conn, name: &str, password_hash: &str) -> Result<(), ServiceError> {
    crate::storage::write_transaction(conn, |conn| {
        let id = id_of(conn, name)?;
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::delete(console_sessions::table.filter(console_sessions::user_id.eq(id)))
            .execute(conn)?;
        Ok(())
    })
}

/// Gives a user another role; their sessions carry it from their next request (a session
/// reads the role from the user on every request).
pub fn set_role(conn: &mut Conn, name: &str, role: Role) -> Result<(), ServiceError> {
    crate::storage::write_transaction(conn, |conn| {
        let id = id_of(conn, name)?;
        diesel::update(users::table.find(id))
            .set(users::role.eq(role.as_str()))
            .execute(conn)?;
        Ok(())
    })
}

/// What signing in needs to know of a user.
pub struct Account {
    pub id: i32,
    pub role: Role,
    pub password_hash: String,
}

pub fn account(conn: &mut Conn, name: &str) -> Result<Option<Account>, ServiceError> {
    let row: Option<(i32, String, String)> = users::table
        .filter(users::name.eq(name))
        .select((users::id, users::role, users::password_hash))
        .first(conn)
        .optional()?;
    row.map(|(id, role, password_hash)| {
        Ok(Account {
            id,
            role: Role::parse(&role)?,
            password_hash,
        })
    })
    .transpose()
}
