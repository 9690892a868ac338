//! Credential rules: `basic` (username + password), `header` (header name + exact value) and
//! `signature` (an HMAC over the body, see `signature`), and how a request presents each.

use actix_web::http::header::{HeaderMap, HeaderName, AUTHORIZATION};
use base64::Engine;
use subtle::ConstantTimeEq;

/// XSOAR's convention: this username prefix turns a credential into a header rule.
pub const HEADER_PREFIX: &str = "_header:";

/// What an admin asked for, parsed from a username (the XSOAR convention).
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSpec {
    Basic { username: String },
    Header { name: String },
}

impl CredentialSpec {
    /// `_header:<Name>` makes a header rule; anything else a basic username.
    pub fn parse(username: &str) -> Result<CredentialSpec, String> {
        if let Some(name) = username.strip_prefix(HEADER_PREFIX) {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("'{name}' is not a valid HTTP header name"))?;
            return Ok(CredentialSpec::Header {
                name: name.to_string(),
            });
        }
        if username.is_empty() {
            return Err("username must not be empty".into());
        }
        if username.contains(':') || username.chars().any(char::is_control) {
            return Err("a basic username cannot contain ':' or control characters".into());
        }
        Ok(CredentialSpec::Basic {
            username: username.to_string(),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSpec::Basic { .. } => "basic",
            CredentialSpec::Header { .. } => "header",
        }
    }

    /// What is stored in the `username` column: the username, or the header name.
    pub fn stored_name(&self) -> &str {
        match self {
            CredentialSpec::Basic { username } => username,
            CredentialSpec::Header { name } => name,
        }
    }

    /// How the credential is shown back: the username, or `_header:<Name>`.
    pub fn display_name(kind: &str, stored_name: &str) -> String {
        if kind == "header" {
            format!("{HEADER_PREFIX}{stored_name}")
        } else {
            stored_name.to_string()
        }
    }
}

/// How a rule recognises its secret in a request.
#[derive(Debug, Clone)]
pub enum RuleKind {
    Basic {
        username: String,
    },
    /// Lower-cased header name.
    Header {
        name: HeaderName,
    },
    /// An HMAC signature over the body, checked once the body is read.
    Signature(std::sync::Arc<super::signature::SignatureRule>),
}

/// One active credential of an instance, as the ingest path uses it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: i32,
    pub kind: RuleKind,
    pub hash: String,
}

impl Rule {
    pub fn from_stored(id: i32, kind: &str, username: &str, hash: String) -> Option<Rule> {
        let kind = match kind {
            "basic" => RuleKind::Basic {
                username: username.to_string(),
            },
            "header" => RuleKind::Header {
                name: HeaderName::from_bytes(username.as_bytes()).ok()?,
            },
            _ => return None,
        };
        Some(Rule { id, kind, hash })
    }

    pub fn is_basic(&self) -> bool {
        matches!(self.kind, RuleKind::Basic { .. })
    }
}

/// A secret a request presents for one rule.
pub struct PresentedSecret<'a> {
    pub rule: &'a Rule,
    pub secret: Vec<u8>,
}

/// The (rule, secret) pairs a request offers: the Basic password for each basic rule whose
/// username matches, and the header value for each header rule whose header is present.
pub fn presented_secrets<'a>(rules: &'a [Rule], headers: &HeaderMap) -> Vec<PresentedSecret<'a>> {
    let basic = basic_credentials(headers);
    let mut presented = Vec::new();
    for rule in rules {
        match &rule.kind {
            RuleKind::Basic { username } => {
                if let Some((user, password)) = &basic {
                    if bool::from(user.as_bytes().ct_eq(username.as_bytes())) {
                        presented.push(PresentedSecret {
                            rule,
                            secret: password.clone(),
                        });
                    }
                }
            }
            RuleKind::Header { name } => {
                for value in headers.get_all(name) {
                    presented.push(PresentedSecret {
                        rule,
                        secret: value.as_bytes().to_vec(),
                    });
                }
            }
            RuleKind::Signature(_) => {}
        }
    }
    presented
}

/// `Authorization: Basic base64(user:password)`, decoded.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, Vec<u8>)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn header_prefix_makes_a_header_rule() {
        assert_eq!(
            CredentialSpec::parse("_header:X-Api-Key").unwrap(),
            CredentialSpec::Header {
                name: "X-Api-Key".into()
            }
        );
        assert_eq!(
            CredentialSpec::parse("cato").unwrap(),
            CredentialSpec::Basic {
                username: "cato".into()
            }
        );
        assert!(CredentialSpec::parse("_header:bad header").is_err());
        assert!(CredentialSpec::parse("").is_err());
        assert!(CredentialSpec::parse("a:b").is_err());
    }

    #[test]
    fn presented_secrets_match_usernames_and_headers() {
        let rules = vec![
            Rule::from_stored(1, "basic", "alice", String::new()).unwrap(),
            Rule::from_stored(2, "basic", "bob", String::new()).unwrap(),
            Rule::from_stored(3, "header", "X-Api-Key", String::new()).unwrap(),
        ];
        let mut headers = HeaderMap::new();
        // alice:pw
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6cHc="),
        );
        headers.insert(
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("k1"),
        );
        let presented = presented_secrets(&rules, &headers);
        let pairs: Vec<(i32, &[u8])> = presented
            .iter()
            .map(|p| (p.rule.id, p.secret.as_slice()))
            .collect();
        assert_eq!(pairs, vec![(1, &b"pw"[..]), (3, &b"k1"[..])]);
    }
}
