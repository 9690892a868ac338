//! Metric series over an instance's life: the last-received gauge survives a restart, and a
//! removed instance's series leave `/metrics`.

use std::time::Duration;

use crate::helpers::*;
use crate::observability::{metrics_text, send, value};

const LAST_RECEIVED: &str = "intake_last_received_timestamp_seconds";

#[test]
fn the_last_received_gauge_reads_the_stored_time_after_a_restart() {
    let env = TestEnv::new();
    env.add_instance("steady", "u", "Steady-Secret-1", &[]);
    env.add_instance("quiet", "u", "Quiet-Secret-1", &[]);
    let analyst = env.api_token("analyst");
    let mut server = env.serve(&[]);
    assert_eq!(send(&server, "steady", "Steady-Secret-1", "{}"), 200);
    let series = format!(r#"{LAST_RECEIVED}{{instance="steady"}}"#);
    let before = value(&metrics_text(&server, &analyst), &series);
    assert!(before > 0.0, "the gauge is set by an accepted delivery");
    assert!(server.terminate());

    let server = env.serve(&[]);
    let text = metrics_text(&server, &analyst);
    let after = value(&text, &series);
    assert!(
        (after - before).abs() < 1.0,
        "after a restart the gauge reads {after}, the delivery was at {before}"
    );
    // An instance that never accepted anything still reads 0 (never), so an alert on a
    // silent sender tells the two apart.
    assert!(text.contains(&format!(r#"{LAST_RECEIVED}{{instance="quiet"}} 0"#)));
}

#[test]
fn a_removed_instance_leaves_the_metrics() {
    let env = TestEnv::new();
    env.add_instance("stays", "u", "Stays-Secret-1", &[]);
    env.add_instance("leaves", "u", "Leaves-Secret-1", &[]);
    let analyst = env.api_token("analyst");
    let server = env.serve(&[]);
    assert_eq!(send(&server, "stays", "Stays-Secret-1", "{}"), 200);
    assert_eq!(send(&server, "leaves", "Leaves-Secret-1", "{}"), 200);
    let text = metrics_text(&server, &analyst);
    assert!(text.contains(r#"instance="leaves""#));

    env.ok(&["instance", "remove", "leaves"], None);
    // A removal made by the CLI reaches the server within its reload interval.
    let refused = eventually(Duration::from_secs(10), || {
        send(&server, "leaves", "Leaves-Secret-1", "{}") == 404
    });
    assert!(refused, "the removed instance still accepts deliveries");
    let gone = eventually(Duration::from_secs(10), || {
        !metrics_text(&server, &analyst).contains(r#"instance="leaves""#)
    });
    let text = metrics_text(&server, &analyst);
    assert!(gone, "series of the removed instance remain:\n{text}");
    assert_eq!(
        value(
            &text,
            r#"intake_requests_total{instance="stays",outcome="created"}"#
        ),
        1.0
    );
    // The refusal of the removed name counts under the unknown instance, as any invented
    // name does.
    assert!(
        value(
            &text,
            r#"intake_auth_failures_total{instance="_unknown",reason="unknown_instance"}"#
        ) >= 1.0,
        "{text}"
    );
}
