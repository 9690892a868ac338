//! Operability: `/metrics`, the delivery log of refused requests, each instance's activity.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

pub fn metrics_text(server: &TestServer, token: &str) -> String {
    let response = client()
        .get(server.url("/metrics"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed); 0 when absent.
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn write_config(env: &TestEnv, text: &str) -> String {
    let path = env.path("intake.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn deliveries(server: &TestServer, token: &str, instance: &str) -> Vec<Value> {
    let response = client()
        .get(server.url(&format!("/api/v1/instances/{instance}/deliveries")))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().unwrap()
}

pub fn send(server: &TestServer, instance: &str, password: &str, body: &str) -> u16 {
    client()
        .post(server.execute_url(instance))
        .basic_auth("u", Some(password))
        .body(body.to_string())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn metrics_count_each_outcome_and_reason_exactly() {
    let env = TestEnv::new();
    env.add_instance("m", "u", "Metric-Secret-1", &[]);
    let analyst = env.api_token("analyst");
    let server = env.serve(&[]);
    let before = metrics_text(&server, &analyst);

    assert_eq!(send(&server, "m", "Metric-Secret-1", "{}"), 200);
    assert_eq!(send(&server, "m", "Metric-Secret-1", "[{},{}]"), 200);
    assert_eq!(send(&server, "m", "wrong-password", "{}"), 401);
    let bare = client().post(server.execute_url("m")).body("{}").send();
    assert_eq!(bare.unwrap().status(), 401);
    assert_eq!(send(&server, "m", "Metric-Secret-1", "not json"), 400);
    for n in 0..5 {
        assert_eq!(send(&server, &format!("invented-{n}"), "x", "{}"), 404);
    }

    let after = metrics_text(&server, &analyst);
    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        delta(r#"intake_requests_total{instance="m",outcome="created"}"#),
        2.0
    );
    assert_eq!(
        delta(r#"intake_requests_total{instance="m",outcome="rejected_auth"}"#),
        2.0
    );
    assert_eq!(
        delta(r#"intake_requests_total{instance="m",outcome="rejected_input"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"intake_requests_total{instance="m",outcome="unavailable"}"#),
        0.0
    );
    assert_eq!(
        delta(r#"intake_incidents_created_total{instance="m"}"#),
        3.0
    );
    assert_eq!(
        delta(r#"intake_auth_failures_total{instance="m",reason="wrong_secret"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"intake_auth_failures_total{instance="m",reason="missing_credentials"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"intake_requests_total{instance="_unknown",outcome="rejected_auth"}"#),
        5.0
    );
    assert_eq!(
        delta(r#"intake_auth_failures_total{instance="_unknown",reason="unknown_instance"}"#),
        5.0
    );
    assert_eq!(delta("intake_request_duration_seconds_count"), 10.0);
    assert!(
        delta("intake_commit_duration_seconds_count") >= 1.0,
        "{after}"
    );
    assert!(after.contains(r#"intake_request_duration_seconds_bucket{le="0.0005"}"#));
    assert!(after.contains("# TYPE intake_commit_duration_seconds histogram"));
    assert_eq!(value(&after, "intake_write_queue_depth"), 0.0);
    let last = value(
        &after,
        r#"intake_last_received_timestamp_seconds{instance="m"}"#,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last).abs() < 60.0, "last received {last}, now {now}");
    for family in ["intake_mapping_errors_total", "intake_tokens_issued_total"] {
        assert!(
            after.contains(&format!("{family}{{instance=\"m\"}} 0")),
            "{after}"
        );
    }
    assert!(
        !after.contains("invented-"),
        "an unknown name made a series: {after}"
    );
    for secret in ["Metric-Secret-1", "wrong-password", analyst.as_str()] {
        assert!(!after.contains(secret), "'{secret}' in the metrics");
    }
}

#[test]
fn metrics_need_an_api_token_unless_public() {
    let env = TestEnv::new();
    let analyst = env.api_token("analyst");
    let server = env.serve(&[]);
    let anonymous = client().get(server.url("/metrics")).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = client()
        .get(server.url("/metrics"))
        .bearer_auth("itk_not-a-token")
        .send()
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(metrics_text(&server, &analyst).contains("intake_requests_total"));
    drop(server);

    let config = write_config(&env, "metrics_public = true\n");
    let public = env.serve(&["--config", &config]);
    let open = client().get(public.url("/metrics")).send().unwrap();
    assert_eq!(open.status(), 200);
    assert!(open.text().unwrap().contains("intake_write_queue_depth"));
}

#[test]
fn refused_requests_are_logged_with_their_reason_and_no_secret() {
    let env = TestEnv::new();
    env.add_instance("log", "u", "Right-Secret-Pw", &[]);
    let admin = env.api_token("admin");
    let analyst = env.api_token("analyst");
    let server = env.serve(&[]);
    let refused = client()
        .post(server.execute_url("log"))
        .basic_auth("u", Some("Wrong-Secret-Pw"))
        .header("User-Agent", "Cato-Networks/2.1")
        .header("X-Forwarded-For", "203.0.113.9")
        .body(r#"{"name":"body-never-logged"}"#)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(send(&server, "log", "Right-Secret-Pw", "{"), 400);

    assert!(
        eventually(Duration::from_secs(5), || deliveries(
            &server, &admin, "log"
        )
        .len()
            == 2),
        "the refusals were not logged"
    );
    let log = deliveries(&server, &admin, "log");
    let (input, auth) = (&log[0], &log[1]);
    assert_eq!(auth["status"], 401);
    assert_eq!(auth["error"], "unauthorized");
    assert_eq!(auth["reason"], "wrong_secret");
    assert_eq!(auth["message"], "Authorization failed.");
    assert_eq!(auth["method"], "POST");
    assert_eq!(auth["path"], "/instance/execute/log");
    assert_eq!(auth["remote_addr"], "127.0.0.1");
    assert_eq!(auth["user_agent"], "Cato-Networks/2.1");
    assert_eq!(auth["body_bytes"], 28);
    assert!(
        auth["forwarded_for"].is_null(),
        "untrusted X-Forwarded-For kept: {auth}"
    );
    assert_eq!(input["status"], 400);
    assert_eq!(input["error"], "invalid_json");
    assert!(input["reason"].is_null());

    let from_cli = env.json(&["instance", "deliveries", "log", "--json"]);
    assert_eq!(from_cli.as_array().unwrap().len(), 2);
    assert_eq!(from_cli[1]["reason"], "wrong_secret");
    let text = env.ok(&["instance", "deliveries", "log"], None);
    assert!(text.contains("401 unauthorized wrong_secret"), "{text}");

    let forbidden = client()
        .get(server.url("/api/v1/instances/log/deliveries"))
        .bearer_auth(&analyst)
        .send()
        .unwrap();
    assert_eq!(forbidden.status(), 403);

    let line = eventually(Duration::from_secs(2), || {
        server
            .log_text()
            .contains("refused: instance 'log' status 401 error unauthorized reason wrong_secret")
    });
    assert!(line, "no refusal line: {}", server.log_text());
    let everything = format!(
        "{}{}{text}{}",
        serde_json::to_string(&log).unwrap(),
        server.log_text(),
        env.stored_text()
    );
    for secret in [
        "Right-Secret-Pw",
        "Wrong-Secret-Pw",
        "body-never-logged",
        "Basic ",
    ] {
        assert!(!everything.contains(secret), "'{secret}' was recorded");
    }
}

#[test]
fn the_delivery_log_keeps_the_newest_n_per_instance() {
    let env = TestEnv::new();
    env.add_instance("flood", "u", "p", &[]);
    let admin = env.api_token("admin");
    let config = write_config(
        &env,
        "delivery_log_limit = 5\ntrusted_proxies = [\"127.0.0.1\"]\n",
    );
    let server = env.serve_in_process(&["--config", &config]);
    for n in 0..8 {
        let response = client()
            .post(server.execute_url("flood"))
            .basic_auth("u", Some("wrong"))
            .header("User-Agent", format!("probe-{n}"))
            .header("X-Forwarded-For", "198.51.100.7")
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let newest_logged = || {
        deliveries(&server, &admin, "flood")
            .first()
            .is_some_and(|d| d["user_agent"] == "probe-7")
    };
    assert!(eventually(Duration::from_secs(5), newest_logged));
    let log = deliveries(&server, &admin, "flood");
    let agents: Vec<&str> = log
        .iter()
        .map(|d| d["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents,
        ["probe-7", "probe-6", "probe-5", "probe-4", "probe-3"]
    );
    assert!(
        log.iter().all(|d| d["forwarded_for"] == "198.51.100.7"),
        "{log:?}"
    );
}

#[test]
fn deliveries_to_unknown_names_are_counted_but_not_stored() {
    let env = TestEnv::new();
    env.add_instance("real", "u", "p", &[]);
    let admin = env.api_token("admin");
    let server = env.serve(&[]);
    for n in 0..20 {
        assert_eq!(send(&server, &format!("ghost-{n}"), "p", "{}"), 404);
    }
    // A refusal recorded after the ghosts: once it is stored, theirs would be too.
    assert_eq!(send(&server, "real", "wrong", "{}"), 401);
    assert!(eventually(Duration::from_secs(5), || {
        deliveries(&server, &admin, "real").len() == 1
    }));
    let metrics = metrics_text(&server, &admin);
    assert_eq!(
        value(
            &metrics,
            r#"intake_requests_total{instance="_unknown",outcome="rejected_auth"}"#
        ),
        20.0
    );
    assert!(
        !env.stored_text().contains("ghost-"),
        "an unknown name was stored"
    );
    let unknown = client()
        .get(server.url("/api/v1/instances/ghost-1/deliveries"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[test]
fn instances_show_their_last_accepted_delivery_and_24h_counts() {
    let env = TestEnv::new();
    env.add_instance("seen", "u", "p", &[]);
    let admin = env.api_token("admin");
    let fresh = env.json(&["instance", "show", "seen", "--json"]);
    assert!(fresh["last_accepted"].is_null());
    assert_eq!(fresh["accepted_24h"], 0);

    let server = env.serve(&[]);
    assert_eq!(send(&server, "seen", "p", "{}"), 200);
    assert_eq!(send(&server, "seen", "p", "[{},{}]"), 200);
    assert_eq!(send(&server, "seen", "nope", "{}"), 401);
    let show = || {
        client()
            .get(server.url("/api/v1/instances/seen"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(5), || {
            let view = show();
            view["accepted_24h"] == 2 && view["refused_24h"] == 1
        }),
        "activity not shown: {}",
        show()
    );
    let view = show();
    assert_eq!(view["name"], "seen");
    let last = chrono::DateTime::parse_from_rfc3339(view["last_accepted"].as_str().unwrap())
        .expect("RFC 3339");
    assert!((chrono::Utc::now() - last.to_utc()).num_seconds().abs() < 60);

    // What arrives just before a shutdown is flushed by it, and survives the restart.
    assert_eq!(send(&server, "seen", "p", "{}"), 200);
    let mut server = server;
    assert!(server.terminate());
    let after = env.json(&["instance", "show", "seen", "--json"]);
    assert_eq!(after["accepted_24h"], 3);
    assert_eq!(after["refused_24h"], 1);
    let text = env.ok(&["instance", "show", "seen"], None);
    assert!(
        text.contains("last 24 h:       3 accepted, 1 refused"),
        "{text}"
    );
    assert!(text.contains("last accepted:   20"), "{text}");
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn post_with(server: &TestServer, instance: &str, headers: &[(&str, String)], body: &str) -> u16 {
    let mut request = client()
        .post(server.execute_url(instance))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().unwrap().status().as_u16()
}

#[test]
fn updates_duplicates_mapping_errors_and_signature_refusals_are_counted_exactly() {
    let env = TestEnv::new().keyed();
    let dedup = env.path("dedup.json");
    std::fs::write(&dedup, r#"{"dedup_key": "$.key"}"#).unwrap();
    env.add_instance("dd", "u", "p", &["--mapping-file", dedup.to_str().unwrap()]);
    env.add_instance("am", "u", "p", &["--preset", "alertmanager"]);
    env.add_instance("off", "u", "p", &["--disable"]);
    env.ok(&["instance", "add", "hook"], None);
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "hook",
            "--signature",
            "hmac-sha256",
            "--secret-stdin",
        ],
        Some("Hook-Signing-Secret"),
    );
    env.ok(&["instance", "add", "stripe"], None);
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "stripe",
            "--signature",
            "stripe",
            "--secret-stdin",
        ],
        Some("Stripe-Signing-Secret"),
    );
    let admin = env.api_token("admin");
    let server = env.serve(&[]);
    let before = metrics_text(&server, &admin);

    // The same key: the first creates, the same payload again is a duplicate, a new payload
    // updates.
    assert_eq!(send(&server, "dd", "p", r#"{"key":"k","v":1}"#), 200);
    assert_eq!(send(&server, "dd", "p", r#"{"key":"k","v":1}"#), 200);
    assert_eq!(send(&server, "dd", "p", r#"{"key":"k","v":2}"#), 200);
    assert_eq!(send(&server, "dd", "p", r#"{"key":"k","v":2}"#), 200);
    // A group the preset cannot split is stored with the defaults: one mapping error.
    assert_eq!(send(&server, "am", "p", r#"{"alerts":"none"}"#), 200);
    assert_eq!(send(&server, "off", "p", "{}"), 404);

    let payload = r#"{"status":"firing"}"#;
    let signed = hmac_hex(b"Hook-Signing-Secret", payload.as_bytes());
    // The generic scheme takes the hex alone or with a `sha256=` prefix.
    let header = "X-Signature";
    assert_eq!(
        post_with(&server, "hook", &[(header, signed.clone())], payload),
        200
    );
    assert_eq!(
        post_with(
            &server,
            "hook",
            &[(header, format!("sha256={signed}"))],
            payload
        ),
        200
    );
    assert_eq!(
        post_with(&server, "hook", &[(header, "00".repeat(32))], payload),
        401
    );
    assert_eq!(post_with(&server, "hook", &[], payload), 401);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1000;
    let v1 = hmac_hex(
        b"Stripe-Signing-Secret",
        format!("{t}.{payload}").as_bytes(),
    );
    assert_eq!(
        post_with(
            &server,
            "stripe",
            &[("Stripe-Signature", format!("t={t},v1={v1}"))],
            payload
        ),
        401
    );

    let after = metrics_text(&server, &admin);
    let delta = |series: &str| value(&after, series) - value(&before, series);
    for (series, expected) in [
        (
            r#"intake_requests_total{instance="dd",outcome="created"}"#,
            1.0,
        ),
        (
            r#"intake_requests_total{instance="dd",outcome="duplicate"}"#,
            2.0,
        ),
        (
            r#"intake_requests_total{instance="dd",outcome="updated"}"#,
            1.0,
        ),
        (r#"intake_incidents_created_total{instance="dd"}"#, 1.0),
        (r#"intake_mapping_errors_total{instance="dd"}"#, 0.0),
        (r#"intake_mapping_errors_total{instance="am"}"#, 1.0),
        (
            r#"intake_requests_total{instance="am",outcome="created"}"#,
            1.0,
        ),
        (
            r#"intake_auth_failures_total{instance="off",reason="disabled_instance"}"#,
            1.0,
        ),
        (
            r#"intake_requests_total{instance="off",outcome="rejected_auth"}"#,
            1.0,
        ),
        (
            r#"intake_requests_total{instance="hook",outcome="created"}"#,
            2.0,
        ),
        (
            r#"intake_requests_total{instance="hook",outcome="rejected_auth"}"#,
            2.0,
        ),
        (
            r#"intake_auth_failures_total{instance="hook",reason="bad_signature"}"#,
            1.0,
        ),
        (
            r#"intake_auth_failures_total{instance="hook",reason="missing_credentials"}"#,
            1.0,
        ),
        (
            r#"intake_auth_failures_total{instance="stripe",reason="stale_timestamp"}"#,
            1.0,
        ),
        (
            r#"intake_auth_failures_total{instance="stripe",reason="bad_signature"}"#,
            0.0,
        ),
    ] {
        assert_eq!(delta(series), expected, "{series}\n{after}");
    }

    // The delivery log says what was wrong with each signed request, and shows no secret.
    assert!(
        eventually(Duration::from_secs(5), || deliveries(
            &server, &admin, "hook"
        )
        .len()
            == 2),
        "the signature refusals were not logged"
    );
    let hook = deliveries(&server, &admin, "hook");
    let seen: Vec<(&str, &str)> = hook
        .iter()
        .map(|d| {
            (
                d["reason"].as_str().unwrap(),
                d["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("missing_credentials", "missing X-Signature"),
            ("bad_signature", "signature does not match"),
        ]
    );
    assert!(eventually(Duration::from_secs(5), || {
        deliveries(&server, &admin, "stripe")
            .first()
            .is_some_and(|d| d["reason"] == "stale_timestamp")
    }));
    assert!(eventually(Duration::from_secs(5), || {
        deliveries(&server, &admin, "off")
            .first()
            .is_some_and(|d| d["status"] == 404 && d["reason"] == "disabled_instance")
    }));
    let everything = format!(
        "{after}{}{}",
        serde_json::to_string(&deliveries(&server, &admin, "stripe")).unwrap(),
        server.log_text()
    );
    for secret in [
        "Hook-Signing-Secret",
        "Stripe-Signing-Secret",
        signed.as_str(),
    ] {
        assert!(!everything.contains(secret), "'{secret}' was recorded");
    }
}

#[test]
fn startup_logs_where_each_setting_came_from_and_json_lines_on_request() {
    let env = TestEnv::new();
    env.add_instance("logged", "u", "Json-Log-Secret", &[]);
    let config = write_config(&env, "writer_queue = 100\n[limits]\nmax_depth = 20\n");
    let server = env.serve(&[
        "--config",
        &config,
        "--log-format",
        "json",
        "--max-depth",
        "30",
    ]);
    assert_eq!(send(&server, "logged", "Json-Log-Secret", "{}"), 200);
    assert_eq!(send(&server, "logged", "Wrong-Json-Secret", "{}"), 401);
    let refusal = "refused: instance 'logged' status 401 error unauthorized reason wrong_secret";
    assert!(
        eventually(Duration::from_secs(5), || server
            .log_text()
            .contains(refusal)),
        "{}",
        server.log_text()
    );

    let text = server.log_text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        for field in ["time", "level", "target", "message"] {
            assert!(line[field].is_string(), "no {field}: {line}");
        }
        assert!(
            chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap()).is_ok(),
            "{line}"
        );
    }
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let has = |wanted: &str| messages.contains(&wanted);
    assert!(
        has(&format!(
            "setting writer_queue = 100 (config file {config})"
        )),
        "{text}"
    );
    assert!(
        has("setting limits.max_depth = 30 (flag --max-depth)"),
        "{text}"
    );
    assert!(
        has(r#"setting listen = "127.0.0.1:0" (flag --listen)"#),
        "{text}"
    );
    assert!(has("setting delivery_log_limit = 100 (default)"), "{text}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("setting database_url = ")
                && m.ends_with("(environment INTAKE_DATABASE_URL)")),
        "{text}"
    );
    assert!(has(refusal), "{text}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("listening on http://127.0.0.1:")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l["target"] == "intake::access"
            && l["message"]
                .as_str()
                .unwrap()
                .contains("\"POST /instance/execute/logged\" 401")),
        "{text}"
    );
    for secret in ["Json-Log-Secret", "Wrong-Json-Secret"] {
        assert!(!text.contains(secret), "'{secret}' was logged");
    }
}
