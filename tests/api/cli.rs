//! The CLI: instance management, JSON output, and refusals that name the problem.

use serde_json::json;

use crate::helpers::*;

#[test]
fn instances_are_added_shown_updated_listed_and_removed() {
    let env = TestEnv::new();
    let added = env.ok(
        &[
            "instance",
            "add",
            "cato",
            "--username",
            "cato",
            "--password-stdin",
            "--incident-type",
            "Cato Alert",
            "--store-samples",
            "--sample-limit",
            "5",
            "--json",
        ],
        Some("s3cret\n"),
    );
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert_eq!(added["name"], "cato");
    assert_eq!(added["incident_type"], "Cato Alert");
    assert_eq!(added["store_samples"], true);
    assert_eq!(added["sample_limit"], 5);
    assert_eq!(added["allow_anonymous"], false);
    assert_eq!(added["enabled"], true);
    assert_eq!(added["mapping"], serde_json::Value::Null);
    assert_eq!(added["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(added["credentials"][0]["kind"], "basic");
    assert_eq!(added["credentials"][0]["username"], "cato");
    let keys: Vec<&String> = added["credentials"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, vec!["created", "id", "kind", "username"]);

    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "cato",
            "--username",
            "_header:X-Cato-Key",
            "--password-stdin",
        ],
        Some("k"),
    );
    let shown = env.json(&["instance", "show", "cato", "--json"]);
    assert_eq!(shown["credentials"][1]["kind"], "header");
    assert_eq!(shown["credentials"][1]["username"], "_header:X-Cato-Key");

    let updated = env.json(&[
        "instance",
        "update",
        "cato",
        "--no-store-samples",
        "--no-incident-type",
        "--disable",
        "--json",
    ]);
    assert_eq!(updated["store_samples"], false);
    assert_eq!(updated["incident_type"], serde_json::Value::Null);
    assert_eq!(updated["enabled"], false);

    env.ok(&["instance", "add", "zeta", "--allow-anonymous"], None);
    let listed = env.json(&["instance", "list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["cato", "zeta"]);
    assert!(env.ok(&["instance", "list"], None).contains("zeta"));

    env.ok(&["instance", "remove", "zeta"], None);
    assert_eq!(
        env.json(&["instance", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_admin_input_is_refused_with_a_message() {
    let env = TestEnv::new();
    let refused = |args: &[&str], stdin: Option<&str>, needle: &str| {
        let out = env.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in: {err}"
        );
    };
    refused(
        &["instance", "add", "bad name"],
        None,
        "not a valid instance name",
    );
    refused(
        &["instance", "add", "x", "--sample-limit", "0"],
        None,
        "sample_limit",
    );
    refused(
        &[
            "instance",
            "add",
            "x",
            "--username",
            "u",
            "--password-stdin",
        ],
        Some(""),
        "no secret on stdin",
    );
    refused(
        &[
            "instance",
            "add",
            "x",
            "--username",
            "_header:bad header",
            "--password-stdin",
        ],
        Some("v"),
        "not a valid HTTP header name",
    );
    // A password is never taken from argv: there is no flag for it.
    refused(
        &["instance", "add", "x", "--password", "p"],
        None,
        "unexpected argument",
    );
    env.ok(&["instance", "add", "x"], None);
    refused(&["instance", "add", "x"], None, "already exists");
    refused(
        &["instance", "show", "nope"],
        None,
        "no instance named 'nope'",
    );
    refused(
        &[
            "instance",
            "credential",
            "remove",
            "x",
            "--username",
            "ghost",
        ],
        None,
        "no credential",
    );
    refused(&["incidents", "show", "12345"], None, "no incident 12345");
    refused(&["serve", "--database-url", "mysql://x"], None, "sqlite://");
}

#[test]
fn incidents_are_listed_newest_first_with_filters() {
    let env = TestEnv::new();
    env.add_instance("a", "u", "p", &["--incident-type", "TA"]);
    env.add_instance("b", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let auth = Some(("u", "p"));
    post_json(
        &server.execute_url("a"),
        auth,
        r#"[{"name":"a1"},{"name":"a2"}]"#,
    );
    post_json(
        &server.execute_url("b"),
        auth,
        r#"{"name":"b1","type":"TB"}"#,
    );

    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["incidents", "list", "--json"];
        all.extend_from_slice(args);
        env.json(&all)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&[]), vec!["b1", "a2", "a1"]);
    assert_eq!(names(&["--instance", "a"]), vec!["a2", "a1"]);
    assert_eq!(names(&["--type", "TB"]), vec!["b1"]);
    assert_eq!(names(&["--limit", "1"]), vec!["b1"]);
    let text = env.ok(&["incidents", "list"], None);
    assert!(text.contains("a1") && text.contains("TB"), "{text}");
    let shown = env.json(&["incidents", "list", "--json", "--limit", "1"]);
    assert_eq!(shown[0].get("raw_json"), None, "lists stay light");
    let one = env.incident(shown[0]["id"].as_i64().unwrap());
    assert_eq!(one["raw_json"]["name"], json!("b1"));
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let env = TestEnv::new();
    assert!(env.ok(&["migrate"], None).contains("up to date"));
    assert!(env.ok(&["migrate"], None).contains("up to date"));
    if env.is_sqlite() {
        assert!(env.path("intake.db").exists());
    }
    assert_eq!(
        env.json(&["instance", "list", "--json"]),
        serde_json::json!([])
    );
}

fn console_session(server: &TestServer, user: &str, password: &str) -> Option<String> {
    console_sign_in(server, user, password).1
}

/// Whether `session` opens the feed (200) rather than sending to sign-in.
fn session_works(server: &TestServer, session: &str) -> bool {
    console_get(server, session, "/incidents").status() == 200
}

#[test]
fn console_users_are_added_listed_given_new_passwords_and_removed() {
    let env = TestEnv::new();
    let password = "a long enough password";
    let added = env.ok(
        &[
            "user",
            "add",
            "mia",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        Some(password),
    );
    assert!(added.contains("mia"), "{added}");
    let listed = env.json(&["user", "list", "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], "mia");
    assert_eq!(listed[0]["role"], "analyst");
    let text = listed.to_string();
    assert!(
        !text.contains(password) && !text.contains("argon2"),
        "{text}"
    );
    assert!(
        !env.stored_text().contains(password),
        "password stored in clear"
    );

    let refused = |args: &[&str], stdin: Option<&str>, needle: &str| {
        let out = env.run(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?} should exit 1");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in: {err}"
        );
    };
    refused(
        &["user", "add", "mia", "--role", "admin", "--password-stdin"],
        Some(password),
        "already",
    );
    refused(
        &[
            "user",
            "add",
            "leo",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        Some("short"),
        "12",
    );
    refused(&["user", "remove", "nobody"], None, "nobody");

    let server = env.serve_in_process(&[]);
    let session = console_session(&server, "mia", password).expect("signed in");
    assert!(session_works(&server, &session));
    assert!(console_session(&server, "mia", "the wrong password!").is_none());

    // A new password ends every session of the user; the old password stops working.
    let new_password = "another long password";
    env.ok(
        &["user", "passwd", "mia", "--password-stdin"],
        Some(new_password),
    );
    assert!(!session_works(&server, &session));
    assert!(console_session(&server, "mia", password).is_none());
    let session = console_session(&server, "mia", new_password).expect("signed in again");

    // Removing the user ends their sessions too.
    env.ok(&["user", "remove", "mia"], None);
    assert!(!session_works(&server, &session));
    assert_eq!(env.json(&["user", "list", "--json"]), serde_json::json!([]));
}

#[test]
fn a_console_session_works_on_every_replica_and_survives_a_restart() {
    let env = TestEnv::new();
    let password = "a long enough password";
    env.ok(
        &[
            "user",
            "add",
            "mia",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        Some(password),
    );
    let mut first = env.serve(&[]);
    let second = env.serve(&[]);
    let session = console_session(&first, "mia", password).expect("signed in");
    assert!(session_works(&second, &session), "another replica knows it");
    assert!(first.terminate());
    let restarted = env.serve(&[]);
    assert!(session_works(&restarted, &session), "a restart keeps it");
}
