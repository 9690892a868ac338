//! The HTTP interface: tokens and roles, instances, credentials, incidents, samples, TLS.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

fn token(env: &TestEnv, role: &str) -> String {
    let out = env.ok(
        &[
            "token",
            "create",
            "--role",
            role,
            "--name",
            &format!("{role} test"),
        ],
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "token create must print only the token: {out}"
    );
    assert!(lines[0].starts_with("itk_"));
    lines[0].to_string()
}

fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn tokens_authenticate_and_roles_limit_what_they_reach() {
    let env = TestEnv::new();
    let (admin, analyst) = (token(&env, "admin"), token(&env, "analyst"));
    let server = env.serve_in_process(&[]);
    let url = |p: &str| server.url(&format!("/api/v1{p}"));

    let (status, body) = call("GET", &url("/incidents"), None, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(
        call("GET", &url("/incidents"), Some("itk_forged"), None).0,
        401
    );
    assert_eq!(call("GET", &url("/incidents"), Some(&analyst), None).0, 200);
    assert_eq!(
        call("GET", &url("/instances/x/samples"), Some(&analyst), None).0,
        404
    );
    let (status, body) = call("GET", &url("/instances"), Some(&analyst), None);
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        call(
            "POST",
            &url("/instances"),
            Some(&analyst),
            Some(json!({"name":"x"}))
        )
        .0,
        403
    );
    assert_eq!(call("GET", &url("/instances"), Some(&admin), None).0, 200);

    let listed = env.ok(&["token", "list", "--json"], None);
    assert!(
        !listed.contains(&admin) && !listed.contains(&analyst),
        "token list shows a token"
    );
    let id = serde_json::from_str::<Value>(&listed).unwrap()[1]["id"]
        .as_i64()
        .unwrap();
    env.ok(&["token", "revoke", &id.to_string()], None);
    assert_eq!(call("GET", &url("/incidents"), Some(&analyst), None).0, 401);
}

#[test]
fn instances_and_credentials_are_managed_over_http_and_take_effect_at_once() {
    let env = TestEnv::new();
    let admin = token(&env, "admin");
    let server = env.serve_in_process(&[]);
    let url = |p: &str| server.url(&format!("/api/v1{p}"));
    let t = Some(admin.as_str());

    let (status, created) = call(
        "POST",
        &url("/instances"),
        t,
        Some(json!({
            "name": "cato", "incident_type": "Cato", "store_samples": true, "username": "cato", "password": "pw-1"
        })),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["incident_type"], "Cato");
    assert_eq!(created["credentials"][0]["username"], "cato");
    assert!(!created.to_string().contains("pw-1") && !created.to_string().contains("argon2"));
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("cato", "pw-1")), "{}").0,
        200
    );

    // Rotation: a second credential, then the first removed.
    let (status, second) = call(
        "POST",
        &url("/instances/cato/credentials"),
        t,
        Some(json!({"username":"cato","password":"pw-2"})),
    );
    assert_eq!(status, 201, "{second}");
    let (status, header) = call(
        "POST",
        &url("/instances/cato/credentials"),
        t,
        Some(json!({"username":"_header:X-Key","password":"k"})),
    );
    assert_eq!((status, header["kind"].as_str()), (201, Some("header")));
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("cato", "pw-2")), "{}").0,
        200
    );
    let first_id = created["credentials"][0]["id"].as_i64().unwrap();
    assert_eq!(
        call(
            "DELETE",
            &url(&format!("/instances/cato/credentials/{first_id}")),
            t,
            None
        )
        .0,
        204
    );
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("cato", "pw-1")), "{}").0,
        401
    );
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("cato", "pw-2")), "{}").0,
        200
    );
    assert_eq!(
        call("DELETE", &url("/instances/cato/credentials/9999"), t, None).0,
        404
    );

    let (status, patched) = call(
        "PATCH",
        &url("/instances/cato"),
        t,
        Some(json!({"incident_type": null, "enabled": false})),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["incident_type"].clone(), patched["enabled"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("cato", "pw-2")), "{}").0,
        404
    );
    let (_, shown) = call("GET", &url("/instances/cato"), t, None);
    assert_eq!(shown["credentials"].as_array().unwrap().len(), 2);
    let (_, all) = call("GET", &url("/instances"), t, None);
    assert_eq!(all.as_array().unwrap().len(), 1);

    assert_eq!(call("DELETE", &url("/instances/cato"), t, None).0, 204);
    assert_eq!(call("GET", &url("/instances/cato"), t, None).0, 404);
}

#[test]
fn bad_admin_requests_get_errors_naming_the_field() {
    let env = TestEnv::new();
    let admin = token(&env, "admin");
    let server = env.serve_in_process(&[]);
    let url = |p: &str| server.url(&format!("/api/v1{p}"));
    let t = Some(admin.as_str());
    let cases = [
        (json!({"name":"bad name"}), 400, "name"),
        (json!({"name":"ok","sample_limit":0}), 400, "sample_limit"),
        (json!({"name":"ok","colour":"red"}), 422, "colour"),
        (
            json!({"name":"ok","store_samples":"yes"}),
            422,
            "invalid type",
        ),
        (
            json!({"name":"ok","username":"u"}),
            400,
            "username and password",
        ),
        (
            json!({"name":"ok","username":"_header:bad header","password":"x"}),
            400,
            "username",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, answer) = call("POST", &url("/instances"), t, Some(body.clone()));
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(needle),
            "{body}: {answer}"
        );
    }
    call("POST", &url("/instances"), t, Some(json!({"name":"dup"})));
    assert_eq!(
        call("POST", &url("/instances"), t, Some(json!({"name":"dup"}))).0,
        409
    );
    for query in [
        "limit=abc",
        "limit=0",
        "limit=1001",
        "occurred_after=yesterday",
        "cursor=nonsense",
        "colour=red",
    ] {
        let (status, answer) = call("GET", &url(&format!("/incidents?{query}")), t, None);
        assert_eq!(status, 400, "{query}: {answer}");
        let field = query.split('=').next().unwrap();
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{query}: {answer}"
        );
    }
    assert_eq!(call("GET", &url("/incidents/abc"), t, None).0, 400);
    let (status, answer) = call("GET", &url("/instances/bad%20name"), t, None);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().starts_with("name:"),
        "{answer}"
    );
    assert_eq!(call("GET", &url("/incidents/424242"), t, None).0, 404);
}

/// Two creates of one name at the same moment on PostgreSQL: the second counts no instance of
/// that name (the first has not committed), then its INSERT waits on the first's row and breaks
/// the unique rule once that commits. Its answer is a 409 in intake's words, not PostgreSQL's.
#[test]
fn postgres_only_an_instance_created_at_the_same_moment_is_refused_in_our_words() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    let env = TestEnv::new();
    let admin = token(&env, "admin");
    let server = env.serve(&[]);
    let mut first = diesel::PgConnection::establish(&env.db_url).unwrap();
    first
        .batch_execute(
            "BEGIN; INSERT INTO instances (name, created, updated) VALUES ('dup', now(), now())",
        )
        .unwrap();
    let url = server.url("/api/v1/instances");
    let second =
        std::thread::spawn(move || call("POST", &url, Some(&admin), Some(json!({"name": "dup"}))));
    let mut watcher = diesel::PgConnection::establish(&env.db_url).unwrap();
    let insert_waits = || {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"instances\"%')",
        ))
        .get_result::<i64>(&mut watcher)
        .unwrap()
            > 0
    };
    assert!(
        eventually(Duration::from_secs(10), insert_waits),
        "the second create never waited on the first"
    );
    first.batch_execute("COMMIT").unwrap();
    let (status, answer) = second.join().unwrap();
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "conflict", "{answer}");
    assert_eq!(
        answer["message"], "an instance named 'dup' already exists",
        "{answer}"
    );
}

#[test]
fn incidents_are_filtered_and_paged_without_gaps_or_repeats_while_ingest_continues() {
    let env = TestEnv::new();
    env.add_instance("a", "u", "p", &["--incident-type", "TA"]);
    env.add_instance("b", "u", "p", &[]);
    let analyst = token(&env, "analyst");
    let server = env.serve_in_process(&[]);
    let auth = Some(("u", "p"));
    let batch = |n: usize, prefix: &str, occurred: &str| {
        let events: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("{prefix} {i}"), "occurred": occurred}))
            .collect();
        Value::Array(events).to_string()
    };
    post_json(
        &server.execute_url("a"),
        auth,
        &batch(70, "disk full", "2024-01-01T00:00:00Z"),
    );
    post_json(
        &server.execute_url("b"),
        auth,
        &batch(50, "login", "2025-06-01T00:00:00Z"),
    );
    let get = |query: &str| {
        call(
            "GET",
            &server.url(&format!("/api/v1/incidents?{query}")),
            Some(&analyst),
            None,
        )
        .1
    };
    let count = |query: &str| {
        get(&format!("{query}&limit=1000"))["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("instance=a"), 70);
    assert_eq!(count("type=TA"), 70);
    assert_eq!(count("name_contains=login"), 50);
    assert_eq!(count("name_contains=disk%20full%201"), 11); // 1, 10-19
    assert_eq!(count("occurred_after=2025-01-01T00:00:00Z"), 50);
    assert_eq!(count("occurred_before=2025-01-01T00:00:00Z"), 70);
    assert_eq!(
        count("created_after=2000-01-01T00:00:00Z&created_before=2100-01-01T00:00:00Z"),
        120
    );
    assert_eq!(count("created_after=2100-01-01T00:00:00Z"), 0);
    let first = get("limit=1");
    assert_eq!(first["items"][0]["name"], "login 49", "newest first");
    assert!(first["items"][0].get("raw_json").is_none());

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            None => get("limit=50"),
            Some(c) => get(&format!("limit=50&cursor={c}")),
        };
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        post_json(
            &server.execute_url("b"),
            auth,
            &batch(7, "meanwhile", "2025-06-01T00:00:00Z"),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an incident came twice");
    assert_eq!(seen.len(), 120, "an incident was skipped");
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    let one = call(
        "GET",
        &server.url(&format!("/api/v1/incidents/{}", seen[0])),
        Some(&analyst),
        None,
    )
    .1;
    assert_eq!(one["raw_json"]["name"], "login 49");
}

#[test]
fn export_streams_every_matching_incident_as_ndjson() {
    let env = TestEnv::new();
    env.add_instance("bulk", "u", "p", &[]);
    let analyst = token(&env, "analyst");
    let server = env.serve_in_process(&[]);
    for _ in 0..3 {
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"name": format!("e{i}")}))
            .collect();
        assert_eq!(
            post_json(
                &server.execute_url("bulk"),
                Some(("u", "p")),
                &Value::Array(events).to_string()
            )
            .0,
            200
        );
    }
    let response = client()
        .get(server.url("/api/v1/incidents/export?instance=bulk"))
        .bearer_auth(&analyst)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().unwrap();
    let ids: Vec<i64> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 3000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3000);
    let none = client()
        .get(server.url("/api/v1/incidents/export?instance=nobody"))
        .bearer_auth(&analyst)
        .send()
        .unwrap();
    assert_eq!(none.text().unwrap(), "");
}

#[test]
fn samples_are_read_by_analysts_and_cleared_by_admins() {
    let env = TestEnv::new();
    env.add_instance("s", "u", "p", &["--store-samples"]);
    let (admin, analyst) = (token(&env, "admin"), token(&env, "analyst"));
    let server = env.serve_in_process(&[]);
    post_json(
        &server.execute_url("s"),
        Some(("u", "p")),
        r#"{"seen":true}"#,
    );
    let url = server.url("/api/v1/instances/s/samples");
    let (status, samples) = call("GET", &url, Some(&analyst), None);
    assert_eq!(status, 200);
    assert_eq!(samples[0]["body"], json!({"seen": true}));
    assert_eq!(call("DELETE", &url, Some(&analyst), None).0, 403);
    assert_eq!(
        call("DELETE", &url, Some(&admin), None).1,
        json!({"cleared": 1})
    );
    assert_eq!(call("GET", &url, Some(&analyst), None).1, json!([]));
}

#[test]
fn put_tls_installs_a_valid_pair_and_refuses_a_bad_one() {
    let env = TestEnv::new();
    let admin = token(&env, "admin");
    let plain = env.serve_in_process(&[]);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let read = |name: &str| std::fs::read_to_string(format!("{fixtures}/{name}")).unwrap();
    let (status, answer) = call(
        "PUT",
        &plain.url("/api/v1/tls"),
        Some(&admin),
        Some(json!({"cert": read("ec.pem"), "key": read("ec-sec1.key")})),
    );
    assert_eq!((status, answer["error"].as_str()), (409, Some("no_https")));
    drop(plain);

    let dir = env.path("live");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), read("rsa.pem")).unwrap();
    std::fs::write(dir.join("key.pem"), read("rsa-pkcs8.key")).unwrap();
    let server = env.serve_in_process(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        dir.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        dir.join("key.pem").to_str().unwrap(),
    ]);
    let url = server.url("/api/v1/tls");
    let (status, answer) = call(
        "PUT",
        &url,
        Some(&admin),
        Some(json!({"cert": read("ec.pem"), "key": read("rsa-pkcs8.key")})),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(
        std::fs::read_to_string(dir.join("cert.pem")).unwrap(),
        read("rsa.pem"),
        "a refused pair changed the files"
    );

    let (status, answer) = call(
        "PUT",
        &url,
        Some(&admin),
        Some(json!({"cert": read("ec.pem"), "key": read("ec-sec1.key")})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        std::fs::read_to_string(dir.join("cert.pem")).unwrap(),
        read("ec.pem")
    );
    let https = format!("{}/healthz", server.https.as_ref().unwrap());
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(read("ec.pem").as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(
        client.get(&https).send().unwrap().status(),
        200,
        "the installed certificate is not served"
    );
}

#[test]
fn the_openapi_document_lists_every_route_and_every_listed_route_is_served() {
    let env = TestEnv::new();
    let admin = token(&env, "admin");
    let server = env.serve_in_process(&[]);
    let (status, doc) = call("GET", &server.url("/api/v1/openapi.json"), None, None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut expected = vec![
        "GET /api/v1/incidents",
        "GET /api/v1/incidents/export",
        "GET /api/v1/incidents/facets",
        "GET /api/v1/incidents/{id}",
        "PATCH /api/v1/incidents/{id}",
        "GET /api/v1/incidents/{id}/events",
        "GET /api/v1/instances",
        "POST /api/v1/instances",
        "GET /api/v1/instances/{name}",
        "PATCH /api/v1/instances/{name}",
        "DELETE /api/v1/instances/{name}",
        "POST /api/v1/instances/{name}/credentials",
        "DELETE /api/v1/instances/{name}/credentials/{id}",
        "GET /api/v1/instances/{name}/samples",
        "DELETE /api/v1/instances/{name}/samples",
        "GET /api/v1/instances/{name}/deliveries",
        "POST /api/v1/instances/{name}/mapping/test",
        "PUT /api/v1/tls",
    ];
    expected.sort();
    assert_eq!(documented, expected);
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path.replace("{id}", "1").replace("{name}", "nobody");
        let (status, answer) = call(method, &server.url(&path), Some(&admin), Some(json!({})));
        let unrouted = answer["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("No route"));
        assert!(
            !unrouted && status != 405,
            "{operation} is documented but not served: {status} {answer}"
        );
    }
    assert!(doc["components"]["schemas"]["InstanceView"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// What a client generator reads: the list's answer is a page of incidents with its cursor,
/// and timestamps are typed as date-times, not bare strings.
#[test]
fn the_openapi_document_types_the_incident_page_and_its_timestamps() {
    let env = TestEnv::new();
    let server = env.serve_in_process(&[]);
    let (_, doc) = call("GET", &server.url("/api/v1/openapi.json"), None, None);
    let list = &doc["paths"]["/api/v1/incidents"]["get"]["responses"]["200"];
    assert_eq!(
        list["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Page",
        "{list}"
    );
    let schemas = &doc["components"]["schemas"];
    let page = &schemas["Page"]["properties"];
    assert_eq!(
        page["items"]["items"]["$ref"],
        "#/components/schemas/IncidentView"
    );
    assert!(page["next_cursor"].is_object(), "{page}");
    for (schema, field) in [
        ("IncidentView", "occurred"),
        ("IncidentView", "created"),
        ("IncidentView", "last_seen"),
        ("EventView", "received"),
        ("SampleView", "received"),
        ("DeliveryView", "received"),
        ("CredentialView", "created"),
        ("CertInfo", "not_after"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(
            property["format"], "date-time",
            "{schema}.{field}: {property}"
        );
    }
}
