//! The token endpoint (OAuth 2.0 client credentials) and the bearer tokens it issues.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// Sends a token request; returns status, headers and parsed body.
fn token_request(
    request: reqwest::blocking::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().expect("token request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// A token for `id`/`secret` from POST with a Basic header.
fn issue(server: &TestServer, instance: &str, id: &str, secret: &str) -> String {
    let (status, _, body) = token_request(
        client()
            .post(server.url(&format!("/instance/token/{instance}")))
            .basic_auth(id, Some(secret)),
    );
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn ingest_with_bearer(
    server: &TestServer,
    instance: &str,
    token: &str,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    token_request(
        client()
            .post(server.execute_url(instance))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
}

fn metrics(server: &TestServer, admin: &str) -> String {
    client()
        .get(server.url("/metrics"))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn the_token_endpoint_reads_the_pair_from_every_place_clients_send_it() {
    let env = TestEnv::new();
    env.add_instance("cii", "cii-client", "Cl1ent-S3cret", &[]);
    let admin = env.api_token("admin");
    let server = env.serve(&[]);
    let url = server.url("/instance/token/cii");
    let c = client();
    let requests = vec![
        ("POST + Basic", c.post(&url).basic_auth("cii-client", Some("Cl1ent-S3cret"))),
        (
            "POST form",
            c.post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&client_id=cii-client&client_secret=Cl1ent-S3cret&scope=alerts"),
        ),
        (
            "PUT JSON",
            c.put(&url).json(&json!({"client_id": "cii-client", "client_secret": "Cl1ent-S3cret", "audience": "intake"})),
        ),
        (
            "GET query",
            c.get(format!("{url}?grant_type=client_credentials&client_id=cii-client&client_secret=Cl1ent-S3cret")),
        ),
        (
            "POST username/password form",
            c.post(&url).body("username=cii-client&password=Cl1ent-S3cret"),
        ),
        (
            "XSOAR path",
            c.post(server.url("/xsoar/instance/token/cii"))
                .basic_auth("cii-client", Some("Cl1ent-S3cret")),
        ),
    ];
    let mut tokens = Vec::new();
    for (how, request) in requests {
        let (status, headers, body) = token_request(request);
        assert_eq!(status, 200, "{how}: {body}");
        assert_eq!(body["token_type"], "Bearer", "{how}");
        assert_eq!(body["expires_in"], 3600, "{how}");
        assert_eq!(body["token"], body["access_token"], "{how}");
        assert_eq!(headers["cache-control"], "no-store", "{how}");
        tokens.push(body["access_token"].as_str().unwrap().to_string());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 6, "every request gets a token of its own");

    let (status, _, body) =
        ingest_with_bearer(&server, "cii", &tokens[0], r#"{"name":"via bearer"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["name"], "via bearer");
    let stored = env.incident(body[0]["id"].as_i64().unwrap());
    let headers = stored["raw_json"]["headers"].as_object().unwrap();
    assert!(!headers.contains_key("authorization"), "{headers:?}");

    // Nowhere else: not the admin API.
    let api = client()
        .get(server.url("/api/v1/instances"))
        .bearer_auth(&tokens[0])
        .send()
        .unwrap();
    assert_eq!(api.status(), 401);
    let text = metrics(&server, &admin);
    assert!(
        text.contains(r#"intake_tokens_issued_total{instance="cii"} 6"#),
        "{text}"
    );
    assert!(!text.contains(&tokens[0]));
    assert!(
        !server.log_text().contains(&tokens[0]),
        "a token was logged"
    );
}

#[test]
fn malformed_or_wrong_token_requests_get_rfc_6749_errors() {
    let env = TestEnv::new();
    env.add_instance("cs", "connectsecure", "pw-123456", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.url("/instance/token/cs");
    let c = client();
    let cases = vec![
        (
            c.post(&url)
                .body("grant_type=password&client_id=connectsecure&client_secret=pw-123456"),
            400,
            "unsupported_grant_type",
        ),
        (
            c.post(&url)
                .header("Content-Type", "application/json")
                .body("{\"client_id\":"),
            400,
            "invalid_request",
        ),
        (
            c.post(format!("{url}?client_id=other"))
                .body("client_id=connectsecure&client_secret=pw-123456"),
            400,
            "invalid_request",
        ),
        (
            c.post(&url).header("Authorization", "Basic %%%"),
            400,
            "invalid_request",
        ),
        (
            c.post(&url).basic_auth("connectsecure", Some("wrong")),
            401,
            "invalid_client",
        ),
        (
            c.post(&url).basic_auth("nobody", Some("pw-123456")),
            401,
            "invalid_client",
        ),
        (c.post(&url), 401, "invalid_client"),
        (
            c.post(server.url("/instance/token/none"))
                .basic_auth("connectsecure", Some("pw-123456")),
            404,
            "not_found",
        ),
        (c.delete(&url), 405, "method_not_allowed"),
    ];
    for (request, status, code) in cases {
        let (got, _, body) = token_request(request);
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn bearer_tokens_expire_belong_to_one_instance_and_die_with_their_credential() {
    let env = TestEnv::new();
    env.add_instance("short", "client", "s3cret-short", &["--token-ttl", "2"]);
    env.add_instance("other", "client", "s3cret-other", &[]);
    let admin = env.api_token("admin");
    let shown = env.json(&["instance", "show", "short", "--json"]);
    assert_eq!(shown["token_ttl"], 2);
    let server = env.serve(&[]);

    let token = issue(&server, "short", "client", "s3cret-short");
    assert_eq!(ingest_with_bearer(&server, "short", &token, "{}").0, 200);
    // Another instance's token is no credential here.
    let (status, headers, _) = ingest_with_bearer(&server, "other", &token, "{}");
    assert_eq!(status, 401);
    assert!(headers
        .get_all("www-authenticate")
        .iter()
        .any(|v| v == r#"Bearer realm="intake", error="invalid_token""#));

    let expired = eventually(Duration::from_secs(5), || {
        ingest_with_bearer(&server, "short", &token, "{}").0 == 401
    });
    assert!(expired, "the token outlived its 2 s lifetime");
    let (_, headers, body) = ingest_with_bearer(&server, "short", &token, "{}");
    assert_eq!(body["error"], "unauthorized");
    assert!(headers
        .get_all("www-authenticate")
        .iter()
        .any(|v| v == r#"Bearer realm="intake", error="invalid_token""#));
    let text = metrics(&server, &admin);
    assert!(
        text.contains(r#"intake_auth_failures_total{instance="short",reason="expired_token"}"#)
            && !text.contains(
                r#"intake_auth_failures_total{instance="short",reason="expired_token"} 0"#
            ),
        "{text}"
    );

    // The API changes the lifetime; the instance JSON shows it.
    let patched = client()
        .patch(server.url("/api/v1/instances/short"))
        .bearer_auth(&admin)
        .json(&json!({"token_ttl": 600}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().unwrap()["token_ttl"], 600);
    let (status, _, body) = token_request(
        client()
            .post(server.url("/instance/token/short"))
            .basic_auth("client", Some("s3cret-short")),
    );
    assert_eq!((status, body["expires_in"].as_i64()), (200, Some(600)));
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(ingest_with_bearer(&server, "short", &token, "{}").0, 200);

    env.ok(
        &[
            "instance",
            "credential",
            "remove",
            "short",
            "--username",
            "client",
        ],
        None,
    );
    assert!(
        eventually(Duration::from_secs(5), || ingest_with_bearer(
            &server, "short", &token, "{}"
        )
        .0 == 401),
        "the token outlived its credential"
    );
}

#[test]
fn a_token_issued_by_one_replica_works_on_another() {
    let env = TestEnv::new();
    env.add_instance("shared", "client", "s3cret-shared", &[]);
    let first = env.serve(&[]);
    let second = env.serve(&[]);
    let token = issue(&first, "shared", "client", "s3cret-shared");
    let (status, _, body) = ingest_with_bearer(&second, "shared", &token, r#"{"name":"second"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.all_incidents()[0]["name"], "second");
}

/// Sends `n` requests at once, each with a password of its own (so none is cached);
/// returns each answer's status, `Retry-After` and error code. A request the loaded test
/// machine could not deliver at all (a connection reset in the listen backlog) is sent again,
/// as a sender would: only the server's answers are judged.
fn flood(
    n: usize,
    send: impl Fn(&reqwest::blocking::Client, usize) -> reqwest::Result<reqwest::blocking::Response>
        + Sync,
) -> Vec<(u16, Option<String>, Value)> {
    let c = client();
    let start = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (c, start, send) = (&c, &start, &send);
                scope.spawn(move || {
                    start.wait();
                    let mut response = send(c, i);
                    for _ in 0..3 {
                        match &response {
                            Err(e) if !e.is_timeout() && (e.is_connect() || e.is_request()) => {
                                response = send(c, i)
                            }
                            _ => break,
                        }
                    }
                    let response = response.expect("the server answers");
                    let status = response.status().as_u16();
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    let body: Value = response.json().unwrap_or(Value::Null);
                    (status, retry, body["error"].clone())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_saturation_is_503(
    answers: &[(u16, Option<String>, Value)],
    refused: u16,
    refused_code: &str,
) {
    let mut saturated = 0;
    for (status, retry, code) in answers {
        match status {
            503 => {
                saturated += 1;
                assert_eq!(code, "credential_checks_saturated");
                assert!(retry.is_some(), "503 without Retry-After");
            }
            s if *s == refused => assert_eq!(code, refused_code),
            other => panic!("unexpected answer {other} {code}"),
        }
    }
    assert!(
        saturated > 0,
        "{} wrong passwords at once never saturated the checker",
        answers.len()
    );
}

#[test]
fn a_saturated_password_checker_answers_503_on_the_token_endpoint_and_on_ingest() {
    let env = TestEnv::new();
    env.add_instance("busy", "client", "s3cret-busy", &[]);
    let server = env.serve_in_process(&[]);
    let token_url = server.url("/instance/token/busy");
    let answers = flood(400, |c, i| {
        c.post(&token_url)
            .basic_auth("client", Some(format!("wrong-{i}")))
            .send()
    });
    assert_saturation_is_503(&answers, 401, "invalid_client");
    let execute = server.execute_url("busy");
    let answers = flood(400, |c, i| {
        c.post(&execute)
            .basic_auth("client", Some(format!("also-wrong-{i}")))
            .body("{}")
            .send()
    });
    assert_saturation_is_503(&answers, 401, "unauthorized");
    // The checker recovers: the right pair still gets a token.
    assert!(!issue(&server, "busy", "client", "s3cret-busy").is_empty());
}

#[test]
fn a_token_ttl_given_at_creation_is_the_issued_tokens_lifetime() {
    let env = TestEnv::new();
    env.add_instance("by-cli", "client", "s3cret-cli", &["--token-ttl", "90"]);
    let admin = env.api_token("admin");
    let server = env.serve_in_process(&[]);
    let created = client()
        .post(server.url("/api/v1/instances"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "by-api", "username": "client", "password": "s3cret-api",
                      "token_ttl": 45}),
        )
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().unwrap()["token_ttl"], 45);

    for (instance, secret, ttl) in [("by-cli", "s3cret-cli", 90), ("by-api", "s3cret-api", 45)] {
        let (status, _, body) = token_request(
            client()
                .post(server.url(&format!("/instance/token/{instance}")))
                .basic_auth("client", Some(secret)),
        );
        assert_eq!(status, 200, "{instance}: {body}");
        assert_eq!(body["expires_in"], ttl, "{instance}: {body}");
    }
    // Out of range at creation is refused, naming the field.
    let refused = client()
        .post(server.url("/api/v1/instances"))
        .bearer_auth(&admin)
        .json(&json!({"name": "never", "token_ttl": 0}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("token_ttl"),
        "{body}"
    );
    let out = env.run(&["instance", "add", "never", "--token-ttl", "0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token_ttl"));
}
