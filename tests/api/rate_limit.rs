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
    let admin = env
        .ok(&["token", "create", "--role", "admin"], None)
        .trim()
        .to_string();
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
