//! The server over real HTTP and WebSocket on 127.0.0.1: sessions and their cookie, events
//! over POST and the socket, errors and bad input, isolation and ordering of sessions,
//! session expiry, mounting in a larger axum app, and static assets.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ferrex::prelude::*;
use ferrex::{MemoryStore, Reply, Session, SessionId, StateStore};
use futures_util::SinkExt;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{self, HeaderValue};
use serde_json::{Value, json};
use support::http::{number_in, send};
use support::raw_http::{RawRequest, exchange};
use support::ws::{Socket, next_reply, open_socket, refused_upgrade, ws_request, ws_request_at};
use support::{PATIENCE, TestServer, wait_until};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

// ---------- a state whose handlers fail, panic and take their time ----------

/// Rings when [`Flaky::slow`] has started, so a test knows it is running.
static SLOW_STARTED: LazyLock<Notify> = LazyLock::new(Notify::new);

#[derive(Default, Serialize, Deserialize)]
struct Flaky {
    runs: u32,
}

#[event]
impl Flaky {
    fn bump(&mut self) {
        self.runs += 1;
    }

    fn fail(&mut self) -> Result<(), String> {
        Err("The flux capacitor is empty.".into())
    }

    fn explode(&mut self) {
        panic!("secret internal detail");
    }

    fn export(&mut self) -> Download {
        Download::data(format!("runs={}", self.runs)).filename("runs.txt")
    }

    async fn slow(&mut self) {
        SLOW_STARTED.notify_one();
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.runs += 1;
    }
}

fn flaky_page(s: &Flaky) -> Node {
    ui! { text(s.runs, id = "runs") }
}

fn flaky_app() -> App {
    App::new().page("/", flaky_page)
}

// ---------- helpers ----------

/// A browser-like client with its own cookie jar.
struct Visitor {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Visitor {
    /// A client that has loaded `/` once, so it holds a session cookie.
    async fn arrive(server: &TestServer) -> Visitor {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("build an HTTP client");
        let visitor = Visitor {
            http,
            jar,
            base: server.url(""),
        };
        let page = visitor
            .http
            .get(server.url("/"))
            .send()
            .await
            .expect("GET /");
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            visitor.cookie().is_some(),
            "GET / left no session cookie in the jar"
        );
        visitor
    }

    /// Arrives and adds 5 to the counter, so that an event refused later leaves it at 5.
    async fn arrive_at_five(server: &TestServer) -> Visitor {
        let visitor = Visitor::arrive(server).await;
        visitor.event("Counter.add", json!([5])).await;
        visitor
    }

    /// The `Cookie` header the jar sends, e.g. `ferrex_session=…`.
    fn cookie(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.base).expect("server URL");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// Posts a raw event body.
    async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        send(
            self.http
                .post(format!("{}/_ferrex/event", self.base))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    /// Posts the event `h(args…)` from page `/`.
    async fn event(&self, h: &str, args: Value) -> (StatusCode, Reply) {
        let (status, body) = self
            .post_raw(json!({ "page": "/", "h": h, "args": args }).to_string())
            .await;
        let reply = serde_json::from_value(body).expect("a reply-shaped body");
        (status, reply)
    }

    /// The page `/` as HTML.
    async fn page(&self) -> String {
        let response = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .expect("GET /");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("page text")
    }

    /// The counter shown on `/` (the counter example's `#count`).
    async fn count(&self) -> i64 {
        number_in(&self.page().await, "count")
    }
}

/// The count in a reply's html, which must be present.
fn reply_count(reply: &Reply) -> i64 {
    number_in(
        reply.html.as_deref().expect("the reply carries html"),
        "count",
    )
}

/// A refusal's message: present, one line, short, ending like a sentence would.
fn assert_one_sentence(body: &Value) -> &str {
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no `error` string in {body}"));
    assert!(!message.trim().is_empty(), "empty error in {body}");
    assert!(
        !message.contains('\n') && message.len() < 300,
        "error is not one short sentence: {message:?}"
    );
    message
}

/// Posts the event `body`, which must be refused with 400 (`what` names the case) and a
/// one-sentence error; returns that sentence.
async fn refused_with_400(visitor: &Visitor, body: impl Into<reqwest::Body>, what: &str) -> String {
    let (status, reply) = visitor.post_raw(body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    assert_one_sentence(&reply).to_owned()
}

/// Opens the event socket with the visitor's cookie.
async fn visitor_socket(server: &TestServer, visitor: &Visitor) -> Socket {
    open_socket(server, &visitor.cookie().expect("a session cookie")).await
}

/// A store the test can look into while the app uses it.
#[derive(Clone, Default)]
struct SharedStore(Arc<MemoryStore>);

impl StateStore for SharedStore {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.0.open(id, idle)
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

// ---------- sessions ----------

#[tokio::test]
async fn first_visit_sets_an_http_only_lax_session_cookie_and_later_visits_keep_it() {
    let server = TestServer::start(counter::app()).await;
    let http = reqwest::Client::new();

    let first = http.get(server.url("/")).send().await.expect("GET /");
    assert_eq!(first.status(), StatusCode::OK);
    let set_cookie = first
        .headers()
        .get(header::SET_COOKIE)
        .expect("the first visit sets a cookie")
        .to_str()
        .expect("ASCII cookie")
        .to_owned();
    let (pair, attributes) = set_cookie.split_once(';').expect("cookie attributes");
    let id = pair
        .strip_prefix("ferrex_session=")
        .unwrap_or_else(|| panic!("not the session cookie: {set_cookie}"));
    assert_eq!(id.len(), 32, "id {id:?} is not 32 digits");
    assert!(
        id.bytes().all(|b| b.is_ascii_hexdigit()),
        "id {id:?} is not hex"
    );
    let attributes: Vec<&str> = attributes.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"HttpOnly"), "{set_cookie}");
    assert!(attributes.contains(&"SameSite=Lax"), "{set_cookie}");

    let again = http
        .get(server.url("/"))
        .header(header::COOKIE, format!("ferrex_session={id}"))
        .send()
        .await
        .expect("GET / again");
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        again.headers().get(header::SET_COOKIE).is_none(),
        "a known session got a new cookie"
    );

    // Another first visit gets another session.
    let other = http.get(server.url("/")).send().await.expect("GET /");
    let other_cookie = other.headers()[header::SET_COOKIE].to_str().expect("ASCII");
    assert!(
        !other_cookie.contains(id),
        "two visitors share a session id"
    );
}

#[tokio::test]
async fn an_unknown_session_cookie_on_a_page_gets_a_fresh_session() {
    let server = TestServer::start(counter::app()).await;
    let forged = "0123456789abcdef0123456789abcdef";
    let response = reqwest::Client::new()
        .get(server.url("/"))
        .header(header::COOKIE, format!("ferrex_session={forged}"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ASCII");
    assert!(set_cookie.starts_with("ferrex_session="), "{set_cookie}");
    assert!(!set_cookie.contains(forged), "a forged id was adopted");
}

// ---------- events over POST ----------

#[tokio::test]
async fn an_event_over_post_updates_the_page() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;

    let (status, reply) = visitor.event("Counter.add", json!([2])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.error, None);
    assert_eq!(reply_count(&reply), 2);

    let (status, reply) = visitor.event("Counter.add", json!([2])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_count(&reply), 4);

    assert_eq!(visitor.count().await, 4, "a reload shows the new count");
}

#[tokio::test]
async fn an_event_that_changes_nothing_replies_without_html() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;

    let (status, reply) = visitor.event("Counter.add", json!([0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.html, None);
    assert_eq!(reply.error, None);
    assert!(reply.actions.is_empty());

    // And after a change, repeating a no-op still sends nothing.
    let (_, reply) = visitor.event("Counter.add", json!([1])).await;
    assert_eq!(reply_count(&reply), 1);
    let (_, reply) = visitor.event("Counter.add", json!([0])).await;
    assert_eq!(reply.html, None);
}

#[tokio::test]
async fn a_client_behind_on_the_page_gets_the_html_even_when_nothing_changed() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;
    let page = visitor.page().await;
    let shown: u64 = page
        .split("data-fx-rev=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|rev| rev.parse().ok())
        .expect("the page carries its revision");

    // A change whose reply this client never saw (lost, or sent to another tab).
    let (_, changed) = visitor.event("Counter.add", json!([1])).await;
    assert!(changed.rev > shown);

    // A no-op from a client that still shows the older page: the HTML comes again.
    let (status, reply) = visitor
        .post_raw(json!({"page": "/", "h": "Counter.add", "args": [0], "rev": shown}).to_string())
        .await;
    assert_eq!(status, StatusCode::OK);
    let html = reply["html"].as_str().expect("the HTML the client lacks");
    assert!(html.contains(">1<"), "{html}");
    let caught_up = reply["rev"].as_u64().expect("a revision");

    // A no-op from a client that shows it: nothing to send.
    for rev in [changed.rev, caught_up] {
        let (_, reply) = visitor
            .post_raw(json!({"page": "/", "h": "Counter.add", "args": [0], "rev": rev}).to_string())
            .await;
        assert_eq!(reply["html"], Value::Null, "client at rev {rev}");
    }
}

// ---------- events over the WebSocket ----------

#[tokio::test]
async fn websocket_replies_come_back_in_order_with_matching_ids() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;
    let mut socket = visitor_socket(&server, &visitor).await;

    // Sent back to back, before any reply is read.
    let ids: Vec<u64> = (1..=20).map(|i| i * 7).collect();
    for id in &ids {
        let event = json!({ "id": id, "page": "/", "h": "Counter.add", "args": [1] });
        socket
            .send(Message::text(event.to_string()))
            .await
            .expect("send an event");
    }
    for (n, id) in ids.iter().enumerate() {
        let reply = next_reply(&mut socket).await;
        assert_eq!(reply.id, Some(*id), "replies out of order");
        assert_eq!(reply.error, None);
        assert_eq!(reply_count(&reply), n as i64 + 1);
    }
    assert_eq!(visitor.count().await, 20);
}

#[tokio::test]
async fn a_bad_websocket_message_gets_an_error_reply_and_the_socket_keeps_working() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;
    let mut socket = visitor_socket(&server, &visitor).await;

    let bad = [
        json!({ "id": 1, "page": "/", "h": "Counter.nope", "args": [] }).to_string(),
        json!({ "id": 2, "page": "/", "h": "Counter.add", "args": ["x"] }).to_string(),
        json!({ "id": 3, "page": "/nope", "h": "Counter.add", "args": [1] }).to_string(),
        r#"{"id": 4, "page": "/", "#.to_owned(),
    ];
    for message in bad {
        socket.send(Message::text(message)).await.expect("send");
    }
    for id in 1..=4 {
        let reply = next_reply(&mut socket).await;
        if id < 4 {
            assert_eq!(reply.id, Some(id));
        }
        let error = reply.error.expect("an error reply");
        assert!(!error.contains('\n'), "{error:?}");
        assert_eq!(reply.html, None);
    }

    let event = json!({ "id": 5, "page": "/", "h": "Counter.add", "args": [3] });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("send");
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply.id, Some(5));
    assert_eq!(reply_count(&reply), 3);
}

// ---------- errors and bad input ----------

#[tokio::test]
async fn an_unknown_handler_is_refused_with_400_and_changes_nothing() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;

    for h in ["Counter.nope", "Nope.add", "add", "", "Counter."] {
        let body = json!({ "page": "/", "h": h, "args": [1] }).to_string();
        let message = refused_with_400(&visitor, body, &format!("handler {h:?}")).await;
        assert!(message.contains("handler"), "{message:?}");
    }
    assert_eq!(visitor.count().await, 5);
}

#[tokio::test]
async fn bad_arguments_are_refused_with_400_and_change_nothing() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;

    for args in [
        json!(["x"]),
        json!([1.5]),
        json!([null]),
        json!([1, 2]),
        json!([]),
        json!({ "by": 1 }),
        json!(7),
    ] {
        let body = json!({ "page": "/", "h": "Counter.add", "args": args }).to_string();
        let message = refused_with_400(&visitor, body, &format!("args {args}")).await;
        assert!(message.contains("Counter.add"), "{message:?}");
    }
    assert_eq!(visitor.count().await, 5);
}

#[tokio::test]
async fn a_malformed_event_message_is_refused_with_400_and_changes_nothing() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;

    for body in [
        "",
        "{",
        "not json",
        "[]",
        r#"{"page": "/"}"#,
        r#"{"h": "Counter.add", "args": [1]}"#,
        r#"{"page": "/", "h": 5, "args": [1]}"#,
        r#"{"page": "/", "h": "Counter.add", "args": [1], "extra": true}"#,
    ] {
        refused_with_400(&visitor, body, &format!("body {body:?}")).await;
    }
    assert_eq!(visitor.count().await, 5);
}

#[tokio::test]
async fn an_event_for_an_unknown_page_is_refused_with_404_and_changes_nothing() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;

    let (status, body) = visitor
        .post_raw(json!({ "page": "/nope", "h": "Counter.add", "args": [1] }).to_string())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(assert_one_sentence(&body).contains("/nope"));
    assert_eq!(visitor.count().await, 5);
}

#[tokio::test]
async fn an_event_without_a_known_session_is_refused_with_403() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;
    let http = reqwest::Client::new();
    let event = json!({ "page": "/", "h": "Counter.add", "args": [1] }).to_string();

    for cookie in [
        None,
        Some("ferrex_session=0123456789abcdef0123456789abcdef"),
        Some("ferrex_session=not-a-session-id"),
        Some("ferrex_session="),
        Some("other=1"),
    ] {
        let mut request = http.post(server.url("/_ferrex/event")).body(event.clone());
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.expect("POST");
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "cookie {cookie:?}"
        );
        assert_one_sentence(&response.json::<Value>().await.expect("JSON"));
    }
    assert_eq!(visitor.count().await, 5, "the real session is untouched");
}

#[tokio::test]
async fn a_websocket_without_a_session_is_refused_with_403() {
    let server = TestServer::start(counter::app()).await;
    assert_eq!(
        refused_upgrade(ws_request(&server, &[])).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        refused_upgrade(ws_request(
            &server,
            &[("cookie", "ferrex_session=0123456789abcdef0123456789abcdef")]
        ))
        .await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_is_refused_with_403() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;
    let cookie = visitor.cookie().expect("cookie");

    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let request = ws_request(&server, &[("cookie", &cookie), ("origin", origin)]);
        assert_eq!(
            refused_upgrade(request).await,
            StatusCode::FORBIDDEN,
            "origin {origin}"
        );
    }

    // The page's own origin is welcome.
    let own = format!("http://{}", server.addr);
    let request = ws_request(&server, &[("cookie", &cookie), ("origin", &own)]);
    tokio_tungstenite::connect_async(request)
        .await
        .expect("a same-origin socket opens");
}

#[tokio::test]
async fn an_event_post_from_a_foreign_origin_is_refused_with_403_and_changes_nothing() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive_at_five(&server).await;
    let event = json!({ "page": "/", "h": "Counter.add", "args": [1] }).to_string();

    let response = visitor
        .http
        .post(server.url("/_ferrex/event"))
        .header(header::ORIGIN, "http://evil.example")
        .body(event.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_one_sentence(&response.json::<Value>().await.expect("JSON"));
    assert_eq!(visitor.count().await, 5);

    let response = visitor
        .http
        .post(server.url("/_ferrex/event"))
        .header(header::ORIGIN, format!("http://{}", server.addr))
        .body(event)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK, "same origin is accepted");
    assert_eq!(visitor.count().await, 6);
}

// ---------- failing handlers ----------

#[tokio::test]
async fn a_handler_error_is_reported_with_422_and_the_session_keeps_working() {
    let server = TestServer::start(flaky_app()).await;
    let visitor = Visitor::arrive(&server).await;
    visitor.event("Flaky.bump", Value::Null).await;

    let (status, reply) = visitor.event("Flaky.fail", json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error.as_deref(), Some("The flux capacitor is empty."));

    let (status, reply) = visitor.event("Flaky.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.error, None);
    assert_eq!(
        number_in::<i64>(reply.html.as_deref().expect("html"), "runs"),
        2
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_event() {
    let server = TestServer::start(flaky_app()).await;
    let visitor = Visitor::arrive(&server).await;
    let bystander = Visitor::arrive(&server).await;
    bystander.event("Flaky.bump", json!([])).await;

    let (status, reply) = visitor.event("Flaky.explode", json!([])).await;
    assert!(status.is_client_error(), "status {status}");
    let error = reply.error.expect("an error message");
    assert!(error.contains("Flaky.explode"), "{error:?}");
    assert!(
        !error.contains("secret internal detail"),
        "the panic message leaked to the client: {error:?}"
    );

    let (status, reply) = visitor.event("Flaky.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK, "the same session keeps working");
    assert_eq!(
        number_in::<i64>(reply.html.as_deref().expect("html"), "runs"),
        1
    );

    let (status, reply) = bystander.event("Flaky.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK, "another session is unaffected");
    assert_eq!(
        number_in::<i64>(reply.html.as_deref().expect("html"), "runs"),
        2
    );

    // Over the socket too: the panic is one error reply, the socket stays up.
    let mut socket = visitor_socket(&server, &visitor).await;
    for (id, h) in [(1, "Flaky.explode"), (2, "Flaky.bump")] {
        let event = json!({ "id": id, "page": "/", "h": h, "args": [] });
        socket
            .send(Message::text(event.to_string()))
            .await
            .expect("send");
    }
    let failed = next_reply(&mut socket).await;
    assert_eq!(failed.id, Some(1));
    assert!(failed.error.is_some());
    let next = next_reply(&mut socket).await;
    assert_eq!(next.id, Some(2));
    assert_eq!(next.error, None);
    assert_eq!(
        number_in::<i64>(next.html.as_deref().expect("html"), "runs"),
        2
    );
}

// ---------- isolation and ordering ----------

#[tokio::test]
async fn two_sessions_never_see_each_others_state() {
    let server = TestServer::start(counter::app()).await;
    let alice = Visitor::arrive(&server).await;
    let bob = Visitor::arrive(&server).await;
    assert_ne!(alice.cookie(), bob.cookie());

    let (_, reply) = alice.event("Counter.add", json!([3])).await;
    assert_eq!(reply_count(&reply), 3);
    let (_, reply) = bob.event("Counter.add", json!([-1])).await;
    assert_eq!(reply_count(&reply), -1);
    alice
        .event("Counter.set_draft", json!(["alice-note"]))
        .await;

    assert_eq!(alice.count().await, 3);
    assert_eq!(bob.count().await, -1);
    assert!(alice.page().await.contains("alice-note"));
    assert!(!bob.page().await.contains("alice-note"));

    // Over the socket as well.
    let mut bob_socket = visitor_socket(&server, &bob).await;
    let event = json!({ "id": 1, "page": "/", "h": "Counter.add", "args": [10] });
    bob_socket
        .send(Message::text(event.to_string()))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_reply(&mut bob_socket).await), 9);
    assert_eq!(alice.count().await, 3);
}

#[tokio::test]
async fn concurrent_events_of_one_session_run_one_at_a_time() {
    let server = TestServer::start(counter::app()).await;
    let visitor = Visitor::arrive(&server).await;

    let replies =
        futures_util::future::join_all((0..50).map(|_| visitor.event("Counter.add", json!([1]))))
            .await;
    let mut seen: Vec<i64> = replies
        .iter()
        .map(|(status, reply)| {
            assert_eq!(*status, StatusCode::OK);
            reply_count(reply)
        })
        .collect();
    seen.sort_unstable();
    // Each event saw the state the previous one left: every count from 1 to 50, once.
    assert_eq!(seen, (1..=50).collect::<Vec<_>>());
    assert_eq!(visitor.count().await, 50);
}

#[tokio::test]
async fn a_slow_handler_in_one_session_does_not_delay_another_session() {
    let server = TestServer::start(flaky_app()).await;
    let slow_one = Visitor::arrive(&server).await;
    let other = Visitor::arrive(&server).await;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();

    let slow_done = done_tx.clone();
    let slow = tokio::spawn(async move {
        let (status, _) = slow_one.event("Flaky.slow", json!([])).await;
        let _ = slow_done.send("slow session");
        status
    });
    tokio::time::timeout(PATIENCE, SLOW_STARTED.notified())
        .await
        .expect("the slow handler starts");

    let (status, _) = other.event("Flaky.bump", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    done_tx.send("other session").expect("send");

    assert_eq!(slow.await.expect("the slow event finishes"), StatusCode::OK);
    let first = done_rx.recv().await.expect("a completion");
    let second = done_rx.recv().await.expect("a completion");
    assert_eq!(
        (first, second),
        ("other session", "slow session"),
        "the other session waited for the slow one"
    );
}

// ---------- expiry ----------

#[tokio::test]
async fn an_idle_session_expires_and_its_cookie_is_refused() {
    let store = SharedStore::default();
    let app = counter::app()
        .session_idle(Duration::from_millis(200))
        .store(store.clone());
    let server = TestServer::start(app).await;
    let visitor = Visitor::arrive(&server).await;
    let (status, _) = visitor.event("Counter.add", json!([1])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.len(), 1);

    // Watching the store does not touch the session (an event would keep it alive).
    wait_until("the idle session to be dropped", || store.is_empty()).await;

    let (status, body) = visitor
        .post_raw(json!({ "page": "/", "h": "Counter.add", "args": [1] }).to_string())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(assert_one_sentence(&body).contains("session"));

    let mut request = ws_request(&server, &[]);
    let cookie = visitor.cookie().expect("cookie");
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).expect("header"));
    assert_eq!(refused_upgrade(request).await, StatusCode::FORBIDDEN);

    // Reloading the page starts over with a new session.
    assert_eq!(visitor.count().await, 0);
    assert_ne!(visitor.cookie(), Some(cookie));
}

// ---------- mounting ----------

#[tokio::test]
async fn the_app_router_merges_into_a_larger_axum_router() {
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(counter::app().into_router());
    let server = TestServer::start_router(router).await;

    let health = reqwest::get(server.url("/health"))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.expect("text"), "ok");

    let visitor = Visitor::arrive(&server).await;
    let page = visitor.page().await;
    assert!(page.contains("/_ferrex/runtime.js"));
    let (status, reply) = visitor.event("Counter.add", json!([2])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply_count(&reply), 2);

    let runtime = reqwest::get(server.url("/_ferrex/runtime.js"))
        .await
        .expect("GET runtime");
    assert_eq!(runtime.status(), StatusCode::OK);
    let mut socket = visitor_socket(&server, &visitor).await;
    let event = json!({ "id": 1, "page": "/", "h": "Counter.add", "args": [1] });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("send");
    assert_eq!(reply_count(&next_reply(&mut socket).await), 3);
}

#[tokio::test]
async fn an_app_with_a_base_path_works_nested_under_that_path() {
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest("/app", flaky_app().base_path("/app").into_router());
    let server = TestServer::start_router(router).await;
    let http = reqwest::Client::new();

    // (axum's `nest("/app", …)` answers `/app`, not `/app/`.)
    let page = http.get(server.url("/app")).send().await.expect("GET /app");
    assert_eq!(page.status(), StatusCode::OK);
    let set_cookie = page.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(set_cookie.contains("Path=/app;"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let html = page.text().await.expect("page");
    assert!(html.contains(r#"src="/app/_ferrex/runtime.js""#), "{html}");
    assert!(html.contains(r#"href="/app/_ferrex/style.css""#), "{html}");
    assert!(html.contains(r#"data-fx-base="/app""#), "{html}");

    for path in [
        "/app/_ferrex/runtime.js",
        "/app/_ferrex/style.css",
        "/health",
    ] {
        let response = http.get(server.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }

    let event = |h: &str| json!({ "page": "/", "h": h, "args": [] }).to_string();
    let reply: Reply = http
        .post(server.url("/app/_ferrex/event"))
        .header(header::COOKIE, &cookie)
        .body(event("Flaky.bump"))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("a reply");
    assert_eq!(
        number_in::<i64>(reply.html.as_deref().expect("html"), "runs"),
        1
    );

    // A generated download's one-time URL is under the prefix too.
    let reply: Reply = http
        .post(server.url("/app/_ferrex/event"))
        .header(header::COOKIE, &cookie)
        .body(event("Flaky.export"))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("a reply");
    let url = reply.actions[0]["url"].as_str().expect("a download URL");
    assert!(url.starts_with("/app/_ferrex/download/"), "{url}");
    let download = http
        .get(server.url(url))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("GET download");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.text().await.expect("body"), "runs=1");

    let (mut socket, _) = tokio_tungstenite::connect_async(ws_request_at(
        &server,
        "/app/_ferrex/ws",
        &[("cookie", &cookie)],
    ))
    .await
    .expect("the socket opens under the prefix");
    let message = json!({ "id": 1, "page": "/", "h": "Flaky.bump", "args": [] });
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
    let reply = next_reply(&mut socket).await;
    assert_eq!(
        number_in::<i64>(reply.html.as_deref().expect("html"), "runs"),
        2
    );
}

// ---------- static assets ----------

/// A fresh assets folder under cargo's test scratch folder.
fn assets_folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = support::disk::scratch("server-assets-");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write an asset");
    }
    dir
}

#[tokio::test]
async fn assets_are_served_with_their_type_validators_and_ranges() {
    let content = b"Hello, ferrex assets! 0123456789\n";
    let dir = assets_folder(&[("hello.txt", content), ("site.css", b"body{}")]);
    let server = TestServer::start(counter::app().assets_dir(dir.path())).await;
    let http = reqwest::Client::new();

    let full = http
        .get(server.url("/hello.txt"))
        .send()
        .await
        .expect("GET");
    assert_eq!(full.status(), StatusCode::OK);
    let headers = full.headers().clone();
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("text/plain"),
        "{headers:?}"
    );
    let etag = headers
        .get(header::ETAG)
        .expect("an ETag")
        .to_str()
        .expect("ASCII")
        .to_owned();
    let last_modified = headers
        .get(header::LAST_MODIFIED)
        .expect("a Last-Modified")
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert_eq!(full.bytes().await.expect("body").as_ref(), content);

    let css = http.get(server.url("/site.css")).send().await.expect("GET");
    assert!(
        css.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("text/css")
    );

    let part = http
        .get(server.url("/hello.txt"))
        .header(header::RANGE, "bytes=7-12")
        .send()
        .await
        .expect("GET range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()[header::CONTENT_RANGE],
        format!("bytes 7-12/{}", content.len()).as_str()
    );
    assert_eq!(
        part.headers()[header::ETAG],
        etag.as_str(),
        "one ETag per file"
    );
    assert_eq!(part.bytes().await.expect("body").as_ref(), b"ferrex");

    let unchanged = http
        .get(server.url("/hello.txt"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET if-none-match");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()[header::ETAG], etag.as_str());

    let other_tag = http
        .get(server.url("/hello.txt"))
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .expect("GET if-none-match");
    assert_eq!(other_tag.status(), StatusCode::OK);

    let unmodified = http
        .get(server.url("/hello.txt"))
        .header(header::IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .expect("GET if-modified-since");
    assert_eq!(unmodified.status(), StatusCode::NOT_MODIFIED);

    // A changed file gets a new tag.
    std::fs::write(
        dir.path().join("hello.txt"),
        b"changed and longer content\n",
    )
    .expect("rewrite");
    let changed = http
        .get(server.url("/hello.txt"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()[header::ETAG], etag.as_str());
}

#[tokio::test]
async fn a_missing_asset_is_a_404_with_a_one_sentence_json_error() {
    let dir = assets_folder(&[("hello.txt", b"hi")]);
    let server = TestServer::start(counter::app().assets_dir(dir.path())).await;

    // Paths that climb out of the folder are `tests/hygiene.rs`'s table of traversals.
    for path in ["/missing.png", "/nested/missing.txt", "/hello.txt/x"] {
        let request = RawRequest::get(path, server.addr)
            .header("Connection", "close")
            .head();
        let (status, head, body) = exchange(server.addr, request.as_bytes(), PATIENCE).await;
        assert_eq!(status, 404, "{path}: {head}");
        let content_type = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.trim().to_owned());
        assert!(
            content_type.is_some_and(|t| t.starts_with("application/json")),
            "{path}: {head}"
        );
        let body: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body:?}"));
        assert_one_sentence(&body);
    }
}

#[tokio::test]
async fn every_response_carries_nosniff() {
    let dir = assets_folder(&[("hello.txt", b"hi")]);
    let server = TestServer::start(counter::app().assets_dir(dir.path())).await;
    let visitor = Visitor::arrive(&server).await;
    let cookie = visitor.cookie().expect("cookie");
    let http = reqwest::Client::new();
    let event = json!({ "page": "/", "h": "Counter.add", "args": [1] }).to_string();
    let requests = [
        http.get(server.url("/")),
        http.get(server.url("/hello.txt")),
        http.get(server.url("/hello.txt"))
            .header(header::RANGE, "bytes=0-0"),
        http.get(server.url("/missing.txt")),
        http.get(server.url("/_ferrex/runtime.js")),
        http.get(server.url("/_ferrex/style.css")),
        http.get(server.url("/_ferrex/ws")),
        http.get(server.url("/_ferrex/download/nope")),
        http.get(server.url("/_ferrex/file?url=/hello.txt&filename=a.txt")),
        http.post(server.url("/_ferrex/event"))
            .header(header::COOKIE, &cookie)
            .body(event.clone()),
        http.post(server.url("/_ferrex/event"))
            .header(header::COOKIE, &cookie)
            .body("{"),
        http.post(server.url("/_ferrex/event")).body(event),
    ];
    for request in requests {
        let request = request.build().expect("a request");
        let what = format!("{} {}", request.method(), request.url());
        let response = http.execute(request).await.expect("a response");
        assert_eq!(
            response
                .headers()
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.to_str().expect("ASCII")),
            Some("nosniff"),
            "{what} answered {} without nosniff",
            response.status()
        );
    }
}

// ---------- a page asking after its session (reconnects, restarts) ----------

/// `GET /_ferrex/session` with `cookie`, as the runtime asks before a reconnect.
async fn presence(server: &TestServer, cookie: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().get(server.url("/_ferrex/session"));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.expect("GET /_ferrex/session");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    response.json().await.expect("JSON")
}

/// The `data-fx-boot` a page was rendered with.
fn boot_of(html: &str) -> String {
    let start = html
        .find("data-fx-boot=\"")
        .expect("the page names its server start")
        + 14;
    html[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_owned()
}

#[tokio::test]
async fn the_session_probe_says_whether_the_session_is_known_and_which_start_answers() {
    let store = SharedStore::default();
    let first = TestServer::start(counter::app().store(store.clone())).await;
    let visit = reqwest::Client::new()
        .get(first.url("/"))
        .send()
        .await
        .expect("GET /");
    let cookie = support::http::set_cookie(&visit).expect("a session cookie");
    let boot = boot_of(&visit.text().await.expect("page"));

    let known = presence(&first, Some(&cookie)).await;
    assert_eq!(known["known"], true);
    assert_eq!(known["boot"], boot.as_str());
    // Tests build in debug, where pages reload themselves after a restart.
    assert_eq!(known["reload_on_restart"], cfg!(debug_assertions));

    let stranger = presence(
        &first,
        Some("ferrex_session=0123456789abcdef0123456789abcdef"),
    )
    .await;
    assert_eq!(stranger["known"], false);
    assert_eq!(presence(&first, None).await["known"], false);

    // Another start of the server over the same sessions: known, another boot.
    let second = TestServer::start(counter::app().store(store).dev_reload(false)).await;
    let after = presence(&second, Some(&cookie)).await;
    assert_eq!(after["known"], true);
    assert_ne!(after["boot"], boot.as_str(), "each start has its own id");
    assert_eq!(after["reload_on_restart"], false);
}
