//! Signature rules: an HMAC-SHA256 over the exact body bytes, in the conventions of GitHub,
//! Standard Webhooks (Svix), Stripe, Slack, or a generic header (Grafana and others).
//!
//! Every comparison goes through `Mac::verify_slice`, which is constant-time. Schemes with a
//! timestamp refuse one further than the instance's tolerance from the server's clock, and
//! only after the signature matched, so a stale message is told apart from a forged one.
//! Failures name what was wrong, never the expected value.

use actix_web::http::header::{HeaderMap, HeaderName};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ops::metrics::Reason;

type HmacSha256 = Hmac<Sha256>;

/// Signature conventions (`--signature SCHEME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Github,
    StandardWebhooks,
    Stripe,
    Slack,
    HmacSha256,
}

/// The generic scheme's header when the admin names none.
pub const DEFAULT_HEADER: &str = "X-Signature";
const STANDARD_SECRET_PREFIX: &str = "whsec_";

impl Scheme {
    pub const NAMES: &'static str = "github, standard-webhooks, stripe, slack, hmac-sha256";

    pub fn parse(name: &str) -> Option<Scheme> {
        Some(match name {
            "github" => Scheme::Github,
            "standard-webhooks" | "svix" => Scheme::StandardWebhooks,
            "stripe" => Scheme::Stripe,
            "slack" => Scheme::Slack,
            "hmac-sha256" => Scheme::HmacSha256,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Github => "github",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Stripe => "stripe",
            Scheme::Slack => "slack",
            Scheme::HmacSha256 => "hmac-sha256",
        }
    }
}

/// What an admin asked for: a scheme, and for the generic one the header carrying it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureSpec {
    pub scheme: Scheme,
    pub header: Option<String>,
}

impl SignatureSpec {
    /// Checks a new rule's scheme, header and secret before it is saved.
    pub fn new(scheme: &str, header: Option<&str>, secret: &[u8]) -> Result<SignatureSpec, String> {
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| format!("signature: '{scheme}' is not one of {}", Scheme::NAMES))?;
        if let Some(name) = header {
            if scheme != Scheme::HmacSha256 {
                return Err(format!(
                    "header: only the hmac-sha256 scheme takes a header; {} uses its own",
                    scheme.as_str()
                ));
            }
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header: '{name}' is not a valid HTTP header name"))?;
        }
        if secret.is_empty() {
            return Err("secret: must not be empty".into());
        }
        signing_key(scheme, secret)?;
        Ok(SignatureSpec {
            scheme,
            header: header.map(str::to_string),
        })
    }

    /// What the `username` column holds: the scheme, `hmac-sha256:<Header>` with a header.
    pub fn stored_name(&self) -> String {
        match &self.header {
            Some(header) => format!("{}:{header}", self.scheme.as_str()),
            None => self.scheme.as_str().to_string(),
        }
    }

    pub fn from_stored(stored: &str) -> Option<SignatureSpec> {
        let (scheme, header) = match stored.split_once(':') {
            Some((scheme, header)) => (scheme, Some(header.to_string())),
            None => (stored, None),
        };
        Some(SignatureSpec {
            scheme: Scheme::parse(scheme)?,
            header,
        })
    }
}

/// The HMAC key of a secret: Standard Webhooks secrets are `whsec_` + base64 of the key.
fn signing_key(scheme: Scheme, secret: &[u8]) -> Result<Vec<u8>, String> {
    if scheme != Scheme::StandardWebhooks {
        return Ok(secret.to_vec());
    }
    let text = std::str::from_utf8(secret).map_err(|_| "secret: not UTF-8".to_string())?;
    let encoded = text.strip_prefix(STANDARD_SECRET_PREFIX).unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "secret: a Standard Webhooks secret is whsec_ followed by base64".to_string())
}

/// One active signature rule, with its secret opened, as the ingest path uses it.
pub struct SignatureRule {
    pub id: i32,
    pub scheme: Scheme,
    /// The signature header (the timestamp and id headers are fixed per scheme).
    pub header: HeaderName,
    /// The signature header as the admin spelled it, for refusal messages.
    header_spelling: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SignatureRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureRule")
            .field("id", &self.id)
            .field("scheme", &self.scheme)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Why a signed request was refused: the 401's message and the recorded reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

/// What a matching signature tells about the delivery.
#[derive(Debug, Default, PartialEq)]
pub struct Verified {
    /// A Standard Webhooks `webhook-id`: the delivery's idempotency key.
    pub message_id: Option<String>,
}

impl SignatureRule {
    pub fn new(id: i32, spec: &SignatureSpec, secret: &[u8]) -> Option<SignatureRule> {
        let header = match (spec.scheme, &spec.header) {
            (Scheme::HmacSha256, Some(name)) => name.as_str(),
            (Scheme::HmacSha256, None) => DEFAULT_HEADER,
            (Scheme::Github, _) => "x-hub-signature-256",
            (Scheme::StandardWebhooks, _) => "webhook-signature",
            (Scheme::Stripe, _) => "stripe-signature",
            (Scheme::Slack, _) => "x-slack-signature",
        };
        Some(SignatureRule {
            id,
            scheme: spec.scheme,
            header: HeaderName::from_bytes(header.as_bytes()).ok()?,
            header_spelling: header.to_string(),
            key: signing_key(spec.scheme, secret).ok()?,
        })
    }

    /// The headers this scheme needs, as senders spell them.
    fn required_headers(&self) -> Vec<&str> {
        match self.scheme {
            Scheme::Github => vec!["X-Hub-Signature-256"],
            Scheme::StandardWebhooks => {
                vec!["webhook-id", "webhook-timestamp", "webhook-signature"]
            }
            Scheme::Stripe => vec!["Stripe-Signature"],
            Scheme::Slack => vec!["X-Slack-Signature", "X-Slack-Request-Timestamp"],
            Scheme::HmacSha256 => vec![self.header_spelling.as_str()],
        }
    }

    /// The first header this rule needs that the request lacks.
    pub fn missing_header(&self, headers: &HeaderMap) -> Option<String> {
        self.required_headers()
            .into_iter()
            .find(|name| !headers.contains_key(*name))
            .map(str::to_string)
    }

    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    #[allow(clippy::expect_used)]
    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    /// Checks the request's signature over `body`; `now` and `tolerance` in seconds.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
        tolerance: i64,
    ) -> Result<Verified, Refusal> {
        if let Some(name) = self.missing_header(headers) {
            return Err(missing(&name));
        }
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .trim()
        };
        let mut verified = Verified::default();
        let timestamp = match self.scheme {
            Scheme::Github | Scheme::HmacSha256 => {
                let value = text(self.header.as_str());
                let hex = value.strip_prefix("sha256=").unwrap_or(value);
                let mut mac = self.mac();
                mac.update(body);
                matches(mac, &[decode_hex(hex)])?;
                None
            }
            Scheme::StandardWebhooks => {
                let (id, ts) = (text("webhook-id"), text("webhook-timestamp"));
                let mut mac = self.mac();
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(ts.as_bytes());
                mac.update(b".");
                mac.update(body);
                let candidates = text("webhook-signature")
                    .split(' ')
                    .filter_map(|s| s.strip_prefix("v1,"))
                    .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                    .collect::<Vec<_>>();
                matches(mac, &candidates)?;
                verified.message_id = Some(id.to_string());
                Some(ts)
            }
            Scheme::Stripe => {
                let value = text("stripe-signature");
                let fields = value.split(',').filter_map(|f| f.trim().split_once('='));
                let (mut ts, mut candidates) = ("", Vec::new());
                for (key, value) in fields {
                    match key {
                        "t" => ts = value,
                        "v1" => candidates.push(decode_hex(value)),
                        _ => {}
                    }
                }
                let mut mac = self.mac();
                mac.update(ts.as_bytes());
                mac.update(b".");
                mac.update(body);
                matches(mac, &candidates)?;
                Some(ts)
            }
            Scheme::Slack => {
                let ts = text("x-slack-request-timestamp");
                let value = text("x-slack-signature");
                let mut mac = self.mac();
                mac.update(b"v0:");
                mac.update(ts.as_bytes());
                mac.update(b":");
                mac.update(body);
                matches(mac, &[value.strip_prefix("v0=").and_then(decode_hex)])?;
                Some(ts)
            }
        };
        if let Some(ts) = timestamp {
            let fresh = ts
                .parse::<i64>()
                .is_ok_and(|ts| now.abs_diff(ts) <= tolerance.unsigned_abs());
            if !fresh {
                return Err(Refusal {
                    reason: Reason::StaleTimestamp,
                    message: "timestamp outside tolerance".into(),
                });
            }
        }
        Ok(verified)
    }
}

fn missing(header: &str) -> Refusal {
    Refusal {
        reason: Reason::MissingCredentials,
        message: format!("missing {header}"),
    }
}

/// Passes when any candidate is the MAC (constant-time comparison of each).
fn matches(mac: HmacSha256, candidates: &[Option<Vec<u8>>]) -> Result<(), Refusal> {
    let matched = candidates
        .iter()
        .flatten()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if matched {
        Ok(())
    } else {
        Err(Refusal {
            reason: Reason::BadSignature,
            message: "signature does not match".into(),
        })
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a request against every signature rule: any match passes (rotation). Otherwise
/// the most telling refusal: a stale timestamp, then a mismatch, then a missing header.
pub fn verify_any(
    rules: &[std::sync::Arc<SignatureRule>],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<Verified, Refusal> {
    let rank = |r: &Refusal| match r.reason {
        Reason::StaleTimestamp => 2,
        Reason::BadSignature => 1,
        _ => 0,
    };
    let mut best: Option<Refusal> = None;
    for rule in rules {
        match rule.verify(headers, body, now, tolerance) {
            Ok(verified) => return Ok(verified),
            Err(refusal) => {
                if best.as_ref().is_none_or(|b| rank(&refusal) > rank(b)) {
                    best = Some(refusal);
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| missing("signature")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn rule(scheme: &str, secret: &str) -> SignatureRule {
        let spec = SignatureSpec::new(scheme, None, secret.as_bytes()).unwrap();
        SignatureRule::new(1, &spec, secret.as_bytes()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn github_published_vector_matches() {
        let github = rule("github", "It's a Secret to Everybody");
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let h = headers(&[("x-hub-signature-256", sig)]);
        assert!(github.verify(&h, b"Hello, World!", 0, 300).is_ok());
        let refused = github.verify(&h, b"Hello, World?", 0, 300).unwrap_err();
        assert_eq!(refused.message, "signature does not match");
        let refused = github.verify(&HeaderMap::new(), b"", 0, 300).unwrap_err();
        assert_eq!(refused.message, "missing X-Hub-Signature-256");
    }

    #[test]
    fn standard_webhooks_published_vector_matches_within_tolerance_only() {
        let svix = rule(
            "standard-webhooks",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        );
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,bm9ldHUjKzFob2VudXRob2VodWUzMjRvdWVvdW9ldQo= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        let body = br#"{"test": 2432232314}"#;
        let verified = svix.verify(&h, body, 1614265330 + 10, 300).unwrap();
        assert_eq!(
            verified.message_id.as_deref(),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        let stale = svix.verify(&h, body, 1614265330 + 301, 300).unwrap_err();
        assert_eq!(stale.message, "timestamp outside tolerance");
    }

    #[test]
    fn slack_documented_example_matches() {
        let slack = rule("slack", "8f742231b10e8888abcd99yyyzzz85a5");
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let h = headers(&[
            ("x-slack-request-timestamp", "1531420618"),
            (
                "x-slack-signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        ]);
        assert!(slack.verify(&h, body.as_bytes(), 1531420618, 300).is_ok());
    }

    #[test]
    fn specs_refuse_unknown_schemes_and_misplaced_headers() {
        assert!(SignatureSpec::new("md5", None, b"x").is_err());
        assert!(SignatureSpec::new("github", Some("X-Sig"), b"x").is_err());
        assert!(SignatureSpec::new("standard-webhooks", None, b"whsec_***").is_err());
        let spec =
            SignatureSpec::new("hmac-sha256", Some("X-Grafana-Alerting-Signature"), b"k").unwrap();
        assert_eq!(SignatureSpec::from_stored(&spec.stored_name()), Some(spec));
    }
}
