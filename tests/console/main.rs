//! The console in a real headless Chromium against the real `intake serve`: what an analyst
//! sees and does, checked as they would check it. Needs `chromium` and `chromedriver`
//! (`make test` runs this suite when both are installed; `.ci/run` installs them).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod admin;
mod admin_pages;
mod browser;
mod feed;
mod incident;
mod instances;
mod layout;
mod mapping_editor;
mod security;
mod signin;

use serde_json::Value;

use browser::Browser;
use helpers::*;

/// The password every test's console user has.
pub const PASSWORD: &str = "correct horse battery";

/// A server with an `edr` instance (Basic `edr`/`edr-secret`, severity from `$.severity`)
/// and console users `ana`
/// (analyst) and `root` (admin).
pub struct Console {
    pub env: TestEnv,
    pub server: TestServer,
}

impl Console {
    pub fn start() -> Console {
        let env = TestEnv::new();
        let mapping = env.path("edr-mapping.json");
        std::fs::write(&mapping, r#"{"severity": "$.severity"}"#).expect("mapping file");
        let mapping = mapping.to_str().expect("utf-8 path").to_string();
        env.add_instance("edr", "edr", "edr-secret", &["--mapping-file", &mapping]);
        env.ok(
            &[
                "user",
                "add",
                "ana",
                "--role",
                "analyst",
                "--password-stdin",
            ],
            Some(PASSWORD),
        );
        env.ok(
            &["user", "add", "root", "--role", "admin", "--password-stdin"],
            Some(PASSWORD),
        );
        let server = env.serve(&[]);
        Console { env, server }
    }

    /// Delivers `body` (an event or an array) to `edr`; returns the created incidents.
    pub fn send(&self, body: Value) -> Vec<Value> {
        let (status, answer) = post_json(
            &self.server.execute_url("edr"),
            Some(("edr", "edr-secret")),
            &body.to_string(),
        );
        assert_eq!(status, 200, "delivery refused: {answer}");
        answer.as_array().expect("created incidents").clone()
    }

    /// A browser signed in as `user`, on the feed.
    pub fn signed_in(&self, user: &str) -> Browser {
        let browser = Browser::open(&self.server.base);
        sign_in(&browser, user, PASSWORD);
        browser.wait_for_path("/incidents");
        browser
    }

    /// The incident as the API's CLI shows it.
    pub fn incident(&self, id: i64) -> Value {
        self.env.incident(id)
    }
}

/// Fills the sign-in form as a person would and presses "Sign in".
pub fn sign_in(browser: &Browser, user: &str, password: &str) {
    browser.goto("/login");
    browser.fill("#username", user);
    browser.fill("#password", password);
    browser.press("Sign in");
}

/// The names in the feed's rows, top to bottom.
pub fn feed_names(browser: &Browser) -> Vec<String> {
    browser.texts("#incident-rows td.name")
}
