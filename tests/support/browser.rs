//! A real headless Chromium, driven through ChromeDriver with fantoccini.
//!
//! [`Browser::start`] spawns its own `chromedriver` on a free port, in its own
//! process group, with a fresh profile and download folder under
//! `CARGO_TARGET_TMPDIR`. Dropping the [`Browser`] (also while a test panics)
//! ends the session, asks ChromeDriver to quit and then kills the whole process
//! group, so no Chromium outlives the test. The scratch folder (ChromeDriver's
//! log, the profile, the downloads) is removed, unless the test panicked: then
//! it is kept and its path printed.
//!
//! The recipe (flags, prefs, shutdown order) follows `BROWSER_TESTS.md`.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::disk::{names_in, scratch};

/// The Chromium binary ChromeDriver is told to launch (Debian's `chromium`).
const CHROMIUM_BINARY: &str = "/usr/bin/chromium";

/// How long [`Browser::wait_for`] and friends poll before giving up, unless
/// changed with [`Browser::set_wait_timeout`].
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`Browser::wait_for`] and friends re-check their condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long ChromeDriver gets to start answering `/status`.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// What to tell someone whose machine has no ChromeDriver.
const INSTALL_HINT: &str = "browser tests need Chromium and ChromeDriver: \
     run `./scripts/test.sh` (the README's test command), which installs them \
     (`apt-get install chromium chromium-driver`) when `chromedriver` is missing";

/// The folder cargo gives integration tests for scratch files.
fn target_tmpdir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// A headless Chromium session for one test.
///
/// Field order matters: the session is ended in [`Drop`], then the driver
/// (and with it every Chromium process) is killed, and only then is the
/// scratch folder removed.
pub struct Browser {
    client: Client,
    session_id: Option<String>,
    wait_timeout: Duration,
    driver: Driver,
    download_dir: PathBuf,
    _scratch: ScratchDir,
}

impl Browser {
    /// Starts ChromeDriver and opens a fresh headless Chromium session.
    ///
    /// # Panics
    ///
    /// Panics (failing the test, never skipping it) when `chromedriver` is not
    /// installed, does not come up within 10 s, or refuses the session.
    pub async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags; a `--name=value` flag replaces the
    /// default of the same name (e.g. `--window-size=720,1100`).
    ///
    /// # Panics
    ///
    /// As [`Browser::start`].
    pub async fn start_with(extra_args: &[&str]) -> Browser {
        // Declared before `driver`, so on a panic below it is dropped (and
        // kept for inspection) after ChromeDriver has been killed.
        let scratch = ScratchDir::new();
        let profile_dir = scratch.subdir("profile");
        let download_dir = scratch.subdir("downloads");

        let driver = match Driver::spawn(&scratch.path().join("chromedriver.log")) {
            Ok(driver) => driver,
            Err(message) => {
                // Nothing worth keeping for inspection: remove it, then fail.
                drop(scratch);
                panic!("{message}");
            }
        };
        driver.wait_until_ready().await;

        let capabilities = capabilities(&profile_dir, &download_dir, extra_args);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver refused to start a Chromium session: {e}\n\
                     (chromedriver log: {})",
                    driver.log_path.display()
                )
            });
        // Only used to end the session from `Drop`; without it the session is
        // still ended by ChromeDriver's `/shutdown`.
        let session_id = client.session_id().await.ok().flatten();

        Browser {
            client,
            session_id,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            driver,
            download_dir,
            _scratch: scratch,
        }
    }

    /// The underlying WebDriver client, for everything this harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The folder Chromium saves downloads into (empty at start).
    pub fn download_dir(&self) -> &Path {
        &self.download_dir
    }

    /// Changes how long the `wait_for*` methods poll before panicking.
    pub fn set_wait_timeout(&mut self, timeout: Duration) {
        self.wait_timeout = timeout;
    }

    /// Navigates to `url` and waits for the page load.
    ///
    /// # Panics
    ///
    /// Panics when the navigation fails.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigating to {url} failed: {e}"));
    }

    /// Starts a browser ([`Browser::start`]) on the ferrex page at `url`, with the page's
    /// runtime connected ([`Browser::open`]).
    pub async fn start_on(url: &str) -> Browser {
        let browser = Browser::start().await;
        browser.open(url).await;
        browser
    }

    /// Navigates to the ferrex page at `url` and waits until its runtime's WebSocket is
    /// open.
    pub async fn open(&self, url: &str) {
        self.goto(url).await;
        self.wait_connected().await;
    }

    /// Waits until the ferrex runtime's WebSocket is open (`data-fx-connected="true"` on
    /// the document element).
    pub async fn wait_connected(&self) {
        self.wait_for_js("document.documentElement.dataset.fxConnected === 'true'")
            .await;
    }

    /// Runs `script` (a function body) in the page and returns its result.
    ///
    /// # Panics
    ///
    /// Panics naming the script when it throws.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// Sends the Chrome DevTools protocol command `method` with `params` through
    /// ChromeDriver (`POST /session/{id}/goog/cdp/execute`) and returns its result, for
    /// input WebDriver has no command for (a drag of files from the desktop, say).
    ///
    /// # Panics
    ///
    /// Panics naming the command when ChromeDriver or Chromium refuses it.
    pub async fn cdp(&self, method: &str, params: Value) -> Value {
        let id = self
            .session_id
            .as_deref()
            .unwrap_or_else(|| panic!("no WebDriver session to send {method} through"));
        let url = format!("{}/session/{id}/goog/cdp/execute", self.driver.url());
        let response = reqwest::Client::new()
            .post(&url)
            .json(&json!({ "cmd": method, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sending {method} to chromedriver: {e}"));
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method}: chromedriver's answer is not JSON: {e}"));
        assert!(
            status.is_success(),
            "{method} was refused ({status}): {body}"
        );
        body["value"].clone()
    }

    /// Clicks the element matching the CSS selector `css`.
    ///
    /// # Panics
    ///
    /// Panics when no element matches or the click fails.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Chooses `paths` in the file input of drop zone `zone`, as a user would in the
    /// picker (WebDriver `send_keys` on the zone's `input[type=file]`).
    ///
    /// # Panics
    ///
    /// Panics when the zone has no file input or the choice fails.
    pub async fn choose_files(&self, zone: &str, paths: &[&Path]) {
        let input = self
            .client
            .find(Locator::Css(&format!("#{zone} input[type=file]")))
            .await
            .unwrap_or_else(|e| panic!("zone {zone} has no file input: {e}"));
        let keys = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        input
            .send_keys(&keys)
            .await
            .unwrap_or_else(|e| panic!("cannot choose files in {zone}: {e}"));
    }

    /// The trimmed text of every element matching the CSS selector `css`, in order.
    ///
    /// # Panics
    ///
    /// Panics when the page does not answer.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let script = format!(
            "return Array.from(document.querySelectorAll({}), e => e.textContent.trim());",
            serde_json::to_string(css).expect("a JSON string")
        );
        serde_json::from_value(self.js(&script).await).expect("a list of texts")
    }

    /// Waits until the CSS selector `css` matches exactly `n` elements.
    ///
    /// # Panics
    ///
    /// Panics when it does not within the wait timeout.
    pub async fn wait_for_count(&self, css: &str, n: usize) {
        self.wait_for_js(&format!(
            "document.querySelectorAll({}).length === {n}",
            serde_json::to_string(css).expect("a JSON string")
        ))
        .await;
    }

    /// Waits until a toast containing `text` is shown.
    ///
    /// # Panics
    ///
    /// Panics when none is shown within the wait timeout.
    pub async fn wait_for_toast(&self, text: &str) {
        self.wait_for_js(&format!(
            "Array.from(document.querySelectorAll('.fx-toast'), t => t.textContent).some(t => t.includes({}))",
            serde_json::to_string(text).expect("a JSON string")
        ))
        .await;
    }

    /// Polls `condition` every 50 ms until it returns `true`.
    ///
    /// The condition gets its own handle to the client (cheap to clone), so it
    /// can be written as `|c| async move { ... }`.
    ///
    /// # Panics
    ///
    /// Panics with `what` when the condition is still false after the wait
    /// timeout (10 s unless changed); a screenshot of that moment is saved and
    /// its path is part of the message.
    pub async fn wait_for<F, Fut>(&self, mut condition: F, what: &str)
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // A condition that hangs (e.g. a WebDriver call stuck on an alert)
            // must not outlive the deadline either.
            let met = tokio::time::timeout(remaining, condition(self.client.clone()))
                .await
                .unwrap_or(false);
            if met {
                return;
            }
            if Instant::now() >= deadline {
                self.fail_wait(what).await;
            }
            tokio::time::sleep(POLL_INTERVAL.min(remaining)).await;
        }
    }

    /// Waits until the JavaScript expression `expr` is truthy in the page.
    ///
    /// A script error counts as "not yet", so `expr` may refer to elements
    /// that do not exist yet.
    ///
    /// # Panics
    ///
    /// Panics naming `expr` when it is still falsy after the wait timeout.
    pub async fn wait_for_js(&self, expr: &str) {
        let script = format!("return Boolean({expr});");
        self.wait_for(
            |c| {
                let script = script.clone();
                async move { matches!(c.execute(&script, Vec::new()).await, Ok(Value::Bool(true))) }
            },
            &format!("JavaScript `{expr}` to be truthy"),
        )
        .await;
    }

    /// Waits until Chromium has finished downloading `file_name` into
    /// [`download_dir`](Self::download_dir), then returns its content.
    ///
    /// A download is finished when the file exists and no `*.crdownload` is
    /// left in the folder. Chromium renames a second download with the same
    /// name to `name (1).ext`, so give each download its own name.
    ///
    /// # Panics
    ///
    /// Panics listing the folder's content when the download does not finish
    /// within the wait timeout.
    pub async fn wait_for_download(&self, file_name: &str) -> Vec<u8> {
        let path = self.download_dir().join(file_name);
        let deadline = Instant::now() + self.wait_timeout;
        loop {
            let entries = names_in(self.download_dir());
            let in_progress = entries.iter().any(|name| name.ends_with(".crdownload"));
            if !in_progress && path.is_file() {
                return std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read download {}: {e}", path.display()));
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {:?} waiting for the download {file_name:?}; \
                     download folder {} holds {entries:?}",
                    self.wait_timeout,
                    self.download_dir().display()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Saves a PNG screenshot of the current page to
    /// `CARGO_TARGET_TMPDIR/screenshots/<name>.png` and returns its path.
    ///
    /// # Panics
    ///
    /// Panics when the screenshot cannot be taken or written.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("taking screenshot {name:?} failed: {e}"));
        save_screenshot(name, &png)
    }

    /// Panics for a timed-out wait, with a best-effort screenshot.
    async fn fail_wait(&self, what: &str) -> ! {
        let shot = tokio::time::timeout(Duration::from_secs(5), self.client.screenshot()).await;
        let note = match shot {
            Ok(Ok(png)) => {
                let name = format!("timeout-{}", sanitize(what));
                format!("; screenshot: {}", save_screenshot(&name, &png).display())
            }
            _ => String::new(),
        };
        panic!(
            "timed out after {:?} waiting for {what}{note}",
            self.wait_timeout
        );
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session (closing Chromium) best-effort; the
    /// [`Driver`] field then shuts ChromeDriver down and kills its group.
    ///
    /// Plain blocking sockets are used because `Drop` cannot await and the
    /// test's runtime may be unwinding.
    fn drop(&mut self) {
        if let Some(id) = &self.session_id {
            raw_http(
                self.driver.port,
                "DELETE",
                &format!("/session/{id}"),
                Duration::from_secs(3),
            );
        }
    }
}

/// A `chromedriver` process, leader of its own process group.
struct Driver {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl Driver {
    /// Spawns `chromedriver --port=<free port>` with output to `log_path`.
    ///
    /// Fails, with a message saying how to install it, when `chromedriver`
    /// cannot be started.
    fn spawn(log_path: &Path) -> Result<Driver, String> {
        let port = free_port();
        let log_path = log_path.to_path_buf();
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let log_err = log
            .try_clone()
            .expect("cannot duplicate the chromedriver log file handle");
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("`chromedriver` is not on PATH: {INSTALL_HINT}")
                }
                _ => format!("cannot start chromedriver: {e}; {INSTALL_HINT}"),
            })?;
        Ok(Driver {
            child,
            port,
            log_path,
        })
    }

    /// The WebDriver endpoint.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET /status` until ChromeDriver reports it is ready.
    async fn wait_until_ready(&self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("cannot build an HTTP client");
        let status_url = format!("{}/status", self.url());
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Ok(response) = http.get(&status_url).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == Value::Bool(true)
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "chromedriver did not answer on {status_url} within {DRIVER_START_TIMEOUT:?}; \
                     its log is {}",
                    self.log_path.display()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Driver {
    /// Asks ChromeDriver to quit, then kills its whole process group (it and
    /// every Chromium it started) and reaps it.
    fn drop(&mut self) {
        raw_http(self.port, "GET", "/shutdown", Duration::from_secs(2));
        // Give it a moment to exit by itself (reaping the Chromium it ran).
        let deadline = Instant::now() + Duration::from_secs(1);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Kill whatever is left in the group; its id is the leader's pid
        // (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A per-browser folder under `CARGO_TARGET_TMPDIR`: removed on drop, but
/// kept (and its path printed) when dropped during a panic.
struct ScratchDir(Option<TempDir>);

impl ScratchDir {
    /// Creates `CARGO_TARGET_TMPDIR/browser-XXXXXX`.
    fn new() -> ScratchDir {
        ScratchDir(Some(scratch("browser-")))
    }

    /// The folder's path.
    fn path(&self) -> &Path {
        match &self.0 {
            Some(dir) => dir.path(),
            None => unreachable!("only taken in Drop"),
        }
    }

    /// Creates the sub-folder `name` and returns its path.
    fn subdir(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!(
                "browser test failed: ChromeDriver's log, the Chromium profile and the \
                 downloads are kept in {}",
                dir.keep().display()
            );
        }
    }
}

/// The WebDriver capabilities and Chrome prefs from `BROWSER_TESTS.md`.
fn capabilities(
    profile_dir: &Path,
    download_dir: &Path,
    extra_args: &[&str],
) -> serde_json::Map<String, Value> {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM_BINARY,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,800",
                format!("--user-data-dir={}", profile_dir.display()),
            ],
            "prefs": {
                "session": {
                    "restore_on_startup": 4,
                    "startup_urls": ["about:blank"],
                },
                "profile": {
                    "default_content_setting_values": { "automatic_downloads": 1 },
                },
                "download": {
                    "default_directory": download_dir.display().to_string(),
                    "prompt_for_download": false,
                },
            },
        },
    });
    let mut caps = caps;
    if let Some(Value::Array(args)) = caps.pointer_mut("/goog:chromeOptions/args") {
        for extra in extra_args {
            let name = extra.split_once('=').map_or(*extra, |(name, _)| name);
            args.retain(|arg| arg.as_str().and_then(|a| a.split('=').next()) != Some(name));
            args.push(Value::String((*extra).to_owned()));
        }
    }
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// A port that was free a moment ago (bind to port 0, read it, release it).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot find a free TCP port on 127.0.0.1")
}

/// Sends a body-less HTTP/1.1 request to ChromeDriver and waits (bounded)
/// for the answer. Best-effort: every error is ignored.
fn raw_http(port: u16, method: &str, path: &str, timeout: Duration) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // ChromeDriver keeps the connection open despite `Connection: close`,
    // so read until the whole response (per `Content-Length`) has arrived.
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while !response_complete(&response) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether `response` holds a complete HTTP response (headers and the
/// `Content-Length` bytes of body that follow them).
fn response_complete(response: &[u8]) -> bool {
    let Some(header_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let headers = String::from_utf8_lossy(&response[..header_end]);
    let content_length = headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    response.len() >= header_end + 4 + content_length
}

/// Writes `png` to `CARGO_TARGET_TMPDIR/screenshots/<name>.png`.
fn save_screenshot(name: &str, png: &[u8]) -> PathBuf {
    let dir = target_tmpdir().join("screenshots");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png)
        .unwrap_or_else(|e| panic!("cannot write screenshot {}: {e}", path.display()));
    path
}

/// Turns free text into a short file-name-safe slug.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(60)
        .collect()
}
