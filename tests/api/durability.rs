//! An acknowledged incident is on disk: kill -9 under concurrent load, and SIGTERM under
//! load, lose nothing that was answered 200.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// Eight senders posting arrays of 1-3 events until told to stop or the server goes away.
/// Returns every incident id that was acknowledged with 200; `acked` counts them as they come.
fn load(
    url: String,
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<i64>> {
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
                        let events: Vec<Value> = (0..1 + n % 3)
                            .map(|i| serde_json::json!({"name": format!("s{sender}-{n}-{i}")}))
                            .collect();
                        let sent = client
                            .post(&url)
                            .basic_auth("load", Some("pw"))
                            .body(Value::Array(events).to_string())
                            .send();
                        let Ok(response) = sent else { break };
                        if response.status() != 200 {
                            break;
                        }
                        let Ok(body) = response.json::<Value>() else {
                            break;
                        };
                        let ids = body.as_array().unwrap();
                        acked.extend(ids.iter().map(|i| i["id"].as_i64().unwrap()));
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

/// A server with an instance `load` under eight senders' load, returned once the senders
/// have had `LOADED` incidents acknowledged (so the interruption lands in steady load, however
/// fast the backend is), or after 20 s.
fn server_under_load() -> (
    TestEnv,
    TestServer,
    Arc<AtomicBool>,
    std::thread::JoinHandle<Vec<i64>>,
) {
    const LOADED: usize = 400;
    let env = TestEnv::new();
    env.add_instance("load", "load", "pw", &[]);
    let server = env.serve(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let senders = load(server.execute_url("load"), stop.clone(), acked.clone());
    eventually(Duration::from_secs(20), || {
        acked.load(Ordering::Relaxed) >= LOADED
    });
    (env, server, stop, senders)
}

fn assert_all_stored(env: &TestEnv, acked: &[i64]) {
    let stored: HashSet<i64> = env.all_incident_ids().into_iter().collect();
    let missing: Vec<&i64> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged incidents lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let unique: HashSet<&i64> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len(), "an id was acknowledged twice");
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_incident() {
    let (env, mut server, stop, senders) = server_under_load();
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked = senders.join().unwrap();
    assert!(
        acked.len() > 100,
        "too little load to mean anything: {}",
        acked.len()
    );
    assert_all_stored(&env, &acked);

    // The restarted server carries on with fresh ids.
    let server = env.serve(&[]);
    let (status, body) = post_json(&server.execute_url("load"), Some(("load", "pw")), "{}");
    assert_eq!(status, 200);
    assert!(body[0]["id"].as_i64().unwrap() > *acked.iter().max().unwrap());
}

#[test]
fn sigterm_under_load_finishes_in_flight_requests_and_exits_cleanly() {
    let (env, mut server, stop, senders) = server_under_load();
    assert!(server.terminate(), "intake serve did not exit 0 on SIGTERM");
    stop.store(true, Ordering::Relaxed);
    let acked = senders.join().unwrap();
    assert!(
        acked.len() > 100,
        "too little load to mean anything: {}",
        acked.len()
    );
    assert_all_stored(&env, &acked);
    assert!(server
        .log_text()
        .contains("every acknowledged incident is committed"));
}

/// SQLite: what the writer commits goes to the write-ahead log first; the checkpointer copies
/// it into the database file itself soon after, without waiting for the log to fill.
#[test]
fn committed_incidents_reach_the_sqlite_database_file_without_waiting_for_the_log_to_fill() {
    if on_postgres() {
        return;
    }
    let env = TestEnv::new();
    env.add_instance("ck", "ck", "pw", &[]);
    let server = env.serve(&[]);
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
