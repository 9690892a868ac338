//! Storage faults as deployments meet them, with real components: PostgreSQL cut off by a TCP
//! proxy between intake and the real server, an SQLite file on a disk that fills up. Ingest
//! answers 503 + Retry-After fast while the fault lasts, recovers by itself when it ends, and
//! every incident answered 200 is stored.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

/// A TCP proxy to `upstream` that a test can cut (every connection closed, new ones closed as
/// soon as they are accepted, as a server that went away) and restore.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (upstream, accept_cut, accept_open) = (upstream.to_string(), cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if accept_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut open = accept_open.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies bytes from `from` to `to` until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// One delivery: its status, how long it took, and the ids it was answered with.
struct Answer {
    status: u16,
    took: Duration,
    ids: Vec<i64>,
    retry_after: bool,
}

fn deliver(url: &str, name: &str) -> Answer {
    let started = Instant::now();
    let response = client()
        .post(url)
        .basic_auth("u", Some("p"))
        .body(format!(r#"{{"name":"{name}"}}"#))
        .send()
        .expect("the server answers");
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().unwrap_or(Value::Null);
    let ids = if status == 200 {
        body.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    } else {
        Vec::new()
    };
    Answer {
        status,
        took: started.elapsed(),
        ids,
        retry_after,
    }
}

fn readiness(server: &TestServer) -> u16 {
    client()
        .get(server.url("/readyz"))
        .send()
        .expect("readyz answers")
        .status()
        .as_u16()
}

#[test]
fn postgres_only_ingest_answers_503_while_postgres_is_cut_off_and_recovers_alone() {
    assert!(on_postgres(), "a PostgreSQL test: the SQLite pass skips it");
    let env = TestEnv::new();
    env.add_instance("cut", "u", "p", &[]);
    let proxy = Proxy::start("127.0.0.1:5432");
    let through_proxy = {
        let (rest, database) = env.db_url.rsplit_once('/').unwrap();
        let (scheme_user, _) = rest.rsplit_once('@').unwrap();
        format!("{scheme_user}@127.0.0.1:{}/{database}", proxy.port)
    };
    let proxied = TestEnv::at_url(through_proxy);
    let server = proxied.serve_in_process(&[]);
    let url = server.execute_url("cut");
    let mut acked: Vec<i64> = Vec::new();
    let before = deliver(&url, "before");
    assert_eq!(before.status, 200);
    acked.extend(before.ids);

    proxy.cut();
    let mut during = Vec::new();
    for n in 0..5 {
        let answer = deliver(&url, &format!("during {n}"));
        assert!(
            answer.took < Duration::from_secs(5),
            "a delivery took {:?} while storage was cut off",
            answer.took
        );
        if answer.status == 200 {
            acked.extend(answer.ids);
        } else {
            assert!(
                answer.retry_after,
                "a {} without Retry-After",
                answer.status
            );
        }
        during.push(answer.status);
    }
    assert!(
        during.iter().all(|&s| s == 503),
        "deliveries while PostgreSQL is cut off: {during:?} (each must be 503)"
    );
    assert_eq!(
        readiness(&server),
        503,
        "/readyz while PostgreSQL is cut off"
    );

    proxy.restore();
    let mut after = Vec::new();
    let recovered = eventually(Duration::from_secs(15), || {
        let answer = deliver(&url, "after");
        after.push(answer.status);
        acked.extend(answer.ids);
        answer.status == 200
    });
    assert!(
        recovered,
        "ingest did not recover without a restart: {after:?}"
    );
    assert!(
        eventually(Duration::from_secs(10), || readiness(&server) == 200),
        "/readyz did not recover"
    );
    let stored = env.all_incident_ids();
    for id in &acked {
        assert!(
            stored.contains(id),
            "acknowledged incident {id} is not stored"
        );
    }
    assert_eq!(stored.len(), acked.len(), "a refused delivery was stored");
}

/// Runs `command`, panicking with its output when it fails.
fn sh(command: &str) {
    let output = std::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("sh");
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Unmounts the small disk when the test ends, however it ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .status();
    }
}

/// The SQLite file is on a 16 MiB disk (a tmpfs: this test needs root, as the CI machine
/// has) that the test fills up and frees again.
#[test]
fn sqlite_only_a_full_disk_answers_503_and_ingest_recovers_when_space_returns() {
    assert!(
        !on_postgres(),
        "an SQLite test: the PostgreSQL pass skips it"
    );
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=16m tmpfs {}",
        disk.display()
    ));
    let _mounted = Mounted(disk.clone());
    let env = TestEnv::at_url(format!("sqlite://{}", disk.join("intake.db").display()));
    env.add_instance("full", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("full");
    let big = |tag: &str| {
        let padding = "x".repeat(2000);
        let events: Vec<Value> = (0..500)
            .map(|n| serde_json::json!({"name": format!("{tag} {n}"), "padding": padding}))
            .collect();
        Value::Array(events).to_string()
    };
    let post_big = |tag: &str| {
        let started = Instant::now();
        let response = client()
            .post(&url)
            .basic_auth("u", Some("p"))
            .body(big(tag))
            .send()
            .expect("the server answers");
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().unwrap_or(Value::Null);
        (status, retry_after, body, started.elapsed())
    };
    let mut acked = 0;
    let first = post_big("before");
    assert_eq!(first.0, 200, "{}", first.2);
    acked += 500;

    // Fill the disk to the last block.
    let filler = disk.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output()
        .expect("dd");
    let full = post_big("during");
    assert_eq!(full.0, 503, "a delivery on a full disk: {}", full.2);
    assert!(full.1, "503 without Retry-After");
    assert!(full.3 < Duration::from_secs(5), "took {:?}", full.3);

    std::fs::remove_file(&filler).unwrap();
    let mut statuses = Vec::new();
    let recovered = eventually(Duration::from_secs(10), || {
        let answer = post_big("after");
        statuses.push(answer.0);
        if answer.0 == 200 {
            acked += 500;
        }
        answer.0 == 200
    });
    assert!(
        recovered,
        "ingest did not recover once space returned: {statuses:?}"
    );
    assert_eq!(readiness(&server), 200);
    drop(server);
    assert_eq!(env.all_incident_ids().len(), acked, "200s stored, 503s not");
}
