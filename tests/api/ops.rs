//! Operations: health, readiness, the access log, and 503 when storage is unavailable.

use diesel::connection::SimpleConnection;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

#[test]
fn health_and_readiness_answer() {
    let env = TestEnv::new();
    let server = env.serve_in_process(&[]);
    let health = client().get(server.url("/healthz")).send().unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().unwrap()["status"], "ok");
    let ready = client().get(server.url("/readyz")).send().unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().unwrap()["status"], "ready");
}

#[test]
fn every_request_is_access_logged_without_credentials() {
    let env = TestEnv::new();
    env.add_instance("logged", "u", "Very-Secret-Pw", &[]);
    let server = env.serve(&[]);
    let response = client()
        .post(format!(
            "{}?token=query-secret",
            server.execute_url("logged")
        ))
        .basic_auth("u", Some("Very-Secret-Pw"))
        .header("User-Agent", "Cato-Networks/1.0")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let logged = eventually(std::time::Duration::from_secs(2), || {
        server
            .log_text()
            .contains("\"POST /instance/execute/logged\" 200")
    });
    let log = server.log_text();
    assert!(logged, "no access log line: {log}");
    let line = log
        .lines()
        .find(|l| l.contains("/instance/execute/logged"))
        .unwrap();
    assert!(
        line.contains("127.0.0.1") && line.contains("Cato-Networks/1.0") && line.contains("ms"),
        "{line}"
    );
    for secret in ["Very-Secret-Pw", "query-secret", "Basic "] {
        assert!(!log.contains(secret), "'{secret}' in the log: {log}");
    }
}

#[test]
fn unavailable_storage_answers_503_with_retry_after_and_stores_nothing() {
    let env = TestEnv::new();
    env.add_instance("busy", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let mut blocker = env.block_writes();

    let response = client()
        .post(server.execute_url("busy"))
        .basic_auth("u", Some("p"))
        .body(r#"[{"name":"one"},{"name":"two"}]"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.json::<Value>().unwrap()["error"], "unavailable");

    blocker.batch_execute("COMMIT").unwrap();
    assert!(
        env.all_incident_ids().is_empty(),
        "a refused request stored something"
    );
    let (status, _) = post_json(&server.execute_url("busy"), Some(("u", "p")), "{}");
    assert_eq!(status, 200, "the writer did not recover");
    assert_eq!(env.all_incident_ids().len(), 1);
}

#[test]
fn postgres_only_ingest_recovers_by_itself_when_the_database_drops_its_connections() {
    assert!(on_postgres(), "a PostgreSQL test: the SQLite pass skips it");
    let env = TestEnv::new();
    env.add_instance("steady", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let send = || post_json(&server.execute_url("steady"), Some(("u", "p")), "{}").0;
    assert_eq!(send(), 200);
    // What a database restart or failover does to intake's sessions: every one is cut.
    env.drop_database_connections();
    let mut answers = Vec::new();
    let recovered = eventually(Duration::from_secs(5), || {
        let status = send();
        answers.push(status.as_u16());
        status == 200
    });
    assert!(recovered, "ingest did not recover: {answers:?}");
    assert!(
        answers.iter().all(|&s| s == 200 || s == 503),
        "a lost connection must answer 503 (retry), got {answers:?}"
    );
    let ok = answers.iter().filter(|&&s| s == 200).count() + 1;
    assert_eq!(
        env.all_incident_ids().len(),
        ok,
        "every 200 is stored, no 503 is"
    );
}
