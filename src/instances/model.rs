//! Instance shapes: what admins send, what they get back, and the validation rules.

use serde::Serialize;

use crate::error::ServiceError;

/// Samples kept per instance when the admin does not say.
pub const DEFAULT_SAMPLE_LIMIT: i32 = 20;
/// The most samples an instance may keep.
pub const MAX_SAMPLE_LIMIT: i32 = 10_000;

/// An instance as shown to admins. Never carries a secret or a hash.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct InstanceView {
    pub name: String,
    pub incident_type: Option<String>,
    pub store_samples: bool,
    pub sample_limit: i32,
    pub allow_anonymous: bool,
    pub enabled: bool,
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<serde_json::Value>,
    pub preset: Option<String>,
    pub credentials: Vec<CredentialView>,
    /// A dedicated listener: this instance at `POST /` on this port.
    pub listen_port: Option<i32>,
    /// The dedicated listener's certificate and key files (HTTPS when set).
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Seconds a token from `/instance/token/{name}` stays valid.
    pub token_ttl: i32,
    /// Seconds a signed request's timestamp may be from the server's clock.
    pub signature_tolerance_s: i32,
    /// Requests per second accepted (per replica); null: no limit.
    pub rate_limit: Option<f64>,
    /// Requests accepted at once above the rate.
    pub rate_burst: Option<i32>,
}

/// An instance's dedicated listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSpec {
    pub port: i32,
    /// Certificate and key files; plain HTTP without.
    pub tls: Option<(String, String)>,
}

impl ListenerSpec {
    /// Checks the port and, when given, that the certificate pair loads and is valid, so a
    /// bad pair is refused when saved rather than when the listener starts.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if !(1..=65535).contains(&self.port) {
            return Err(ServiceError::Invalid(format!(
                "listen_port: {} is not a TCP port (1-65535)",
                self.port
            )));
        }
        if let Some((cert, key)) = &self.tls {
            crate::tls::load_pair(cert.as_ref(), key.as_ref())
                .map_err(|e| ServiceError::Invalid(format!("tls_cert/tls_key: {e:#}")))?;
        }
        Ok(())
    }
}

/// A credential as shown to admins: which rule, never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CredentialView {
    pub id: i32,
    pub kind: String,
    /// The basic username, `_header:<Name>` for a header rule, the scheme for a signature rule.
    pub username: String,
    /// The header a generic (`hmac-sha256`) signature rule reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[schema(format = DateTime)]
    pub created: String,
}

/// A stored sample: one element as it arrived.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SampleView {
    pub id: i64,
    #[schema(format = DateTime)]
    pub received: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    #[schema(value_type = Object)]
    pub headers: serde_json::Value,
}

/// A new instance's settings.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub name: String,
    pub incident_type: Option<String>,
    pub store_samples: bool,
    pub sample_limit: i32,
    pub allow_anonymous: bool,
    pub enabled: bool,
    pub listener: Option<ListenerSpec>,
    pub mapping: Option<crate::mapping::MappingDoc>,
    pub preset: Option<String>,
    pub auth: super::auth_settings::AuthChanges,
}

impl NewInstance {
    pub fn named(name: &str) -> NewInstance {
        NewInstance {
            name: name.to_string(),
            incident_type: None,
            store_samples: false,
            sample_limit: DEFAULT_SAMPLE_LIMIT,
            allow_anonymous: false,
            enabled: true,
            listener: None,
            mapping: None,
            preset: None,
            auth: Default::default(),
        }
    }
}

/// Changes to an existing instance; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct InstanceChanges {
    /// `Some(None)` clears the default type.
    pub incident_type: Option<Option<String>>,
    pub store_samples: Option<bool>,
    pub sample_limit: Option<i32>,
    pub allow_anonymous: Option<bool>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the dedicated listener.
    pub listener: Option<Option<ListenerSpec>>,
    /// `Some(None)` removes the mapping.
    pub mapping: Option<Option<crate::mapping::MappingDoc>>,
    /// `Some(None)` removes the preset.
    pub preset: Option<Option<String>>,
    pub auth: super::auth_settings::AuthChanges,
}

/// A mapping must compile and a preset must exist before either is saved; the stored
/// mapping is the normalised document.
pub fn validate_mapping(
    mapping: Option<&crate::mapping::MappingDoc>,
    preset: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    if let Some(name) = preset {
        if crate::mapping::preset(name).is_none() {
            return Err(ServiceError::Invalid(format!(
                "preset: '{name}' is not a preset ({})",
                crate::mapping::PRESETS.join(", ")
            )));
        }
    }
    mapping
        .map(|doc| {
            doc.compile()
                .map_err(|e| ServiceError::Invalid(format!("mapping.{e}")))?;
            serde_json::to_string(doc).map_err(|e| ServiceError::Internal(e.into()))
        })
        .transpose()
}

/// 1-64 characters of `[A-Za-z0-9_-]`.
pub fn validate_name(name: &str) -> Result<(), ServiceError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "name: '{name}' is not a valid instance name (1-64 characters of A-Z, a-z, 0-9, '_' and '-')"
        )))
    }
}

pub fn validate_sample_limit(limit: i32) -> Result<(), ServiceError> {
    if (1..=MAX_SAMPLE_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "sample_limit: {limit} is out of range (1-{MAX_SAMPLE_LIMIT})"
        )))
    }
}

pub fn validate_incident_type(incident_type: Option<&str>) -> Result<(), ServiceError> {
    match incident_type {
        Some(t) if t.trim().is_empty() || t.len() > 256 => Err(ServiceError::Invalid(
            "incident_type: must be 1-256 characters, or absent".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_follow_the_spec() {
        for good in ["a", "cato-cma", "Splunk_01", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "dot.ted", "slash/", "ü", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
