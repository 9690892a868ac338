//! Several `intake serve` processes on one database behave as one service: ids never
//! collide, nothing is lost, and a change made through one replica is honoured by the other
//! within 2 s. Runs on both backends (PostgreSQL is the one for scale-out; SQLite shows the
//! same guarantees hold for two processes sharing one file).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const CLIENTS: usize = 8;
const REQUESTS_PER_CLIENT: usize = 250;
const EVENTS_PER_REQUEST: usize = 10;

#[test]
fn two_replicas_store_twenty_thousand_events_with_distinct_ids_and_share_credential_removal() {
    let env = TestEnv::new();
    env.add_instance("shared", "sender", "pw-one", &[]);
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "shared",
            "--username",
            "old",
            "--password-stdin",
        ],
        Some("pw-old"),
    );
    let token = env.api_token("admin");
    let a = env.serve(&[]);
    let b = env.sharing_database().serve(&[]);
    let urls = [a.execute_url("shared"), b.execute_url("shared")];

    let senders: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let url = urls[n % 2].clone();
            std::thread::spawn(move || {
                let client = client();
                let mut acked = Vec::new();
                for r in 0..REQUESTS_PER_CLIENT {
                    let events: Vec<Value> = (0..EVENTS_PER_REQUEST)
                        .map(|e| json!({"name": format!("c{n}-r{r}-e{e}")}))
                        .collect();
                    let response = client
                        .post(&url)
                        .basic_auth("sender", Some("pw-one"))
                        .body(Value::Array(events).to_string())
                        .send()
                        .expect("request");
                    assert_eq!(response.status(), 200, "client {n} request {r}");
                    let body: Value = response.json().expect("json");
                    acked.extend(
                        body.as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i["id"].as_i64().unwrap()),
                    );
                }
                acked
            })
        })
        .collect();
    let acked: Vec<i64> = senders
        .into_iter()
        .flat_map(|s| s.join().expect("sender"))
        .collect();
    let total = CLIENTS * REQUESTS_PER_CLIENT * EVENTS_PER_REQUEST;
    assert_eq!(acked.len(), total);
    let distinct: HashSet<i64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), total, "two replicas handed out the same id");
    let stored = env.all_incident_ids();
    assert_eq!(stored.len(), total, "stored incidents");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), distinct);

    // The "old" credential works on replica B (and is cached as verified there)…
    let old_on_b = || {
        client()
            .post(b.execute_url("shared"))
            .basic_auth("old", Some("pw-old"))
            .body("{}")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(old_on_b(), 200);
    // …until it is removed through replica A's API; B refuses it within 2 s.
    let instance = client()
        .get(a.url("/api/v1/instances/shared"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    let old_id = instance["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == "old")
        .expect("the old credential")["id"]
        .as_i64()
        .unwrap();
    let removed = client()
        .delete(a.url(&format!("/api/v1/instances/shared/credentials/{old_id}")))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
    let removed_at = Instant::now();
    let refused = eventually(Duration::from_secs(2), || old_on_b() == 401);
    assert!(
        refused,
        "replica B still accepts a credential removed through A {:?} later",
        removed_at.elapsed()
    );
    let (status, _) = post_json(&b.execute_url("shared"), Some(("sender", "pw-one")), "{}");
    assert_eq!(status, 200, "the remaining credential still works on B");
}

#[test]
fn samples_stay_capped_when_two_replicas_store_them_at_once() {
    let env = TestEnv::new();
    env.add_instance(
        "sampled",
        "u",
        "p",
        &["--store-samples", "--sample-limit", "5"],
    );
    let a = env.serve(&[]);
    let b = env.sharing_database().serve(&[]);
    let urls = [a.execute_url("sampled"), b.execute_url("sampled")];
    let senders: Vec<_> = (0..8)
        .map(|n| {
            let url = urls[n % 2].clone();
            std::thread::spawn(move || {
                for r in 0..40 {
                    let body =
                        json!([{"name": format!("c{n}-r{r}-a")}, {"name": format!("c{n}-r{r}-b")}]);
                    let (status, _) = post_json(&url, Some(("u", "p")), &body.to_string());
                    assert_eq!(status, 200);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("sender");
    }
    let samples = env.json(&["samples", "sampled", "--json"]);
    assert_eq!(samples.as_array().unwrap().len(), 5, "{samples}");
}

#[cfg(feature = "postgres-tls")]
#[test]
fn postgres_only_connections_are_encrypted_when_the_url_requires_tls() {
    use diesel::prelude::*;
    assert!(on_postgres(), "a PostgreSQL test: the SQLite pass skips it");
    let env = TestEnv::new();
    let mut conn = diesel::PgConnection::establish(&env.db_url).expect("connect");
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ssl: String,
    }
    let server_tls = diesel::sql_query("SELECT current_setting('ssl') AS ssl")
        .get_result::<Setting>(&mut conn)
        .unwrap();
    assert_eq!(
        server_tls.ssl, "on",
        "the test PostgreSQL server must have ssl = on for this test"
    );
    let tls = env.with_url_parameters("sslmode=require");
    tls.add_instance("private", "u", "p", &[]);
    let server = tls.serve_in_process(&[]);
    let (status, body) = post_json(&server.execute_url("private"), Some(("u", "p")), "{}");
    assert_eq!(status, 200, "{body}");

    #[derive(QueryableByName)]
    struct Sessions {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        encrypted: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        plain: i64,
    }
    let sessions = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE s.ssl) AS encrypted, \
                count(*) FILTER (WHERE NOT s.ssl) AS plain \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name = 'intake' AND a.datname = current_database()",
    )
    .get_result::<Sessions>(&mut conn)
    .unwrap();
    assert!(
        sessions.encrypted >= 2,
        "the writer and a pool connection at least"
    );
    assert_eq!(sessions.plain, 0, "an intake session without TLS");
}
