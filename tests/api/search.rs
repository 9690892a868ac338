//! Search: every incident filter (alone and combined) on the list, the export and the
//! CLI, free text over names and payloads, facet counts, and the indexes behind them kept in
//! step by every write path (new incidents, dedup updates, PUT, status changes, migration).

use serde_json::{json, Value};

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

/// `mon` maps name, severity, dedup key and labels from the payload; `plain` has no mapping.
fn two_instances(env: &TestEnv) {
    let file = env.path("mon.json");
    std::fs::write(
        &file,
        json!({"name": "$.title", "severity": "$.sev", "dedup_key": "$.key",
               "labels": {"env": "$.env", "team": "$.team"}})
        .to_string(),
    )
    .unwrap();
    env.add_instance("mon", "u", "p", &["--mapping-file", file.to_str().unwrap()]);
    env.add_instance("plain", "u", "p", &["--incident-type", "Plain"]);
}

fn seed(server: &TestServer) {
    let mon = json!([
        {"title": "Disk full on db-01", "sev": "critical", "key": "k0", "env": "prod", "team": "ops",
         "host": {"name": "db-01", "tags": ["storage"]}, "note": "Disk nearly full"},
        {"title": "Login failure", "sev": "high", "key": "k1", "env": "prod", "team": "sec",
         "user": {"name": "alice"}, "msg": "Repeated failure from 10.0.0.7"},
        {"title": "CPU high", "sev": "low", "key": "k2", "env": "dev", "team": "ops",
         "metrics": {"cpu": 97}, "msg": "cpu high on web-3"}
    ]);
    let (status, body) = post_json(&server.execute_url("mon"), AUTH, &mon.to_string());
    assert_eq!(status, 200, "{body}");
    let plain = json!([
        {"name": "Plain disk event", "occurred": "2025-06-01T00:00:00Z",
         "detail": {"text": "full disk warning"}},
        {"name": "Another", "occurred": "2025-06-02T00:00:00Z", "detail": "nothing here",
         "keyword_as_key_only": 1}
    ]);
    let (status, body) = post_json(&server.execute_url("plain"), AUTH, &plain.to_string());
    assert_eq!(status, 200, "{body}");
}

fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let response = client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// The names the list answers for `query`, newest first.
fn names(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let (status, page) = get(server, token, &format!("/api/v1/incidents?{query}"));
    assert_eq!(status, 200, "{query}: {page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_filter_narrows_the_list_and_filters_combine() {
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    seed(&server);
    let names = |query: &str| names(&server, &token, query);

    assert_eq!(names("instance=mon").len(), 3);
    assert_eq!(names("instance=mon,plain").len(), 5);
    assert_eq!(names("instance=mon&instance=plain").len(), 5);
    assert_eq!(names("type=Plain"), ["Another", "Plain disk event"]);
    assert_eq!(
        names("severity=critical,high"),
        ["Login failure", "Disk full on db-01"]
    );
    assert_eq!(names("severity=low&severity=high").len(), 2);
    assert_eq!(names("status=open").len(), 5);
    assert_eq!(names("label=env:prod").len(), 2);
    assert_eq!(names("label=env:prod&label=team:sec"), ["Login failure"]);
    assert_eq!(names("label=team:ops&severity=low"), ["CPU high"]);
    assert_eq!(names("dedup_key=k2"), ["CPU high"]);
    assert_eq!(
        names("name_contains=DISK"),
        ["Plain disk event", "Disk full on db-01"]
    );
    assert_eq!(names("name_contains=50%25").len(), 0);
    // Free text: names and string values at any depth, whole words, any case.
    assert_eq!(names("q=alice"), ["Login failure"]);
    assert_eq!(names("q=STORAGE"), ["Disk full on db-01"]);
    assert_eq!(names("q=10.0.0.7"), ["Login failure"]);
    assert_eq!(
        names("q=disk%20full"),
        ["Plain disk event", "Disk full on db-01"]
    );
    assert_eq!(names("q=%22disk%20full%22"), ["Disk full on db-01"]);
    assert_eq!(names("q=disk&q=warning"), ["Plain disk event"]);
    assert!(
        names("q=keyword_as_key_only").is_empty(),
        "keys are not text"
    );
    assert!(names("q=97").is_empty(), "numbers are not text");
    assert!(names("q=dis").is_empty(), "a word matches whole words");
    assert_eq!(
        names("instance=mon&severity=critical&label=env:prod&q=disk&name_contains=db"),
        ["Disk full on db-01"]
    );
    assert_eq!(
        names("occurred_after=2025-06-01T12:00:00Z&occurred_before=2025-06-03T00:00:00Z"),
        ["Another"]
    );
    assert_eq!(
        names("q=disk&type=Plain&occurred_before=2025-06-02T00:00:00Z").len(),
        1
    );
    // Empty form fields are no filter.
    assert_eq!(names("instance=&q=&status=&label=").len(), 5);

    // Keyset pages over a free-text match: each incident once.
    let (_, first) = get(&server, &token, "/api/v1/incidents?q=disk&limit=1");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get(
        &server,
        &token,
        &format!("/api/v1/incidents?q=disk&limit=1&cursor={cursor}"),
    );
    assert_eq!(first["items"][0]["name"], "Plain disk event");
    assert_eq!(second["items"][0]["name"], "Disk full on db-01");
    let cursor = second["next_cursor"].as_str().unwrap();
    let (_, third) = get(
        &server,
        &token,
        &format!("/api/v1/incidents?q=disk&limit=1&cursor={cursor}"),
    );
    assert_eq!(third["items"], json!([]));

    // The export takes the same filters.
    let export = client()
        .get(server.url("/api/v1/incidents/export?q=disk&severity=critical"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{export}");
    assert_eq!(lines[0]["name"], "Disk full on db-01");
}

#[test]
fn bad_filter_parameters_are_refused_naming_them() {
    let env = TestEnv::new();
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/facets",
        "/api/v1/incidents/export",
    ] {
        for (query, name) in [
            ("colour=red", "colour"),
            ("status=closed", "status"),
            ("label=nocolon", "label"),
            ("q=---", "q"),
            ("created_after=yesterday", "created_after"),
            ("dedup_key=a&dedup_key=b", "dedup_key"),
        ] {
            let (status, body) = get(&server, &token, &format!("{path}?{query}"));
            assert_eq!(status, 400, "{path}?{query}: {body}");
            assert_eq!(body["error"], "invalid_query");
            assert!(
                body["message"].as_str().unwrap().starts_with(name),
                "{path}?{query}: {body}"
            );
        }
    }
}

#[test]
fn facets_count_every_matching_incident_by_instance_type_status_and_severity() {
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    seed(&server);
    let facets = |query: &str| {
        let (status, body) = get(
            &server,
            &token,
            &format!("/api/v1/incidents/facets?{query}"),
        );
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    assert_eq!(
        facets(""),
        json!({"total": 5, "instance": {"mon": 3, "plain": 2}, "type": {"Plain": 2},
               "status": {"open": 5}, "severity": {"critical": 1, "high": 1, "low": 1}})
    );
    assert_eq!(
        facets("instance=mon&severity=critical,high"),
        json!({"total": 2, "instance": {"mon": 2}, "type": {},
               "status": {"open": 2}, "severity": {"critical": 1, "high": 1}})
    );
    assert_eq!(facets("q=disk")["instance"], json!({"mon": 1, "plain": 1}));
    assert_eq!(
        facets("label=env:prod")["severity"],
        json!({"critical": 1, "high": 1})
    );
    assert_eq!(facets("q=nothing-matches")["total"], 0);
    // Words or labels with a condition on other columns (the row is read), and two labels.
    assert_eq!(
        facets("q=disk&name_contains=plain"),
        json!({"total": 1, "instance": {"plain": 1}, "type": {"Plain": 1},
               "status": {"open": 1}, "severity": {}})
    );
    assert_eq!(
        facets("label=env:prod&occurred_after=2000-01-01T00:00:00Z")["total"],
        2
    );
    assert_eq!(
        facets("label=env:prod&label=team:sec&q=alice"),
        json!({"total": 1, "instance": {"mon": 1}, "type": {},
               "status": {"open": 1}, "severity": {"high": 1}})
    );
    // A status change moves the counts at once; the list agrees.
    let id = get(&server, &token, "/api/v1/incidents?dedup_key=k1").1["items"][0]["id"].clone();
    let changed = client()
        .patch(server.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&token)
        .json(&json!({"status": "resolved"}))
        .send()
        .unwrap();
    assert_eq!(changed.status().as_u16(), 200);
    assert_eq!(facets("")["status"], json!({"open": 4, "resolved": 1}));
    assert_eq!(facets("status=resolved")["total"], 1);
    assert_eq!(facets("q=alice")["status"], json!({"resolved": 1}));
    assert_eq!(names(&server, &token, "status=resolved"), ["Login failure"]);
}

#[test]
fn updated_incidents_are_found_by_their_new_text_only() {
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    seed(&server);
    // A dedup-key delivery replaces the payload and the labels.
    let update = json!({"title": "CPU normal", "sev": "low", "key": "k2", "env": "staging",
                        "team": "ops", "msg": "recovered"});
    let (status, body) = post_json(&server.execute_url("mon"), AUTH, &update.to_string());
    assert_eq!(
        (status.as_u16(), body[0]["status"].clone()),
        (200, json!("updated"))
    );
    assert_eq!(names(&server, &token, "q=recovered"), ["CPU normal"]);
    assert!(names(&server, &token, "q=web-3").is_empty());
    assert_eq!(names(&server, &token, "label=env:staging"), ["CPU normal"]);
    assert!(names(&server, &token, "label=env:dev").is_empty());
    // So does a PUT of the correlated-update flow.
    let id = get(&server, &token, "/api/v1/incidents?name_contains=another").1["items"][0]["id"]
        .as_i64()
        .unwrap();
    let response = client()
        .put(format!("{}/{id}", server.execute_url("plain")))
        .basic_auth("u", Some("p"))
        .body(json!({"name": "Another, renamed", "detail": "zebra crossing"}).to_string())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(names(&server, &token, "q=zebra"), ["Another, renamed"]);
    assert!(names(&server, &token, "q=nothing").is_empty());
}

#[test]
fn the_cli_lists_with_the_same_filters_as_flags() {
    let env = TestEnv::new();
    two_instances(&env);
    let server = env.serve_in_process(&[]);
    seed(&server);
    let listed = env.json(&[
        "incidents",
        "list",
        "--instance",
        "mon,plain",
        "--q",
        "disk",
        "--severity",
        "critical",
        "--label",
        "env:prod",
        "--json",
    ]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Disk full on db-01"]);
    assert_eq!(
        env.json(&["incidents", "list", "--name-contains", "LOGIN", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let refused = env.run(&["incidents", "list", "--status", "closed"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("status"));
}

#[test]
fn the_migration_indexes_incidents_stored_before_it() {
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    // Back to the schema before search, then incidents stored without its indexes.
    let db = intake::storage::Database::open(&env.db_url).unwrap();
    let mut conn = db.connect().unwrap();
    let insert = "INSERT INTO incidents (instance, name, type, occurred, created, raw_json, \
                  severity, labels) VALUES ('mon', 'Old disk alarm', NULL, \
                  '2024-01-01 00:00:00', '2024-01-01 00:00:00', \
                  '{\"deep\":{\"list\":[\"ancient\"]}}', 'high', '{\"env\":\"prod\"}')";
    fn search_migration<DB: diesel::backend::Backend>(
        source: diesel_migrations::EmbeddedMigrations,
    ) -> Box<dyn diesel::migration::Migration<DB>> {
        use diesel::migration::MigrationSource;
        source
            .migrations()
            .unwrap()
            .into_iter()
            .find(|m| m.name().to_string().ends_with("_search"))
            .expect("the search migration")
    }
    match &mut conn {
        intake::storage::Conn::Sqlite(c) => {
            c.revert_migration(&*search_migration(intake::storage::SQLITE_MIGRATIONS))
                .unwrap();
            c.batch_execute(insert).unwrap();
        }
        intake::storage::Conn::Pg(c) => {
            c.revert_migration(&*search_migration(intake::storage::POSTGRES_MIGRATIONS))
                .unwrap();
            c.batch_execute(insert).unwrap();
        }
    }
    drop(conn);
    // `serve` migrates at start.
    let server = env.serve_in_process(&[]);
    assert_eq!(names(&server, &token, "q=ancient"), ["Old disk alarm"]);
    assert_eq!(names(&server, &token, "label=env:prod"), ["Old disk alarm"]);
    let (_, facets) = get(&server, &token, "/api/v1/incidents/facets?instance=mon");
    assert_eq!(facets["severity"], json!({"high": 1}));
}

#[test]
fn filtered_pages_visit_each_match_once_while_new_ones_arrive() {
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    let batch = |from: usize, word: &str| {
        let events: Vec<Value> = (from..from + 10)
            .map(|n| json!({"name": format!("event {n}"), "detail": {"text": format!("{word} {n}")}}))
            .collect();
        let (status, body) = post_json(
            &server.execute_url("plain"),
            AUTH,
            &Value::Array(events).to_string(),
        );
        assert_eq!(status, 200, "{body}");
    };
    // 30 matches interleaved with 30 others.
    for round in 0..3 {
        batch(round * 20, "disk");
        batch(round * 20 + 10, "network");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut arrivals = 100;
    loop {
        let query = match &cursor {
            None => "q=disk&instance=plain&limit=7".to_string(),
            Some(c) => format!("q=disk&instance=plain&limit=7&cursor={c}"),
        };
        let (status, page) = get(&server, &token, &format!("/api/v1/incidents?{query}"));
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_string()),
        );
        // New matches arrive between pages; they are newer than the first page.
        batch(arrivals, "disk");
        arrivals += 10;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..3)
        .rev()
        .flat_map(|round| (round * 20..round * 20 + 10).rev())
        .map(|n| format!("event {n}"))
        .collect();
    assert_eq!(
        seen, expected,
        "each match once, newest first, none skipped"
    );
}

/// PostgreSQL keeps the facet counts as signed deltas that the server folds together: the
/// counts stay exact while writers append and while a fold runs beside them, and a fold
/// leaves one row per combination.
#[test]
fn postgres_only_facet_counts_stay_exact_through_concurrent_writes_and_folds() {
    use diesel::prelude::*;
    let env = TestEnv::new();
    two_instances(&env);
    let token = env.api_token("analyst");
    let server = env.serve_in_process(&[]);
    let severities = ["critical", "high", "low"];
    std::thread::scope(|scope| {
        for sender in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for round in 0..10 {
                    let events: Vec<Value> = (0..5)
                        .map(|n| {
                            json!({"title": format!("e{sender}-{round}-{n}"),
                                   "sev": severities[(sender + n) % 3],
                                   "key": format!("k{sender}-{round}-{n}")})
                        })
                        .collect();
                    let (status, body) =
                        post_json(&server.execute_url("mon"), AUTH, &json!(events).to_string());
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
        // Folds run while the senders write.
        scope.spawn(|| {
            let db = intake::storage::Database::open(&env.db_url).unwrap();
            for _ in 0..20 {
                let mut conn = db.connect().unwrap();
                intake::incidents::counts::fold(&mut conn).unwrap();
            }
        });
    });
    let (_, page) = get(
        &server,
        &token,
        "/api/v1/incidents?instance=mon&severity=low&limit=200",
    );
    let low = page["items"].as_array().unwrap().clone();
    for incident in low.iter().take(7) {
        let changed = client()
            .patch(server.url(&format!("/api/v1/incidents/{}", incident["id"])))
            .bearer_auth(&token)
            .json(&json!({"status": "resolved"}))
            .send()
            .unwrap();
        assert_eq!(changed.status().as_u16(), 200);
    }
    let mut db = intake::storage::Database::open(&env.db_url)
        .unwrap()
        .connect()
        .unwrap();
    intake::incidents::counts::fold(&mut db).unwrap();
    let (status, facets) = get(&server, &token, "/api/v1/incidents/facets");
    assert_eq!(status, 200, "{facets}");
    // 200 incidents: sender s, event n has severity (s + n) % 3 — 70 critical, 70 high, 60 low.
    assert_eq!(
        facets,
        json!({"total": 200, "instance": {"mon": 200}, "type": {},
               "status": {"open": 193, "resolved": 7},
               "severity": {"critical": 70, "high": 70, "low": 60}})
    );
    assert_eq!(low.len(), 60, "the list agrees with the facet count");
    #[derive(QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let intake::storage::Conn::Pg(pg) = &mut db else {
        panic!("a PostgreSQL database")
    };
    let rows = diesel::sql_query("SELECT count(*) AS n FROM incident_count_deltas")
        .get_result::<Rows>(pg)
        .unwrap();
    // mon × (critical, high, low) open, and low resolved.
    assert_eq!(rows.n, 4, "after a fold one row per combination is left");
}
