//! Hostile clients at the connection and request level, over real TCP on 127.0.0.1:
//! silent and slow connections are timed out, connections past the cap do not lock out a
//! user, over-long paths and targets get a 4xx with a one-sentence answer, errors quote
//! little of a huge input, and an HTTP/1.1 request without `Host` is not same-origin.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

use std::time::Duration;

use ferrex::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::http::{arrive, post_event_body};
use support::raw_http::{RawRequest, exchange, read_answer};
use support::{PATIENCE, TestServer, wait_until};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Default, Serialize, Deserialize)]
struct Tally {
    count: u64,
}

#[event]
impl Tally {
    fn add(&mut self, by: u64) {
        self.count += by;
    }
}

fn tally_page(s: &Tally) -> Node {
    ui! { text(s.count, id = "count") }
}

fn app() -> App {
    App::new()
        .page("/", tally_page)
        .assets_dir(env!("CARGO_MANIFEST_DIR"))
}

/// A user's visit: a fresh connection, a page, a cookie.
async fn a_user_is_served(server: impl Into<std::net::SocketAddr>) {
    let url = format!("http://{}/", server.into());
    let response = tokio::time::timeout(PATIENCE, reqwest::get(url))
        .await
        .expect("the user is answered in time")
        .expect("the user's request goes through");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Whether the server has closed `stream` (end of stream or a reset), without waiting.
fn closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_while_a_user_is_served() {
    let server = TestServer::start(app().header_timeout(Duration::from_millis(500))).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHo")
            .await
            .expect("send");
        slow.push(stream);
    }
    a_user_is_served(server.addr).await;
    // The slow ones keep trickling a byte at a time; each must still be cut off.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut open = 0;
        for stream in &mut slow {
            if !closed(stream) && stream.write_all(b"x").await.is_ok() {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} slow connections still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until("every silent connection is closed", || {
        silent.iter().all(closed)
    })
    .await;
    a_user_is_served(server.addr).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = TestServer::start(app().header_timeout(Duration::from_millis(500))).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let head = RawRequest::get("/", server.addr).head();
    stream.write_all(head.as_bytes()).await.expect("send");
    let (status, head, _) = read_answer(&mut stream, PATIENCE).await;
    assert_eq!(status, 200, "{head}");
    assert!(!head.to_ascii_lowercase().contains("connection: close"));
    wait_until("the idle connection is closed", || closed(&stream)).await;
}

#[tokio::test]
async fn connections_past_the_cap_do_not_stop_a_user() {
    const CAP: usize = 16;
    // A long header timeout: what frees a place for the user is the cap's own rule.
    let server = TestServer::start(
        app()
            .max_connections(CAP)
            .header_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..CAP * 3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    for _ in 0..5 {
        a_user_is_served(server.addr).await;
    }
    wait_until("at most the cap of connections stay open", || {
        held.iter().filter(|s| !closed(s)).count() <= CAP
    })
    .await;
    a_user_is_served(server.addr).await;
}

/// Set in the server process [`a_user_is_served_past_the_open_files_limit`] starts: the
/// open-files limit that process runs under.
const LIMIT_CHILD_ENV: &str = "FERREX_HOSTILE_FILES_LIMIT";

/// The server of [`a_user_is_served_past_the_open_files_limit`], run in a process of its
/// own (this test binary, filtered to this test) so that the open-files limit it lowers is
/// its alone; does nothing otherwise. Serves until its standard input closes.
#[test]
#[ignore = "run by a_user_is_served_past_the_open_files_limit as a process of its own"]
fn serve_under_a_low_open_files_limit() {
    let Some(limit) = std::env::var(LIMIT_CHILD_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit).expect("lower the limit");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("LISTENING {}", listener.local_addr().expect("an address"));
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        let app = app().header_timeout(Duration::from_secs(60));
        tokio::select! {
            served = app.serve_on(listener) => served.expect("the server runs"),
            _ = stdin_closed => {}
        }
    });
}

#[tokio::test]
async fn a_user_is_served_past_the_open_files_limit() {
    use std::io::BufRead;
    const LIMIT: u64 = 256;
    let mut child = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args([
            "serve_under_a_low_open_files_limit",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(LIMIT_CHILD_ENV, LIMIT.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the server process");
    let stdout = child.stdout.take().expect("its output");
    let addr = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("LISTENING ")?.parse().ok())
    });
    let addr: std::net::SocketAddr = tokio::time::timeout(PATIENCE, addr)
        .await
        .expect("the server starts in time")
        .expect("the reader runs")
        .expect("the server says where it listens");
    // Far more silent connections than the server has files for.
    let mut held = Vec::new();
    for _ in 0..LIMIT * 3 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    for _ in 0..5 {
        a_user_is_served(addr).await;
    }
    wait_until("the server holds fewer connections than its files", || {
        held.iter().filter(|s| !closed(s)).count() < LIMIT as usize
    })
    .await;
    a_user_is_served(addr).await;
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_connection_with_a_request_in_progress_is_not_closed_for_a_newcomer() {
    const CAP: usize = 4;
    let server = TestServer::start(
        app()
            .max_connections(CAP)
            .header_timeout(Duration::from_secs(60)),
    )
    .await;
    let cookie = arrive(&server).await;
    // A request whose body is still coming: its connection is busy, not idle.
    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    let head = RawRequest::post("/_ferrex/event", server.addr)
        .header("Cookie", &cookie)
        .header("Content-Type", "application/json")
        .header("Content-Length", 10)
        .head();
    busy.write_all(head.as_bytes()).await.expect("send");
    busy.write_all(b"{").await.expect("send");
    let mut idle = Vec::new();
    for _ in 0..CAP * 3 {
        idle.push(TcpStream::connect(server.addr).await.expect("connect"));
        a_user_is_served(server.addr).await;
    }
    assert!(!closed(&busy), "the busy connection was closed");
    busy.write_all(b"\"x\":1}   ").await.expect("send");
    let (status, head, _) = read_answer(&mut busy, PATIENCE).await;
    // The body was read to its end, and found not to be an event.
    assert_eq!(status, 400, "{head}");
}

#[tokio::test]
async fn a_path_segment_longer_than_a_file_name_is_not_found_with_a_sentence() {
    let server = TestServer::start(app()).await;
    let segment = "a".repeat(256);
    for target in [
        format!("/{segment}"),
        format!("/assets/{segment}.png"),
        format!("/_ferrex/file?url=/{segment}"),
        format!("/_ferrex/uploads/{segment}"),
        format!("/_ferrex/download/{segment}"),
    ] {
        let request = RawRequest::get(&target, server.addr).head();
        let (status, head, body) = exchange(server.addr, request.as_bytes(), PATIENCE).await;
        assert_eq!(status, 404, "{target}: {head}");
        let error = one_sentence(&body);
        assert!(error.len() < 200, "{target}: {error}");
    }
}

#[tokio::test]
async fn a_very_long_target_is_a_client_error() {
    let server = TestServer::start(app()).await;
    for length in [3 * 1024, 16 * 1024, 64 * 1024] {
        let target = format!("/{}", "ab/".repeat(length / 3));
        let request = RawRequest::get(&target, server.addr).head();
        let (status, head, body) = exchange(server.addr, request.as_bytes(), PATIENCE).await;
        assert!((400..500).contains(&status), "{length}: {head}");
        if !body.is_empty() {
            one_sentence(&body);
        }
    }
}

#[tokio::test]
async fn a_megabyte_of_input_gets_a_short_error() {
    let server = TestServer::start(app()).await;
    let cookie = arrive(&server).await;
    let huge = "x".repeat(1_000_000);
    let client = reqwest::Client::new();
    for body in [
        json!({ "page": "/", "h": format!("Tally.{huge}"), "args": [] }),
        json!({ "page": "/", "h": huge, "args": [] }),
        json!({ "page": format!("/{huge}"), "h": "Tally.add", "args": [1] }),
        json!({ "page": "/", "h": "Tally.add", "args": [huge] }),
        json!({ "page": "/", "h": "Tally.add", "args": [1], huge.clone(): 1 }),
    ] {
        let (status, answer) =
            post_event_body(&client, &server, Some(&cookie), None, body.to_string()).await;
        assert!(status.is_client_error(), "{status}");
        let error = answer["error"].as_str().expect("an error");
        assert!(error.chars().count() <= 300, "{error}");
        assert!(
            !error.contains(&"x".repeat(101)),
            "quotes over 100 chars: {error}"
        );
    }
}

#[tokio::test]
async fn an_http1_request_without_host_is_not_same_origin() {
    let server = TestServer::start(app()).await;
    let cookie = arrive(&server).await;
    let event = json!({ "page": "/", "h": "Tally.add", "args": [1] }).to_string();
    let request = |host: Option<String>| {
        let mut head = "POST http://evil.example/_ferrex/event HTTP/1.1\r\n".to_owned();
        if let Some(host) = host {
            head.push_str(&format!("Host: {host}\r\n"));
        }
        head.push_str(&format!(
            "Origin: http://evil.example\r\nCookie: {cookie}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{event}",
            event.len()
        ));
        head
    };
    let (status, head, body) = exchange(server.addr, request(None).as_bytes(), PATIENCE).await;
    assert_eq!(status, 403, "{head}");
    assert!(one_sentence(&body).contains("cross-site"));
    // The same request naming its real host is refused as well, and one from the page's
    // own origin goes through: the guard, not the session, decided.
    let (status, ..) = exchange(
        server.addr,
        request(Some(server.addr.to_string())).as_bytes(),
        PATIENCE,
    )
    .await;
    assert_eq!(status, 403);
    let own = request(Some(server.addr.to_string()))
        .replace("http://evil.example", &format!("http://{}", server.addr));
    let (status, head, _) = exchange(server.addr, own.as_bytes(), PATIENCE).await;
    assert_eq!(status, 200, "{head}");
}

/// The `error` of a JSON answer, which must be one sentence.
fn one_sentence(body: &[u8]) -> String {
    let answer: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    let error = answer["error"].as_str().expect("an error").to_owned();
    assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
    error
}

/// A body the server refused before reading it to its end (from the head, or part-way) ends
/// its connection; the answer says so (`Connection: close`), so a client does not send its
/// next request on that connection and lose it. A body read whole keeps the connection.
#[tokio::test]
async fn a_body_refused_unread_closes_its_connection_and_says_so() {
    let server = TestServer::start(app()).await;
    let cookie = arrive(&server).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/_ferrex/upload", server.addr);
    // An event field over the 64 KiB the server reads of it: refused there, unread after.
    let mut part_way = b"--b\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n".to_vec();
    part_way.resize(part_way.len() + 256 * 1024, b'x');
    part_way.extend_from_slice(b"\r\n--b--\r\n");
    for round in 0..50 {
        // Without a session: refused from the head. With one: refused part-way.
        let (with_cookie, status) = if round % 2 == 0 {
            (false, StatusCode::FORBIDDEN)
        } else {
            (true, StatusCode::BAD_REQUEST)
        };
        let mut request = client
            .post(&url)
            .header("Origin", format!("http://{}", server.addr))
            .header("Content-Type", "multipart/form-data; boundary=b")
            .body(part_way.clone());
        if with_cookie {
            request = request.header("Cookie", &cookie);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: no answer: {e}"));
        assert_eq!(answer.status(), status, "round {round}");
        assert_eq!(
            answer.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "round {round}"
        );
        let body = answer.bytes().await.expect("the answer's body");
        assert!(!one_sentence(&body).is_empty());
    }
    // An event whose body is read whole leaves its connection open for the next request.
    let answer = client
        .post(server.url("/_ferrex/event"))
        .header("Cookie", &cookie)
        .header("Origin", format!("http://{}", server.addr))
        .header("Content-Type", "application/json")
        .body(json!({"page": "/", "h": "Tally.add", "args": [1]}).to_string())
        .send()
        .await
        .expect("the event is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers().get("connection"), None);
    a_user_is_served(server.addr).await;
}
