//! A change made by the CLI is in force for the next request once the command has returned:
//! no 404 for a just-added instance, no 401 for a just-added credential.

use crate::helpers::*;

/// Add an instance (or a credential), then post to it at once, many times in a row: every
/// post is accepted.
#[test]
fn added_instances_and_credentials_work_for_the_next_request() {
    let env = TestEnv::new();
    let server = env.serve(&[]);
    // The server has seen a configuration before the cycles start.
    env.add_instance("warm", "u", "warm-secret", &[]);
    // Meanwhile a sender keeps posting to a name that does not exist: each refusal makes the
    // server look for changes, which must neither hide the changes below nor cost much.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (stop, url) = (stop.clone(), server.execute_url("no-such-instance"));
        std::thread::spawn(move || {
            let mut refused = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = post_json(&url, Some(("u", "p")), "{}");
                assert_eq!(answer.0, 404, "{}", answer.1);
                refused += 1;
            }
            refused
        })
    };
    let mut misses = Vec::new();
    for n in 0..100 {
        let name = format!("fresh{n}");
        env.add_instance(&name, "sender", "first-secret", &[]);
        let answer = post_json(
            &server.execute_url(&name),
            Some(("sender", "first-secret")),
            &format!(r#"{{"name":"cycle {n}"}}"#),
        );
        if answer.0 != 200 {
            misses.push(format!("instance {name}: {} {}", answer.0, answer.1));
        }
        env.ok(
            &[
                "instance",
                "credential",
                "add",
                &name,
                "--username",
                "rotated",
                "--password-stdin",
            ],
            Some("second-secret\n"),
        );
        let answer = post_json(
            &server.execute_url(&name),
            Some(("rotated", "second-secret")),
            &format!(r#"{{"name":"cycle {n}, new credential"}}"#),
        );
        if answer.0 != 200 {
            misses.push(format!("credential of {name}: {} {}", answer.0, answer.1));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let refused = flood.join().expect("the flood thread");
    assert!(refused > 0, "the flood sent nothing");
    assert!(misses.is_empty(), "{} misses: {misses:#?}", misses.len());
    assert_eq!(env.all_incident_ids().len(), 200);
}

/// Two instances added in quick succession both answer at once.
#[test]
fn instances_added_back_to_back_both_answer() {
    let env = TestEnv::new();
    let server = env.serve(&[]);
    for round in 0..10 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        env.add_instance(&a, "u", "s1", &[]);
        env.add_instance(&b, "u", "s2", &[]);
        let first = post_json(
            &server.execute_url(&b),
            Some(("u", "s2")),
            r#"{"name":"b"}"#,
        );
        let second = post_json(
            &server.execute_url(&a),
            Some(("u", "s1")),
            r#"{"name":"a"}"#,
        );
        assert_eq!(first.0, 200, "round {round}, {b}: {}", first.1);
        assert_eq!(second.0, 200, "round {round}, {a}: {}", second.1);
    }
}

/// A credential removed by the CLI stops working within the reload interval (a refusal is
/// what makes a server look for changes at once; an accepted request does not).
#[test]
fn a_removed_credential_is_refused_within_the_reload_interval() {
    let env = TestEnv::new();
    let server = env.serve(&[]);
    env.add_instance("gone", "old", "old-secret", &[]);
    env.ok(
        &[
            "instance",
            "credential",
            "add",
            "gone",
            "--username",
            "new",
            "--password-stdin",
        ],
        Some("new-secret\n"),
    );
    let before = post_json(
        &server.execute_url("gone"),
        Some(("old", "old-secret")),
        "{}",
    );
    assert_eq!(before.0, 200, "{}", before.1);
    env.ok(
        &[
            "instance",
            "credential",
            "remove",
            "gone",
            "--username",
            "old",
        ],
        None,
    );
    let refused = eventually(std::time::Duration::from_secs(2), || {
        post_json(
            &server.execute_url("gone"),
            Some(("old", "old-secret")),
            "{}",
        )
        .0 == 401
    });
    assert!(refused, "the removed credential still works after 2 s");
    let kept = post_json(
        &server.execute_url("gone"),
        Some(("new", "new-secret")),
        "{}",
    );
    assert_eq!(kept.0, 200, "{}", kept.1);
}
