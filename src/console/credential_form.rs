//! How an instance's credentials show on its page: the list (which rule, never a secret),
//! the forms to add a Basic credential, a header rule (XSOAR's `_header:` convention) or a
//! signature rule, the test curl, and a generated secret shown once. The handlers that
//! change credentials are in `credentials.rs`.

use base64::Engine;
use maud::{html, Markup};

use super::admin::{self, path_of, Admin, FieldErrors};
use super::incident::time;
use crate::auth::signature::DEFAULT_HEADER;
use crate::instances::{CredentialView, InstanceView};

/// Signature schemes as the chooser offers them: (scheme, label).
const SCHEMES: [(&str, &str); 5] = [
    ("github", "GitHub (X-Hub-Signature-256)"),
    ("standard-webhooks", "Standard Webhooks / Svix"),
    ("stripe", "Stripe (Stripe-Signature)"),
    ("slack", "Slack (X-Slack-Signature)"),
    ("hmac-sha256", "Generic HMAC-SHA256 (e.g. Grafana)"),
];

/// The body of every test delivery the page suggests.
const TEST_BODY: &str = r#"{"name":"Test delivery from curl","severity":"low"}"#;

/// A credential form sent back with its refusal: which form, what was typed (never the
/// secret), and the errors.
pub struct CredentialDraft {
    pub(super) kind: String,
    pub(super) username: String,
    pub(super) header_name: String,
    pub(super) scheme: String,
    pub(super) signature_header: String,
    pub(super) errors: FieldErrors,
}

/// A secret generated for a new credential, shown once.
pub struct NewSecret {
    pub(super) what: String,
    pub(super) secret: String,
    pub(super) curl: String,
}

/// How a test delivery authenticates.
pub(super) enum CurlAuth<'a> {
    Anonymous,
    Basic(&'a str, &'a str),
    Header(&'a str, &'a str),
    Signature {
        scheme: &'a str,
        header: &'a str,
        secret: &'a str,
    },
}

/// `text` quoted for a POSIX shell.
fn sh(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A shell command that delivers a test event to `url`.
pub(super) fn curl(url: &str, auth: &CurlAuth) -> String {
    let post = |headers: &str| {
        format!(
            "curl -sS -H 'Content-Type: application/json'{headers} \\\n  -d \"$body\" {url}",
            url = sh(url)
        )
    };
    let body = format!("body={}\n", sh(TEST_BODY));
    let hmac = |signed: &str| {
        format!(
            "sig=$(printf %s \"{signed}\" | openssl dgst -sha256 -hmac \"$secret\" -r | cut -d' ' -f1)\n"
        )
    };
    match auth {
        CurlAuth::Anonymous => format!("{body}{}", post("")),
        CurlAuth::Basic(user, password) => format!(
            "{body}{}",
            post(&format!(" -u {}", sh(&format!("{user}:{password}"))))
        ),
        CurlAuth::Header(name, value) => format!(
            "{body}{}",
            post(&format!(" -H {}", sh(&format!("{name}: {value}"))))
        ),
        CurlAuth::Signature {
            scheme,
            header,
            secret,
        } => {
            let secret_line = format!("secret={}\n", sh(secret));
            let (prelude, headers) = match *scheme {
                "github" => (hmac("$body"), " -H \"X-Hub-Signature-256: sha256=$sig\"".to_string()),
                "stripe" => (
                    format!("t=$(date +%s)\n{}", hmac("$t.$body")),
                    " -H \"Stripe-Signature: t=$t,v1=$sig\"".to_string(),
                ),
                "slack" => (
                    format!("ts=$(date +%s)\n{}", hmac("v0:$ts:$body")),
                    " -H \"X-Slack-Request-Timestamp: $ts\" -H \"X-Slack-Signature: v0=$sig\""
                        .to_string(),
                ),
                "standard-webhooks" => (
                    "id=msg_$(date +%s%N); ts=$(date +%s)\n\
                     key=$(printf %s \"${secret#whsec_}\" | base64 -d | od -An -tx1 | tr -d ' \\n')\n\
                     sig=$(printf %s \"$id.$ts.$body\" | openssl dgst -sha256 -mac HMAC -macopt \"hexkey:$key\" -binary | base64)\n"
                        .to_string(),
                    " -H \"webhook-id: $id\" -H \"webhook-timestamp: $ts\" -H \"webhook-signature: v1,$sig\""
                        .to_string(),
                ),
                _ => (hmac("$body"), format!(" -H \"{header}: $sig\"")),
            };
            format!("{body}{secret_line}{prelude}{}", post(&headers))
        }
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "basic" => "Basic",
        "header" => "Header",
        _ => "Signature",
    }
}

/// The test curl for the instance page: with its first credential, its secret a placeholder.
pub fn test_curl(instance: &InstanceView, webhook: &str) -> Markup {
    let first = instance.credentials.first();
    let header_name;
    let auth = match first {
        None => CurlAuth::Anonymous,
        Some(c) if c.kind == "basic" => CurlAuth::Basic(&c.username, "PASSWORD"),
        Some(c) if c.kind == "header" => {
            header_name = c
                .username
                .strip_prefix(crate::auth::rules::HEADER_PREFIX)
                .unwrap_or(&c.username)
                .to_string();
            CurlAuth::Header(&header_name, "SECRET")
        }
        Some(c) => CurlAuth::Signature {
            scheme: &c.username,
            header: c.header.as_deref().unwrap_or(DEFAULT_HEADER),
            secret: "SECRET",
        },
    };
    html! {
        @match first {
            None if !instance.allow_anonymous => {
                p.notice.error { "This instance has no credential yet: every delivery is refused with 401. Add one below." }
            }
            None => { p.muted { "Anonymous deliveries are allowed, so this needs no credential." } }
            Some(c) => {
                p.muted { "Uses the " (kind_label(&c.kind)) " credential " code { (c.username) }
                    "; replace " code { (if c.kind == "basic" { "PASSWORD" } else { "SECRET" }) } " with its secret." }
            }
        }
        div.copyable {
            button.copy type="button" data-copy="test-curl" { "Copy" }
            pre #test-curl { code { (curl(webhook, &auth)) } }
        }
    }
}

/// The generated secret, with the curl that uses it; shown in the answer to the form only.
pub fn shown_once(secret: &NewSecret) -> Markup {
    html! {
        section.panel.once #new-secret-panel role="status" {
            h2 { "New secret for " (secret.what) }
            p { strong { "Copy it now: it is shown this once." } " intake keeps only a hash (a sealed copy for signature rules) and cannot show it again." }
            div.copyable {
                button.copy type="button" data-copy="new-secret" { "Copy" }
                pre { code #new-secret { (secret.secret) } }
            }
            p.muted { "A test delivery with it:" }
            div.copyable {
                button.copy type="button" data-copy="new-secret-curl" { "Copy" }
                pre #new-secret-curl { code { (secret.curl) } }
            }
        }
    }
}

pub(super) fn describe(c: &CredentialView) -> String {
    match c.kind.as_str() {
        "basic" => format!("Basic credential '{}'", c.username),
        "header" => format!(
            "header rule {}",
            c.username
                .strip_prefix(crate::auth::rules::HEADER_PREFIX)
                .unwrap_or(&c.username)
        ),
        _ => format!("{} signature rule", c.username),
    }
}

/// The credentials section of the instance page.
pub fn section(admin: &Admin, instance: &InstanceView, draft: Option<&CredentialDraft>) -> Markup {
    let name = instance.name.as_str();
    let no_errors = FieldErrors::default();
    let errors_of = |kind: &str| match draft {
        Some(d) if d.kind == kind => &d.errors,
        _ => &no_errors,
    };
    let typed = |kind: &str, pick: fn(&CredentialDraft) -> &str| match draft {
        Some(d) if d.kind == kind => pick(d).to_string(),
        _ => String::new(),
    };
    let schemes: Vec<(String, String)> = SCHEMES
        .iter()
        .map(|(s, l)| (s.to_string(), l.to_string()))
        .collect();
    let chosen_scheme = match draft {
        Some(d) if d.kind == "signature" => d.scheme.clone(),
        _ => "github".to_string(),
    };
    let generate_button = html! {
        button.secondary type="submit" name="generate" value="yes" { "Generate a secret" }
    };
    html! {
        section.panel #credentials {
            h2 { "Credentials" }
            @if instance.credentials.is_empty() {
                p.empty { "No credentials." }
            } @else {
                table.list #credential-rows {
                    thead { tr { th { "Kind" } th { "Username, header or scheme" } th { "Created" } th { span.hidden { "Actions" } } } }
                    tbody {
                        @for c in &instance.credentials {
                            tr data-id=(c.id) {
                                td.kind { (kind_label(&c.kind)) }
                                td.who { code { (c.username) } @if let Some(h) = &c.header { " (" code { (h) } ")" } }
                                td { (time(&c.created)) }
                                td { a href=(path_of(name, &format!("/credentials/{}/remove", c.id))) { "Remove" } }
                            }
                        }
                    }
                }
            }
            p.muted.rotation { "Rotating a secret: add the new credential, move the sender to it, check the delivery log shows no refusals, then remove the old one. Both work in between. Secrets are never shown back." }
            div.credential-forms {
                form.credential #add-basic method="post" action=(path_of(name, "/credentials")) {
                    h3 { "Basic" }
                    (admin::csrf(admin))
                    input type="hidden" name="kind" value="basic";
                    @if draft.is_some_and(|d| d.kind == "basic") { (errors_of("basic").general()) }
                    (admin::text_field("username", "Username", &typed("basic", |d| &d.username), None, errors_of("basic")))
                    (admin::input_field("password", "secret", "Password", "", Some("Or leave empty and generate one."), errors_of("basic")))
                    div.form-actions { button type="submit" { "Add Basic credential" } (generate_button) }
                }
                form.credential #add-header method="post" action=(path_of(name, "/credentials")) {
                    h3 { "Header" }
                    (admin::csrf(admin))
                    input type="hidden" name="kind" value="header";
                    @if draft.is_some_and(|d| d.kind == "header") { (errors_of("header").general()) }
                    (admin::text_field("header_name", "Header name", &typed("header", |d| &d.header_name),
                        Some("The sender sends the secret as this header's value, e.g. X-Api-Key."), errors_of("header")))
                    (admin::input_field("password", "header_secret", "Header value", "", Some("Or leave empty and generate one."), errors_of("header")))
                    div.form-actions { button type="submit" { "Add header rule" } (generate_button) }
                }
                form.credential #add-signature method="post" action=(path_of(name, "/credentials")) {
                    h3 { "Signature" }
                    (admin::csrf(admin))
                    input type="hidden" name="kind" value="signature";
                    @if draft.is_some_and(|d| d.kind == "signature") { (errors_of("signature").general()) }
                    (admin::select_field("scheme", "Scheme", &schemes, &chosen_scheme, None, errors_of("signature")))
                    (admin::text_field("signature_header", "Signature header", &typed("signature", |d| &d.signature_header),
                        Some("Generic HMAC-SHA256 only; empty: X-Signature."), errors_of("signature")))
                    (admin::input_field("password", "signing_secret", "Signing secret", "",
                        Some("Standard Webhooks secrets start with whsec_. Or leave empty and generate one."), errors_of("signature")))
                    div.form-actions { button type="submit" { "Add signature rule" } (generate_button) }
                }
            }
        }
    }
}

/// A fresh secret: 256 random bits, in the form the scheme expects.
pub(super) fn generated_secret(kind: &str, scheme: &str) -> String {
    if kind == "signature" && scheme == "standard-webhooks" {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        return format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
    }
    super::sessions::random_token()
}
