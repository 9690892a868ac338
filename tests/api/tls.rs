//! HTTPS with rustls, validation with clear errors, reload on SIGHUP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::helpers::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// A client that trusts only these CAs and reports the server's certificate.
fn tls_client(cas: &[&Path], max_tls12: bool) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        let pem = std::fs::read(ca).unwrap();
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    if max_tls12 {
        builder = builder.max_tls_version(reqwest::tls::Version::TLS_1_2);
    }
    builder.build().unwrap()
}

/// Posts one event; returns the status and the DER of the certificate the server presented.
fn post_over_tls(client: &reqwest::blocking::Client, url: &str) -> (u16, Vec<u8>) {
    let response = client
        .post(url)
        .basic_auth("u", Some("p"))
        .body(r#"{"name":"over https"}"#)
        .send()
        .expect("https request");
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("peer certificate")
        .to_vec();
    (response.status().as_u16(), der)
}

fn leaf_der(cert: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(cert)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// Serves HTTP and HTTPS with `cert` and `key`, started by `serve` (`TestEnv::serve` or
/// `TestEnv::serve_in_process`), with an instance `secure` (Basic `u`/`p`).
fn serve_tls(
    env: &TestEnv,
    cert: &Path,
    key: &Path,
    serve: fn(&TestEnv, &[&str]) -> TestServer,
) -> TestServer {
    env.add_instance("secure", "u", "p", &[]);
    serve(
        env,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

#[test]
fn ingest_works_over_https_beside_http_with_tls_1_3_and_1_2() {
    let env = TestEnv::new();
    let (ca, cert, key) = self_signed(&env, &env.path("certs"), "365");
    let server = serve_tls(&env, &cert, &key, TestEnv::serve_in_process);
    let https = format!("{}/instance/execute/secure", server.https.as_ref().unwrap());
    for tls12 in [false, true] {
        let (status, der) = post_over_tls(&tls_client(&[&ca], tls12), &https);
        assert_eq!(status, 200, "tls 1.2 only: {tls12}");
        assert_eq!(der, leaf_der(&cert));
    }
    assert_eq!(
        post_json(&server.execute_url("secure"), Some(("u", "p")), "{}").0,
        200,
        "plain HTTP beside HTTPS"
    );
    // A client that does not trust the CA refuses the handshake.
    let stranger = tls_client(&[&PathBuf::from(fixture("ec.pem"))], false);
    assert!(stranger.post(&https).body("{}").send().is_err());
    assert_eq!(env.all_incident_ids().len(), 3);
}

#[test]
fn sighup_rotates_the_certificate_and_refuses_a_bad_new_pair() {
    let env = TestEnv::new();
    let dir = env.path("certs");
    let (first_ca, cert, key) = self_signed(&env, &dir, "365");
    let old_ca = env.path("old-ca.pem");
    std::fs::copy(&first_ca, &old_ca).unwrap();
    let server = serve_tls(&env, &cert, &key, TestEnv::serve);
    let url = format!("{}/instance/execute/secure", server.https.as_ref().unwrap());
    let old_der = leaf_der(&cert);
    // One connection opened before the rotation, kept alive across it.
    let kept = tls_client(&[&old_ca], false);
    assert_eq!(post_over_tls(&kept, &url).1, old_der);

    // New pair in place, then SIGHUP: new handshakes get the new certificate.
    let (new_ca, _, _) = self_signed(&env, &dir, "365");
    let new_der = leaf_der(&cert);
    assert_ne!(new_der, old_der);
    server.signal("HUP");
    let both = [old_ca.as_path(), new_ca.as_path()];
    assert!(
        eventually(Duration::from_secs(5), || post_over_tls(
            &tls_client(&both, false),
            &url
        )
        .1 == new_der),
        "the new certificate is not served: {}",
        server.log_text()
    );
    // The connection that was open goes on with the certificate it started with.
    assert_eq!(post_over_tls(&kept, &url), (200, old_der.clone()));

    // A key that does not match: refused, and the current pair keeps serving.
    std::fs::copy(fixture("ec-sec1.key"), &key).unwrap();
    server.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || server
        .log_text()
        .contains("new certificate refused")));
    assert!(
        server.log_text().contains("does not match"),
        "{}",
        server.log_text()
    );
    let (status, der) = post_over_tls(&tls_client(&both, false), &url);
    assert_eq!((status, der), (200, new_der));
}

#[test]
fn serve_refuses_to_start_with_a_bad_certificate_and_names_the_file() {
    let env = TestEnv::new();
    let garbage = env.path("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = env.path("empty.pem");
    std::fs::write(&empty, "nothing here").unwrap();
    let cases = [
        (
            garbage.to_str().unwrap().to_string(),
            fixture("ec-sec1.key"),
            "garbage.pem",
        ),
        (
            empty.to_str().unwrap().to_string(),
            fixture("ec-sec1.key"),
            "holds no PEM certificate",
        ),
        (fixture("rsa.pem"), fixture("ec-sec1.key"), "does not match"),
        (fixture("rsa.pem"), fixture("missing.key"), "missing.key"),
    ];
    for (cert, key, expected) in cases {
        let out = env.run(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ],
            None,
        );
        assert!(!out.status.success(), "serve started with {cert} / {key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
    }
}

#[test]
fn expired_certificates_are_refused_and_expiring_ones_warn() {
    let env = TestEnv::new();
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let expired = params.self_signed(&key_pair).unwrap();
    let (cert, key) = (env.path("expired.pem"), env.path("expired.key"));
    std::fs::write(&cert, expired.pem()).unwrap();
    std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    let out = env.run(
        &[
            "tls",
            "check",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired on"),
        "{out:?}"
    );

    let (_, cert, key) = self_signed(&env, &env.path("short"), "10");
    let server = serve_tls(&env, &cert, &key, TestEnv::serve);
    assert!(
        server.log_text().contains("expires in"),
        "{}",
        server.log_text()
    );
}

#[test]
fn tls_check_accepts_every_key_type_and_form() {
    let env = TestEnv::new();
    for (cert, key) in [
        ("rsa.pem", "rsa-pkcs1.key"),
        ("rsa.pem", "rsa-pkcs8.key"),
        ("ec.pem", "ec-sec1.key"),
        ("ec.pem", "ec-pkcs8.key"),
        ("ed25519.pem", "ed25519-pkcs8.key"),
    ] {
        let info = env.json(&[
            "tls",
            "check",
            "--cert",
            &fixture(cert),
            "--key",
            &fixture(key),
            "--json",
        ]);
        assert!(
            info["subject"].as_str().unwrap().contains("localhost"),
            "{cert}/{key}: {info}"
        );
        assert_eq!(
            info["sans"],
            serde_json::json!(["localhost", "127.0.0.1"]),
            "{cert}/{key}"
        );
        assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
    }
    let text = env.ok(
        &[
            "tls",
            "check",
            "--cert",
            &fixture("ec.pem"),
            "--key",
            &fixture("ec-sec1.key"),
        ],
        None,
    );
    assert!(text.contains("matches the certificate"), "{text}");
}

#[test]
fn every_key_type_serves_https() {
    for (cert, key) in [
        ("rsa.pem", "rsa-pkcs1.key"),
        ("ec.pem", "ec-pkcs8.key"),
        ("ed25519.pem", "ed25519-pkcs8.key"),
    ] {
        let env = TestEnv::new();
        let server = serve_tls(
            &env,
            Path::new(&fixture(cert)),
            Path::new(&fixture(key)),
            TestEnv::serve_in_process,
        );
        let url = format!("{}/instance/execute/secure", server.https.as_ref().unwrap());
        let client = tls_client(&[Path::new(&fixture(cert))], false);
        assert_eq!(post_over_tls(&client, &url).0, 200, "{key}");
    }
}

fn free_port() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port().to_string()
}

#[test]
fn an_instance_is_served_at_post_root_on_its_own_port_with_its_own_certificate() {
    let env = TestEnv::new();
    let (https_port, http_port) = (free_port(), free_port());
    env.add_instance(
        "cato",
        "u",
        "p",
        &[
            "--listen-port",
            &https_port,
            "--tls-cert",
            &fixture("ec.pem"),
            "--tls-key",
            &fixture("ec-sec1.key"),
        ],
    );
    env.add_instance("plain", "u", "p", &["--listen-port", &http_port]);
    let shown = env.json(&["instance", "show", "cato", "--json"]);
    assert_eq!(
        shown["listen_port"].as_i64().unwrap().to_string(),
        https_port
    );
    assert_eq!(shown["tls_cert"], fixture("ec.pem"));

    let (_ca, cert, key) = self_signed(&env, &env.path("main"), "365");
    let server = serve_tls(&env, &cert, &key, TestEnv::serve_in_process);

    let own = format!("https://127.0.0.1:{https_port}/");
    let (status, der) = post_over_tls(&tls_client(&[Path::new(&fixture("ec.pem"))], false), &own);
    assert_eq!(status, 200);
    assert_eq!(
        der,
        leaf_der(Path::new(&fixture("ec.pem"))),
        "not the instance's own certificate"
    );
    let (status, body) = post_json(
        &format!("http://127.0.0.1:{http_port}/"),
        Some(("u", "p")),
        r#"{"name":"own port"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["instance"], "plain");
    // The normal path answers on the instance port too, and the main listener is unaffected.
    let (status, _) = post_json(
        &format!("http://127.0.0.1:{http_port}/instance/execute/plain"),
        Some(("u", "p")),
        "{}",
    );
    assert_eq!(status, 200);
    assert_eq!(
        post_json(&server.execute_url("cato"), Some(("u", "p")), "{}").0,
        200
    );
    let stored = env.json(&["incidents", "list", "--json", "--instance", "cato"]);
    assert_eq!(stored.as_array().unwrap().len(), 2);
}

#[test]
fn instance_listeners_follow_changes_on_sighup() {
    let env = TestEnv::new();
    env.add_instance("late", "u", "p", &[]);
    let server = env.serve(&[]);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    env.ok(
        &["instance", "update", "late", "--listen-port", &port],
        None,
    );
    server.signal("HUP");
    assert!(
        eventually(Duration::from_secs(5), || client()
            .post(&url)
            .basic_auth("u", Some("p"))
            .body("{}")
            .send()
            .is_ok_and(|r| r.status() == 200)),
        "{}",
        server.log_text()
    );
    env.ok(&["instance", "update", "late", "--no-listen-port"], None);
    server.signal("HUP");
    assert!(eventually(Duration::from_secs(5), || client()
        .post(&url)
        .body("{}")
        .send()
        .is_err()));
    assert_eq!(
        post_json(&server.execute_url("late"), Some(("u", "p")), "{}").0,
        200
    );
}

#[test]
fn bad_instance_listener_settings_are_refused_when_saved() {
    let env = TestEnv::new();
    let port = free_port();
    let refused = |args: &[&str], needle: &str| {
        let out = env.run(args, None);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in {err}"
        );
    };
    refused(
        &[
            "instance",
            "add",
            "x",
            "--listen-port",
            &port,
            "--tls-cert",
            &fixture("rsa.pem"),
            "--tls-key",
            &fixture("ec-sec1.key"),
        ],
        "does not match",
    );
    refused(
        &["instance", "add", "x", "--listen-port", "70000"],
        "not a TCP port",
    );
    env.ok(&["instance", "add", "a", "--listen-port", &port], None);
    refused(
        &["instance", "add", "b", "--listen-port", &port],
        "already the port of instance 'a'",
    );
}
