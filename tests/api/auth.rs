//! Authentication before the body, rules, rotation, anonymous opt-in, hashing.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

#[test]
fn basic_credentials_must_match_exactly() {
    let env = TestEnv::new();
    env.add_instance("cato", "cato", "Corr3ct-Horse", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("cato");
    assert_eq!(
        post_json(&url, Some(("cato", "Corr3ct-Horse")), "{}").0,
        200
    );
    for wrong in [
        Some(("cato", "corr3ct-horse")),
        Some(("other", "Corr3ct-Horse")),
        None,
    ] {
        let response = {
            let mut request = client().post(&url).body("{}");
            if let Some((u, p)) = wrong {
                request = request.basic_auth(u, Some(p));
            }
            request.send().unwrap()
        };
        assert_eq!(response.status(), 401, "{wrong:?}");
        assert_eq!(
            response.headers()["www-authenticate"].to_str().unwrap(),
            r#"Basic realm="intake""#
        );
        let body: Value = response.json().unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["message"], "Authorization failed.");
    }
    // Repeated: the verdicts now come from the cache and must not change.
    assert_eq!(
        post_json(&url, Some(("cato", "Corr3ct-Horse")), "{}").0,
        200
    );
    assert_eq!(
        post_json(&url, Some(("cato", "corr3ct-horse")), "{}").0,
        401
    );
}

#[test]
fn header_rules_use_the_xsoar_username_convention() {
    let env = TestEnv::new();
    env.add_instance("cii", "_header:X-Api-Key", "k-9f8e7d", &[]);
    let server = env.serve_in_process(&[]);
    let send = |value: Option<&str>| {
        let mut request = client().post(server.execute_url("cii")).body("{}");
        if let Some(v) = value {
            request = request.header("x-api-key", v);
        }
        request.send().unwrap()
    };
    assert_eq!(send(Some("k-9f8e7d")).status(), 200);
    let refused = send(Some("k-9f8e7e"));
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers().get("www-authenticate").is_none(),
        "no Basic challenge without a basic rule"
    );
    assert_eq!(send(None).status(), 401);
}

#[test]
fn bearer_tokens_work_as_an_authorization_header_rule() {
    let env = TestEnv::new();
    env.add_instance("cma", "_header:Authorization", "Bearer tok-123", &[]);
    let server = env.serve_in_process(&[]);
    let send = |token: &str| {
        client()
            .post(server.execute_url("cma"))
            .bearer_auth(token)
            .body("{}")
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(send("tok-123"), 200);
    assert_eq!(send("tok-124"), 401);
}

#[test]
fn several_credentials_on_one_instance_are_all_accepted() {
    let env = TestEnv::new();
    env.add_instance("multi", "alice", "pw-alice", &[]);
    let add = |user: &str, secret: &str| {
        env.ok(
            &[
                "instance",
                "credential",
                "add",
                "multi",
                "--username",
                user,
                "--password-stdin",
            ],
            Some(secret),
        )
    };
    add("bob", "pw-bob");
    add("alice", "pw-alice-new");
    add("_header:X-Token", "tok");
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("multi");
    for (user, pw) in [
        ("alice", "pw-alice"),
        ("alice", "pw-alice-new"),
        ("bob", "pw-bob"),
    ] {
        assert_eq!(
            post_json(&url, Some((user, pw)), "{}").0,
            200,
            "{user}/{pw}"
        );
    }
    assert_eq!(post_json(&url, Some(("bob", "pw-alice")), "{}").0, 401);
    let status = client()
        .post(&url)
        .header("X-Token", "tok")
        .body("{}")
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[test]
fn credential_changes_take_effect_on_a_running_server() {
    let env = TestEnv::new();
    env.add_instance("rot", "sender", "old-secret", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("rot");
    assert_eq!(post_json(&url, Some(("sender", "old-secret")), "{}").0, 200);

    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "rot",
            "--username",
            "sender",
            "--password-stdin",
        ],
        Some("new-secret"),
    );
    assert!(eventually(Duration::from_secs(3), || {
        post_json(&url, Some(("sender", "new-secret")), "{}").0 == 200
    }));
    // The old one still works until it is removed (rotation).
    assert_eq!(post_json(&url, Some(("sender", "old-secret")), "{}").0, 200);

    let shown = env.json(&["instance", "show", "rot", "--json"]);
    let old_id = shown["credentials"][0]["id"].as_i64().unwrap();
    env.ok(
        &[
            "instance",
            "credential",
            "remove",
            "rot",
            "--id",
            &old_id.to_string(),
        ],
        None,
    );
    // The cached verdict for the old secret must not outlive the credential.
    assert!(eventually(Duration::from_secs(3), || {
        post_json(&url, Some(("sender", "old-secret")), "{}").0 == 401
    }));
    assert_eq!(post_json(&url, Some(("sender", "new-secret")), "{}").0, 200);

    env.ok(
        &[
            "instance",
            "credential",
            "remove",
            "rot",
            "--username",
            "sender",
        ],
        None,
    );
    assert!(eventually(Duration::from_secs(3), || {
        post_json(&url, Some(("sender", "new-secret")), "{}").0 == 401
    }));
}

#[test]
fn an_instance_without_credentials_is_closed_unless_anonymous_is_opted_in() {
    let env = TestEnv::new();
    env.ok(&["instance", "add", "closed"], None);
    env.ok(&["instance", "add", "open", "--allow-anonymous"], None);
    let server = env.serve_in_process(&[]);
    let closed = post_json(&server.execute_url("closed"), None, "{}");
    assert_error(&closed, 401, "unauthorized");
    let (status, body) = post_json(&server.execute_url("open"), None, r#"{"name":"anon"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["name"], "anon");
}

#[test]
fn authentication_happens_before_the_body_is_read() {
    let env = TestEnv::new();
    env.add_instance("guarded", "u", "p", &[]);
    let server = env.serve_in_process(&["--max-body-bytes", "100"]);
    let url = server.execute_url("guarded");
    // Invalid JSON and an oversized body are not looked at for an unauthenticated sender.
    assert_error(
        &post_json(&url, Some(("u", "wrong")), "{not json"),
        401,
        "unauthorized",
    );
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(500));
    assert_error(&post_json(&url, None, &big), 401, "unauthorized");
    assert_error(
        &post_json(&url, Some(("u", "p")), &big),
        413,
        "body_too_large",
    );
}

#[test]
fn secrets_are_stored_only_as_argon2id_hashes_and_never_logged() {
    let env = TestEnv::new();
    let secret = "Unmistakable-Secret-4711";
    env.add_instance("hashed", "_header:X-Key", secret, &[]);
    let server = env.serve(&[]);
    let status = client()
        .post(server.execute_url("hashed"))
        .header("X-Key", secret)
        .body("{}")
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let _ = post_json(&server.execute_url("hashed"), Some(("x", secret)), "{}");

    let stored = env.stored_text();
    assert!(stored.contains("$argon2id$"), "no argon2id hash stored");
    assert!(!stored.contains(secret), "the secret is stored in clear");
    assert!(
        !server.log_text().contains(secret),
        "the secret is in the server log"
    );

    let shown = env.ok(&["instance", "show", "hashed", "--json"], None);
    assert!(
        !shown.contains(secret) && !shown.contains("argon2"),
        "{shown}"
    );
}

#[test]
fn an_instance_or_credential_added_a_moment_ago_works_at_once() {
    let env = TestEnv::new();
    let config = env.path("slow-poll.toml");
    // Polling is too slow to explain success: only the check before refusing can.
    std::fs::write(&config, "reload_interval_ms = 60000\n").unwrap();
    let server = env.serve_in_process(&["--config", config.to_str().unwrap()]);
    env.add_instance("fresh", "u", "p1", &[]);
    let (status, body) = post_json(&server.execute_url("fresh"), Some(("u", "p1")), "{}");
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(150));
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "fresh",
            "--username",
            "u",
            "--password-stdin",
        ],
        Some("p2"),
    );
    let (status, body) = post_json(&server.execute_url("fresh"), Some(("u", "p2")), "{}");
    assert_eq!(status, 200, "{body}");
}
