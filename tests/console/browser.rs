//! A real headless Chromium driven over WebDriver (chromedriver), with blocking calls so a
//! test reads top to bottom like what a user does.
//!
//! Each `Browser` starts its own chromedriver on a port it picks itself (`--port=0`, read
//! back from its output) and one browser session; dropping it ends both.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long a page or element may take to appear before a test fails.
const WAIT: Duration = Duration::from_secs(10);

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// The server every relative path is resolved against.
    base: String,
}

/// Where Chromium is, when `INTAKE_TEST_CHROMIUM` does not say.
const CHROMIUM: &str = "/usr/bin/chromium";

impl Browser {
    pub fn open(base: &str) -> Browser {
        let mut driver = Command::new(
            std::env::var("INTAKE_TEST_CHROMEDRIVER").unwrap_or("chromedriver".into()),
        )
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (apt-get install -y chromium chromium-driver)");
        let port = driver_port(&mut driver);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let chromium = std::env::var("INTAKE_TEST_CHROMIUM").unwrap_or(CHROMIUM.into());
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         "--no-proxy-server"],
            }
        });
        let capabilities = capabilities.as_object().expect("object").clone();
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a browser session");
        Browser {
            runtime,
            client: Some(client),
            driver,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open browser")
    }

    /// Opens `path` (relative to the server) or an absolute URL.
    pub fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.runtime
            .block_on(self.client().goto(&url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The address bar: path and query.
    pub fn location(&self) -> String {
        let url = self
            .runtime
            .block_on(self.client().current_url())
            .expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits for the first element matching `css`.
    pub fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.runtime
            .block_on(
                self.client()
                    .wait()
                    .at_most(WAIT)
                    .for_element(Locator::Css(css)),
            )
            .unwrap_or_else(|e| panic!("no {css} on {}: {e}", self.location()))
    }

    /// Every element matching `css` now (none is an empty list).
    pub fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.runtime
            .block_on(self.client().find_all(Locator::Css(css)))
            .expect("find_all")
    }

    /// The text of every element matching `css` now. A page that script updates in place
    /// can replace an element between finding it and reading it; then it reads them again.
    pub fn texts(&self, css: &str) -> Vec<String> {
        loop {
            let read: Result<Vec<String>, _> = self
                .all(css)
                .iter()
                .map(|e| self.runtime.block_on(e.text()))
                .collect();
            match read {
                Ok(texts) => return texts,
                Err(e) if element_is_gone(&e) => {}
                Err(e) => panic!("text of {css}: {e}"),
            }
        }
    }

    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.runtime.block_on(element.text()).expect("text")
    }

    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css);
        self.runtime.block_on(element.attr(name)).expect("attr")
    }

    /// The live value of an input (what the user typed).
    pub fn value(&self, css: &str) -> String {
        let element = self.find(css);
        self.runtime
            .block_on(element.prop("value"))
            .expect("value")
            .unwrap_or_default()
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.runtime.block_on(element.clear()).expect("clear");
        self.runtime
            .block_on(element.send_keys(text))
            .expect("send_keys");
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.runtime
            .block_on(element.click())
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks the button whose text is `label` (exactly, trimmed).
    pub fn press(&self, label: &str) {
        self.click_xpath(&format!("//button[normalize-space(.)='{label}']"));
    }

    /// Waits for the first element matching the XPath `path`.
    pub fn find_xpath(&self, path: &str) -> fantoccini::elements::Element {
        self.runtime
            .block_on(
                self.client()
                    .wait()
                    .at_most(WAIT)
                    .for_element(Locator::XPath(path)),
            )
            .unwrap_or_else(|e| panic!("no {path} on {}: {e}", self.location()))
    }

    pub fn text_xpath(&self, path: &str) -> String {
        let element = self.find_xpath(path);
        self.runtime.block_on(element.text()).expect("text")
    }

    pub fn click_xpath(&self, path: &str) {
        let element = self.find_xpath(path);
        self.runtime
            .block_on(element.click())
            .unwrap_or_else(|e| panic!("click {path}: {e}"));
    }

    /// Follows the link whose text is `label`.
    pub fn follow(&self, label: &str) {
        let element = self
            .runtime
            .block_on(
                self.client()
                    .wait()
                    .at_most(WAIT)
                    .for_element(Locator::LinkText(label)),
            )
            .unwrap_or_else(|e| panic!("no link {label:?} on {}: {e}", self.location()));
        self.runtime
            .block_on(element.click())
            .unwrap_or_else(|e| panic!("follow {label:?}: {e}"));
    }

    /// Waits until `check` holds for this page, up to `within`; fails with `what` otherwise.
    pub fn wait_until(
        &self,
        within: Duration,
        what: &str,
        mut check: impl FnMut(&Browser) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what} on {}",
                self.location()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the address bar to show `path` (without the query).
    pub fn wait_for_path(&self, path: &str) {
        self.wait_until(WAIT, &format!("the page {path}"), |b| {
            b.location().split('?').next() == Some(path)
        });
    }

    /// The text of an alert box, if one is open (script ran).
    pub fn alert(&self) -> Option<String> {
        self.runtime.block_on(self.client().get_alert_text()).ok()
    }

    /// The value of a cookie the browser holds for this site.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.runtime
            .block_on(self.client().get_named_cookie(name))
            .ok()
            .map(|c| c.value().to_string())
    }

    /// Runs `script` in the page (WebDriver's own channel, which the page's CSP does not
    /// govern) and returns its result.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.runtime
            .block_on(self.client().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.client().set_window_size(width, height))
            .expect("window size");
    }

    /// The whole page as the browser renders it, as PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        self.runtime
            .block_on(self.client().screenshot())
            .expect("screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Reads chromedriver's "started successfully on port N" line.
fn driver_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().expect("chromedriver stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("chromedriver output");
        if let Some(rest) = line.split("on port ").nth(1) {
            if line.contains("started successfully") {
                let port = rest.trim_end_matches('.').trim().parse().expect("port");
                // Keep draining its output so it never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return port;
            }
        }
    }
    panic!("chromedriver exited before it listened");
}

/// Whether reading an element failed because the page replaced it. Chromium answers a read
/// of an element from a page that is being navigated away with an "unknown error" naming a
/// node outside the document rather than the standard stale element reference.
fn element_is_gone(error: &fantoccini::error::CmdError) -> bool {
    let text = error.to_string();
    error.is_stale_element_reference()
        || text.contains("does not belong to the document")
        || text.contains("No node with given id")
}
