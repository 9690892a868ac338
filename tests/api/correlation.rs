//! Dedup keys update the open incident, history is kept as events, response shapes.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

fn dedup_instance(env: &TestEnv) {
    let file = env.path("dedup.json");
    std::fs::write(
        &file,
        json!({"name": "$.title", "dedup_key": "$.story"}).to_string(),
    )
    .unwrap();
    env.add_instance(
        "xops",
        "u",
        "p",
        &["--mapping-file", file.to_str().unwrap()],
    );
}

#[test]
fn a_repeated_dedup_key_updates_one_incident_and_keeps_every_delivery() {
    let env = TestEnv::new();
    dedup_instance(&env);
    let server = env.serve_in_process(&[]);
    let mut statuses = Vec::new();
    let mut ids = HashSet::new();
    for n in 0..3 {
        let (status, body) = post_json(
            &server.execute_url("xops"),
            AUTH,
            &json!({"title": format!("Story v{n}"), "story": "st-1", "n": n}).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        statuses.push(body[0]["status"].as_str().unwrap().to_string());
        ids.insert(body[0]["id"].as_i64().unwrap());
    }
    assert_eq!(statuses, vec!["created", "updated", "updated"]);
    assert_eq!(ids.len(), 1, "one incident for one key");
    let id = *ids.iter().next().unwrap();
    let incident = env.incident(id);
    assert_eq!(
        (
            incident["occurrences"].as_i64(),
            incident["status"].as_str()
        ),
        (Some(3), Some("open"))
    );
    assert_eq!(
        incident["name"], "Story v2",
        "re-mapped from the latest payload"
    );
    assert_eq!(incident["raw_json"]["n"], 2);
    assert!(incident["last_seen"].is_string());

    let events = env.json(&["incidents", "show", &id.to_string(), "--events", "--json"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "updated", "updated"]);
    let ns: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![0, 1, 2], "no update overwrote history");

    // Another key, or none, makes new incidents.
    let (_, other) = post_json(
        &server.execute_url("xops"),
        AUTH,
        r#"[{"title":"B","story":"st-2"},{"title":"C"}]"#,
    );
    assert_eq!(other[0]["status"], "created");
    assert_eq!(other[1]["status"], "created");
    assert_eq!(env.all_incident_ids().len(), 3);
    let single = env.json(&[
        "incidents",
        "show",
        &other[1]["id"].to_string(),
        "--events",
        "--json",
    ]);
    assert_eq!(single.as_array().unwrap().len(), 1);
}

#[test]
fn fifty_concurrent_deliveries_with_one_key_make_one_incident_with_fifty_occurrences() {
    let env = TestEnv::new();
    dedup_instance(&env);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("xops");
    let senders: Vec<_> = (0..50)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (status, body) = post_json(
                    &url,
                    AUTH,
                    &json!({"title": "Same story", "story": "st-c", "n": n}).to_string(),
                );
                assert_eq!(status, 200, "{body}");
                body[0]["id"].as_i64().unwrap()
            })
        })
        .collect();
    let ids: HashSet<i64> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let incident = env.incident(*ids.iter().next().unwrap());
    assert_eq!(incident["occurrences"], 50);
    assert_eq!(env.all_incident_ids().len(), 1);
}

#[test]
fn response_object_gives_one_correlation_id() {
    let env = TestEnv::new();
    env.add_instance("cma", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let url = format!("{}?response=object", server.execute_url("cma"));
    let (status, body) = post_json(&url, AUTH, r#"[{"name":"a"},{"name":"b"}]"#);
    assert_eq!(status, 200, "{body}");
    let items = body["incidents"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(body["id"], items[0]["id"]);
    assert_eq!(items[1]["status"], "created");
    let (_, empty) = post_json(&url, AUTH, "[]");
    assert_eq!(empty, json!({"id": null, "incidents": []}));
    let (_, plain) = post_json(&server.execute_url("cma"), AUTH, r#"{"name":"c"}"#);
    assert!(
        plain.is_array(),
        "without the parameter the answer stays an array: {plain}"
    );
}

fn put(url: &str, auth: Option<(&str, &str)>, body: &str) -> (u16, serde_json::Value) {
    let mut request = client().put(url).body(body.to_string());
    if let Some((u, p)) = auth {
        request = request.basic_auth(u, Some(p));
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or_default())
}

#[test]
fn put_updates_an_incident_of_that_instance_and_keeps_the_history() {
    let env = TestEnv::new();
    env.add_instance("cato", "u", "p", &["--preset", "cato"]);
    env.add_instance("other", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    // Create: Cato reads the correlation id from the response at a JSON path.
    let url = format!("{}?response=object", server.execute_url("cato"));
    let (_, created) = post_json(
        &url,
        AUTH,
        r#"{"title":"XOps story: Suspicious DNS","storyId":"NA","criticality":5}"#,
    );
    let id = created["id"].as_i64().unwrap();
    // Update with the id Cato kept.
    let (status, updated) = put(
        &format!("{}/{id}", server.execute_url("cato")),
        AUTH,
        r#"{"title":"XOps story: Suspicious DNS (escalated)","criticality":9}"#,
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated[0]["id"].as_i64(), updated[0]["status"].as_str()),
        (Some(id), Some("updated"))
    );
    assert_eq!(updated[0]["name"], "XOps story: Suspicious DNS (escalated)");
    let incident = env.incident(id);
    assert_eq!(
        (
            incident["occurrences"].as_i64(),
            incident["severity"].as_str()
        ),
        (Some(2), Some("critical"))
    );
    let events = env.json(&["incidents", "show", &id.to_string(), "--events", "--json"]);
    let criticality: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"]["criticality"].as_i64().unwrap())
        .collect();
    assert_eq!(criticality, vec![5, 9]);

    // A body that names nothing keeps the name.
    let (status, kept) = put(
        &format!("{}/{id}", server.execute_url("cato")),
        AUTH,
        r#"{"note":"analyst comment"}"#,
    );
    assert_eq!(
        (status, kept[0]["name"].as_str()),
        (200, Some("XOps story: Suspicious DNS (escalated)"))
    );

    // Someone else's incident, an unknown id, no credentials, an array body.
    let (status, answer) = put(&format!("{}/{id}", server.execute_url("other")), AUTH, "{}");
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    assert_eq!(
        put(
            &format!("{}/999999", server.execute_url("cato")),
            AUTH,
            "{}"
        )
        .0,
        404
    );
    assert_eq!(
        put(&format!("{}/abc", server.execute_url("cato")), AUTH, "{}").0,
        404
    );
    assert_eq!(
        put(&format!("{}/{id}", server.execute_url("cato")), None, "{}").0,
        401
    );
    assert_eq!(
        put(
            &format!("{}/{id}", server.execute_url("cato")),
            AUTH,
            "[{},{}]"
        )
        .0,
        400
    );
    assert_eq!(
        client()
            .post(format!("{}/{id}", server.execute_url("cato")))
            .send()
            .unwrap()
            .status(),
        405
    );
    assert_eq!(env.incident(id)["occurrences"], 3);
}

fn alert(status: &str, fingerprint: &str) -> String {
    json!({"status": status, "receiver": "intake", "alerts": [{
        "status": status, "labels": {"alertname": "HighCPU", "severity": "warning"},
        "annotations": {"summary": "CPU high"}, "startsAt": "2026-11-20T08:00:00Z",
        "fingerprint": fingerprint}]})
    .to_string()
}

#[test]
fn a_resolving_delivery_resolves_and_the_next_one_opens_a_new_incident() {
    let env = TestEnv::new();
    env.add_instance("am", "u", "p", &["--preset", "alertmanager"]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("am");
    let (_, first) = post_json(&url, AUTH, &alert("firing", "fp-1"));
    let (_, again) = post_json(&url, AUTH, &alert("firing", "fp-1"));
    let (_, resolved) = post_json(&url, AUTH, &alert("resolved", "fp-1"));
    let id = first[0]["id"].as_i64().unwrap();
    assert_eq!(again[0]["id"].as_i64(), Some(id));
    assert_eq!(
        again[0]["status"], "duplicate",
        "the same alert re-sent: counted, nothing new"
    );
    assert_eq!(
        (resolved[0]["id"].as_i64(), resolved[0]["status"].as_str()),
        (Some(id), Some("updated"))
    );
    let incident = env.incident(id);
    assert_eq!(
        (
            incident["status"].as_str(),
            incident["occurrences"].as_i64()
        ),
        (Some("resolved"), Some(3))
    );
    let events = env.json(&["incidents", "show", &id.to_string(), "--events", "--json"]);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["created", "updated"],
        "a duplicate adds no event"
    );

    let (_, reopened) = post_json(&url, AUTH, &alert("firing", "fp-1"));
    let new_id = reopened[0]["id"].as_i64().unwrap();
    assert_ne!(
        new_id, id,
        "a delivery for a resolved incident's key opens a new incident"
    );
    assert_eq!(reopened[0]["status"], "created");
    assert_eq!(env.incident(new_id)["status"], "open");

    // The old one cannot reopen while the new one holds the key.
    let out = env.run(
        &["incidents", "update", &id.to_string(), "--status", "open"],
        None,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reopen"),
        "{out:?}"
    );
}

#[test]
fn analysts_change_status_over_http_and_the_cli() {
    let env = TestEnv::new();
    env.add_instance("s", "u", "p", &[]);
    let analyst = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    let (_, created) = post_json(&server.execute_url("s"), AUTH, r#"{"name":"x"}"#);
    let id = created[0]["id"].as_i64().unwrap();
    let patch = |body: serde_json::Value| {
        let response = client()
            .patch(server.url(&format!("/api/v1/incidents/{id}")))
            .bearer_auth(&analyst)
            .json(&body)
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().unwrap(),
        )
    };
    let (status, body) = patch(json!({"status": "acknowledged"}));
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("acknowledged"))
    );
    let (status, body) = patch(json!({"status": "closed"}));
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().starts_with("status:"),
        "{body}"
    );
    let shown = env.json(&[
        "incidents",
        "update",
        &id.to_string(),
        "--status",
        "resolved",
        "--json",
    ]);
    assert_eq!(shown["status"], "resolved");
    let listed = env.json(&["incidents", "list", "--json"]);
    assert_eq!(listed[0]["status"], "resolved");
}

fn post_with_key(url: &str, key: &str, body: &str) -> (u16, String) {
    let response = client()
        .post(url)
        .basic_auth("u", Some("p"))
        .header("Idempotency-Key", key)
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn idempotency_key_retries_get_the_first_response_and_store_nothing() {
    let env = TestEnv::new();
    env.add_instance("idem", "u", "p", &[]);
    env.add_instance("other", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("idem");
    let body = r#"[{"name":"a"},{"name":"b","occurred":"soon"}]"#;
    let (status, first) = post_with_key(&url, "delivery-1", body);
    assert_eq!(status, 200, "{first}");
    for _ in 0..3 {
        assert_eq!(
            post_with_key(&url, "delivery-1", body),
            (200, first.clone()),
            "a retry differs"
        );
    }
    assert_eq!(env.all_incident_ids().len(), 2);

    // Concurrent retries of a new key: one set of incidents, the same answer for all.
    let answers: Vec<_> = (0..10)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post_with_key(&url, "delivery-2", r#"{"name":"c"}"#))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(
        answers.iter().all(|a| a == &answers[0] && a.0 == 200),
        "{answers:?}"
    );
    assert_eq!(env.all_incident_ids().len(), 3);

    // Keys are per instance; a new key is a new delivery.
    assert_ne!(
        post_with_key(&server.execute_url("other"), "delivery-1", body).1,
        first
    );
    assert_ne!(post_with_key(&url, "delivery-3", body).1, first);
    assert_eq!(env.all_incident_ids().len(), 3 + 2 + 2);
    let (status, refused) = post_with_key(&url, "bad key with spaces", "{}");
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("invalid_idempotency_key"));
}

/// Runs every migration but the last: the schema the previous release left. (`migrations`
/// gives the embedded set, which each run consumes.)
fn migrate_all_but_the_last<DB: diesel::backend::Backend>(
    conn: &mut impl diesel_migrations::MigrationHarness<DB>,
    migrations: impl Fn() -> diesel_migrations::EmbeddedMigrations,
) {
    use diesel::migration::MigrationSource;
    let count = MigrationSource::<DB>::migrations(&migrations())
        .unwrap()
        .len();
    for _ in 1..count {
        conn.run_next_migration(migrations()).unwrap();
    }
}

#[test]
fn an_incident_stored_before_the_last_migration_survives_it_and_still_correlates() {
    use diesel::connection::SimpleConnection;
    use intake::storage::{Conn, Database, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    let env = TestEnv::new();
    // On PostgreSQL the last migration turns raw_json from jsonb into text.
    let mut conn = Database::without_migrating(&env.db_url)
        .unwrap()
        .connect()
        .unwrap();
    match &mut conn {
        Conn::Sqlite(c) => migrate_all_but_the_last(c, || SQLITE_MIGRATIONS),
        Conn::Pg(c) => migrate_all_but_the_last(c, || POSTGRES_MIGRATIONS),
    }
    conn.batch_execute(
        r#"INSERT INTO incidents (instance, name, occurred, created, raw_json, dedup_key)
           VALUES ('xops', 'Story v0', '2026-11-20 10:00:00', '2026-11-20 10:00:00',
                   '{"title": "Story v0", "story": "st-1", "n": 0, "text": "é ✓"}', 'st-1')"#,
    )
    .unwrap();
    drop(conn);

    dedup_instance(&env); // the first command of the new release migrates
    let before = env.all_incidents();
    assert_eq!(before.len(), 1, "{before:?}");
    let id = before[0]["id"].as_i64().unwrap();
    let stored = env.incident(id);
    assert_eq!(
        stored["raw_json"],
        json!({"title": "Story v0", "story": "st-1", "n": 0, "text": "é ✓"})
    );

    let server = env.serve_in_process(&[]);
    let (status, body) = post_json(
        &server.execute_url("xops"),
        AUTH,
        &json!({"title": "Story v1", "story": "st-1", "n": 1}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body[0]["id"].as_i64(), body[0]["status"].as_str()),
        (Some(id), Some("updated"))
    );
    let events = env.json(&["incidents", "show", &id.to_string(), "--events", "--json"]);
    let kept: Vec<(&str, i64)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["body"]["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        vec![("created", 0), ("updated", 1)],
        "the first delivery, stored before the migration, is kept as the created event"
    );
}
