//! Slow and idle clients (slowloris: headers trickled a byte at a time; idle
//! keep-alive connections; bodies that never finish) cannot stop others from being served.
//! Timeouts and caps come from the `[http]` section of the configuration.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

/// A server with this configuration file, and an instance `slow` (user u, password p).
fn server_with(env: &TestEnv, config_text: &str) -> TestServer {
    env.add_instance("slow", "u", "p", &[]);
    let config = env.path("intake.toml");
    std::fs::write(&config, config_text).unwrap();
    env.serve_in_process(&["--config", config.to_str().unwrap()])
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// A raw connection, read without blocking.
struct Socket {
    stream: TcpStream,
    opened: Instant,
    /// What the server sent.
    received: Vec<u8>,
    /// When the server closed it.
    closed: Option<Instant>,
}

impl Socket {
    fn open(addr: &str) -> Socket {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nonblocking(true).unwrap();
        Socket {
            stream,
            opened: Instant::now(),
            received: Vec::new(),
            closed: None,
        }
    }

    /// Writes what it can; a write the server refuses means it closed the connection.
    fn send(&mut self, bytes: &[u8]) {
        if self.closed.is_some() {
            return;
        }
        match self.stream.write(bytes) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.closed = Some(Instant::now()),
        }
    }

    /// Reads what has arrived; notes when the server has closed the connection.
    fn poll(&mut self) {
        let mut buffer = [0u8; 4096];
        while self.closed.is_none() {
            match self.stream.read(&mut buffer) {
                Ok(0) => self.closed = Some(Instant::now()),
                Ok(n) => self.received.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => self.closed = Some(Instant::now()),
            }
        }
    }

    fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// Whether a complete `/healthz` answer has arrived and the connection is still open.
    fn answered_healthz(&mut self) -> bool {
        self.poll();
        let text = self.received_text();
        self.closed.is_none() && text.starts_with("HTTP/1.1 200") && text.ends_with('}')
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: intake\r\n\r\n";

/// Sends a whole `GET /healthz` on each socket and waits for every answer; the connections
/// stay open.
fn healthz_on_each(sockets: &mut [Socket]) {
    for socket in sockets.iter_mut() {
        socket.received.clear();
        socket.send(HEALTHZ);
    }
    let all = eventually(Duration::from_secs(10), || {
        sockets.iter_mut().all(|s| s.answered_healthz())
    });
    let failed: Vec<String> = sockets
        .iter_mut()
        .filter_map(|s| (!s.answered_healthz()).then(|| s.received_text()))
        .collect();
    assert!(all, "{} sockets not answered: {failed:?}", failed.len());
}

#[test]
fn trickled_headers_and_idle_connections_do_not_stop_others_being_served() {
    let env = TestEnv::new();
    let header_timeout = Duration::from_millis(1500);
    let server = server_with(
        &env,
        "[http]\nclient_request_timeout_ms = 1500\nkeep_alive_seconds = 60\n",
    );
    let addr = address(&server);
    let url = server.execute_url("slow");

    // Idle keep-alive connections: one request answered each, then silence.
    let mut idle: Vec<Socket> = (0..200).map(|_| Socket::open(&addr)).collect();
    healthz_on_each(&mut idle);

    // Slowloris: a request head that never ends, one byte per socket every 100 ms.
    let mut trickling: Vec<Socket> = (0..300).map(|_| Socket::open(&addr)).collect();
    let head = b"POST /instance/execute/slow HTTP/1.1\r\nHost: intake\r\nX-Pad: ";
    let started = Instant::now();
    let mut sent = 0;
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    let all_closed = eventually(header_timeout + Duration::from_secs(3), || {
        let byte = head.get(sent).copied().unwrap_or(b'a');
        sent += 1;
        for socket in &mut trickling {
            socket.send(&[byte]);
            socket.poll();
        }
        // Normal traffic goes on meanwhile, and is answered promptly.
        let asked = Instant::now();
        let answer = post_json(&url, AUTH, &format!("{{\"name\":\"normal {served}\"}}"));
        assert_eq!(answer.0, 200, "{}", answer.1);
        slowest = slowest.max(asked.elapsed());
        served += 1;
        trickling.iter().all(|s| s.closed.is_some())
    });
    let open = trickling.iter().filter(|s| s.closed.is_none()).count();
    assert!(
        all_closed,
        "{open} of 300 trickling sockets still open {:?} after the header timeout",
        started.elapsed() - header_timeout
    );
    for socket in &trickling {
        let lived = socket.closed.unwrap() - socket.opened;
        // actix-web reckons deadlines from a clock it updates every 500 ms.
        assert!(
            lived >= header_timeout - Duration::from_millis(600),
            "a trickling socket was closed after {lived:?}, before the header timeout"
        );
        let text = socket.received_text();
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "a trickling socket got {text:?}"
        );
    }
    assert!(
        trickling
            .iter()
            .any(|s| s.received_text().starts_with("HTTP/1.1 408")),
        "no trickling socket was told 408 Request Timeout"
    );
    assert!(served >= 10, "only {served} normal requests were sent");
    assert!(
        slowest < Duration::from_secs(1),
        "the slowest of {served} normal requests took {slowest:?}"
    );
    assert_eq!(env.all_incident_ids().len(), served);

    // The idle connections are still open (keep-alive is 60 s) and still served.
    for socket in &mut idle {
        socket.poll();
        assert!(socket.closed.is_none(), "an idle connection was closed");
    }
    healthz_on_each(&mut idle);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_keep_alive_time() {
    let env = TestEnv::new();
    let server = server_with(&env, "[http]\nkeep_alive_seconds = 1\n");
    let addr = address(&server);
    let mut idle: Vec<Socket> = (0..50).map(|_| Socket::open(&addr)).collect();
    healthz_on_each(&mut idle);
    let all_closed = eventually(Duration::from_secs(10), || {
        idle.iter_mut().for_each(Socket::poll);
        idle.iter().all(|s| s.closed.is_some())
    });
    assert!(
        all_closed,
        "idle connections outlived keep_alive_seconds = 1"
    );
    for socket in &idle {
        let lived = socket.closed.unwrap() - socket.opened;
        assert!(
            lived >= Duration::from_millis(900),
            "closed after {lived:?}"
        );
    }
    assert_eq!(
        client()
            .get(server.url("/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn connections_above_the_cap_wait_until_one_closes() {
    let env = TestEnv::new();
    let server = server_with(
        &env,
        "workers = 1\n[http]\nmax_connections = 20\nkeep_alive_seconds = 60\n",
    );
    let addr = address(&server);

    let mut held: Vec<Socket> = (0..20).map(|_| Socket::open(&addr)).collect();
    healthz_on_each(&mut held);
    // The 21st connection is accepted by the kernel but not served while 20 are held.
    let mut waiting = Socket::open(&addr);
    waiting.send(HEALTHZ);
    let answered_early = eventually(Duration::from_millis(700), || {
        waiting.poll();
        !waiting.received.is_empty()
    });
    assert!(!answered_early, "served above max_connections");
    held.truncate(10);
    let answered = eventually(Duration::from_secs(5), || {
        waiting.poll();
        waiting.received_text().starts_with("HTTP/1.1 200")
    });
    assert!(
        answered,
        "not served after connections closed: {:?}",
        waiting.received_text()
    );
}

#[test]
fn a_body_that_never_finishes_is_answered_408_after_the_body_timeout() {
    let env = TestEnv::new();
    let server = server_with(&env, "[limits]\nbody_timeout_ms = 1000\n");
    let mut socket = Socket::open(&address(&server));
    socket.send(
        b"POST /instance/execute/slow HTTP/1.1\r\nHost: intake\r\n\
          Authorization: Basic dTpw\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"name\":",
    );
    let answered = eventually(Duration::from_secs(10), || {
        socket.poll();
        socket.received_text().contains("body_timeout")
    });
    let text = socket.received_text();
    assert!(answered, "{text:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(socket.opened.elapsed() >= Duration::from_millis(1000));
    assert!(env.all_incident_ids().is_empty());
    assert_eq!(
        post_json(&server.execute_url("slow"), AUTH, "{\"name\":\"after\"}").0,
        200
    );
}
