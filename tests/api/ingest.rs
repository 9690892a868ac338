//! Bodies, field rules, responses, and all-or-nothing storage.

use serde_json::{json, Value};

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("sender", "pw-1234"));

fn setup(extra: &[&str]) -> (TestEnv, TestServer) {
    let env = TestEnv::new();
    env.add_instance("alerts", "sender", "pw-1234", extra);
    let server = env.serve_in_process(&[]);
    (env, server)
}

#[test]
fn object_body_creates_one_incident_with_defaults() {
    let (env, server) = setup(&[]);
    let before = chrono::Utc::now();
    let (status, body) = post_json(&server.execute_url("alerts"), AUTH, r#"{"host":"db1"}"#);
    assert_eq!(status, 200, "{body}");
    let items = body.as_array().expect("array");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["instance"], "alerts");
    assert_eq!(item["name"], "Generic webhook triggered incident");
    assert_eq!(item["type"], Value::Null);
    assert!(item.get("warnings").is_none());
    let occurred =
        chrono::DateTime::parse_from_rfc3339(item["occurred"].as_str().unwrap()).unwrap();
    assert!((occurred.timestamp() - before.timestamp()).abs() <= 2);
    assert_eq!(item["occurred"], item["created"]);

    let stored = env.incident(item["id"].as_i64().unwrap());
    assert_eq!(stored["name"], "Generic webhook triggered incident");
    assert_eq!(stored["raw_json"]["host"], "db1");
    assert_eq!(
        stored["raw_json"]["headers"]["content-type"],
        "application/json"
    );
}

#[test]
fn array_body_creates_one_incident_per_element_in_order() {
    let (env, server) = setup(&[]);
    let events: Vec<Value> = (0..25)
        .map(|i| json!({"name": format!("event {i}")}))
        .collect();
    let (status, body) = post_json(
        &server.execute_url("alerts"),
        AUTH,
        &Value::Array(events).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), 25);
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not ascending: {ids:?}"
    );
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["name"], format!("event {i}"));
        assert_eq!(env.incident(ids[i])["name"], format!("event {i}"));
    }
}

#[test]
fn a_large_array_keeps_its_order_across_the_writers_insert_chunks() {
    let (env, server) = setup(&[]);
    let events: Vec<Value> = (0..700)
        .map(|i| json!({"name": format!("event {i}")}))
        .collect();
    let (status, body) = post_json(
        &server.execute_url("alerts"),
        AUTH,
        &Value::Array(events).to_string(),
    );
    assert_eq!(status, 200);
    let ids: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not ascending");
    for i in [0, 255, 256, 499, 500, 699] {
        assert_eq!(body[i]["name"], format!("event {i}"));
        assert_eq!(env.incident(ids[i])["name"], format!("event {i}"));
    }
    let mut stored = env.all_incident_ids();
    stored.sort_unstable();
    assert_eq!(stored, ids);
}

#[test]
fn empty_array_answers_an_empty_array_and_stores_nothing() {
    let (env, server) = setup(&[]);
    let (status, body) = post_json(&server.execute_url("alerts"), AUTH, " [] ");
    assert_eq!((status.as_u16(), body), (200, json!([])));
    assert!(env.all_incident_ids().is_empty());
}

#[test]
fn element_fields_win_and_the_instance_type_fills_in() {
    let (_env, server) = setup(&["--incident-type", "Webhook Alert"]);
    let body = r#"[{"name":"Phish reported","type":"Phishing","occurred":"2024-05-01T08:00:00+02:00"},
                   {"name":"No type here"}]"#;
    let (status, body) = post_json(&server.execute_url("alerts"), AUTH, body);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["name"], "Phish reported");
    assert_eq!(body[0]["type"], "Phishing");
    assert_eq!(body[0]["occurred"], "2024-05-01T06:00:00Z");
    assert_eq!(body[1]["type"], "Webhook Alert");
}

#[test]
fn every_accepted_timestamp_form_sets_occurred() {
    let (_env, server) = setup(&[]);
    let forms = json!([
        "2024-03-05T10:20:30Z",
        "2024-03-05T12:20:30+02:00",
        "2024-03-05T10:20:30",
        "2024-03-05 10:20:30",
        "2024-03-05 10:20:30 UTC",
        1709634030,
        1709634030000_i64,
        "1709634030",
        "1709634030000"
    ]);
    let events: Vec<Value> = forms
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!({"occurred": f}))
        .collect();
    let (status, body) = post_json(
        &server.execute_url("alerts"),
        AUTH,
        &Value::Array(events).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    for (item, form) in body
        .as_array()
        .unwrap()
        .iter()
        .zip(forms.as_array().unwrap())
    {
        assert_eq!(item["occurred"], "2024-03-05T10:20:30Z", "form {form}");
        assert!(item.get("warnings").is_none(), "form {form}");
    }
    let (_, body) = post_json(
        &server.execute_url("alerts"),
        AUTH,
        r#"{"occurred":"2024-03-05 10:20:30.250"}"#,
    );
    assert_eq!(body[0]["occurred"], "2024-03-05T10:20:30.250Z");
}

#[test]
fn an_unparseable_occurred_keeps_the_event_with_a_warning() {
    let (env, server) = setup(&[]);
    let (status, body) = post_json(
        &server.execute_url("alerts"),
        AUTH,
        r#"{"name":"x","occurred":"last tuesday"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["occurred"], body[0]["created"]);
    let warning = body[0]["warnings"][0].as_str().expect("a warning");
    assert!(
        warning.contains("occurred") && warning.contains("last tuesday"),
        "{warning}"
    );
    assert_eq!(env.incident(body[0]["id"].as_i64().unwrap())["name"], "x");
}

#[test]
fn raw_json_in_either_spelling_becomes_the_incident_raw_json() {
    let (env, server) = setup(&[]);
    let body = r#"[{"name":"a","rawJson":{"alert":1}},{"name":"b","raw_json":{"alert":2}}]"#;
    let (status, body) = post_json(&server.execute_url("alerts"), AUTH, body);
    assert_eq!(status, 200, "{body}");
    for (i, item) in body.as_array().unwrap().iter().enumerate() {
        let raw = &env.incident(item["id"].as_i64().unwrap())["raw_json"];
        assert_eq!(raw["alert"], i + 1);
        assert!(
            raw.get("name").is_none(),
            "the outer element leaked into raw_json: {raw}"
        );
        assert!(raw["headers"].is_object());
    }
}

#[test]
fn a_bad_element_rejects_the_whole_request() {
    let (env, server) = setup(&[]);
    let answer = post_json(
        &server.execute_url("alerts"),
        AUTH,
        r#"[{"name":"ok"},{"name":"ok too"},"oops"]"#,
    );
    assert_error(&answer, 400, "invalid_element");
    assert!(
        answer.1["message"].as_str().unwrap().contains("Element 2"),
        "{}",
        answer.1
    );
    let answer = post_json(
        &server.execute_url("alerts"),
        AUTH,
        r#"[{"name":"ok"},{"rawJson":[1]}]"#,
    );
    assert_error(&answer, 400, "invalid_element");
    assert!(
        answer.1["message"].as_str().unwrap().contains("Element 1"),
        "{}",
        answer.1
    );
    assert!(
        env.all_incident_ids().is_empty(),
        "a rejected request stored something"
    );
}

#[test]
fn malformed_bodies_get_a_json_error_that_says_what_to_fix() {
    let (env, server) = setup(&[]);
    let url = server.execute_url("alerts");
    assert_error(&post_json(&url, AUTH, ""), 400, "empty_body");
    assert_error(&post_json(&url, AUTH, "{\"name\": "), 400, "invalid_json");
    assert_error(
        &post_json(&url, AUTH, "\"just a string\""),
        400,
        "invalid_body",
    );
    assert_error(&post_json(&url, AUTH, "42"), 400, "invalid_body");
    let response = client()
        .post(&url)
        .basic_auth("sender", Some("pw-1234"))
        .header("Content-Type", "text/plain")
        .body("disk full on db1")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "unsupported_body");
    assert!(env.all_incident_ids().is_empty());
}

#[test]
fn json_labelled_as_a_form_is_still_json_as_curl_sends_it() {
    let (_env, server) = setup(&[]);
    let response = client()
        .post(server.execute_url("alerts"))
        .basic_auth("sender", Some("pw-1234"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(r#"{"name":"from curl -d"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body[0]["name"], "from curl -d");
}

#[test]
fn form_encoded_bodies_become_string_fields() {
    let (env, server) = setup(&[]);
    let response = client()
        .post(server.execute_url("alerts"))
        .basic_auth("sender", Some("pw-1234"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=Form+alert&severity=high&tag=a&tag=b")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body[0]["name"], "Form alert");
    let raw = &env.incident(body[0]["id"].as_i64().unwrap())["raw_json"];
    assert_eq!(raw["severity"], "high");
    assert_eq!(raw["tag"], json!(["a", "b"]));
}

#[test]
fn the_xsoar_8_path_is_an_alias() {
    let (_env, server) = setup(&[]);
    let (status, body) = post_json(
        &server.url("/xsoar/instance/execute/alerts"),
        AUTH,
        r#"{"name":"via xsoar path"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["name"], "via xsoar path");
}

#[test]
fn unknown_and_disabled_instances_are_not_found() {
    let (env, server) = setup(&[]);
    assert_error(
        &post_json(&server.execute_url("nope"), AUTH, "{}"),
        404,
        "not_found",
    );
    env.ok(&["instance", "update", "alerts", "--disable"], None);
    assert!(eventually(std::time::Duration::from_secs(3), || {
        post_json(&server.execute_url("alerts"), AUTH, "{}").0 == 404
    }));
    assert_error(
        &post_json(&server.execute_url("alerts"), AUTH, "{}"),
        404,
        "not_found",
    );
}

#[test]
fn other_methods_and_paths_get_json_errors() {
    let (_env, server) = setup(&[]);
    let response = client().get(server.execute_url("alerts")).send().unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.json::<Value>().unwrap()["error"],
        "method_not_allowed"
    );
    let response = client().post(server.url("/nowhere")).send().unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().unwrap()["error"], "not_found");
}

#[test]
fn credential_headers_never_reach_raw_json() {
    let env = TestEnv::new();
    env.add_instance("keyed", "_header:X-Api-Key", "key-1", &[]);
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "keyed",
            "--username",
            "basic-user",
            "--password-stdin",
        ],
        Some("pw-5678"),
    );
    let server = env.serve_in_process(&[]);
    let response = client()
        .post(server.execute_url("keyed"))
        .header("X-Api-Key", "key-1")
        .header("Cookie", "session=abc")
        .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
        .header("X-Custom-Trace", "T-1")
        .header("Content-Type", "application/json")
        .body(r#"{"name":"keyed"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().unwrap()[0]["id"].as_i64().unwrap();
    let headers = &env.incident(id)["raw_json"]["headers"];
    for secret in [
        "x-api-key",
        "cookie",
        "proxy-authorization",
        "authorization",
    ] {
        assert!(headers.get(secret).is_none(), "{secret} leaked: {headers}");
    }
    assert_eq!(headers["x-custom-trace"], "T-1");

    let (status, body) = post_json(
        &server.execute_url("keyed"),
        Some(("basic-user", "pw-5678")),
        "{}",
    );
    assert_eq!(status, 200);
    let headers = &env.incident(body[0]["id"].as_i64().unwrap())["raw_json"]["headers"];
    assert!(
        headers.get("authorization").is_none(),
        "authorization leaked: {headers}"
    );
    assert!(!headers.to_string().contains("pw-5678"));
}

#[test]
fn a_nul_character_in_a_payload_is_stored_and_in_a_mapped_field_refused_on_postgres() {
    let env = TestEnv::new();
    env.add_instance("nul", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    // In the payload only: stored on both backends, exactly as sent.
    let body = r#"{"name":"with nul","text":"a\u0000b"}"#;
    let answer = post_json(&server.execute_url("nul"), Some(("u", "p")), body);
    assert_eq!(answer.0, 200, "{}", answer.1);
    let stored = env.incident(answer.1[0]["id"].as_i64().unwrap());
    assert_eq!(stored["raw_json"]["text"], "a\u{0}b");

    // In the field that becomes the incident's name: PostgreSQL's text columns cannot hold it.
    let answer = post_json(
        &server.execute_url("nul"),
        Some(("u", "p")),
        r#"[{"name":"fine"},{"name":"a\u0000b"}]"#,
    );
    if on_postgres() {
        assert_error(&answer, 400, "invalid_body");
        let message = answer.1["message"].as_str().unwrap();
        assert!(
            message.contains("Event 1's name") && message.contains("\\u0000"),
            "{message}"
        );
        assert_eq!(
            env.all_incident_ids().len(),
            1,
            "the request is all-or-nothing"
        );
    } else {
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_eq!(answer.1[1]["name"], "a\u{0}b");
    }
}
