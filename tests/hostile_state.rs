//! What one hostile client can make the server keep (issue 15, items 3–5): sessions from a
//! flood of cookie-less page loads, downloads a session parks and never fetches, and
//! multipart bodies with endless part heads or no declared length. Each is bounded and
//! leaves everyone else's session, downloads and files as they were. Real HTTP on
//! 127.0.0.1; every flood is bounded in count and time.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrex::prelude::*;
use ferrex::{MemoryStore, Session, SessionId, StateStore};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::disk::{listing, scratch, temp_files};
use support::forms::upload_event;
use support::http::{arrive, number_in, page, post_event, session_client, set_cookie};
use support::raw_http::{RawRequest, exchange, read_answer, upload_body_end};
use support::{PATIENCE, TestServer};

/// How long a whole flood may take before the test counts it as hung.
const FLOOD_PATIENCE: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------
// Sessions.

/// The in-memory store, shared with the test so it can count sessions.
#[derive(Clone)]
struct SharedStore(Arc<MemoryStore>);

impl StateStore for SharedStore {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.0.open(id, idle)
    }
    fn view(&self, id: &SessionId, idle: Duration) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.0.view(id, idle)
    }
    fn create(&self) -> (SessionId, Arc<tokio::sync::Mutex<Session>>) {
        self.0.create()
    }
    fn expire_idle(&self, idle: Duration) -> usize {
        self.0.expire_idle(idle)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_cookie_less_page_loads_stays_under_the_cap_and_a_working_session_keeps_its_state()
 {
    const CAP: usize = 500;
    const FLOOD: usize = 20_000;
    let store = SharedStore(Arc::new(MemoryStore::with_max_sessions(CAP)));
    let server = TestServer::start(counter::app().store(store.clone())).await;

    // A real user loads the page and works in it.
    let cookie = arrive(&server).await;
    for _ in 0..3 {
        let (status, reply) =
            post_event(&server, Some(&cookie), None, "Counter.add", json!([5])).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }

    // 20,000 visitors that never come back, 16 at a time.
    let http = reqwest::Client::new();
    let flood = futures_util::stream::iter(0..FLOOD)
        .map(|_| {
            let (http, store, url) = (http.clone(), store.clone(), server.url("/"));
            async move {
                let response = http.get(url).send().await.expect("GET /");
                assert_eq!(response.status(), StatusCode::OK);
                assert!(
                    set_cookie(&response).is_some(),
                    "each visitor gets a session"
                );
                assert!(store.len() <= CAP, "{} sessions kept", store.len());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>();
    tokio::time::timeout(FLOOD_PATIENCE, flood)
        .await
        .expect("the flood is served in time");
    assert!(store.len() <= CAP, "{} sessions kept", store.len());

    // The user's session is still there, with its state, and goes on.
    let html = page(&server, &cookie).await;
    assert_eq!(number_in::<i64>(&html, "count"), 15);
    let (status, reply) = post_event(&server, Some(&cookie), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(number_in::<i64>(&page(&server, &cookie).await, "count"), 16);
}

#[tokio::test]
async fn app_max_sessions_pushes_out_sessions_that_only_loaded_a_page() {
    let server = TestServer::start(counter::app().max_sessions(50)).await;
    let worker = arrive(&server).await;
    let (status, _) = post_event(&server, Some(&worker), None, "Counter.add", json!([2])).await;
    assert_eq!(status, StatusCode::OK);
    let reader = arrive(&server).await;
    for _ in 0..200 {
        arrive(&server).await;
    }
    let (status, reply) = post_event(&server, Some(&reader), None, "Counter.add", json!([1])).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a page-only session was pushed out: {reply}"
    );
    let (status, reply) = post_event(&server, Some(&worker), None, "Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(number_in::<i64>(&page(&server, &worker).await, "count"), 3);
}

// ---------------------------------------------------------------------------------------
// Parked downloads.

/// A state whose handler parks generated downloads.
#[derive(Default, Serialize, Deserialize)]
struct Parker {
    parked: u64,
}

#[event]
impl Parker {
    /// `len` bytes of `fill`.
    fn payload(&mut self, fill: u8, len: usize) -> Download {
        self.parked += 1;
        Download::data(vec![fill; len]).filename(format!("p-{fill}.bin"))
    }
}

/// The counter app with [`Parker`], 64 KiB of downloads in all and 16 KiB per session.
async fn parking_server() -> TestServer {
    let app = counter::app()
        .state::<Parker>()
        .max_pending_download_bytes(64 * 1024)
        .max_pending_download_bytes_per_session(16 * 1024);
    TestServer::start(app).await
}

/// Parks 1000 bytes of `fill` for `client`'s session; returns the one-time URL.
async fn park(client: &reqwest::Client, server: &TestServer, fill: u8) -> String {
    let response = client
        .post(server.url("/_ferrex/event"))
        .json(&json!({ "page": "/", "h": "Parker.payload", "args": [fill, 1000] }))
        .send()
        .await
        .expect("POST /_ferrex/event");
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.expect("a JSON reply");
    reply["actions"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a download URL in {reply}"))
        .to_owned()
}

/// Whether the payload behind `url` is still waiting (a `HEAD` leaves it in place).
async fn waiting(client: &reqwest::Client, server: &TestServer, url: &str) -> bool {
    let status = client
        .head(server.url(url))
        .send()
        .await
        .expect("HEAD")
        .status();
    assert!(
        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    status == StatusCode::OK
}

/// Fetches `url`, which must answer 1000 bytes of `fill`.
async fn fetch(client: &reqwest::Client, server: &TestServer, url: &str, fill: u8) {
    let response = client.get(server.url(url)).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let body = response.bytes().await.expect("the payload");
    assert_eq!(&body[..], &[fill; 1000][..]);
}

#[tokio::test]
async fn a_flood_of_unfetched_downloads_drops_only_the_flooders_own() {
    let server = parking_server().await;
    let victim = session_client(&server).await;
    let kept = park(&victim, &server, 1).await;

    // Six sessions park 40 payloads each and fetch none: each is over its own budget, and
    // together over the process's.
    let mut flooders = Vec::new();
    for _ in 0..6 {
        let client = session_client(&server).await;
        let mut urls = Vec::new();
        for i in 0..40u8 {
            urls.push(park(&client, &server, 100 + i).await);
        }
        flooders.push((client, urls));
    }
    for (client, urls) in &flooders {
        assert!(
            !waiting(client, &server, &urls[0]).await,
            "a flooder's oldest went"
        );
    }
    // The newest payload of the last flooder, parked when the process was fullest, stays.
    let (client, urls) = flooders.last().expect("flooders");
    fetch(client, &server, &urls[39], 139).await;

    // The victim's download survived all of it.
    fetch(&victim, &server, &kept, 1).await;
}

#[tokio::test]
async fn fetching_returns_a_sessions_whole_budget() {
    let server = parking_server().await;
    let client = session_client(&server).await;
    let mut urls = Vec::new();
    for i in 0..30u8 {
        urls.push(park(&client, &server, i).await);
    }
    // Over its budget, the session kept its newest payloads, as many as fit.
    let mut alive = Vec::new();
    for url in &urls {
        alive.push(waiting(&client, &server, url).await);
    }
    let fit = alive.iter().filter(|a| **a).count();
    assert!(fit >= 2 && fit < urls.len(), "{fit} of {} kept", urls.len());
    assert!(
        alive[urls.len() - fit..].iter().all(|a| *a),
        "the newest are the ones kept: {alive:?}"
    );
    for (i, url) in urls.iter().enumerate().skip(urls.len() - fit) {
        fetch(&client, &server, url, i as u8).await;
    }

    // Fetched payloads no longer count: as many again all fit, twice over.
    for round in 0..2u8 {
        let mut again = Vec::new();
        for i in 0..fit {
            again.push(park(&client, &server, 200 + i as u8).await);
        }
        for url in &again {
            assert!(
                waiting(&client, &server, url).await,
                "round {round}: {url} kept"
            );
        }
        for (i, url) in again.iter().enumerate() {
            fetch(&client, &server, url, 200 + i as u8).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Multipart.

const BOUNDARY: &str = "hostileBoundary";

/// The Files example on a fresh port with uploads in a scratch folder, and a session.
async fn upload_server(
    configure: impl FnOnce(ferrex::App) -> ferrex::App,
) -> (TestServer, tempfile::TempDir, String) {
    let dir = scratch("hostile-");
    let server = TestServer::start(configure(files::app().upload_dir(dir.path()))).await;
    let cookie = arrive(&server).await;
    (server, dir, cookie)
}

/// The start of an upload to the Files example's drop zone: the `event` field.
fn event_part() -> String {
    let event = upload_event("DownloadState.handle_upload", "files", None);
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{event}\r\n")
}

/// The head of an upload request for `cookie`, with this `Content-Length`, or chunked.
fn upload_head(addr: SocketAddr, cookie: &str, length: Option<usize>) -> String {
    let request = RawRequest::post("/_ferrex/upload", addr)
        .header("Cookie", cookie)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    match length {
        Some(length) => request.header("Content-Length", length),
        None => request.header("Transfer-Encoding", "chunked"),
    }
    .head()
}

/// Sends `head`, then `pieces` of body (chunk-framed when `chunked`) from another thread,
/// which stops at the first write the server no longer takes (it may answer early and
/// close), and reads the answer.
async fn send_streaming(
    addr: SocketAddr,
    head: String,
    pieces: impl Iterator<Item = Vec<u8>> + Send + 'static,
    chunked: bool,
) -> (u16, String, Vec<u8>) {
    let socket = std::net::TcpStream::connect(addr).expect("connect");
    let mut writer = socket.try_clone().expect("a second handle");
    let closer = socket.try_clone().expect("a third handle");
    let writing = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(head.as_bytes())?;
        for piece in pieces {
            if chunked {
                writer.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                writer.write_all(&piece)?;
                writer.write_all(b"\r\n")?;
            } else {
                writer.write_all(&piece)?;
            }
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    });
    socket.set_nonblocking(true).expect("non-blocking");
    let mut stream = tokio::net::TcpStream::from_std(socket).expect("a tokio stream");
    let answer = read_answer(&mut stream, FLOOD_PATIENCE).await;
    // Unblocks the writer if the server stopped reading without closing.
    let _ = closer.shutdown(std::net::Shutdown::Both);
    let _ = writing.join();
    answer
}

/// `total` bytes of `byte` in 64 KiB pieces.
fn filler(byte: u8, total: usize) -> impl Iterator<Item = Vec<u8>> + Send + 'static {
    const PIECE: usize = 64 * 1024;
    (0..total.div_ceil(PIECE)).map(move |i| vec![byte; PIECE.min(total - i * PIECE)])
}

/// The error sentence of a JSON error answer.
fn error_of(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).expect("a JSON error body");
    body["error"]
        .as_str()
        .expect("an error sentence")
        .to_owned()
}

#[tokio::test]
async fn a_16_mib_part_head_is_refused_with_400_chunked_or_not() {
    const HUGE: usize = 16 * 1024 * 1024;
    let (server, dir, cookie) = upload_server(|app| app).await;
    let opening = format!(
        "{}--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: ",
        event_part()
    );
    for chunked in [false, true] {
        let length = (!chunked).then_some(opening.len() + HUGE);
        let head = upload_head(server.addr, &cookie, length);
        let pieces = std::iter::once(opening.clone().into_bytes()).chain(filler(b'a', HUGE));
        let (status, answer, body) = send_streaming(server.addr, head, pieces, chunked).await;
        assert_eq!(status, 400, "chunked: {chunked}: {answer}");
        let error = error_of(&body);
        assert!(error.contains("longer than 64 KiB"), "{error}");
        assert_eq!(error.matches(". ").count(), 0, "one sentence: {error}");
    }
    // So is a 16 MiB preamble.
    let head = upload_head(server.addr, &cookie, None);
    let (status, _, body) = send_streaming(server.addr, head, filler(b'p', HUGE), true).await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("longer than 64 KiB"));

    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // The session goes on.
    assert!(page(&server, &cookie).await.contains("Upload"));
}

#[tokio::test]
async fn a_chunked_body_past_max_upload_bytes_is_413_whatever_it_is_made_of() {
    const LIMIT: u64 = 256 * 1024;
    let (server, dir, cookie) = upload_server(|app| app.max_upload_bytes(LIMIT)).await;
    // Nine one-byte files, each under a 60 KiB head: the files are tiny, the body is not.
    let pad = "h".repeat(60 * 1024);
    let mut body = event_part();
    for i in 0..9 {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{i}.txt\"\r\n\
             X-Pad: {pad}\r\nContent-Type: text/plain\r\n\r\nx\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    assert!(body.len() as u64 > 2 * LIMIT);
    let head = upload_head(server.addr, &cookie, None);
    let pieces = body
        .into_bytes()
        .chunks(8 * 1024)
        .map(<[u8]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter();
    let (status, answer, body) = send_streaming(server.addr, head, pieces, true).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        error_of(&body).contains(&format!("limit of {LIMIT} bytes")),
        "{}",
        error_of(&body)
    );
    assert!(temp_files(dir.path()).is_empty());
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[tokio::test]
async fn an_rfc_5987_filename_star_names_the_file_decoded_and_sanitized() {
    let (server, dir, cookie) = upload_server(|app| app).await;
    let body = format!(
        "{}--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fallback.txt\"; \
         filename*=UTF-8''..%2F..%2Fna%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\nContent-Type: text/plain\r\n\r\n\
         contents{}",
        event_part(),
        upload_body_end(BOUNDARY)
    );
    let request = upload_head(server.addr, &cookie, Some(body.len())) + &body;
    let (status, answer, reply) = exchange(server.addr, request.as_bytes(), PATIENCE).await;
    assert_eq!(status, 200, "{answer}{}", String::from_utf8_lossy(&reply));
    assert_eq!(listing(dir.path()), ["naïve résumé.txt"]);
    let saved = std::fs::read(dir.path().join("naïve résumé.txt")).expect("the saved file");
    assert_eq!(saved, b"contents");
}
