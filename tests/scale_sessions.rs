//! Sessions shared by several ferrex processes through a real Redis, behind a real nginx
//! that balances round robin (no affinity): events of one session land on every process
//! and the count stays exact, a killed process loses nothing that was answered, a process
//! paused past its lease cannot overwrite newer state, and Redis going away fails events
//! cleanly until it is back.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrex::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use support::http::{number_in, set_cookie};
use support::process::AppProcess;
use support::services::{Proxy, RedisServer};
use support::{Browser, TestServer};
use support::{PATIENCE, wait_until};

/// Two counter example processes sharing `redis`, behind a round-robin proxy.
struct Cluster {
    redis: RedisServer,
    processes: [AppProcess; 2],
    proxy: Proxy,
}

impl Cluster {
    async fn start() -> Cluster {
        let redis = RedisServer::start().await;
        let env = [("FERREX_REDIS_URL", redis.url())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = AppProcess::start_with("counter", &env).await;
        let b = AppProcess::start_with("counter", &env).await;
        let proxy = Proxy::round_robin(&[a.addr, b.addr]).await;
        Cluster {
            redis,
            processes: [a, b],
            proxy,
        }
    }
}

/// `GET url` with no cookie: a new session's cookie.
async fn arrive_at(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    set_cookie(&response).expect("a first visit sets a session cookie")
}

/// `POST base/_ferrex/event` of `h(args…)` from page `/` with `cookie`.
async fn event_at(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    h: &str,
    args: Value,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/_ferrex/event"))
        .header(CONTENT_TYPE, "application/json")
        .header(COOKIE, cookie)
        .body(json!({ "page": "/", "h": h, "args": args }).to_string())
        .send()
        .await
        .expect("POST /_ferrex/event");
    let status = response.status();
    let text = response.text().await.expect("the answer");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text:?}"));
    (status, body)
}

/// The `#count` of the page `base/` for `cookie`.
async fn count_at(client: &reqwest::Client, base: &str, cookie: &str) -> i64 {
    let response = client
        .get(format!("{base}/"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookie(&response), None, "the session is known");
    number_in(&response.text().await.expect("the page"), "count")
}

fn session_id(cookie: &str) -> &str {
    cookie.split_once('=').map_or(cookie, |(_, id)| id)
}

/// Every command Redis runs, with the client that sent it (`MONITOR`), so a test sees
/// which processes did a session's work.
struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    stream: TcpStream,
}

impl Monitor {
    fn start(redis: &RedisServer) -> Monitor {
        let mut stream = TcpStream::connect(redis.addr()).expect("connect to Redis");
        stream.write_all(b"MONITOR\r\n").expect("send MONITOR");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = BufReader::new(stream.try_clone().expect("share the stream"));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                sink.lock().expect("the monitor's lines").push(line);
            }
        });
        Monitor { lines, stream }
    }

    /// The clients (`127.0.0.1:PORT`: one Redis connection per ferrex process) that ran a
    /// script on a session's lease: those that ran events.
    fn event_clients(&self) -> HashSet<String> {
        self.lines
            .lock()
            .expect("the monitor's lines")
            .iter()
            .filter(|line| line.contains("\"EVALSHA\"") && line.contains(":lease\""))
            .filter_map(|line| {
                let client = line.split_once('[')?.1.split_once(']')?.0;
                let addr = client.split_whitespace().nth(1)?;
                addr.starts_with("127.0.0.1:").then(|| addr.to_owned())
            })
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

async fn shown_count(browser: &Browser) -> String {
    browser
        .js("return document.getElementById('count').textContent.trim();")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_count(browser: &Browser, count: usize) {
    browser
        .wait_for_js(&format!(
            "document.getElementById('count').textContent.trim() === '{count}'"
        ))
        .await;
}

#[tokio::test]
async fn a_browser_session_spread_over_two_processes_counts_every_event_once() {
    let cluster = Cluster::start().await;
    let monitor = Monitor::start(&cluster.redis);
    let browser = Browser::start_on(&cluster.proxy.url("/")).await;
    let mut count = 0;
    // A page's socket stays with one process: loading the page again sends the next
    // socket wherever round robin is, and an extra request now and then moves it along.
    for round in 0..10 {
        for _ in 0..20 {
            browser.click("#inc").await;
            count += 1;
        }
        wait_count(&browser, count).await;
        if round % 3 == 1 {
            browser
                .js("return fetch('/_ferrex/session').then((r) => r.status);")
                .await;
        }
        browser.open(&cluster.proxy.url("/")).await;
        assert_eq!(shown_count(&browser).await, count.to_string());
    }
    assert_eq!(
        monitor.event_clients().len(),
        2,
        "both processes ran events of the session"
    );
}

#[tokio::test]
async fn a_process_killed_mid_session_loses_no_answered_event_and_the_page_goes_on() {
    let mut cluster = Cluster::start().await;
    let browser = Browser::start_on(&cluster.proxy.url("/")).await;
    // Counts the socket's drops; gone if the page reloads.
    browser
        .js("window.__drops = 0; new MutationObserver(() => { \
             if (document.documentElement.dataset.fxConnected === 'false') window.__drops += 1; \
             }).observe(document.documentElement, { attributes: true }); return null;")
        .await;
    let mut count = 0;
    for _ in 0..5 {
        browser.click("#inc").await;
        count += 1;
        wait_count(&browser, count).await;
    }
    // Each process in turn is killed, so the page's socket is on a killed one at least
    // once, wherever round robin put it.
    for victim in [0, 1] {
        cluster.processes[victim].kill();
        // The survivor answers for the session (what the runtime asks before it
        // reconnects), and the page is connected again before the next click.
        for _ in 0..2 {
            let known = browser
                .js("return fetch('/_ferrex/session').then((r) => r.json()).then((a) => a.known);")
                .await;
            assert_eq!(
                known,
                serde_json::Value::Bool(true),
                "the survivor knows the session"
            );
        }
        browser.wait_connected().await;
        for _ in 0..5 {
            browser.click("#inc").await;
            count += 1;
            wait_count(&browser, count).await;
        }
        cluster.processes[victim].start_again().await;
    }
    let drops = browser.js("return window.__drops;").await;
    assert!(
        drops.as_u64().is_some_and(|drops| drops >= 1),
        "the page lost its socket to a killed process and went on without reloading \
         (drops: {drops})"
    );
    assert_eq!(shown_count(&browser).await, "15");
}

#[tokio::test]
async fn sixteen_sessions_of_fifty_concurrent_events_over_two_processes_all_count_exactly() {
    use futures_util::StreamExt;
    let cluster = Cluster::start().await;
    let monitor = Monitor::start(&cluster.redis);
    let base = cluster.proxy.url("");
    let client = reqwest::Client::builder()
        .timeout(PATIENCE * 3)
        .build()
        .expect("a client");
    let mut cookies = Vec::new();
    for _ in 0..16 {
        cookies.push(arrive_at(&client, &format!("{base}/")).await);
    }
    let sessions = cookies.iter().map(|cookie| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            // 25 of a session's events in flight at once: 400 connections through nginx.
            futures_util::stream::iter(0..50)
                .map(|_| {
                    let (client, base) = (client.clone(), base.clone());
                    async move { event_at(&client, &base, cookie, "Counter.add", json!([1])).await }
                })
                .buffer_unordered(25)
                .collect::<Vec<_>>()
                .await
        }
    });
    for answers in futures_util::future::join_all(sessions).await {
        for (status, body) in answers {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    for cookie in &cookies {
        assert_eq!(count_at(&client, &base, cookie).await, 50);
    }
    assert_eq!(
        monitor.event_clients().len(),
        2,
        "both processes ran events"
    );
}

#[tokio::test]
async fn redis_going_away_fails_events_with_a_sentence_and_changes_nothing_until_it_is_back() {
    let mut cluster = Cluster::start().await;
    let client = reqwest::Client::new();
    let base = cluster.proxy.url("");
    let cookie = arrive_at(&client, &format!("{base}/")).await;
    for _ in 0..5 {
        let (status, body) = event_at(&client, &base, &cookie, "Counter.add", json!([1])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Kept on disk as a Redis with persistence would, then Redis dies.
    assert_eq!(cluster.redis.command(&["SAVE"]), "+OK");
    cluster.redis.stop();

    for process in &cluster.processes {
        let direct = format!("http://{}", process.addr);
        for _ in 0..3 {
            let (status, body) =
                event_at(&client, &direct, &cookie, "Counter.add", json!([1])).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("session store is unreachable") && error.ends_with("in a moment"),
                "one sentence saying what happened: {error}"
            );
            assert_eq!(body["html"], Value::Null);
        }
        let page = client
            .get(format!("{direct}/"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("GET /");
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    cluster.redis.start_again().await;
    // The connection comes back by itself; the first event that gets through is the 6th.
    let mut answered = None;
    for _ in 0..100 {
        let (status, body) = event_at(&client, &base, &cookie, "Counter.add", json!([1])).await;
        if status == StatusCode::OK {
            answered = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered.is_some(), "events work again once Redis is back");
    for process in &cluster.processes {
        let direct = format!("http://{}", process.addr);
        assert_eq!(
            count_at(&client, &direct, &cookie).await,
            6,
            "none of the refused events was applied"
        );
    }
    let (status, _) = event_at(&client, &base, &cookie, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count_at(&client, &base, &cookie).await, 7);
}

/// A state with a handler that takes its time, for the fencing test's processes.
#[derive(Default, Serialize, Deserialize)]
struct Probe {
    count: i64,
}

#[event]
impl Probe {
    fn add(&mut self, by: i64) {
        self.count += by;
    }

    async fn slow_add(&mut self, by: i64, millis: u64) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.count += by;
    }
}

fn probe_page(probe: &Probe) -> Node {
    ui! { text(probe.count, id = "count") }
}

/// The lease every fencing-test process takes: short, so the test waits little for it.
const PROBE_LEASE: Duration = Duration::from_millis(600);

/// Not a test of its own: the process the fencing test starts (twice) and pauses. Serves
/// the probe app at `FERREX_ADDR` with sessions in `FERREX_REDIS_URL` until killed.
#[tokio::test]
#[ignore = "run by the fencing test as a process of its own"]
async fn probe_process() {
    let (Ok(addr), Ok(url)) = (
        std::env::var("FERREX_ADDR"),
        std::env::var("FERREX_REDIS_URL"),
    ) else {
        return;
    };
    let config = ferrex::store::redis::RedisStoreConfig {
        lease: PROBE_LEASE,
        ..Default::default()
    };
    let store = ferrex::store::RedisSessions::with_config(&url, config, 1000);
    App::new()
        .store(store)
        .page("/", probe_page)
        .serve(&addr)
        .await
        .expect("serve the probe app");
}

#[tokio::test]
async fn a_process_paused_past_its_lease_cannot_overwrite_the_newer_state() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    let env = [("FERREX_REDIS_URL", url.as_str())];
    let a = AppProcess::start_test_child("probe_process", &env).await;
    let b = AppProcess::start_test_child("probe_process", &env).await;
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let client = reqwest::Client::new();
    let cookie = arrive_at(&client, &format!("{base_a}/")).await;
    let (status, _) = event_at(&client, &base_a, &cookie, "Probe.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK);

    let lease_key = format!("ferrex:{{{}}}:lease", session_id(&cookie));
    let slow = tokio::spawn({
        let (client, base_a, cookie) = (client.clone(), base_a.clone(), cookie.clone());
        async move {
            event_at(
                &client,
                &base_a,
                &cookie,
                "Probe.slow_add",
                json!([100, 1500]),
            )
            .await
        }
    });
    // A holds the lease, in the middle of its handler: pause the whole process…
    wait_until("A to take the lease", || {
        redis.command(&["EXISTS", &lease_key]) == ":1"
    })
    .await;
    a.signal("STOP");
    // …until its lease runs out, unrenewed.
    wait_until("A's lease to run out", || {
        redis.command(&["EXISTS", &lease_key]) == ":0"
    })
    .await;
    let (status, body) = event_at(&client, &base_b, &cookie, "Probe.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "B goes on: {body}");
    assert_eq!(
        number_in::<i64>(body["html"].as_str().unwrap_or(""), "count"),
        2
    );

    a.signal("CONT");
    let (status, body) = tokio::time::timeout(PATIENCE, slow)
        .await
        .expect("A answers once resumed")
        .expect("the slow request");
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("another server process took over the session"),
        "{error}"
    );
    assert_eq!(
        count_at(&client, &base_b, &cookie).await,
        2,
        "B's state stands"
    );
    assert_eq!(
        count_at(&client, &base_a, &cookie).await,
        2,
        "A forgot its own"
    );
    let stored = redis.command(&[
        "HGET",
        &format!("ferrex:{{{}}}:state", session_id(&cookie)),
        "Probe",
    ]);
    assert_eq!(stored, r#"{"count":2}"#);
    let (status, body) = event_at(&client, &base_a, &cookie, "Probe.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count_at(&client, &base_b, &cookie).await, 3);
}

/// A drop zone that opens by an event, for the upload test's two in-process apps.
#[derive(Default, Serialize, Deserialize)]
struct Gate {
    open: bool,
    taken: u64,
}

#[event]
impl Gate {
    fn open(&mut self) {
        self.open = true;
    }

    fn take(&mut self, files: Vec<UploadFile>) {
        self.taken += files.len() as u64;
    }
}

fn gate_page(gate: &Gate) -> Node {
    ui! {
        vstack(
            text(gate.taken, id = "taken"),
            upload(text("Drop"), id = "z", disabled = !gate.open),
            button("Send", on_click = Gate::take(upload_files("z"))),
        )
    }
}

#[tokio::test]
async fn an_upload_checks_the_drop_zone_as_another_process_last_left_it() {
    use support::forms::{upload_event, upload_form};
    let redis = RedisServer::start().await;
    let folder = tempfile::tempdir().expect("a scratch folder");
    let app = || {
        App::new()
            .redis(&redis.url())
            .upload_dir(folder.path().join("uploads"))
            .page("/", gate_page)
    };
    let (a, b) = (
        TestServer::start(app()).await,
        TestServer::start(app()).await,
    );
    let (base_a, base_b) = (a.url(""), b.url(""));
    let client = reqwest::Client::new();
    let cookie = arrive_at(&client, &format!("{base_a}/")).await;
    let upload = |base: String| {
        let (client, cookie) = (client.clone(), cookie.clone());
        async move {
            let form = upload_form(
                upload_event("Gate.take", "z", None),
                &[("a.txt", "text/plain", b"a")],
            );
            let response = client
                .post(format!("{base}/_ferrex/upload"))
                .header(COOKIE, cookie)
                .multipart(form)
                .send()
                .await
                .expect("POST /_ferrex/upload");
            response.status()
        }
    };
    assert_eq!(
        upload(base_a.clone()).await,
        StatusCode::BAD_REQUEST,
        "closed"
    );
    let (status, body) = event_at(&client, &base_b, &cookie, "Gate.open", json!([])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A rendered the page closed and ran no event since; the zone is open now all the same.
    assert_eq!(upload(base_a.clone()).await, StatusCode::OK);
    let page = client
        .get(format!("{base_b}/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("the page");
    assert_eq!(number_in::<u64>(&page, "taken"), 1);
}
