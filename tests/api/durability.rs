//! An acknowledged incident is on disk: kill -9 under concurrent load, and SIGTERM under
//! load, lose nothing that was answered 200.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// An acknowledged incident: its id and the event it was answered for.
#[derive(Debug, Clone)]
struct Acked {
    id: i64,
    name: String,
    kind: String,
    occurred: String,
    /// The event's own field, kept in its raw JSON.
    sequence: usize,
}

/// The event sender `sender` sends as the `i`th of its `n`th request.
fn event(sender: usize, n: usize, i: usize) -> Acked {
    Acked {
        id: 0,
        name: format!("s{sender}-{n}-{i}"),
        kind: format!("load-{sender}"),
        occurred: format!(
            "2024-03-{:02}T{:02}:{:02}:{:02}Z",
            1 + n % 28,
            n % 24,
            n % 60,
            i
        ),
        sequence: n * 10 + i,
    }
}

/// Eight senders posting arrays of 1-3 events until told to stop or the server goes away.
/// Returns every incident that was acknowledged with 200; `acked` counts them as they come.
fn load(
    url: String,
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<Acked>> {
    std::thread::spawn(move || {
        let senders: Vec<_> = (0..8)
            .map(|sender| {
                let (url, stop, acked_count) = (url.clone(), stop.clone(), acked_count.clone());
                std::thread::spawn(move || {
                    let client = client();
                    let mut acked = Vec::new();
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let sent: Vec<Acked> =
                            (0..1 + n % 3).map(|i| event(sender, n, i)).collect();
                        let events: Vec<Value> = sent
                            .iter()
                            .map(|e| {
                                serde_json::json!({
                                    "name": e.name,
                                    "type": e.kind,
                                    "occurred": e.occurred,
                                    "sequence": e.sequence,
                                })
                            })
                            .collect();
                        let answer = client
                            .post(&url)
                            .basic_auth("load", Some("pw"))
                            .body(Value::Array(events).to_string())
                            .send();
                        let Ok(response) = answer else { break };
                        if response.status() != 200 {
                            break;
                        }
                        let Ok(body) = response.json::<Value>() else {
                            break;
                        };
                        let ids = body.as_array().unwrap();
                        acked.extend(ids.iter().zip(sent).map(|(answered, event)| Acked {
                            id: answered["id"].as_i64().unwrap(),
                            ..event
                        }));
                        acked_count.fetch_add(ids.len(), Ordering::Relaxed);
                    }
                    acked
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    })
}

/// A server on `env` (with an instance `load`) under eight senders' load, returned once the
/// senders have had `LOADED` incidents acknowledged (so the interruption lands in steady load,
/// however fast the backend is), or after 20 s.
fn server_under_load(
    env: &TestEnv,
) -> (
    TestServer,
    Arc<AtomicBool>,
    std::thread::JoinHandle<Vec<Acked>>,
) {
    const LOADED: usize = 400;
    let server = env.serve(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let senders = load(server.execute_url("load"), stop.clone(), acked.clone());
    let loaded = eventually(Duration::from_secs(20), || {
        acked.load(Ordering::Relaxed) >= LOADED
    });
    assert!(
        loaded,
        "the senders had fewer than {LOADED} incidents acknowledged in 20 s"
    );
    (server, stop, senders)
}

fn load_env() -> TestEnv {
    let env = TestEnv::new();
    env.add_instance("load", "load", "pw", &[]);
    env
}

/// Stops the senders and returns what they had acknowledged, which must be enough load to
/// mean anything.
fn stop_senders(stop: &AtomicBool, senders: std::thread::JoinHandle<Vec<Acked>>) -> Vec<Acked> {
    stop.store(true, Ordering::Relaxed);
    let acked = senders.join().unwrap();
    assert!(
        acked.len() > 100,
        "too little load to mean anything: {}",
        acked.len()
    );
    acked
}

/// Fails with how many were `found` and the first ten of them.
fn assert_none<T: std::fmt::Debug>(found: &[T], what: &str) {
    assert!(
        found.is_empty(),
        "{} {what}, e.g. {:?}",
        found.len(),
        &found[..found.len().min(10)]
    );
}

/// Every acknowledged id is stored, with the fields of the event its sender was answered for.
fn assert_all_stored(env: &TestEnv, acked: &[Acked]) {
    let stored: HashMap<i64, Value> = env
        .all_incidents()
        .into_iter()
        .map(|i| (i["id"].as_i64().unwrap(), i))
        .collect();
    let missing: Vec<&Acked> = acked
        .iter()
        .filter(|a| !stored.contains_key(&a.id))
        .collect();
    assert_none(&missing, "acknowledged incidents lost");
    let mixed_up: Vec<(&Acked, &Value)> = acked
        .iter()
        .map(|acked| (acked, &stored[&acked.id]))
        .filter(|(sent, stored)| {
            stored["name"] != sent.name.as_str()
                || stored["type"] != sent.kind.as_str()
                || stored["occurred"] != sent.occurred.as_str()
                || stored["instance"] != "load"
        })
        .collect();
    assert_none(
        &mixed_up,
        "incidents stored with other fields than were sent",
    );
    let unique: HashSet<i64> = acked.iter().map(|a| a.id).collect();
    assert_eq!(unique.len(), acked.len(), "an id was acknowledged twice");
    // The raw JSON of a spread of them (each one is a CLI call) holds the event's own field.
    for sent in acked.iter().step_by((acked.len() / 10).max(1)) {
        let incident = env.incident(sent.id);
        assert_eq!(
            incident["raw_json"]["sequence"], sent.sequence,
            "{sent:?}: {incident}"
        );
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_incident_over_several_restarts() {
    const CYCLES: usize = 3;
    let env = load_env();
    let mut acked: Vec<Acked> = Vec::new();
    for cycle in 0..CYCLES {
        let (mut server, stop, senders) = server_under_load(&env);
        server.kill9();
        let this_cycle = stop_senders(&stop, senders);
        // The restarted server carried on with fresh ids.
        let newest_before = acked.iter().map(|a| a.id).max().unwrap_or(0);
        let oldest_now = this_cycle.iter().map(|a| a.id).min().unwrap();
        assert!(
            oldest_now > newest_before,
            "cycle {cycle}: id {oldest_now} reused (before the kill: up to {newest_before})"
        );
        acked.extend(this_cycle);
        assert_all_stored(&env, &acked);
    }
    // After the last kill too, a restarted server answers with a fresh id.
    let server = env.serve(&[]);
    let (status, body) = post_json(&server.execute_url("load"), Some(("load", "pw")), "{}");
    assert_eq!(status, 200, "{body}");
    let newest = acked.iter().map(|a| a.id).max().unwrap();
    assert!(body[0]["id"].as_i64().unwrap() > newest, "{body}");
}

#[test]
fn sigterm_under_load_finishes_in_flight_requests_and_exits_cleanly() {
    let env = load_env();
    let (mut server, stop, senders) = server_under_load(&env);
    assert!(server.terminate(), "intake serve did not exit 0 on SIGTERM");
    let acked = stop_senders(&stop, senders);
    assert_all_stored(&env, &acked);
    assert!(server
        .log_text()
        .contains("every acknowledged incident is committed"));
}

/// SQLite: what the writer commits goes to the write-ahead log first; the checkpointer copies
/// it into the database file itself soon after, without waiting for the log to fill.
#[test]
fn sqlite_only_committed_incidents_reach_the_database_file_without_waiting_for_the_log_to_fill() {
    assert!(
        !on_postgres(),
        "an SQLite test: the PostgreSQL pass skips it"
    );
    let env = TestEnv::new();
    env.add_instance("ck", "ck", "pw", &[]);
    let server = env.serve_in_process(&[]);
    let marker = "checkpointed-7f3a9c";
    let (status, _) = post_json(
        &server.execute_url("ck"),
        Some(("ck", "pw")),
        &format!(r#"{{"name":"{marker}"}}"#),
    );
    assert_eq!(status, 200);
    let in_database_file = || {
        let bytes = std::fs::read(env.path("intake.db")).unwrap_or_default();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    assert!(
        eventually(Duration::from_secs(5), in_database_file),
        "the incident is still only in the write-ahead log after 5 s"
    );
    drop(server);
}
