//! Instance, credential and sample queries. Every change to instances or credentials bumps
//! the configuration version in the same transaction, so running servers reload.

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::auth_settings::{self, AuthSettings};
use super::model::*;
use crate::auth::CredentialSpec;
use crate::error::ServiceError;
use crate::storage::schema::{credentials, instances, samples};
use crate::storage::{
    bump_config_version, config_version, write_transaction, writer::trim_samples, Conn,
};
use crate::time::rfc3339;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = instances)]
pub struct InstanceRow {
    pub id: i32,
    pub name: String,
    pub incident_type: Option<String>,
    pub store_samples: bool,
    pub sample_limit: i32,
    pub allow_anonymous: bool,
    pub enabled: bool,
    pub mapping: Option<String>,
    pub preset: Option<String>,
    pub listen_port: Option<i32>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = credentials)]
pub struct CredentialRow {
    pub id: i32,
    pub instance_id: i32,
    pub kind: String,
    pub username: String,
    pub secret_hash: String,
    pub created: NaiveDateTime,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("no instance named '{name}'"))
}

fn find(conn: &mut Conn, name: &str) -> Result<InstanceRow, ServiceError> {
    validate_name(name)?;
    instances::table
        .filter(instances::name.eq(name))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(name))
}

fn view(row: InstanceRow, creds: Vec<CredentialRow>, auth: AuthSettings) -> InstanceView {
    InstanceView {
        token_ttl: auth.token_ttl,
        signature_tolerance_s: auth.signature_tolerance_s,
        rate_limit: auth.rate_limit,
        rate_burst: auth.rate_burst,
        name: row.name,
        incident_type: row.incident_type,
        store_samples: row.store_samples,
        sample_limit: row.sample_limit,
        allow_anonymous: row.allow_anonymous,
        enabled: row.enabled,
        mapping: row.mapping.and_then(|m| serde_json::from_str(&m).ok()),
        preset: row.preset,
        credentials: creds.into_iter().map(credential_view).collect(),
        listen_port: row.listen_port,
        tls_cert: row.tls_cert,
        tls_key: row.tls_key,
    }
}

fn credential_view(row: CredentialRow) -> CredentialView {
    let (username, header) = if row.kind == "signature" {
        match row.username.split_once(':') {
            Some((scheme, header)) => (scheme.to_string(), Some(header.to_string())),
            None => (row.username, None),
        }
    } else {
        (CredentialSpec::display_name(&row.kind, &row.username), None)
    };
    CredentialView {
        id: row.id,
        username,
        header,
        kind: row.kind,
        created: rfc3339(row.created),
    }
}

fn credentials_of(conn: &mut Conn, instance_id: i32) -> QueryResult<Vec<CredentialRow>> {
    credentials::table
        .filter(credentials::instance_id.eq(instance_id))
        .order(credentials::id)
        .select(CredentialRow::as_select())
        .load(conn)
}

/// Creates an instance, with its first credential when one is given (already hashed).
pub fn create(
    conn: &mut Conn,
    new: &NewInstance,
    credential: Option<(&CredentialSpec, &str)>,
) -> Result<InstanceView, ServiceError> {
    validate_name(&new.name)?;
    validate_sample_limit(new.sample_limit)?;
    validate_incident_type(new.incident_type.as_deref())?;
    if let Some(listener) = &new.listener {
        listener.validate()?;
    }
    let mapping = validate_mapping(new.mapping.as_ref(), new.preset.as_deref())?;
    new.auth.validate()?;
    write_transaction(conn, |conn| {
        let exists: i64 = instances::table
            .filter(instances::name.eq(&new.name))
            .count()
            .get_result(conn)?;
        let taken =
            || ServiceError::NameTaken(format!("an instance named '{}' already exists", new.name));
        if exists > 0 {
            return Err(taken());
        }
        let stamp = now();
        let id: i32 = diesel::insert_into(instances::table)
            .values((
                instances::name.eq(&new.name),
                instances::incident_type.eq(&new.incident_type),
                instances::store_samples.eq(new.store_samples),
                instances::sample_limit.eq(new.sample_limit),
                instances::allow_anonymous.eq(new.allow_anonymous),
                instances::enabled.eq(new.enabled),
                instances::mapping.eq(&mapping),
                instances::preset.eq(&new.preset),
                instances::created.eq(stamp),
                instances::updated.eq(stamp),
            ))
            .returning(instances::id)
            .get_result(conn)
            // On PostgreSQL another transaction may create the name after the count; SQLite's
            // write transaction excludes that.
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => taken(),
                other => other,
            })?;
        if let Some((spec, hash)) = credential {
            insert_credential(conn, id, spec, hash)?;
        }
        set_listener(conn, id, new.listener.as_ref())?;
        auth_settings::apply(conn, id, &new.auth)?;
        bump_config_version(conn)?;
        show(conn, &new.name)
    })
}

/// Applies changes to an instance's settings.
pub fn update(
    conn: &mut Conn,
    name: &str,
    changes: &InstanceChanges,
) -> Result<InstanceView, ServiceError> {
    if let Some(limit) = changes.sample_limit {
        validate_sample_limit(limit)?;
    }
    if let Some(incident_type) = &changes.incident_type {
        validate_incident_type(incident_type.as_deref())?;
    }
    if let Some(Some(listener)) = &changes.listener {
        listener.validate()?;
    }
    let mapping = match &changes.mapping {
        Some(doc) => Some(validate_mapping(doc.as_ref(), None)?),
        None => None,
    };
    if let Some(Some(name)) = &changes.preset {
        validate_mapping(None, Some(name))?;
    }
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        let target = instances::table.find(row.id);
        if let Some(v) = &changes.incident_type {
            diesel::update(target)
                .set(instances::incident_type.eq(v))
                .execute(conn)?;
        }
        if let Some(v) = changes.store_samples {
            diesel::update(target)
                .set(instances::store_samples.eq(v))
                .execute(conn)?;
        }
        if let Some(v) = changes.sample_limit {
            diesel::update(target)
                .set(instances::sample_limit.eq(v))
                .execute(conn)?;
            trim_samples(conn, row.id, v)?;
        }
        if let Some(v) = changes.allow_anonymous {
            diesel::update(target)
                .set(instances::allow_anonymous.eq(v))
                .execute(conn)?;
        }
        if let Some(v) = changes.enabled {
            diesel::update(target)
                .set(instances::enabled.eq(v))
                .execute(conn)?;
        }
        if let Some(listener) = &changes.listener {
            set_listener(conn, row.id, listener.as_ref())?;
        }
        if let Some(mapping) = &mapping {
            diesel::update(target)
                .set(instances::mapping.eq(mapping))
                .execute(conn)?;
        }
        if let Some(preset) = &changes.preset {
            diesel::update(target)
                .set(instances::preset.eq(preset))
                .execute(conn)?;
        }
        auth_settings::apply(conn, row.id, &changes.auth)?;
        diesel::update(target)
            .set(instances::updated.eq(now()))
            .execute(conn)?;
        bump_config_version(conn)?;
        show(conn, name)
    })
}

/// Removes an instance with its credentials and samples. Its incidents stay.
pub fn remove(conn: &mut Conn, name: &str) -> Result<(), ServiceError> {
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        diesel::delete(instances::table.find(row.id)).execute(conn)?;
        bump_config_version(conn)?;
        Ok(())
    })
}

pub fn show(conn: &mut Conn, name: &str) -> Result<InstanceView, ServiceError> {
    let row = find(conn, name)?;
    let creds = credentials_of(conn, row.id)?;
    let auth = auth_settings::of(conn, row.id)?;
    Ok(view(row, creds, auth))
}

pub fn list(conn: &mut Conn) -> Result<Vec<InstanceView>, ServiceError> {
    let rows = instances::table
        .order(instances::name)
        .select(InstanceRow::as_select())
        .load(conn)?;
    let mut creds = credentials::table
        .order(credentials::id)
        .select(CredentialRow::as_select())
        .load(conn)?;
    let auth: std::collections::HashMap<i32, AuthSettings> = auth_settings::all(conn)?
        .into_iter()
        .map(|a| (a.instance_id, a))
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                creds.drain(..).partition(|c| c.instance_id == row.id);
            creds = rest;
            let settings = auth
                .get(&row.id)
                .copied()
                .unwrap_or_else(|| AuthSettings::defaults(row.id));
            view(row, mine, settings)
        })
        .collect())
}

fn set_listener(
    conn: &mut Conn,
    instance_id: i32,
    listener: Option<&ListenerSpec>,
) -> Result<(), ServiceError> {
    let port = listener.map(|l| l.port);
    if let Some(port) = port {
        let taken: Option<String> = instances::table
            .filter(instances::listen_port.eq(port))
            .filter(instances::id.ne(instance_id))
            .select(instances::name)
            .first(conn)
            .optional()?;
        if let Some(other) = taken {
            return Err(ServiceError::Conflict(format!(
                "listen_port: {port} is already the port of instance '{other}'"
            )));
        }
    }
    let tls = listener.and_then(|l| l.tls.clone());
    diesel::update(instances::table.find(instance_id))
        .set((
            instances::listen_port.eq(port),
            instances::tls_cert.eq(tls.as_ref().map(|t| t.0.clone())),
            instances::tls_key.eq(tls.map(|t| t.1)),
        ))
        .execute(conn)
        // On PostgreSQL another transaction may take the port after the check.
        .map_err(|e| match (ServiceError::from(e), port) {
            (ServiceError::Conflict(_), Some(port)) => ServiceError::Conflict(format!(
                "listen_port: {port} is already the port of another instance"
            )),
            (other, _) => other,
        })?;
    Ok(())
}

fn insert_credential(
    conn: &mut Conn,
    instance_id: i32,
    spec: &CredentialSpec,
    hash: &str,
) -> QueryResult<i32> {
    diesel::insert_into(credentials::table)
        .values((
            credentials::instance_id.eq(instance_id),
            credentials::kind.eq(spec.kind()),
            credentials::username.eq(spec.stored_name()),
            credentials::secret_hash.eq(hash),
            credentials::created.eq(now()),
        ))
        .returning(credentials::id)
        .get_result(conn)
}

/// Adds a credential (already hashed) to an instance. Earlier ones stay active (rotation).
pub fn add_credential(
    conn: &mut Conn,
    name: &str,
    spec: &CredentialSpec,
    hash: &str,
) -> Result<CredentialView, ServiceError> {
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        let id = insert_credential(conn, row.id, spec, hash)?;
        bump_config_version(conn)?;
        let created = credentials::table
            .find(id)
            .select(CredentialRow::as_select())
            .first(conn)?;
        Ok(credential_view(created))
    })
}

/// Removes every credential of an instance shown with this username (`_header:X` for header
/// rules). Returns how many were removed; none is an error.
pub fn remove_credentials(
    conn: &mut Conn,
    name: &str,
    username: &str,
) -> Result<usize, ServiceError> {
    let spec = CredentialSpec::parse(username).map_err(ServiceError::Invalid)?;
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        let removed = diesel::delete(
            credentials::table
                .filter(credentials::instance_id.eq(row.id))
                .filter(credentials::kind.eq(spec.kind()))
                .filter(credentials::username.eq(spec.stored_name())),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(ServiceError::NotFound(format!(
                "instance '{name}' has no credential '{username}'"
            )));
        }
        bump_config_version(conn)?;
        Ok(removed)
    })
}

/// Removes one credential by id.
pub fn remove_credential(conn: &mut Conn, name: &str, id: i32) -> Result<(), ServiceError> {
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        let removed = diesel::delete(
            credentials::table
                .filter(credentials::instance_id.eq(row.id))
                .filter(credentials::id.eq(id)),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(ServiceError::NotFound(format!(
                "instance '{name}' has no credential {id}"
            )));
        }
        bump_config_version(conn)?;
        Ok(())
    })
}

/// Everything the ingest path needs, read consistently: the configuration version, every
/// instance and every credential (with hashes).
pub fn load_for_registry(conn: &mut Conn) -> Result<RegistryRows, ServiceError> {
    conn.transaction(|conn| {
        let version = config_version(conn)?;
        let rows = instances::table
            .select(InstanceRow::as_select())
            .load(conn)?;
        let creds = credentials::table
            .order(credentials::id)
            .select(CredentialRow::as_select())
            .load(conn)?;
        let auth = auth_settings::all(conn)?;
        Ok((version, rows, creds, auth))
    })
}

/// The configuration version, every instance, credential and auth-settings row.
pub type RegistryRows = (i64, Vec<InstanceRow>, Vec<CredentialRow>, Vec<AuthSettings>);

/// Adds a signature rule, its secret sealed with `secrets` (refused without a key). Earlier
/// rules stay active (rotation).
pub fn add_signature_rule(
    conn: &mut Conn,
    name: &str,
    scheme: &str,
    header: Option<&str>,
    secret: &[u8],
    secrets: Option<&crate::auth::secret_box::SecretBox>,
) -> Result<CredentialView, ServiceError> {
    let spec = crate::auth::signature::SignatureSpec::new(scheme, header, secret)
        .map_err(ServiceError::Invalid)?;
    let secrets = secrets
        .ok_or_else(|| ServiceError::Conflict(crate::auth::secret_box::NO_KEY.to_string()))?;
    let sealed = secrets.seal(secret)?;
    write_transaction(conn, |conn| {
        let row = find(conn, name)?;
        let id: i32 = diesel::insert_into(credentials::table)
            .values((
                credentials::instance_id.eq(row.id),
                credentials::kind.eq("signature"),
                credentials::username.eq(spec.stored_name()),
                credentials::secret_hash.eq(&sealed),
                credentials::created.eq(now()),
            ))
            .returning(credentials::id)
            .get_result(conn)?;
        let created = credentials::table
            .find(id)
            .select(CredentialRow::as_select())
            .first(conn)?;
        bump_config_version(conn)?;
        Ok(credential_view(created))
    })
}

/// An instance's stored samples, newest first.
pub fn samples(conn: &mut Conn, name: &str) -> Result<Vec<SampleView>, ServiceError> {
    let row = find(conn, name)?;
    let rows: Vec<(i64, NaiveDateTime, String, String)> = samples::table
        .filter(samples::instance_id.eq(row.id))
        .order((samples::received.desc(), samples::id.desc()))
        .select((
            samples::id,
            samples::received,
            samples::body,
            samples::headers,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, received, body, headers)| SampleView {
            id,
            received: rfc3339(received),
            body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            headers: serde_json::from_str(&headers).unwrap_or_default(),
        })
        .collect())
}

/// Deletes an instance's samples; returns how many.
pub fn clear_samples(conn: &mut Conn, name: &str) -> Result<usize, ServiceError> {
    let row = find(conn, name)?;
    Ok(diesel::delete(samples::table.filter(samples::instance_id.eq(row.id))).execute(conn)?)
}

/// Every instance that has its own listener.
pub fn listeners(conn: &mut Conn) -> Result<Vec<(String, ListenerSpec)>, ServiceError> {
    let rows = instances::table
        .filter(instances::listen_port.is_not_null())
        .select(InstanceRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let tls = row.tls_cert.zip(row.tls_key);
            row.listen_port
                .map(|port| (row.name, ListenerSpec { port, tls }))
        })
        .collect())
}

/// Runs a mapping (the given document, else the instance's own mapping or preset) over the
/// instance's stored samples. Used by `intake mapping test` and the API alike.
pub fn mapping_test(
    conn: &mut Conn,
    name: &str,
    doc: Option<crate::mapping::MappingDoc>,
) -> Result<crate::mapping::report::TestReport, ServiceError> {
    use crate::mapping::{preset, report, MappingDoc};
    let row = find(conn, name)?;
    let doc = match (doc, &row.mapping, &row.preset) {
        (Some(doc), _, _) => doc,
        (None, Some(text), _) => MappingDoc::parse(text).map_err(ServiceError::Invalid)?,
        (None, None, Some(p)) => preset(p)
            .ok_or_else(|| ServiceError::Invalid(format!("preset: '{p}' is not a preset")))?,
        (None, None, None) => {
            return Err(ServiceError::Invalid(format!(
                "mapping: instance '{name}' has no mapping or preset; give one to test"
            )))
        }
    };
    let mapping = doc
        .compile()
        .map_err(|e| ServiceError::Invalid(format!("mapping.{e}")))?;
    let stored = samples(conn, name)?;
    let inputs: Vec<report::SampleInput> = stored
        .iter()
        .map(|s| report::SampleInput {
            id: s.id,
            received: &s.received,
            body: &s.body,
            headers: &s.headers,
        })
        .collect();
    Ok(report::test(&mapping, &inputs))
}
