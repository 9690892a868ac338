//! Body size, array length and nesting depth, defaults and configured.

use crate::helpers::*;

const AUTH: Option<(&str, &str)> = Some(("u", "p"));

fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

fn array_of(n: usize) -> String {
    format!("[{}]", vec!["{}"; n].join(","))
}

#[test]
fn default_limits_are_10_mib_1000_elements_and_depth_128() {
    let env = TestEnv::new();
    env.add_instance("lim", "u", "p", &[]);
    let server = env.serve_in_process(&[]);
    let url = server.execute_url("lim");

    let just_over = format!("{{\"pad\":\"{}\"}}", "x".repeat(10 * 1024 * 1024));
    assert_error(&post_json(&url, AUTH, &just_over), 413, "body_too_large");
    let large_ok = format!("{{\"pad\":\"{}\"}}", "x".repeat(9 * 1024 * 1024));
    assert_eq!(post_json(&url, AUTH, &large_ok).0, 200);

    assert_eq!(
        post_json(&url, AUTH, &array_of(1000))
            .1
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    assert_error(
        &post_json(&url, AUTH, &array_of(1001)),
        413,
        "too_many_elements",
    );

    assert_eq!(post_json(&url, AUTH, &nested(128)).0, 200);
    assert_error(&post_json(&url, AUTH, &nested(129)), 400, "too_deep");
    assert_eq!(env.all_incident_ids().len(), 1 + 1000 + 1);
}

#[test]
fn limits_are_configurable_by_flag_and_by_config_file() {
    let env = TestEnv::new();
    env.add_instance("lim", "u", "p", &[]);
    let config = env.path("intake.toml");
    std::fs::write(&config, "[limits]\nmax_elements = 3\nmax_depth = 4\n").unwrap();
    let server = env.serve_in_process(&[
        "--config",
        config.to_str().unwrap(),
        "--max-body-bytes",
        "200",
    ]);
    let url = server.execute_url("lim");
    assert_eq!(post_json(&url, AUTH, &array_of(3)).0, 200);
    assert_error(
        &post_json(&url, AUTH, &array_of(4)),
        413,
        "too_many_elements",
    );
    assert_eq!(post_json(&url, AUTH, &nested(4)).0, 200);
    assert_error(&post_json(&url, AUTH, &nested(5)), 400, "too_deep");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(200));
    let answer = post_json(&url, AUTH, &big);
    assert_error(&answer, 413, "body_too_large");
    assert!(
        answer.1["message"].as_str().unwrap().contains("200 bytes"),
        "{}",
        answer.1
    );
}
