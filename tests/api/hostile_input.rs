//! Values that would get in and break things later if they were let through: numbers beyond
//! f64 and lone surrogate escapes (stored, then unreadable), timestamps outside the years
//! 1-9999 (refused by PostgreSQL as a storage fault), JSONPath indexes beyond i64 (a panic when
//! evaluated), and blank mapping literals (a blank incident name).

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn unreadable_json_values_are_refused_and_out_of_range_timestamps_use_the_receive_time() {
    let env = TestEnv::new();
    env.add_instance("hostile", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("hostile");
    for (body, problem) in [
        (r#"{"name":"big","n":1e999}"#, "out of range"),
        (r#"[{"name":"ok"},{"n":-1E400}]"#, "out of range"),
        (r#"{"name":"\ud800 lone"}"#, "surrogate"),
        (r#"{"raw_json":{"s":"x\uDFFF"}}"#, "surrogate"),
    ] {
        let answer = post_json(&url, Some(("u", "p")), body);
        assert_error(&answer, 400, "invalid_json");
        assert!(
            answer.1["message"].as_str().unwrap().contains(problem),
            "{body}: {}",
            answer.1
        );
    }
    assert!(
        env.all_incidents().is_empty(),
        "a refused body stored something"
    );

    for occurred in [
        json!(-8_000_000_000_000_000_i64),
        json!(8_000_000_000_000_000_i64),
        json!("+12345-01-01T00:00:00"),
        json!("-0001-06-01T00:00:00Z"),
    ] {
        let body = json!({"name": "far", "occurred": occurred, "ok": "\u{1F600}"}).to_string();
        let (status, answer) = post_json(&url, Some(("u", "p")), &body);
        assert_eq!(status, 200, "{occurred}: {answer}");
        let item = &answer[0];
        assert_eq!(item["occurred"], item["created"], "{occurred}: {answer}");
        assert!(
            item["warnings"][0]
                .as_str()
                .unwrap()
                .contains("not a timestamp"),
            "{occurred}: {answer}"
        );
        // The stored incident reads back.
        let shown = env.incident(item["id"].as_i64().unwrap());
        assert_eq!(shown["raw_json"]["ok"], "\u{1F600}");
    }
}

#[test]
fn oversized_jsonpath_indexes_are_refused_and_blank_literals_name_nothing() {
    let env = TestEnv::new();
    env.add_instance("mapped", "u", "p", &[]);
    let admin = env.api_token("admin");
    let server = env.serve_in_process(&[]);
    let patch = |mapping: Value| {
        let response = client()
            .patch(server.url("/api/v1/instances/mapped"))
            .bearer_auth(&admin)
            .json(&json!({ "mapping": mapping }))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap())
    };
    let (status, refused) = patch(json!({"name": "$.alerts[99999999999999999999]"}));
    assert_eq!(status, 400, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("name") && message.contains("99999999999999999999"),
        "{refused}"
    );

    let (status, saved) =
        patch(json!({"name": ["", "$.title"], "type": {"value": "$.kind", "default": " "}}));
    assert_eq!(status, 200, "{saved}");
    let url = server.execute_url("mapped");
    let (status, answer) = post_json(&url, Some(("u", "p")), r#"{"name":"own"}"#);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["name"], "own");
    assert_eq!(answer[0]["type"], Value::Null);
    let (_, answer) = post_json(&url, Some(("u", "p")), r#"{"title":"mapped"}"#);
    assert_eq!(answer[0]["name"], "mapped");
}
