//! Samples are kept per instance in the database, newest N, without duplicates.

use serde_json::{json, Value};

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

#[test]
fn the_newest_samples_are_kept_deduplicated_and_survive_a_restart() {
    let env = TestEnv::new();
    env.add_instance(
        "sampled",
        "u",
        "p",
        &["--store-samples", "--sample-limit", "3"],
    );
    env.add_instance("unsampled", "u", "p", &[]);
    let mut server = env.serve(&[]);
    let url = server.execute_url("sampled");
    for i in 0..5 {
        let (status, _) = post_json(
            &url,
            AUTH,
            &json!({"seq": i, "rawJson": {"n": i}}).to_string(),
        );
        assert_eq!(status, 200);
    }
    // The same element again refreshes its sample instead of adding one.
    post_json(
        &url,
        AUTH,
        &json!({"seq": 4, "rawJson": {"n": 4}}).to_string(),
    );
    post_json(&server.execute_url("unsampled"), AUTH, "{\"seq\":99}");

    let samples = env.json(&["samples", "sampled", "--json"]);
    let seqs: Vec<i64> = samples
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["body"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![4, 3, 2],
        "newest first, capped at 3, no duplicate"
    );
    let first = &samples[0];
    assert_eq!(
        first["body"],
        json!({"seq": 4, "rawJson": {"n": 4}}),
        "kept as it arrived"
    );
    assert!(first["headers"]["content-type"].is_string());
    assert!(
        first["headers"].get("authorization").is_none(),
        "credential in a sample"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(first["received"].as_str().unwrap()).is_ok());
    assert_eq!(env.json(&["samples", "unsampled", "--json"]), json!([]));

    server.kill9();
    let server = env.serve(&[]);
    assert_eq!(
        env.json(&["samples", "sampled", "--json"]),
        samples,
        "samples lost on restart"
    );
    post_json(
        &server.execute_url("sampled"),
        AUTH,
        "[{\"seq\":5},{\"seq\":6}]",
    );
    let seqs: Vec<Value> = env
        .json(&["samples", "sampled", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["body"]["seq"].clone())
        .collect();
    assert_eq!(seqs.len(), 3);
    assert!(
        seqs.contains(&json!(5)) && seqs.contains(&json!(6)),
        "{seqs:?}"
    );

    env.ok(&["samples", "sampled", "--clear"], None);
    assert_eq!(env.json(&["samples", "sampled", "--json"]), json!([]));
}

#[test]
fn lowering_the_sample_limit_trims_stored_samples() {
    let env = TestEnv::new();
    env.add_instance("s", "u", "p", &["--store-samples"]);
    let server = env.serve_in_process(&[]);
    let batch: Vec<Value> = (0..10).map(|i| json!({"i": i})).collect();
    post_json(
        &server.execute_url("s"),
        AUTH,
        &Value::Array(batch).to_string(),
    );
    assert_eq!(
        env.json(&["samples", "s", "--json"])
            .as_array()
            .unwrap()
            .len(),
        10
    );
    env.ok(&["instance", "update", "s", "--sample-limit", "4"], None);
    assert_eq!(
        env.json(&["samples", "s", "--json"])
            .as_array()
            .unwrap()
            .len(),
        4
    );
}
