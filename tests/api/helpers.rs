//! Test harness: a fresh database per test, the real `intake` binary for CLI commands, and a
//! real server on port 0 over real HTTP, started one of two ways:
//!
//! - [`TestEnv::serve_in_process`]: the [`Application`] that `intake serve` with the same flags
//!   would run (its settings come from the same command-line parsing), on a thread of the test
//!   process with an actix system of its own. Ready when built (the listeners are bound);
//!   dropped, it stops like the binary on SIGTERM (in-flight requests finish, the writer
//!   drains) and its thread is joined, so the database is released. It saves starting a
//!   process per server.
//! - [`TestEnv::serve`]: `intake serve` as a child process, ready once it prints `intake ready`.
//!
//! Both give the same [`TestServer`], reached only over HTTP, so a test moves from one to the
//! other by changing that call. Tests use the in-process server unless they need a process:
//!
//! - they signal, kill -9, SIGTERM or restart the server (durability, certificate and listener
//!   reload on SIGHUP, sessions and gauges across a restart), or read its log (access and
//!   refusal lines, certificate warnings, secrets never logged, where settings came from):
//!   the test process starts no logger, and `log_text`, `signal`, `kill9` and `terminate`
//!   panic on an in-process server;
//! - they check state that is global to a process, which every in-process server would share:
//!   the Prometheus metrics (`/metrics` counts); each instance's activity counters
//!   (`last_accepted`, the 24 h counts), kept by instance name in one static map whose every
//!   entry each server's recorder writes into its own database by instance id; the rate
//!   limiters, kept by instance name; the registry's one-refresh-at-a-time lock, which the
//!   freshness tests' stream of refusals takes over and over (in one process every other
//!   server's reloads would queue behind it);
//! - they run several servers on one database (replicas), which are separate processes in
//!   production and in one process would share that state too.
//!
//! CLI commands always run the binary ([`TestEnv::run`], [`TestEnv::ok`]), setup included: the
//! CLI tests check them as a user runs them, and every test sets up the same way.
//!
//! The database is an SQLite file in a temp dir, or, with `INTAKE_TEST_BACKEND=postgres`, a
//! PostgreSQL database of its own created on the server at `INTAKE_TEST_PG_URL` and dropped
//! afterwards (`make test` runs the suite both ways when that server is given).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use intake::app::Application;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_intake");

/// A database of its own, and the commands that act on it.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub db_url: String,
    /// The PostgreSQL database to drop afterwards: (server URL, database name).
    postgres: Option<(String, String)>,
    /// `INTAKE_SECRET_KEY` for every command and server of this environment.
    pub secret_key: Option<String>,
}

/// Whether this run tests PostgreSQL (`INTAKE_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("INTAKE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The PostgreSQL server the suite may create databases on.
fn postgres_server() -> String {
    std::env::var("INTAKE_TEST_PG_URL")
        .expect("INTAKE_TEST_BACKEND=postgres needs INTAKE_TEST_PG_URL=postgres://…")
}

/// `url` with its database name replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// Runs SQL on the PostgreSQL server's maintenance database.
fn on_server(server: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(&with_database(server, "postgres"))
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl TestEnv {
    /// An SQLite database whatever the backend under test (the source of `db copy`).
    pub fn sqlite() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("intake.db").display());
        TestEnv {
            dir,
            db_url,
            postgres: None,
            secret_key: None,
        }
    }

    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        if !on_postgres() {
            let db_url = format!("sqlite://{}", dir.path().join("intake.db").display());
            return TestEnv {
                dir,
                db_url,
                postgres: None,
                secret_key: None,
            };
        }
        static DATABASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("intake_test_{}_{n}", std::process::id());
        let server = postgres_server();
        on_server(&server, &format!("DROP DATABASE IF EXISTS {name}"));
        on_server(&server, &format!("CREATE DATABASE {name}"));
        TestEnv {
            dir,
            db_url: with_database(&server, &name),
            postgres: Some((server, name)),
            secret_key: None,
        }
    }

    /// The same database reached through a URL with these query parameters added
    /// (`sslmode=require`…).
    pub fn with_url_parameters(&self, parameters: &str) -> TestEnv {
        let separator = if self.db_url.contains('?') { '&' } else { '?' };
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
            db_url: format!("{}{separator}{parameters}", self.db_url),
            postgres: None,
            secret_key: None,
        }
    }

    /// An environment on a database at `db_url` that something else creates and drops.
    pub fn at_url(db_url: String) -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
            db_url,
            postgres: None,
            secret_key: None,
        }
    }

    /// A second environment on the same database (another replica's view).
    pub fn sharing_database(&self) -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
            db_url: self.db_url.clone(),
            postgres: None,
            secret_key: None,
        }
    }

    /// Every value stored in the database as text: the SQLite file and its WAL, or each row
    /// of every table. For checks that something is never stored in clear.
    pub fn stored_text(&self) -> String {
        if self.postgres.is_none() {
            let mut stored = Vec::new();
            for file in ["intake.db", "intake.db-wal"] {
                stored.extend(std::fs::read(self.path(file)).unwrap_or_default());
            }
            return String::from_utf8_lossy(&stored).into_owned();
        }
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Rows {
            #[diesel(sql_type = diesel::sql_types::Text)]
            text: String,
        }
        let mut conn = diesel::PgConnection::establish(&self.db_url).expect("connect");
        let tables = [
            "meta",
            "instances",
            "credentials",
            "incidents",
            "samples",
            "api_tokens",
            "incident_events",
            "idempotency_keys",
            "deliveries",
            "instance_auth",
            "sender_tokens",
        ];
        tables
            .iter()
            .map(|table| {
                diesel::sql_query(format!(
                    "SELECT coalesce(string_agg(t::text, E'\\n'), '') AS text FROM {table} t"
                ))
                .get_result::<Rows>(&mut conn)
                .expect("read table")
                .text
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Holds the write lock of the database until the returned connection commits or drops:
    /// ingest cannot commit meanwhile.
    pub fn block_writes(&self) -> intake::storage::Conn {
        use diesel::connection::SimpleConnection;
        let mut blocker = intake::storage::Database::open(&self.db_url)
            .unwrap()
            .connect()
            .unwrap();
        let sql = if self.postgres.is_some() {
            "BEGIN; LOCK TABLE incidents, samples IN ACCESS EXCLUSIVE MODE"
        } else {
            "BEGIN EXCLUSIVE"
        };
        blocker.batch_execute(sql).unwrap();
        blocker
    }

    /// PostgreSQL: terminates every other session on this test database, as a server restart
    /// or a failover would.
    pub fn drop_database_connections(&self) {
        let (server, name) = self.postgres.as_ref().expect("a PostgreSQL test database");
        on_server(
            server,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ),
        );
    }

    /// On PostgreSQL, a secret key for signing secrets (which SQLite generates by itself).
    pub fn keyed(mut self) -> TestEnv {
        if self.postgres.is_some() {
            use base64::Engine;
            let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 3);
            self.secret_key = Some(base64::engine::general_purpose::STANDARD.encode(key));
        }
        self
    }

    /// Whether this environment's database is an SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.db_url.starts_with("sqlite:")
    }

    /// Runs `intake ARGS` against this database, with `stdin` piped in when given.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(BIN);
        if let Some(key) = &self.secret_key {
            command.env("INTAKE_SECRET_KEY", key);
        }
        let mut child = command
            .args(args)
            .env("INTAKE_DATABASE_URL", &self.db_url)
            .env_remove("INTAKE_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn intake");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            // A command that refuses its arguments exits without reading stdin: a broken
            // pipe here is expected then, and the exit status tells the rest.
            let _ = input.write_all(text.as_bytes());
        }
        drop(input);
        child.wait_with_output().expect("intake output")
    }

    /// A new API token with `role`, created with the CLI as an admin would.
    pub fn api_token(&self, role: &str) -> String {
        self.ok(&["token", "create", "--role", role], None)
            .trim()
            .to_string()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "intake {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a `--json` command and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args, None);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed non-JSON ({e}): {text}"))
    }

    /// `intake instance add NAME --username USER --password-stdin [extra…]`.
    pub fn add_instance(&self, name: &str, username: &str, secret: &str, extra: &[&str]) {
        let mut args = vec![
            "instance",
            "add",
            name,
            "--username",
            username,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.ok(&args, Some(secret));
    }

    /// Every incident id in the database, through the CLI's paginated listing.
    pub fn all_incident_ids(&self) -> Vec<i64> {
        self.all_incidents()
            .iter()
            .map(|i| i["id"].as_i64().expect("id"))
            .collect()
    }

    /// Every incident in the database, newest first, through the CLI's paginated listing.
    pub fn all_incidents(&self) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let mut args = vec!["incidents", "list", "--json", "--limit", "1000"];
            let cursor;
            if let Some(b) = before {
                cursor = b.to_string();
                args.extend_from_slice(&["--before", &cursor]);
            }
            let page = self.json(&args);
            let page = page.as_array().expect("array");
            if page.is_empty() {
                return all;
            }
            all.extend(page.iter().cloned());
            before = all.last().and_then(|i| i["id"].as_i64());
        }
    }

    pub fn incident(&self, id: i64) -> Value {
        self.json(&["incidents", "show", &id.to_string(), "--json"])
    }

    /// Starts `intake serve` (the binary, as a child process) on a free port with these extra
    /// flags.
    pub fn serve(&self, extra: &[&str]) -> TestServer {
        TestServer::start(self, extra)
    }

    /// Starts the server `intake serve` with these extra flags would run, in this process,
    /// on a free port (see the module comment for which tests may use it).
    pub fn serve_in_process(&self, extra: &[&str]) -> TestServer {
        TestServer::start_in_process(self, extra)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            on_server(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// A running server: `intake serve` as a child process ([`TestEnv::serve`]) or the same
/// [`Application`] on a thread of the test process ([`TestEnv::serve_in_process`]). Tests
/// reach either only over HTTP, through `base`, `https`, `url` and `execute_url`.
pub struct TestServer {
    running: Running,
    /// The HTTP listener's URL, or the HTTPS one when only HTTPS is served.
    pub base: String,
    pub https: Option<String>,
}

enum Running {
    Process {
        child: Child,
        /// Kept open: the server's prints would fail on a closed pipe.
        _stdout: BufReader<ChildStdout>,
        /// Its stderr: the log.
        log: PathBuf,
    },
    InProcess {
        handle: actix_web::dev::ServerHandle,
        /// The thread running the server's actix system; its result is the server's.
        thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    },
}

impl TestServer {
    fn start(env: &TestEnv, extra: &[&str]) -> TestServer {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = env.path(&format!("server-{n}.log"));
        let mut command = Command::new(BIN);
        if let Some(key) = &env.secret_key {
            command.env("INTAKE_SECRET_KEY", key);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("INTAKE_DATABASE_URL", &env.db_url)
            .env("RUST_LOG", "info")
            .env_remove("INTAKE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn intake serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let mut urls = Vec::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).expect("read stdout") == 0 {
                let _ = child.wait();
                panic!(
                    "intake serve exited before it was ready:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(url) = line.trim().strip_prefix("intake listening on ") {
                urls.push(url.to_string());
            }
            if line.trim() == "intake ready" {
                break;
            }
        }
        TestServer::listening(
            Running::Process {
                child,
                _stdout: stdout,
                log,
            },
            &urls,
        )
    }

    /// Builds the settings `intake serve --listen 127.0.0.1:0 EXTRA…` would run with, then the
    /// application from them on a thread of its own with its own actix system. Ready on return:
    /// the listeners are bound when `Application::build_without_signals` returns.
    fn start_in_process(env: &TestEnv, extra: &[&str]) -> TestServer {
        use clap::{CommandFactory, FromArgMatches};
        let mut args = vec![
            "intake",
            "--database-url",
            &env.db_url,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let matches = intake::cli::Cli::command()
            .try_get_matches_from(&args)
            .unwrap_or_else(|e| panic!("intake serve {extra:?}: {e}"));
        let mut cli = intake::cli::Cli::from_arg_matches(&matches).expect("parsed arguments");
        if let intake::cli::Command::Serve(serve) = &cli.command {
            assert!(!serve.demo, "--demo prints to stdout: use env.serve");
        }
        // As the child process runs without INTAKE_CONFIG.
        if matches.value_source("config") == Some(clap::parser::ValueSource::EnvVariable) {
            cli.config = None;
        }
        let mut settings = intake::cli::settings(&cli, &matches)
            .unwrap_or_else(|e| panic!("intake serve {extra:?}: {e:#}"));
        if let Some(key) = &env.secret_key {
            // The child process gets INTAKE_SECRET_KEY; one process has one environment, so
            // this server reads the same key from a file.
            let file = env.path("in-process-secret.key");
            std::fs::write(&file, key).expect("key file");
            settings.secret_key_file = Some(file);
        }
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("intake-in-process".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    match Application::build_without_signals(&settings).await {
                        Ok(app) => {
                            let _ = ready.send(Ok((app.urls().to_vec(), app.handle())));
                            app.run_until_stopped().await
                        }
                        Err(e) => {
                            let _ = ready.send(Err(format!("{e:#}")));
                            Ok(())
                        }
                    }
                })
            })
            .expect("spawn the server thread");
        let (urls, handle) = match started.recv() {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => panic!("intake serve {extra:?} (in process) did not start: {e}"),
            Err(_) => match thread.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(result) => panic!("the in-process server thread ended at once: {result:?}"),
            },
        };
        TestServer::listening(
            Running::InProcess {
                handle,
                thread: Some(thread),
            },
            &urls,
        )
    }

    fn listening(running: Running, urls: &[String]) -> TestServer {
        let https = urls.iter().find(|u| u.starts_with("https://")).cloned();
        let base = urls
            .iter()
            .find(|u| u.starts_with("http://"))
            .or(https.as_ref())
            .cloned()
            .expect("a listener");
        TestServer {
            running,
            base,
            https,
        }
    }

    /// The child process; a test that signals, kills or reads the log of its server needs one.
    fn child(&mut self) -> &mut Child {
        match &mut self.running {
            Running::Process { child, .. } => child,
            Running::InProcess { .. } => no_process(),
        }
    }

    /// Sends a signal (`HUP`, `TERM`…) to the server.
    pub fn signal(&self, name: &str) {
        let pid = match &self.running {
            Running::Process { child, .. } => child.id().to_string(),
            Running::InProcess { .. } => no_process(),
        };
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn execute_url(&self, instance: &str) -> String {
        self.url(&format!("/instance/execute/{instance}"))
    }

    /// kill -9: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        let child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits for the process to end; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.signal("TERM");
        let child = self.child();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("intake serve did not stop within 40 s of SIGTERM");
    }

    /// What the server process wrote to stderr. An in-process server logs nowhere (the test
    /// process starts no logger), so a test reading the log needs `env.serve`.
    pub fn log_text(&self) -> String {
        match &self.running {
            Running::Process { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
            Running::InProcess { .. } => {
                panic!("an in-process server writes no log: start it with env.serve")
            }
        }
    }
}

fn no_process() -> ! {
    panic!("an in-process server has no process of its own: start it with env.serve")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::InProcess { handle, thread } => {
                // `stop` sends its command at once; the thread's end is what to wait for:
                // in-flight requests finish, the writer drains, every connection closes.
                drop(handle.stop(true));
                let Some(thread) = thread.take() else { return };
                let result = thread.join();
                if std::thread::panicking() {
                    return;
                }
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("the in-process server failed: {e:#}"),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// An HTTP client that answers redirects instead of following them.
pub fn no_redirects() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Signs in to the console at `/login` over HTTP as a browser does (the form's CSRF field and
/// cookie, then the POST); returns the answer's status and the session cookie, if one was set.
pub fn console_sign_in(server: &TestServer, user: &str, password: &str) -> (u16, Option<String>) {
    let client = no_redirects();
    let page = client.get(server.url("/login")).send().expect("login page");
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let html = page.text().expect("login page");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf field");
    let answer = client
        .post(server.url("/login"))
        .header("Cookie", form_cookie)
        .form(&[("username", user), ("password", password), ("csrf", csrf)])
        .send()
        .expect("sign in");
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| c.strip_prefix("intake_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string());
    (answer.status().as_u16(), session)
}

/// `GET path` on the console with this session cookie, redirects not followed.
pub fn console_get(server: &TestServer, session: &str, path: &str) -> reqwest::blocking::Response {
    no_redirects()
        .get(server.url(path))
        .header("Cookie", format!("intake_session={session}"))
        .send()
        .expect("console request")
}

/// Sends `body` as JSON with Basic credentials; returns status and parsed body.
pub fn post_json(
    url: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> (reqwest::StatusCode, Value) {
    let mut request = client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().expect("request");
    let status = response.status();
    let text = response.text().expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts a JSON error answer with this status and code.
pub fn assert_error(answer: &(reqwest::StatusCode, Value), status: u16, code: &str) {
    assert_eq!(answer.0.as_u16(), status, "answer: {}", answer.1);
    assert_eq!(answer.1["error"], code, "answer: {}", answer.1);
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {}",
        answer.1
    );
}

/// Polls `check` until it holds or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `intake tls self-signed` into `dir` (created if missing) for `days`; returns (ca, cert, key).
pub fn self_signed(
    env: &TestEnv,
    dir: &std::path::Path,
    days: &str,
) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    env.ok(
        &[
            "tls",
            "self-signed",
            "--hostname",
            "localhost",
            "--out-dir",
            dir.to_str().unwrap(),
            "--days",
            days,
        ],
        None,
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
