//! Per-instance rate limits: excess requests get 429 with Retry-After; other instances and
//! an instance without a limit are unaffected.

use serde_json::{json, Value};

use crate::helpers::*;

fn send(server: &TestServer, instance: &str) -> (u16, Option<u64>, Value) {
    let response = client()
        .post(server.execute_url(instance))
        .basic_auth("sender", Some("Sender-Pa55"))
        .body("{}")
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, response.json().unwrap_or(Value::Null))
}

#[test]
fn excess_requests_get_429_with_retry_after_and_other_instances_are_unaffected() {
    let env = TestEnv::new();
    // One request every 5 s, 3 at once: the fourth in a row is over the budget.
    env.add_instance(
        "limited",
        "sender",
        "Sender-Pa55",
        &["--rate-limit", "0.2", "--rate-burst", "3"],
    );
    env.add_instance("free", "sender", "Sender-Pa55", &[]);
    let shown = env.json(&["instance", "show", "limited", "--json"]);
    assert_eq!(
        (shown["rate_limit"].as_f64(), shown["rate_burst"].as_i64()),
        (Some(0.2), Some(3))
    );
    assert_eq!(
        env.json(&["instance", "show", "free", "--json"])["rate_limit"],
        Value::Null
    );
    let admin = env.api_token("admin");
    let server = env.serve(&[]);

    for _ in 0..3 {
        assert_eq!(send(&server, "limited",).0, 200);
    }
    let (status, retry, body) = send(&server, "limited");
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert!(
        retry.is_some_and(|s| (1..=5).contains(&s)),
        "Retry-After: {retry:?}"
    );
    for _ in 0..10 {
        assert_eq!(send(&server, "free").0, 200);
    }
    assert_eq!(
        env.all_incidents().len(),
        13,
        "a refused request stored something"
    );

    let metrics = client()
        .get(server.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .contains(r#"intake_auth_failures_total{instance="limited",reason="rate_limited"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"intake_auth_failures_total{instance="free",reason="rate_limited"} 0"#)
    );

    // The API lifts the limit.
    let patched = client()
        .patch(server.url("/api/v1/instances/limited"))
        .bearer_auth(&admin)
        .json(&json!({"rate_limit": null}))
        .send()
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().unwrap()["rate_limit"], Value::Null);
    for _ in 0..5 {
        assert_eq!(send(&server, "limited").0, 200);
    }
    let (status, body) = {
        let response = client()
            .patch(server.url("/api/v1/instances/limited"))
            .bearer_auth(&admin)
            .json(&json!({"rate_limit": -1}))
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
        )
    };
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("rate_limit"));
}

/// Asks for a token with the instance's Basic pair; returns status, Retry-After and body.
fn token_request(server: &TestServer, instance: &str) -> (u16, Option<u64>, Value) {
    let response = client()
        .post(server.url(&format!("/instance/token/{instance}")))
        .basic_auth("sender", Some("Sender-Pa55"))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, response.json().unwrap_or(Value::Null))
}

#[test]
fn token_requests_count_against_the_instance_rate_limit() {
    let env = TestEnv::new();
    env.add_instance(
        "limited",
        "sender",
        "Sender-Pa55",
        &["--rate-limit", "0.2", "--rate-burst", "2"],
    );
    env.add_instance("free", "sender", "Sender-Pa55", &[]);
    let server = env.serve(&[]);

    let (status, _, first) = token_request(&server, "limited");
    assert_eq!(status, 200, "{first}");
    assert_eq!(token_request(&server, "limited").0, 200);
    // The right pair, over the budget: refused before any password check.
    let (status, retry, body) = token_request(&server, "limited");
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert!(
        retry.is_some_and(|s| (1..=5).contains(&s)),
        "Retry-After: {retry:?}"
    );
    // The budget is the instance's: a delivery with the token just issued waits as well.
    let token = first["access_token"].as_str().unwrap();
    let delivery = client()
        .post(server.execute_url("limited"))
        .bearer_auth(token)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(delivery.status(), 429);
    for _ in 0..5 {
        assert_eq!(token_request(&server, "free").0, 200);
    }
    assert!(env.all_incidents().is_empty());
}

#[test]
fn a_rate_limit_and_burst_set_through_the_api_apply_to_the_next_request() {
    let env = TestEnv::new();
    env.add_instance("tuned", "sender", "Sender-Pa55", &[]);
    let admin = env.api_token("admin");
    let server = env.serve(&[]);
    let patch = |body: Value| {
        let response = client()
            .patch(server.url("/api/v1/instances/tuned"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().unwrap()
    };
    for _ in 0..5 {
        assert_eq!(send(&server, "tuned").0, 200, "no limit yet");
    }

    let shown = patch(json!({"rate_limit": 0.2, "rate_burst": 2}));
    assert_eq!(
        (shown["rate_limit"].as_f64(), shown["rate_burst"].as_i64()),
        (Some(0.2), Some(2))
    );
    let answers: Vec<u16> = (0..3).map(|_| send(&server, "tuned").0).collect();
    assert_eq!(answers, [200, 200, 429]);

    // A new burst alone is a new budget, in force at once.
    let shown = patch(json!({"rate_burst": 4}));
    assert_eq!(
        (shown["rate_limit"].as_f64(), shown["rate_burst"].as_i64()),
        (Some(0.2), Some(4))
    );
    let answers: Vec<u16> = (0..5).map(|_| send(&server, "tuned").0).collect();
    assert_eq!(answers, [200, 200, 200, 200, 429]);
    let show = env.json(&["instance", "show", "tuned", "--json"]);
    assert_eq!(show["rate_burst"], 4);

    // An instance created through the API with a limit has it from its first request.
    let created = client()
        .post(server.url("/api/v1/instances"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "born-limited", "username": "sender", "password": "Sender-Pa55",
                      "rate_limit": 0.2, "rate_burst": 1}),
        )
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let answers: Vec<u16> = (0..2).map(|_| send(&server, "born-limited").0).collect();
    assert_eq!(answers, [200, 429]);
}
