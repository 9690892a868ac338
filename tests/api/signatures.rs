//! Signature rules: each scheme with its documentation's published vector and with
//! signatures computed here, rotation, tolerance, and secrets never in clear at rest.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

fn hmac_bytes(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Posts `body` with these headers; returns status and parsed answer.
fn send(
    server: &TestServer,
    instance: &str,
    headers: &[(&str, String)],
    body: &str,
    form: bool,
) -> (u16, Value) {
    let mut request = client()
        .post(server.execute_url(instance))
        .body(body.to_string());
    if form {
        request = request.header("Content-Type", "application/x-www-form-urlencoded");
    }
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn add_rule(env: &TestEnv, instance: &str, scheme: &str, secret: &str, extra: &[&str]) {
    let mut args = vec![
        "instance",
        "credential",
        "add",
        instance,
        "--signature",
        scheme,
        "--secret-stdin",
    ];
    args.extend_from_slice(extra);
    env.ok(&args, Some(secret));
}

fn refused_with(answer: (u16, Value), message: &str) {
    assert_eq!(answer.0, 401, "{}", answer.1);
    assert_eq!(answer.1["error"], "unauthorized");
    assert_eq!(answer.1["message"], message);
}

#[test]
fn github_signatures_match_the_published_vector_and_refuse_forgeries() {
    let env = TestEnv::new().keyed();
    env.ok(&["instance", "add", "gh"], None);
    add_rule(&env, "gh", "github", "It's a Secret to Everybody", &[]);
    let server = env.serve_in_process(&[]);
    let published = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (status, body) = send(
        &server,
        "gh",
        &[("X-Hub-Signature-256", published.into())],
        "Hello, World!",
        true,
    );
    assert_eq!(status, 200, "{body}");
    let stored = env.incident(body[0]["id"].as_i64().unwrap());
    assert!(
        stored["raw_json"].get("Hello, World!").is_some(),
        "{stored}"
    );

    refused_with(
        send(
            &server,
            "gh",
            &[("X-Hub-Signature-256", published.into())],
            "Hello, World?",
            true,
        ),
        "signature does not match",
    );
    refused_with(
        send(&server, "gh", &[], "Hello, World!", true),
        "missing X-Hub-Signature-256",
    );

    let payload = r#"{"action":"opened","repository":{"full_name":"acme/api"}}"#;
    let signature = format!(
        "sha256={}",
        hex(&hmac_bytes(
            b"It's a Secret to Everybody",
            payload.as_bytes()
        ))
    );
    assert_eq!(
        send(
            &server,
            "gh",
            &[("X-Hub-Signature-256", signature.clone())],
            payload,
            false
        )
        .0,
        200
    );
    // One byte more than what was signed.
    refused_with(
        send(
            &server,
            "gh",
            &[("X-Hub-Signature-256", signature)],
            &format!("{payload} "),
            false,
        ),
        "signature does not match",
    );
    assert_eq!(
        env.all_incidents().len(),
        2,
        "a refused delivery stored something"
    );
}

#[test]
fn standard_webhooks_vector_tolerance_and_webhook_id_as_idempotency_key() {
    let env = TestEnv::new().keyed();
    // The published example was signed in 2021: only a tolerance of years accepts it.
    env.ok(
        &[
            "instance",
            "add",
            "svix",
            "--signature-tolerance",
            "2000000000",
        ],
        None,
    );
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    add_rule(&env, "svix", "standard-webhooks", secret, &[]);
    let server = env.serve_in_process(&[]);
    let vector = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()),
        ("webhook-timestamp", "1614265330".to_string()),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_string(),
        ),
    ];
    let body = r#"{"test": 2432232314}"#;
    let (status, first) = send(&server, "svix", &vector, body, false);
    assert_eq!(status, 200, "{first}");
    // The same webhook-id again is the same delivery: the same answer, nothing new stored.
    let (status, again) = send(&server, "svix", &vector, body, false);
    assert_eq!((status, &again), (200, &first));
    assert_eq!(env.all_incidents().len(), 1);

    env.ok(
        &["instance", "update", "svix", "--signature-tolerance", "300"],
        None,
    );
    assert!(eventually(std::time::Duration::from_secs(5), || {
        send(&server, "svix", &vector, body, false).1["message"] == "timestamp outside tolerance"
    }));

    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret["whsec_".len()..])
        .unwrap();
    let (id, ts, payload) = (
        "msg_fresh_1",
        now().to_string(),
        r#"{"type":"invoice.paid"}"#,
    );
    let mac = hmac_bytes(&key, format!("{id}.{ts}.{payload}").as_bytes());
    let signature = format!(
        "v1,{} v1,{}",
        base64::engine::general_purpose::STANDARD.encode([0u8; 32]),
        base64::engine::general_purpose::STANDARD.encode(mac)
    );
    let headers = [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.clone()),
        ("webhook-signature", signature),
    ];
    assert_eq!(send(&server, "svix", &headers, payload, false).0, 200);
    let tampered = [
        headers[0].clone(),
        ("webhook-timestamp", (now() - 1).to_string()),
        headers[2].clone(),
    ];
    refused_with(
        send(&server, "svix", &tampered, payload, false),
        "signature does not match",
    );
    refused_with(
        send(&server, "svix", &headers[..2], payload, false),
        "missing webhook-signature",
    );
}

#[test]
fn stripe_and_slack_signatures_with_their_timestamps() {
    let env = TestEnv::new().keyed();
    env.ok(&["instance", "add", "stripe"], None);
    add_rule(&env, "stripe", "stripe", "whsec_stripe_test_secret", &[]);
    env.ok(
        &[
            "instance",
            "add",
            "slack",
            "--signature-tolerance",
            "2000000000",
        ],
        None,
    );
    add_rule(
        &env,
        "slack",
        "slack",
        "8f742231b10e8888abcd99yyyzzz85a5",
        &[],
    );
    let server = env.serve_in_process(&[]);

    let payload = r#"{"id":"evt_1","type":"charge.failed"}"#;
    let sign = |t: i64| {
        let v1 = hex(&hmac_bytes(
            b"whsec_stripe_test_secret",
            format!("{t}.{payload}").as_bytes(),
        ));
        format!("t={t},v1={},v1={v1},v0=00", "ab".repeat(32))
    };
    assert_eq!(
        send(
            &server,
            "stripe",
            &[("Stripe-Signature", sign(now()))],
            payload,
            false
        )
        .0,
        200
    );
    refused_with(
        send(
            &server,
            "stripe",
            &[("Stripe-Signature", sign(now() - 301))],
            payload,
            false,
        ),
        "timestamp outside tolerance",
    );
    refused_with(
        send(
            &server,
            "stripe",
            &[("Stripe-Signature", sign(now()))],
            r#"{"id":"evt_2"}"#,
            false,
        ),
        "signature does not match",
    );

    // Slack's documented example (a slash command, form-encoded).
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let headers = [
        ("X-Slack-Request-Timestamp", "1531420618".to_string()),
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503".to_string(),
        ),
    ];
    let (status, answer) = send(&server, "slack", &headers, body, true);
    assert_eq!(status, 200, "{answer}");
    let stored = env.incident(answer[0]["id"].as_i64().unwrap());
    assert_eq!(stored["raw_json"]["user_name"], "roadrunner");
    refused_with(
        send(&server, "slack", &headers[..1], body, true),
        "missing X-Slack-Signature",
    );
}

#[test]
fn generic_rules_rotate_through_the_api_and_secrets_are_never_in_clear() {
    let env = TestEnv::new().keyed();
    env.add_instance("grafana", "basic-user", "Basic-Pa55word", &[]);
    let admin = env.api_token("admin");
    let server = env.serve(&[]);
    let add = |body: Value| {
        let response = client()
            .post(server.url("/api/v1/instances/grafana/credentials"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
        )
    };
    let (old_secret, new_secret) = ("grafana-old-signing-secret", "grafana-new-signing-secret");
    for secret in [old_secret, new_secret] {
        let (status, view) = add(
            json!({"signature": "hmac-sha256", "secret": secret, "header": "X-Grafana-Alerting-Signature"}),
        );
        assert_eq!(status, 201, "{view}");
        assert_eq!(
            (view["kind"].as_str(), view["username"].as_str()),
            (Some("signature"), Some("hmac-sha256"))
        );
        assert_eq!(view["header"], "X-Grafana-Alerting-Signature");
        assert!(!view.to_string().contains(secret));
    }
    let (status, refused) = add(json!({"signature": "md5", "secret": "x"}));
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid")));

    let payload = r#"{"status":"firing","alerts":[{"labels":{"alertname":"HighCPU"}}]}"#;
    for secret in [old_secret, new_secret] {
        let signature = hex(&hmac_bytes(secret.as_bytes(), payload.as_bytes()));
        assert_eq!(
            send(
                &server,
                "grafana",
                &[("X-Grafana-Alerting-Signature", signature)],
                payload,
                false
            )
            .0,
            200,
            "{secret}"
        );
    }
    let forged = hex(&hmac_bytes(b"guess", payload.as_bytes()));
    refused_with(
        send(
            &server,
            "grafana",
            &[("X-Grafana-Alerting-Signature", forged)],
            payload,
            false,
        ),
        "signature does not match",
    );

    let token = {
        let response = client()
            .post(server.url("/instance/token/grafana"))
            .basic_auth("basic-user", Some("Basic-Pa55word"))
            .send()
            .unwrap();
        response.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let shown = env
        .json(&["instance", "show", "grafana", "--json"])
        .to_string();
    let stored = env.stored_text();
    for secret in [old_secret, new_secret, "Basic-Pa55word", token.as_str()] {
        assert!(
            !stored.contains(secret),
            "'{secret}' is in the database in clear"
        );
        assert!(!shown.contains(secret), "'{secret}' is shown");
        assert!(!server.log_text().contains(secret), "'{secret}' was logged");
    }
    if env.secret_key.is_none() {
        use std::os::unix::fs::PermissionsExt;
        let key =
            std::fs::metadata(env.path("intake.db.key")).expect("a key file beside the database");
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn without_a_secret_key_postgresql_refuses_signature_rules() {
    let env = TestEnv::new();
    env.ok(&["instance", "add", "nokey"], None);
    let out = env.run(
        &[
            "instance",
            "credential",
            "add",
            "nokey",
            "--signature",
            "github",
            "--secret-stdin",
        ],
        Some("s3cret"),
    );
    // SQLite generates a key beside the database; PostgreSQL has no such place.
    assert_eq!(
        out.status.success(),
        env.is_sqlite(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if env.is_sqlite() {
        assert!(env.path("intake.db.key").exists());
    } else {
        assert_postgres_needs_the_key(&env, &out);
    }
}

fn assert_postgres_needs_the_key(env: &TestEnv, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INTAKE_SECRET_KEY"), "{stderr}");
    // With the key given, the rule is added and served.
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let added = std::process::Command::new(BIN)
        .args([
            "instance",
            "credential",
            "add",
            "nokey",
            "--signature",
            "github",
            "--secret-stdin",
        ])
        .env("INTAKE_DATABASE_URL", &env.db_url)
        .env("INTAKE_SECRET_KEY", &key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"s3cret")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

#[test]
fn timestamp_schemes_refuse_stale_and_far_future_timestamps_and_accept_those_within_tolerance() {
    let env = TestEnv::new().keyed();
    let admin = env.api_token("admin");
    let svix_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let svix_key = base64::engine::general_purpose::STANDARD
        .decode(&svix_secret["whsec_".len()..])
        .unwrap();
    for (instance, scheme, secret) in [
        ("stripe", "stripe", "whsec_stripe_tolerance"),
        ("slack", "slack", "slack-tolerance-secret"),
        ("svix", "standard-webhooks", svix_secret),
    ] {
        env.ok(&["instance", "add", instance], None);
        add_rule(&env, instance, scheme, secret, &[]);
    }
    let server = env.serve(&[]);
    let payload = r#"{"event":"tolerance"}"#;
    // Each scheme's headers for a delivery of `payload` signed correctly at timestamp `t`.
    let signed = |instance: &str, t: &str| -> Vec<(&'static str, String)> {
        match instance {
            "stripe" => {
                let v1 = hex(&hmac_bytes(
                    b"whsec_stripe_tolerance",
                    format!("{t}.{payload}").as_bytes(),
                ));
                vec![("Stripe-Signature", format!("t={t},v1={v1}"))]
            }
            "slack" => {
                let v0 = hex(&hmac_bytes(
                    b"slack-tolerance-secret",
                    format!("v0:{t}:{payload}").as_bytes(),
                ));
                vec![
                    ("X-Slack-Request-Timestamp", t.to_string()),
                    ("X-Slack-Signature", format!("v0={v0}")),
                ]
            }
            _ => {
                let id = format!("msg_{}", t.replace('-', "m"));
                let mac = hmac_bytes(&svix_key, format!("{id}.{t}.{payload}").as_bytes());
                vec![
                    ("webhook-id", id),
                    ("webhook-timestamp", t.to_string()),
                    (
                        "webhook-signature",
                        format!(
                            "v1,{}",
                            base64::engine::general_purpose::STANDARD.encode(mac)
                        ),
                    ),
                ]
            }
        }
    };
    // Offsets from the clock at sending (with room for the seconds a run takes), and i64's ends.
    let refused = ["-330", "-86400", "+330", "+31536000", "min", "max"];
    for instance in ["stripe", "slack", "svix"] {
        for offset in ["-270", "+0", "+270"] {
            let (status, body) = send(
                &server,
                instance,
                &signed(instance, &at(offset)),
                payload,
                false,
            );
            assert_eq!(status, 200, "{instance} at now{offset}: {body}");
        }
        for offset in refused {
            let t = at(offset);
            let (status, body) = send(&server, instance, &signed(instance, &t), payload, false);
            assert_eq!(
                (status, body["message"].as_str()),
                (401, Some("timestamp outside tolerance")),
                "{instance} at {t}: {body}"
            );
        }
    }
    assert_eq!(
        env.all_incidents().len(),
        9,
        "a refused delivery stored something"
    );
    let metrics = client()
        .get(server.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for instance in ["stripe", "slack", "svix"] {
        let line = format!(
            r#"intake_auth_failures_total{{instance="{instance}",reason="stale_timestamp"}} {}"#,
            refused.len()
        );
        assert!(metrics.contains(&line), "{line} not in:\n{metrics}");
    }
}

/// A timestamp from the clock now: `+N`/`-N` seconds away, or `min`/`max` of i64.
fn at(offset: &str) -> String {
    match offset {
        "min" => i64::MIN.to_string(),
        "max" => i64::MAX.to_string(),
        offset => (now() + offset.parse::<i64>().unwrap()).to_string(),
    }
}
