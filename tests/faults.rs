//! Faults the server must survive: clients that vanish mid-upload, handlers that panic or
//! fail, an upload folder it cannot write, and one session flooding events. After each,
//! nothing is left behind, nothing else is disturbed and the server keeps serving. Real
//! HTTP and WebSocket on 127.0.0.1; the server runs in this process.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrex::prelude::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header;
use reqwest::multipart::Form;
use serde_json::{Value, json};
use support::disk::{listing, scratch, temp_files};
use support::forms::{upload_event, upload_form_as};
use support::http::{arrive, number_in, page, post_event, post_upload};
use support::raw_http::start_large_upload;
use support::run_log::{new_tag, ran, runs};
use support::ws::{next_json, open_socket};
use support::{PATIENCE, TestServer, wait_until};
use tokio::net::TcpStream;
use tokio::sync::RwLock;
use tokio_tungstenite::tungstenite::Message;

/// The memory test measures this process, so it runs alone: it takes this for writing,
/// every other test for reading.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

// ---------------------------------------------------------------------------------------
// The app: a state whose handlers work, fail, panic, and take uploads.

#[derive(Default, Serialize, Deserialize)]
struct Fragile {
    count: u64,
    files: Vec<String>,
}

#[event]
impl Fragile {
    fn bump(&mut self) {
        self.count += 1;
    }

    fn explode(&mut self) {
        panic!("internal detail that must not reach the client");
    }

    async fn explode_later(&mut self) {
        tokio::task::yield_now().await;
        panic!("internal detail that must not reach the client");
    }

    fn refuse(&mut self) -> Result<(), String> {
        Err("The handler said no.".into())
    }

    async fn store(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        ran(tag);
        for file in files {
            self.files.push(file.persist_to_upload_dir().await?.name);
        }
        Ok(())
    }

    /// Looks at the files, then panics holding them.
    async fn store_and_explode(&mut self, files: Vec<UploadFile>, tag: u64) {
        // Counted only if the files are there to look at: the test checks it ran once.
        if files.iter().all(|file| file.temp_path().exists()) {
            ran(tag);
        }
        panic!("internal detail that must not reach the client");
    }

    /// Refuses the files after looking at them.
    async fn store_and_refuse(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), String> {
        ran(tag);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        Err(format!("Not keeping {}.", names.join(", ")))
    }
}

fn fragile_page(s: &Fragile) -> Node {
    ui! {
        vstack(
            text(s.count, id = "count"),
            upload(text("Drop files"), id = "files", multiple = true),
            button("Store", on_click = Fragile::store(upload_files("files"), 0)),
            button("Store, then panic", on_click = Fragile::store_and_explode(upload_files("files"), 0)),
            button("Store, then refuse", on_click = Fragile::store_and_refuse(upload_files("files"), 0)),
            list(for name in &s.files { list_item(name) }, id = "stored"),
        )
    }
}

async fn start(upload_dir: &Path) -> TestServer {
    TestServer::start(App::new().page("/", fragile_page).upload_dir(upload_dir)).await
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn count_in(html: &str) -> u64 {
    number_in(html, "count")
}

/// The count a reply's page shows.
fn reply_count(reply: &Value) -> u64 {
    count_in(
        reply["html"]
            .as_str()
            .unwrap_or_else(|| panic!("no html in {reply}")),
    )
}

/// A handler failure's message: present, one line, naming no internals.
fn failure_message(reply: &Value) -> &str {
    let message = reply["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {reply}"));
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{message:?}"
    );
    assert!(
        !message.contains("internal detail"),
        "a panic's message reached the client: {message:?}"
    );
    message
}

fn event_message(id: u64, h: &str) -> Message {
    Message::text(json!({ "id": id, "page": "/", "h": h, "args": [] }).to_string())
}

/// A multipart upload of `files` (as `application/octet-stream`) to zone `files` for
/// handler `h` with `tag`.
fn upload_form(h: &str, tag: u64, files: &[(&str, &[u8])]) -> Form {
    let event = upload_event(h, "files", Some(tag));
    upload_form_as(event, "application/octet-stream", files)
}

/// The sizes of the temporary files of uploads in progress in `dir`.
fn temp_sizes(dir: &Path) -> Vec<u64> {
    temp_files(dir)
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .collect()
}

/// This process's resident memory, from `/proc/self/status`, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

// ---------------------------------------------------------------------------------------
// Clients that vanish mid-upload.

/// Opens a connection, sends the headers of an upload announcing 100 MB and `sent` bytes
/// of its one file, and returns the still-open connection.
async fn start_upload(server: &TestServer, cookie: &str, tag: u64, sent: &[u8]) -> TcpStream {
    let event = upload_event("Fragile.store", "files", Some(tag));
    start_large_upload(server.addr, cookie, &event, "big.bin", sent).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_vanishing_mid_upload_leave_nothing_behind() {
    const ROUNDS: usize = 10;
    const CLIENTS: usize = 10;
    let _alone = EXCLUSIVE.write().await;
    let tmp = scratch("faults-");
    let dir = tmp.path().join("uploads");
    let server = start(&dir).await;
    let cookie = arrive(&server).await;
    let tag = new_tag();
    // 2 MiB each, of which at least the first MiB reaches the disk (the server writes in
    // batches of up to 1 MiB and keeps back what could be the start of a boundary).
    let chunk: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    const ON_DISK: u64 = 1024 * 1024;

    // One round first, so the memory measured next includes what a warm server holds.
    let warm_up = start_upload(&server, &cookie, tag, &chunk).await;
    wait_until("the warm-up's temp file", || temp_files(&dir).len() == 1).await;
    drop(warm_up);
    wait_until("the warm-up's temp file to go", || {
        temp_files(&dir).is_empty()
    })
    .await;
    let before = rss_kib();

    // Ten at a time: all ten are streaming into temp files when they vanish.
    for round in 0..ROUNDS {
        let clients = futures_util::future::join_all(
            (0..CLIENTS).map(|_| start_upload(&server, &cookie, tag, &chunk)),
        )
        .await;
        wait_until(
            &format!("round {round}: {CLIENTS} uploads with a MiB on disk each"),
            || {
                let sizes = temp_sizes(&dir);
                sizes.len() == CLIENTS && sizes.iter().all(|&size| size >= ON_DISK)
            },
        )
        .await;
        drop(clients);
        wait_until(&format!("round {round}: the temp files to go"), || {
            listing(&dir).is_empty()
        })
        .await;
    }
    let after = rss_kib();

    assert_eq!(runs(tag), 0, "a broken upload never reaches the handler");
    // 200 MiB went in (100 MiB of it to disk); a leak of a tenth of it would show.
    let grown = after.saturating_sub(before);
    println!("resident memory: {before} KiB before, {after} KiB after");
    assert!(
        grown < 20 * 1024,
        "resident memory grew by {grown} KiB (from {before} to {after} KiB) over {} broken uploads of 2 MiB",
        ROUNDS * CLIENTS
    );

    // The server still takes a whole upload.
    let good = new_tag();
    let form = upload_form("Fragile.store", good, &[("whole.bin", &chunk)]);
    let (status, reply) = post_upload(&server, Some(&cookie), None, form).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["error"].is_null(), "{reply}");
    assert_eq!(runs(good), 1);
    assert_eq!(listing(&dir), vec!["whole.bin".to_owned()]);
    assert_eq!(std::fs::read(dir.join("whole.bin")).expect("read"), chunk);
}

// ---------------------------------------------------------------------------------------
// Handlers that panic or fail.

#[tokio::test]
async fn a_panicking_or_failing_handler_fails_only_its_own_event_over_post() {
    let _shared = EXCLUSIVE.read().await;
    let tmp = scratch("faults-");
    let server = start(&tmp.path().join("uploads")).await;
    let alice = arrive(&server).await;
    let bob = arrive(&server).await;
    post_event(&server, Some(&alice), None, "Fragile.bump", json!([])).await;
    post_event(&server, Some(&alice), None, "Fragile.bump", json!([])).await;
    post_event(&server, Some(&bob), None, "Fragile.bump", json!([])).await;

    let mut expected = 2;
    for h in ["Fragile.explode", "Fragile.explode_later", "Fragile.refuse"] {
        let (status, reply) = post_event(&server, Some(&alice), None, h, json!([])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{h}: {reply}");
        let message = failure_message(&reply);
        if h == "Fragile.refuse" {
            assert_eq!(message, "The handler said no.");
        } else {
            assert!(message.contains(h), "{h}: {message:?}");
        }

        // The same session goes on, its state intact.
        let (status, reply) =
            post_event(&server, Some(&alice), None, "Fragile.bump", json!([])).await;
        assert_eq!(status, StatusCode::OK, "after {h}: {reply}");
        assert!(reply["error"].is_null(), "after {h}: {reply}");
        expected += 1;
        assert_eq!(reply_count(&reply), expected, "after {h}");
    }

    // The other session never noticed.
    assert_eq!(count_in(&page(&server, &bob).await), 1);
    let (status, reply) = post_event(&server, Some(&bob), None, "Fragile.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_count(&reply), 2);
    assert_eq!(count_in(&page(&server, &alice).await), expected);
}

#[tokio::test]
async fn a_panicking_or_failing_handler_fails_only_its_own_event_over_the_socket() {
    let _shared = EXCLUSIVE.read().await;
    let tmp = scratch("faults-");
    let server = start(&tmp.path().join("uploads")).await;
    let alice = arrive(&server).await;
    let bob = arrive(&server).await;
    let mut alice_socket = open_socket(&server, &alice).await;
    let mut bob_socket = open_socket(&server, &bob).await;

    // Pipelined: failures and successes interleaved, all sent before any reply is read.
    let plan = [
        "Fragile.bump",
        "Fragile.explode",
        "Fragile.bump",
        "Fragile.explode_later",
        "Fragile.refuse",
        "Fragile.bump",
    ];
    for (i, h) in plan.iter().enumerate() {
        alice_socket
            .feed(event_message(i as u64 + 1, h))
            .await
            .expect("send");
    }
    alice_socket.flush().await.expect("flush");
    bob_socket
        .send(event_message(1, "Fragile.bump"))
        .await
        .expect("send");

    let mut count = 0;
    for (i, h) in plan.iter().enumerate() {
        let reply = next_json(&mut alice_socket).await;
        assert_eq!(reply["id"], i as u64 + 1, "replies come in order: {reply}");
        if *h == "Fragile.bump" {
            assert!(reply["error"].is_null(), "{h}: {reply}");
            count += 1;
            assert_eq!(
                reply_count(&reply),
                count,
                "the state survived the failures"
            );
        } else {
            let message = failure_message(&reply);
            if *h == "Fragile.refuse" {
                assert_eq!(message, "The handler said no.");
            } else {
                assert!(message.contains(h), "{h}: {message:?}");
            }
        }
    }
    let reply = next_json(&mut bob_socket).await;
    assert!(reply["error"].is_null(), "{reply}");
    assert_eq!(reply_count(&reply), 1, "the other session is untouched");

    // Both sockets are still open and working.
    alice_socket
        .send(event_message(7, "Fragile.bump"))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_json(&mut alice_socket).await), 4);
    bob_socket
        .send(event_message(2, "Fragile.bump"))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_json(&mut bob_socket).await), 2);
}

#[tokio::test]
async fn an_upload_handler_that_panics_or_fails_keeps_no_file() {
    let _shared = EXCLUSIVE.read().await;
    let tmp = scratch("faults-");
    let dir = tmp.path().join("uploads");
    let server = start(&dir).await;
    let alice = arrive(&server).await;
    let bob = arrive(&server).await;
    let first = new_tag();
    let form = upload_form("Fragile.store", first, &[("kept.txt", b"kept")]);
    let (status, reply) = post_upload(&server, Some(&alice), None, form).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    for h in ["Fragile.store_and_explode", "Fragile.store_and_refuse"] {
        let tag = new_tag();
        let form = upload_form(h, tag, &[("a.txt", b"a"), ("b.txt", b"b")]);
        let (status, reply) = post_upload(&server, Some(&alice), None, form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{h}: {reply}");
        let message = failure_message(&reply);
        if h == "Fragile.store_and_refuse" {
            assert_eq!(message, "Not keeping a.txt, b.txt.");
        } else {
            assert!(message.contains(h), "{h}: {message:?}");
        }
        assert_eq!(runs(tag), 1, "{h} ran once");
        assert_eq!(
            listing(&dir),
            vec!["kept.txt".to_owned()],
            "{h}: the files it did not keep are gone"
        );
    }

    // The session goes on, its state intact; the other session never noticed.
    let good = new_tag();
    let form = upload_form("Fragile.store", good, &[("after.txt", b"after")]);
    let (status, reply) = post_upload(&server, Some(&alice), None, form).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let html = reply["html"].as_str().expect("html");
    assert!(
        html.contains("kept.txt") && html.contains("after.txt"),
        "{html}"
    );
    assert_eq!(listing(&dir), vec!["after.txt", "kept.txt"]);
    let (status, reply) = post_event(&server, Some(&bob), None, "Fragile.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_count(&reply), 1);
    assert!(!page(&server, &bob).await.contains("kept.txt"));
}

// ---------------------------------------------------------------------------------------
// An upload folder that cannot be written.

#[tokio::test]
async fn an_upload_folder_that_cannot_be_made_is_a_clear_500_and_leaves_nothing() {
    let _shared = EXCLUSIVE.read().await;
    let tmp = scratch("faults-");
    let blocker = tmp.path().join("not-a-folder");
    std::fs::write(&blocker, b"a regular file").expect("write");

    // A folder under a regular file, and a regular file where the folder should be.
    let cases: [(PathBuf, &str); 2] = [
        (blocker.join("uploads"), "under a regular file"),
        (blocker.clone(), "a regular file itself"),
    ];
    for (dir, case) in cases {
        let server = start(&dir).await;
        let cookie = arrive(&server).await;
        post_event(&server, Some(&cookie), None, "Fragile.bump", json!([])).await;
        let tag = new_tag();
        let form = upload_form("Fragile.store", tag, &[("lost.txt", &[7u8; 64 * 1024])]);
        let (status, reply) = post_upload(&server, Some(&cookie), None, form).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{case}: {reply}");
        let message = reply["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no error in {reply}"));
        assert!(
            message.contains("could not store the upload")
                && message.contains("cannot create the upload folder: a file is in the way"),
            "{case}: {message:?}"
        );
        assert!(!message.contains('\n'), "{case}: {message:?}");

        assert_eq!(runs(tag), 0, "{case}: the handler is not called");
        assert_eq!(
            listing(tmp.path()),
            vec!["not-a-folder".to_owned()],
            "{case}: nothing was made"
        );
        assert_eq!(
            std::fs::read(&blocker).expect("read"),
            b"a regular file",
            "{case}: the file in the way is untouched"
        );

        // The session is intact and goes on.
        let (status, reply) =
            post_event(&server, Some(&cookie), None, "Fragile.bump", json!([])).await;
        assert_eq!(status, StatusCode::OK, "{case}");
        assert_eq!(reply_count(&reply), 2, "{case}");
    }
}

// ---------------------------------------------------------------------------------------
// A flood.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_flooding_events_does_not_starve_another() {
    const FLOOD: u64 = 10_000;
    /// How long the other session's events may take each while the flood runs: far more
    /// than an event needs, far less than waiting for 10 000 events would.
    const BOUND: Duration = Duration::from_secs(2);
    let _shared = EXCLUSIVE.read().await;
    let tmp = scratch("faults-");
    let server = start(&tmp.path().join("uploads")).await;
    let flooder = arrive(&server).await;
    let other = arrive(&server).await;
    let mut other_socket = open_socket(&server, &other).await;

    let (mut flood_out, mut flood_in) = open_socket(&server, &flooder).await.split();
    // Reads the flood's replies as they come; reports how many arrived so far.
    let (progress_tx, progress) = tokio::sync::watch::channel(0u64);
    let reader = tokio::spawn(async move {
        for expected in 1..=FLOOD {
            let reply = next_json(&mut flood_in).await;
            assert_eq!(reply["id"], expected, "flood replies come in order");
            assert!(reply["error"].is_null(), "{reply}");
            assert_eq!(reply_count(&reply), expected);
            progress_tx.send_replace(expected);
        }
    });
    // All 10 000 sent without waiting for any reply.
    let writer = tokio::spawn(async move {
        for id in 1..=FLOOD {
            flood_out
                .feed(event_message(id, "Fragile.bump"))
                .await
                .expect("send");
        }
        flood_out.flush().await.expect("flush");
        flood_out
    });

    // Once the flood is under way, the other session's events, one at a time.
    let mut started = progress.clone();
    tokio::time::timeout(PATIENCE, started.wait_for(|n| *n >= 100))
        .await
        .expect("the flood gets going")
        .expect("the flood reader is running");
    let mut slowest = Duration::ZERO;
    let mut answered_during_flood = 0;
    for id in 1..=20u64 {
        let sent = Instant::now();
        other_socket
            .send(event_message(id, "Fragile.bump"))
            .await
            .expect("send");
        let reply = next_json(&mut other_socket).await;
        let took = sent.elapsed();
        assert_eq!(reply["id"], id);
        assert_eq!(reply_count(&reply), id, "only its own count");
        slowest = slowest.max(took);
        if *progress.borrow() < FLOOD {
            answered_during_flood += 1;
        }
    }
    let (status, reply) = post_event(&server, Some(&other), None, "Fragile.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply_count(&reply), 21);
    assert!(
        answered_during_flood > 0,
        "no event of the other session was answered before the flood ended"
    );
    assert!(
        slowest < BOUND,
        "an event of the other session took {slowest:?} while the flood ran"
    );

    // Every one of the flood's replies arrives.
    let _out = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the flood is sent")
        .expect("the writer finished");
    tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("all the flood's replies arrive")
        .expect("the reader finished");
    assert_eq!(count_in(&page(&server, &flooder).await), FLOOD);
    assert_eq!(count_in(&page(&server, &other).await), 21);
}

// ---------------------------------------------------------------------------------------
// A page that panics while rendering.

#[derive(Default, Serialize, Deserialize)]
struct Brittle {
    n: u32,
}

#[event]
impl Brittle {
    fn bump(&mut self) {
        self.n += 1;
    }
}

/// Cannot show the value 2.
fn brittle_page(s: &Brittle) -> Node {
    assert!(s.n != 2, "internal detail that must not reach the client");
    ui! { text(s.n, id = "count") }
}

#[tokio::test]
async fn a_page_that_panics_while_rendering_fails_only_that_request() {
    let _shared = EXCLUSIVE.read().await;
    let server = TestServer::start(App::new().page("/", brittle_page)).await;
    let alice = arrive(&server).await;
    let bob = arrive(&server).await;
    let mut socket = open_socket(&server, &alice).await;

    socket
        .send(event_message(1, "Brittle.bump"))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_json(&mut socket).await), 1);
    // The handler runs; the page it leaves cannot render: that event fails with a message.
    socket
        .send(event_message(2, "Brittle.bump"))
        .await
        .expect("send");
    let reply = next_json(&mut socket).await;
    assert_eq!(reply["id"], 2);
    failure_message(&reply);

    // Loading the page in that state is a 500 with a message, not a dropped connection.
    let response = reqwest::Client::new()
        .get(server.url("/"))
        .header(header::COOKIE, &alice)
        .send()
        .await
        .expect("an answer to GET /");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.expect("a JSON error");
    assert!(
        failure_message(&body).contains("could not be shown"),
        "{body}"
    );

    // The socket is still open, and the next event (which leaves a page that renders)
    // succeeds; the other session never noticed.
    socket
        .send(event_message(3, "Brittle.bump"))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_json(&mut socket).await), 3);
    let (status, reply) = post_event(&server, Some(&bob), None, "Brittle.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_count(&reply), 1);

    // Over POST as well: 422 with a message.
    let carol = arrive(&server).await;
    post_event(&server, Some(&carol), None, "Brittle.bump", json!([])).await;
    let (status, reply) = post_event(&server, Some(&carol), None, "Brittle.bump", json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    failure_message(&reply);
}
