//! What `/api/v1` and the token endpoint make of bad or slow requests: an unknown query
//! parameter is 400 naming it, a malformed body a 4xx JSON error, and a body that never
//! finishes is 408 after the body timeout, with nothing changed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

fn answer(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn an_unknown_query_parameter_on_any_api_route_is_400_naming_it() {
    let env = TestEnv::new();
    env.add_instance("known", "u", "p", &[]);
    let admin = env.api_token("admin");
    let server = env.serve_in_process(&[]);
    let c = client();
    let requests = [
        (
            "GET /instances",
            c.get(server.url("/api/v1/instances?colour=red")),
            "colour",
        ),
        (
            "GET /instances/known",
            c.get(server.url("/api/v1/instances/known?verbose=1")),
            "verbose",
        ),
        (
            "GET samples",
            c.get(server.url("/api/v1/instances/known/samples?limit=5")),
            "limit",
        ),
        (
            "GET deliveries",
            c.get(server.url("/api/v1/instances/known/deliveries?since=today")),
            "since",
        ),
        (
            "PATCH /instances/known",
            c.patch(server.url("/api/v1/instances/known?dry_run=true"))
                .json(&json!({"store_samples": true})),
            "dry_run",
        ),
        (
            "GET /incidents",
            c.get(server.url("/api/v1/incidents?stauts=open")),
            "stauts",
        ),
        (
            "GET /openapi.json",
            c.get(server.url("/api/v1/openapi.json?v=3")),
            "v",
        ),
    ];
    for (what, request, name) in requests {
        let (status, body) = answer(request.bearer_auth(&admin).send().unwrap());
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body["error"] == "unknown_parameter" || body["error"] == "invalid_query",
            "{what}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("'{name}'"))
                || body["message"].as_str().unwrap().starts_with(name),
            "{what}: the message does not name '{name}': {body}"
        );
    }
    // The refused PATCH changed nothing.
    assert_eq!(
        env.json(&["instance", "show", "known", "--json"])["store_samples"],
        false
    );
}

#[test]
fn malformed_api_bodies_are_4xx_json_errors() {
    let env = TestEnv::new();
    env.add_instance("known", "u", "p", &[]);
    let admin = env.api_token("admin");
    let server = env.serve_in_process(&[]);
    let c = client();
    let bodies = [
        ("not JSON", "application/json", "{\"name\":"),
        ("a scalar", "application/json", "42"),
        (
            "wrong type",
            "application/json",
            r#"{"store_samples":"yes"}"#,
        ),
        ("unknown field", "application/json", r#"{"colour":"red"}"#),
        (
            "huge number",
            "application/json",
            r#"{"sample_limit":1e999}"#,
        ),
        (
            "deep",
            "application/json",
            &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        (
            "not labelled JSON",
            "text/plain",
            r#"{"store_samples":true}"#,
        ),
    ];
    for (what, content_type, body) in bodies {
        let (status, answer) = answer(
            c.patch(server.url("/api/v1/instances/known"))
                .bearer_auth(&admin)
                .header("Content-Type", content_type)
                .body(body.to_string())
                .send()
                .unwrap(),
        );
        assert!((400..500).contains(&status), "{what}: {status} {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
        assert!(answer["message"].is_string(), "{what}: {answer}");
    }
    // The server is still there and nothing changed.
    assert_eq!(
        env.json(&["instance", "show", "known", "--json"])["store_samples"],
        false
    );
    assert_eq!(c.get(server.url("/healthz")).send().unwrap().status(), 200);
}

/// Sends the head of a request and part of its body, then waits for the answer.
fn trickled(server: &TestServer, head_and_part: &str) -> (String, Duration) {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(head_and_part.as_bytes()).unwrap();
    let opened = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while opened.elapsed() < Duration::from_secs(15) {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if String::from_utf8_lossy(&received).contains("body_timeout") {
            break;
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        opened.elapsed(),
    )
}

#[test]
fn api_and_token_bodies_that_never_finish_are_408_after_the_body_timeout() {
    let env = TestEnv::new();
    env.add_instance("slow", "u", "p", &[]);
    let admin = env.api_token("admin");
    let config = env.path("intake.toml");
    std::fs::write(&config, "[limits]\nbody_timeout_ms = 1000\n").unwrap();
    let server = env.serve_in_process(&["--config", config.to_str().unwrap()]);

    let (text, waited) = trickled(
        &server,
        &format!(
            "PATCH /api/v1/instances/slow HTTP/1.1\r\nHost: intake\r\n\
             Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"store_samples\":true"
        ),
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}"
    );
    assert_eq!(
        env.json(&["instance", "show", "slow", "--json"])["store_samples"],
        false,
        "a body that never finished changed the instance"
    );

    let (text, _) = trickled(
        &server,
        "POST /instance/token/slow HTTP/1.1\r\nHost: intake\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\nclient_id=u&client_secret=",
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");

    // Whole bodies still work.
    let patched = client()
        .patch(server.url("/api/v1/instances/slow"))
        .bearer_auth(&admin)
        .json(&json!({"store_samples": true}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
}
