//! Hostile clients on the event WebSocket, over real TCP on 127.0.0.1: a ping flood whose
//! pongs are never read is closed with the server's memory bounded, a session's sockets
//! past the cap close its oldest, a silent socket is closed and one that answers pings
//! stays, and a huge event gets a short error.
//!
//! The server runs in this process, so its memory is this process's `VmRSS`; the tests
//! take turns ([`one_at_a_time`]) so that one's traffic does not count in another's figure.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

use std::time::Duration;

use ferrex::prelude::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use support::http::arrive;
use support::ws::{Socket, next_reply, open_socket};
use support::{PATIENCE, TestServer};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default, Serialize, Deserialize)]
struct Tally {
    count: u64,
    /// Characters of filler on the page, to make its HTML as large as a test needs.
    filler: usize,
}

#[event]
impl Tally {
    fn add(&mut self, by: u64) {
        self.count += by;
    }

    fn fill(&mut self, chars: usize) {
        self.filler = chars;
    }
}

fn tally_page(s: &Tally) -> Node {
    ui! {
        vstack(
            text(s.count, id = "count"),
            text("x".repeat(s.filler)),
        )
    }
}

fn app() -> App {
    App::new().page("/", tally_page)
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    TURN.lock().await
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .expect("a VmRSS line")
        * 1024
}

/// Sends `Tally.add(1)` with `id` and checks the reply.
async fn an_event_goes_through(socket: &mut Socket, id: u64) {
    let event = json!({ "id": id, "page": "/", "h": "Tally.add", "args": [1] });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("the event is sent");
    let reply = next_reply(socket).await;
    assert_eq!(reply.id, Some(id));
    assert_eq!(reply.error, None);
}

/// Reads `socket` until the server closes it; panics if that takes longer than
/// [`PATIENCE`] or a reply arrives.
async fn closed_by_the_server(socket: &mut Socket) {
    let closing = async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(other) => panic!("unexpected frame {other:?}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, closing)
        .await
        .expect("the server closes the socket in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_whose_pongs_are_never_read_is_closed_with_memory_bounded() {
    const MIB: u64 = 1 << 20;
    // Enough pings that their pongs, were they all kept, would be ~250 MiB.
    const MOST_PINGS: usize = 2_000_000;
    let _turn = one_at_a_time().await;
    let server = TestServer::start(
        app()
            .socket_ping_interval(Duration::from_millis(200))
            .socket_idle_timeout(Duration::from_secs(1)),
    )
    .await;
    let cookie = arrive(&server).await;
    let mut socket = open_socket(&server, &cookie).await;
    an_event_goes_through(&mut socket, 1).await;
    let baseline = rss();
    let mut peak = baseline;
    let payload = vec![7u8; 125];
    let mut sent = 0;
    let flood = async {
        while sent < MOST_PINGS {
            // `feed` writes without waiting for a flush, as a flooding client would.
            if socket
                .feed(Message::Ping(payload.clone().into()))
                .await
                .is_err()
            {
                return;
            }
            sent += 1;
            if sent % 256 == 0 {
                if socket.flush().await.is_err() {
                    return;
                }
                peak = peak.max(rss());
            }
        }
    };
    // Bounded by the count of pings; the time bound only keeps a hang from hanging CI.
    tokio::time::timeout(PATIENCE * 6, flood)
        .await
        .expect("the flood ends");
    peak = peak.max(rss());
    eprintln!(
        "{sent} pings sent; RSS {} → peak {} KiB",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        sent < MOST_PINGS,
        "the server still took pings after {sent} of them"
    );
    assert!(
        peak <= baseline + 16 * MIB,
        "RSS grew from {} to {} MiB under the flood",
        baseline / MIB,
        peak / MIB
    );
    // The server is still there for others.
    let mut fresh = open_socket(&server, &cookie).await;
    an_event_goes_through(&mut fresh, 2).await;
}

#[tokio::test]
async fn a_session_past_its_most_sockets_closes_its_oldest() {
    let _turn = one_at_a_time().await;
    let server = TestServer::start(app().max_sockets_per_session(2)).await;
    let cookie = arrive(&server).await;
    let mut first = open_socket(&server, &cookie).await;
    an_event_goes_through(&mut first, 1).await;
    let mut second = open_socket(&server, &cookie).await;
    an_event_goes_through(&mut second, 2).await;
    let mut third = open_socket(&server, &cookie).await;
    closed_by_the_server(&mut first).await;
    an_event_goes_through(&mut second, 3).await;
    an_event_goes_through(&mut third, 4).await;
    // Another session's sockets are its own.
    let other = arrive(&server).await;
    let mut theirs = open_socket(&server, &other).await;
    an_event_goes_through(&mut theirs, 5).await;
    an_event_goes_through(&mut second, 6).await;
}

#[tokio::test]
async fn a_silent_socket_is_closed() {
    let _turn = one_at_a_time().await;
    let server = TestServer::start(
        app()
            .socket_idle_timeout(Duration::from_millis(300))
            // No ping comes before the timeout: nothing asks the client to speak.
            .socket_ping_interval(Duration::from_secs(60)),
    )
    .await;
    let cookie = arrive(&server).await;
    let mut socket = open_socket(&server, &cookie).await;
    an_event_goes_through(&mut socket, 1).await;
    closed_by_the_server(&mut socket).await;
}

#[tokio::test]
async fn a_socket_that_answers_pings_stays_open() {
    let _turn = one_at_a_time().await;
    let server = TestServer::start(
        app()
            .socket_idle_timeout(Duration::from_millis(300))
            .socket_ping_interval(Duration::from_millis(50)),
    )
    .await;
    let cookie = arrive(&server).await;
    let mut socket = open_socket(&server, &cookie).await;
    // Reading is what answers pings (the client library sends the pongs).
    let mut pings = 0;
    while pings < 20 {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a ping in time")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected frame {other:?}"),
        }
    }
    an_event_goes_through(&mut socket, 1).await;
}

#[tokio::test]
async fn a_megabyte_handler_name_gets_a_short_error_on_the_socket() {
    let _turn = one_at_a_time().await;
    let server = TestServer::start(app()).await;
    let cookie = arrive(&server).await;
    let mut socket = open_socket(&server, &cookie).await;
    let huge = "x".repeat(1_000_000);
    for event in [
        json!({ "id": 1, "page": "/", "h": format!("Tally.{huge}"), "args": [] }),
        json!({ "id": 2, "page": "/", "h": "Tally.add", "args": [1], huge.clone(): 1 }),
    ] {
        socket
            .send(Message::text(event.to_string()))
            .await
            .expect("sent");
        let reply = next_reply(&mut socket).await;
        let error = reply.error.expect("an error");
        assert!(error.chars().count() <= 300, "{error}");
        assert!(!error.contains(&"x".repeat(101)), "{error}");
    }
    an_event_goes_through(&mut socket, 3).await;
}

#[tokio::test]
async fn a_reply_larger_than_the_write_buffer_is_an_error_and_the_socket_stays() {
    let _turn = one_at_a_time().await;
    let server = TestServer::start(app().socket_max_write_buffer(16 * 1024)).await;
    let cookie = arrive(&server).await;
    let mut socket = open_socket(&server, &cookie).await;
    let event = json!({ "id": 1, "page": "/", "h": "Tally.fill", "args": [64 * 1024] });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("sent");
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply.id, Some(1));
    assert_eq!(reply.html, None);
    let error = reply.error.expect("an error");
    assert!(error.contains("larger than"), "{error}");
    let event = json!({ "id": 2, "page": "/", "h": "Tally.fill", "args": [0] });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("sent");
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply.error, None);
    assert!(reply.html.is_some_and(|html| html.len() < 16 * 1024));
}
