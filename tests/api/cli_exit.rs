//! How the real `intake` binary ends: 0 on success, 1 with a message on stderr when a command
//! fails, 2 on wrong usage, and quietly when the reader of its output goes away
//! (`intake incidents list | head -1`).

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::*;

#[test]
fn a_listing_whose_reader_goes_away_ends_quietly() {
    let env = TestEnv::new();
    env.add_instance("many", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    // Far more than a pipe holds (64 KiB), so the command is still writing when the
    // reader leaves.
    let long = "x".repeat(200);
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("incident {i} {long}")}))
        .collect();
    let (status, _) = post_json(
        &server.execute_url("many"),
        Some(("u", "p")),
        &Value::Array(batch).to_string(),
    );
    assert_eq!(status, 200);

    for args in [
        &["incidents", "list", "--limit", "1000"][..],
        &["incidents", "list", "--limit", "1000", "--json"][..],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .env("INTAKE_DATABASE_URL", &env.db_url)
            .env_remove("INTAKE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here, as `head -1` exits after its line.
        let out = child.wait_with_output().unwrap();
        assert!(!first.trim().is_empty(), "{args:?} printed nothing");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
        // Ended by SIGPIPE, as Unix tools are (the shell shows 141), or done already.
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?}",
            out.status
        );
    }
}

#[test]
fn failures_exit_1_with_a_message_and_wrong_usage_exits_2() {
    let env = TestEnv::new();
    env.ok(&["instance", "add", "taken"], None);
    let fails = |args: &[&str], needle: &str| {
        let out = env.run(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: '{needle}' not in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    };
    fails(&["instance", "add", "taken"], "already exists");
    fails(
        &["instance", "list", "--database-url", "mysql://db/intake"],
        "sqlite://",
    );
    fails(
        &[
            "instance",
            "list",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ],
        "cannot connect",
    );
    let missing = env.path("no-such-mapping.json");
    fails(
        &[
            "instance",
            "update",
            "taken",
            "--mapping-file",
            missing.to_str().unwrap(),
        ],
        "no-such-mapping.json",
    );
    fails(
        &[
            "serve",
            "--config",
            env.path("missing.toml").to_str().unwrap(),
        ],
        "missing.toml",
    );
    fails(&["incidents", "show", "424242"], "no incident 424242");

    for args in [
        &["instance", "frobnicate"][..],
        &["incidents", "list", "--colour"][..],
    ] {
        let out = env.run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
    }
    assert_eq!(env.run(&["instance", "list"], None).status.code(), Some(0));
}
