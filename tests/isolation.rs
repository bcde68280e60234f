//! Sessions are walls: every way into a session's state (events over POST and the
//! WebSocket, generated downloads, uploads) refuses a request without that session's own
//! cookie, or from another site, and a refused request changes nothing. Real HTTP and
//! WebSocket on 127.0.0.1; each request's cookie is written by hand, so a test controls
//! exactly what identity it presents.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;

use ferrex::prelude::*;
use futures_util::SinkExt;
use reqwest::StatusCode;
use reqwest::header;
use reqwest::multipart::Form;
use serde_json::{Value, json};
use support::disk::{listing, scratch};
use support::forms::{upload_event, upload_form_as};
use support::http::{arrive, number_in, page, post_event, post_upload, send, set_cookie, text_of};
use support::raw_http::RawRequest;
use support::run_log::{new_tag, ran, runs};
use support::ws::{Socket, next_json, open_socket, refused_upgrade, ws_request};
use support::{PATIENCE, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------
// The app: a state with a number, a secret note, a download of both and an upload.

#[derive(Default, Serialize, Deserialize)]
struct Vault {
    count: i64,
    note: String,
    files: Vec<String>,
}

#[event]
impl Vault {
    fn add(&mut self, by: i64, tag: u64) {
        ran(tag);
        self.count += by;
    }

    fn set_note(&mut self, note: String, tag: u64) {
        ran(tag);
        self.note = note;
    }

    fn export(&mut self, tag: u64) -> Download {
        ran(tag);
        Download::data(format!("{}={}", self.note, self.count)).filename("vault.txt")
    }

    async fn store(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        ran(tag);
        for file in files {
            self.files.push(file.persist_to_upload_dir().await?.name);
        }
        Ok(())
    }
}

fn vault_page(s: &Vault) -> Node {
    ui! {
        vstack(
            text(s.count, id = "count"),
            text({ &s.note }, id = "note"),
            upload(text("Drop files"), id = "files", multiple = true),
            button("Store", on_click = Vault::store(upload_files("files"), 0)),
            list(
                for name in &s.files { list_item(link(name, href = upload_url(name))) },
                id = "stored",
            ),
        )
    }
}

/// The vault app with its uploads in `dir/uploads` (not created: the server makes it).
async fn start(dir: &tempfile::TempDir) -> (TestServer, PathBuf) {
    let uploads = dir.path().join("uploads");
    let server = TestServer::start(App::new().page("/", vault_page).upload_dir(&uploads)).await;
    (server, uploads)
}

// ---------------------------------------------------------------------------------------
// Requests with a hand-written identity.

/// A session of another vault app (beside this one, in `dir`): the app, kept for the
/// test, and the session's cookie.
async fn other_app(dir: &tempfile::TempDir) -> (TestServer, String) {
    let (other_app, _) = start(dir).await;
    let foreign = arrive(&other_app).await;
    (other_app, foreign)
}

/// The session id inside a cookie.
fn id_of(cookie: &str) -> &str {
    cookie
        .strip_prefix("ferrex_session=")
        .unwrap_or_else(|| panic!("not a session cookie: {cookie}"))
}

/// Cookies that must not open `owner`'s session (or any): none, unknown, malformed, the
/// owner's id bent, and an id the server made for another app.
fn bad_cookies(owner: &str, other_app: &str) -> Vec<Option<String>> {
    let id = id_of(owner);
    vec![
        None,
        Some(format!("ferrex_session={}", "0123456789abcdef".repeat(2))),
        Some("ferrex_session=not-a-session-id".into()),
        Some("ferrex_session=".into()),
        Some(format!("ferrex_session={}", id.to_ascii_uppercase())),
        Some(format!("ferrex_session={}", &id[..31])),
        Some(format!("ferrex_session={id}0")),
        Some(format!("ferrex_session=../{id}")),
        Some(format!("other_cookie={id}")),
        Some(other_app.to_owned()),
    ]
}

fn count_in(html: &str) -> i64 {
    number_in(html, "count")
}

/// The content of `#fx-root` (without its render revision).
fn root_of(html: &str) -> String {
    let start = html.find("id=\"fx-root\"").expect("#fx-root");
    let start = start + html[start..].find('>').expect("a tag end") + 1;
    let end = html.rfind("</main>").expect("</main>");
    html[start..end].to_owned()
}

/// What `cookie`'s page shows: the count and the note.
async fn shown(server: &TestServer, cookie: &str) -> (i64, String) {
    let html = page(server, cookie).await;
    (count_in(&html), text_of(&html, "note").to_owned())
}

/// A refusal: `status`, and a one-sentence `error` containing `about`.
fn assert_refusal(got: &(StatusCode, Value), status: StatusCode, about: &str, case: &str) {
    assert_eq!(got.0, status, "{case}: {}", got.1);
    let message = got.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: no error message in {}", got.1));
    assert!(
        message.contains(about) && !message.contains('\n') && message.len() < 300,
        "{case}: {message:?}"
    );
}

/// Sends one event over a socket and returns its reply (bounded wait).
async fn ws_event(socket: &mut Socket, id: u64, h: &str, args: Value) -> Value {
    let event = json!({ "id": id, "page": "/", "h": h, "args": args });
    socket
        .send(Message::text(event.to_string()))
        .await
        .expect("send an event");
    let reply = next_json(socket).await;
    assert_eq!(reply["id"], id, "the reply answers the event: {reply}");
    reply
}

/// A multipart upload of `files` (as `text/plain`) to the `files` zone for
/// `Vault.store(…, tag)`.
fn upload_form(tag: u64, files: &[(&str, &[u8])]) -> Form {
    upload_form_as(
        upload_event("Vault.store", "files", Some(tag)),
        "text/plain",
        files,
    )
}

/// Uploads `files` (bound to `tag`) with `cookie` (and `origin`, if given), which must
/// succeed; returns the reply.
async fn upload_ok(
    server: &TestServer,
    cookie: &str,
    origin: Option<&str>,
    tag: u64,
    files: &[(&str, &[u8])],
) -> Value {
    let form = upload_form(tag, files);
    let (status, reply) = post_upload(server, Some(cookie), origin, form).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply
}

/// `GET` (or `HEAD`) of `path` with exactly this cookie: status and body.
async fn fetch(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.expect("the request failed");
    let status = response.status();
    (status, response.bytes().await.expect("the body").to_vec())
}

/// Origins that are not the server's own, for a server at `addr`.
fn foreign_origins(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    vec![
        "http://evil.example".into(),
        "null".into(),
        format!("http://127.0.0.1:{}", if port == 1 { 2 } else { 1 }),
        format!("http://localhost:{port}"),
        format!("http://{addr}.evil.example"),
        format!("http://evil.example/{addr}"),
        format!("http://evil.example?{addr}"),
    ]
}

// ---------------------------------------------------------------------------------------
// Events.

#[tokio::test]
async fn an_event_without_its_own_session_cookie_is_refused_and_runs_nothing() {
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let (_other_app, foreign) = other_app(&tmp).await;
    let owner = arrive(&server).await;
    let setup = new_tag();
    post_event(&server, Some(&owner), None, "Vault.add", json!([5, setup])).await;
    post_event(
        &server,
        Some(&owner),
        None,
        "Vault.set_note",
        json!(["owner-secret", setup]),
    )
    .await;

    let tag = new_tag();
    for cookie in bad_cookies(&owner, &foreign) {
        let case = format!("cookie {cookie:?}");
        for (h, args) in [
            ("Vault.add", json!([100, tag])),
            ("Vault.set_note", json!(["forged", tag])),
            ("Vault.export", json!([tag])),
        ] {
            let got = post_event(&server, cookie.as_deref(), None, h, args).await;
            assert_refusal(&got, StatusCode::FORBIDDEN, "session", &case);
            assert!(got.1["html"].is_null(), "{case}: no page in a refusal");
        }
    }
    assert_eq!(runs(tag), 0, "a refused event never reaches its handler");
    assert_eq!(
        shown(&server, &owner).await,
        (5, "owner-secret".into()),
        "the owner's state is untouched"
    );

    // The owner goes on as before.
    let (status, reply) =
        post_event(&server, Some(&owner), None, "Vault.add", json!([1, setup])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(count_in(reply["html"].as_str().expect("html")), 6);
}

#[tokio::test]
async fn an_unknown_cookie_is_never_adopted_as_a_session() {
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let planted = format!("ferrex_session={}", "5eed".repeat(8));

    // A page visit with a planted id gets a session of the server's choosing…
    let response = reqwest::Client::new()
        .get(server.url("/"))
        .header(header::COOKIE, &planted)
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    let given = set_cookie(&response).expect("a fresh cookie replaces the planted one");
    assert_ne!(id_of(&given), id_of(&planted));
    assert_eq!(id_of(&given).len(), 32);

    // …and the planted id still opens nothing.
    let tag = new_tag();
    let got = post_event(&server, Some(&planted), None, "Vault.add", json!([1, tag])).await;
    assert_refusal(&got, StatusCode::FORBIDDEN, "session", "the planted id");
    assert_eq!(
        refused_upgrade(ws_request(&server, &[("cookie", &planted)])).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(runs(tag), 0);
    let (status, _) = post_event(&server, Some(&given), None, "Vault.add", json!([1, tag])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(runs(tag), 1);
}

#[tokio::test]
async fn a_websocket_without_its_own_session_cookie_is_refused() {
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let (_other_app, foreign) = other_app(&tmp).await;
    let owner = arrive(&server).await;
    let mut socket = open_socket(&server, &owner).await;
    let tag = new_tag();
    ws_event(&mut socket, 1, "Vault.add", json!([3, tag])).await;

    for cookie in bad_cookies(&owner, &foreign) {
        let headers: Vec<(&'static str, &str)> =
            cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        assert_eq!(
            refused_upgrade(ws_request(&server, &headers)).await,
            StatusCode::FORBIDDEN,
            "cookie {cookie:?}"
        );
    }

    // The owner's open socket and state are untouched.
    let reply = ws_event(&mut socket, 2, "Vault.add", json!([1, tag])).await;
    assert!(reply["error"].is_null(), "{reply}");
    assert_eq!(count_in(reply["html"].as_str().expect("html")), 4);
    assert_eq!(runs(tag), 2);
}

// ---------------------------------------------------------------------------------------
// Other sites.

#[tokio::test]
async fn a_foreign_origin_is_refused_for_the_websocket_events_and_uploads() {
    let tmp = scratch("isolation-");
    let (server, uploads) = start(&tmp).await;
    let victim = arrive(&server).await;
    let setup = new_tag();
    post_event(&server, Some(&victim), None, "Vault.add", json!([7, setup])).await;
    let tag = new_tag();

    for origin in foreign_origins(server.addr) {
        let case = format!("origin {origin}");
        // The socket, with the victim's cookie.
        let request = ws_request(&server, &[("cookie", &victim), ("origin", &origin)]);
        assert_eq!(
            refused_upgrade(request).await,
            StatusCode::FORBIDDEN,
            "{case}"
        );

        // An event posted from that site, with the victim's cookie, as JSON…
        let got = post_event(
            &server,
            Some(&victim),
            Some(&origin),
            "Vault.add",
            json!([1, tag]),
        )
        .await;
        assert_refusal(&got, StatusCode::FORBIDDEN, "cross-site", &case);

        // …and as a form-like "simple" request, which needs no CORS preflight.
        let got = send(
            reqwest::Client::new()
                .post(server.url("/_ferrex/event"))
                .header(header::COOKIE, &victim)
                .header(header::ORIGIN, &origin)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(json!({ "page": "/", "h": "Vault.add", "args": [1, tag] }).to_string()),
        )
        .await;
        assert_refusal(&got, StatusCode::FORBIDDEN, "cross-site", &case);

        // An upload from that site.
        let form = upload_form(tag, &[("planted.txt", b"planted")]);
        let got = post_upload(&server, Some(&victim), Some(&origin), form).await;
        assert_refusal(&got, StatusCode::FORBIDDEN, "cross-site", &case);
    }
    assert_eq!(runs(tag), 0, "no cross-site request ran a handler");
    assert_eq!(shown(&server, &victim).await.0, 7);
    assert_eq!(listing(&uploads), Vec::<String>::new(), "nothing stored");

    // The page's own origin is welcome on all three.
    let own = format!("http://{}", server.addr);
    let request = ws_request(&server, &[("cookie", &victim), ("origin", &own)]);
    let mut socket = tokio_tungstenite::connect_async(request)
        .await
        .expect("a same-origin socket opens")
        .0;
    let reply = ws_event(&mut socket, 1, "Vault.add", json!([1, tag])).await;
    assert_eq!(count_in(reply["html"].as_str().expect("html")), 8);
    let (status, _) = post_event(
        &server,
        Some(&victim),
        Some(&own),
        "Vault.add",
        json!([1, tag]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    upload_ok(&server, &victim, Some(&own), tag, &[("mine.txt", b"mine")]).await;
    assert_eq!(runs(tag), 3);
    assert_eq!(listing(&uploads), vec!["mine.txt".to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Generated downloads.

#[tokio::test]
async fn a_download_token_serves_only_its_own_session_and_survives_refusals() {
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let (_other_app, foreign) = other_app(&tmp).await;
    let owner = arrive(&server).await;
    let other = arrive(&server).await;
    let tag = new_tag();
    post_event(
        &server,
        Some(&owner),
        None,
        "Vault.set_note",
        json!(["owner-secret", tag]),
    )
    .await;
    post_event(
        &server,
        Some(&other),
        None,
        "Vault.set_note",
        json!(["other-note", tag]),
    )
    .await;

    let (status, reply) =
        post_event(&server, Some(&owner), None, "Vault.export", json!([tag])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let url = reply["actions"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a download URL in {reply}"))
        .to_owned();
    let token = url
        .strip_prefix("/_ferrex/download/")
        .unwrap_or_else(|| panic!("a token URL: {url}"))
        .to_owned();

    let mut wrong: Vec<Option<String>> = bad_cookies(&owner, &foreign);
    wrong.push(Some(other.clone()));
    // Both the owner's and another session's cookie, the other one first.
    wrong.push(Some(format!("{other}; {owner}")));
    for cookie in &wrong {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let (status, body) = fetch(&server, method.clone(), &url, cookie.as_deref()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} with {cookie:?}");
            assert!(
                !String::from_utf8_lossy(&body).contains("owner-secret"),
                "{method} with {cookie:?} leaked the payload"
            );
        }
        // Through `/_ferrex/file`, which fetches a same-origin URL with the caller's cookie.
        let forced = format!("/_ferrex/file?url={url}&filename=x.txt");
        let (status, body) = fetch(&server, reqwest::Method::GET, &forced, cookie.as_deref()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "/_ferrex/file with {cookie:?}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("owner-secret"));
    }
    // Bent tokens, with the owner's cookie.
    for bent in [
        token.to_ascii_uppercase(),
        token[..31].to_owned(),
        format!("{token}0"),
        format!("{token}/"),
    ] {
        let path = format!("/_ferrex/download/{bent}");
        let (status, _) = fetch(&server, reqwest::Method::GET, &path, Some(&owner)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // Nothing used the token up: the owner gets their own data, once.
    let (status, body) = fetch(&server, reqwest::Method::GET, &url, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"owner-secret=0");
    let (status, _) = fetch(&server, reqwest::Method::GET, &url, Some(&owner)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a token is good for one fetch"
    );

    // The other session's export is its own.
    let (_, reply) = post_event(&server, Some(&other), None, "Vault.export", json!([tag])).await;
    let url = reply["actions"][0]["url"].as_str().expect("a URL");
    let (status, body) = fetch(&server, reqwest::Method::GET, url, Some(&other)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"other-note=0");
    assert_eq!(runs(tag), 4);
}

// ---------------------------------------------------------------------------------------
// Uploads.

#[tokio::test]
async fn an_upload_without_its_own_session_cookie_is_refused_and_stores_nothing() {
    let tmp = scratch("isolation-");
    let (server, uploads) = start(&tmp).await;
    let (_other_app, foreign) = other_app(&tmp).await;
    let owner = arrive(&server).await;
    let setup = new_tag();
    upload_ok(&server, &owner, None, setup, &[("kept.txt", b"kept")]).await;
    let before = root_of(&page(&server, &owner).await);
    assert!(before.contains("kept.txt"));

    let tag = new_tag();
    for cookie in bad_cookies(&owner, &foreign) {
        let form = upload_form(tag, &[("planted.txt", b"planted"), ("b.txt", b"b")]);
        let got = post_upload(&server, cookie.as_deref(), None, form).await;
        assert_refusal(
            &got,
            StatusCode::FORBIDDEN,
            "session",
            &format!("{cookie:?}"),
        );
    }
    assert_eq!(runs(tag), 0, "no refused upload reached the handler");
    assert_eq!(
        listing(&uploads),
        vec!["kept.txt".to_owned()],
        "nothing was stored, not even a temp file"
    );
    assert_eq!(
        root_of(&page(&server, &owner).await),
        before,
        "the owner's page is unchanged"
    );
}

#[tokio::test]
async fn an_upload_without_a_session_is_refused_before_its_body_is_sent() {
    let tmp = scratch("isolation-");
    let (server, uploads) = start(&tmp).await;
    // Headers announcing 1 GiB, then nothing: the refusal must not wait for the body.
    let request = RawRequest::post("/_ferrex/upload", server.addr)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .header("Content-Length", 1_073_741_824)
        .head();
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the headers");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read_head = async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("read the answer");
            assert_eq!(n, 1, "the connection closed before an answer");
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(PATIENCE, read_head)
        .await
        .expect("an answer without the body");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert_eq!(listing(&uploads), Vec::<String>::new());
}

#[tokio::test]
async fn one_sessions_upload_shows_only_in_its_own_page() {
    let tmp = scratch("isolation-");
    let (server, uploads) = start(&tmp).await;
    let alice = arrive(&server).await;
    let bob = arrive(&server).await;
    let tag = new_tag();

    let reply = upload_ok(&server, &alice, None, tag, &[("alice.txt", b"from alice")]).await;
    assert!(reply["html"].as_str().expect("html").contains("alice.txt"));
    let reply = upload_ok(&server, &bob, None, tag, &[("bob.txt", b"from bob")]).await;
    let bob_html = reply["html"].as_str().expect("html");
    assert!(bob_html.contains("bob.txt") && !bob_html.contains("alice.txt"));

    let alice_page = page(&server, &alice).await;
    let bob_page = page(&server, &bob).await;
    assert!(alice_page.contains("alice.txt") && !alice_page.contains("bob.txt"));
    assert!(bob_page.contains("bob.txt") && !bob_page.contains("alice.txt"));
    assert_eq!(listing(&uploads), vec!["alice.txt", "bob.txt"]);
    assert_eq!(runs(tag), 2);
}

#[tokio::test]
async fn a_plain_event_cannot_claim_uploaded_files() {
    let tmp = scratch("isolation-");
    let (server, uploads) = start(&tmp).await;
    let owner = arrive(&server).await;
    let tag = new_tag();

    for files in [
        json!({ "$upload": "files" }),
        json!(["0123456789abcdef0123456789abcdef"]),
        json!([uploads.join("x.txt").display().to_string()]),
    ] {
        let got = post_event(
            &server,
            Some(&owner),
            None,
            "Vault.store",
            json!([files, tag]),
        )
        .await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{files}: {}", got.1);
        assert!(got.1["error"].is_string(), "{}", got.1);
    }
    assert_eq!(runs(tag), 0);
    assert_eq!(listing(&uploads), Vec::<String>::new());
    assert!(!page(&server, &owner).await.contains("fx-list-item"));
}

/// The `href`s of the page's links to uploaded files, in page order.
fn upload_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.starts_with("/_ferrex/uploads/"))
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

/// An uploaded file's URL, as `upload_url` makes it while rendering a session's page,
/// answers that session only: not another session, not a stranger, not a bent URL.
#[tokio::test]
async fn an_uploaded_file_url_answers_only_the_session_it_was_made_for() {
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let (_other_app, foreign) = other_app(&tmp).await;
    let owner = arrive(&server).await;
    let other = arrive(&server).await;
    let tag = new_tag();
    upload_ok(
        &server,
        &owner,
        None,
        tag,
        &[("private.txt", b"PRIVATE-BYTES")],
    )
    .await;

    let links = upload_links(&page(&server, &owner).await);
    assert_eq!(links.len(), 1, "{links:?}");
    let url = links[0].clone();
    let bare = upload_url("private.txt");
    assert!(url.starts_with(&format!("{bare}?")), "{url}");
    let (status, body) = fetch(&server, reqwest::Method::GET, &url, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"PRIVATE-BYTES");

    // `/_ferrex/file` fetches a URL of this site with the caller's cookie.
    let forced = format!(
        "/_ferrex/file?url={}",
        url.replace('?', "%3F").replace('&', "%26")
    );
    let (status, body) = fetch(&server, reqwest::Method::GET, &forced, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(body, b"PRIVATE-BYTES");

    let mut wrong: Vec<Option<String>> = bad_cookies(&owner, &foreign);
    wrong.push(Some(other.clone()));
    for cookie in &wrong {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let (status, body) = fetch(&server, method.clone(), &url, cookie.as_deref()).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {url} with {cookie:?}"
            );
            assert!(!String::from_utf8_lossy(&body).contains("PRIVATE-BYTES"));
        }
        let (status, _) = fetch(&server, reqwest::Method::GET, &forced, cookie.as_deref()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{forced} with {cookie:?}");
    }
    // The owner's cookie with a bent URL.
    let (path, query) = url.split_once('?').expect("a query");
    let key = query.strip_prefix("k=").expect("a k= tag");
    for bent in [
        bare.clone(),
        format!("{path}?k="),
        format!(
            "{path}?k={}{}",
            &key[..key.len() - 1],
            if key.ends_with('0') { '1' } else { '0' }
        ),
        format!("{path}?k={}", &key[..key.len() - 2]),
        format!("{path}?k={}", "0".repeat(key.len())),
    ] {
        let (status, _) = fetch(&server, reqwest::Method::GET, &bent, Some(&owner)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bent}");
    }
    // The app's own query after the tag, glued on with `&` or (by mistake) `?`, is ignored.
    for extended in [format!("{url}&v=2"), format!("{url}?v=2")] {
        let (status, body) = fetch(&server, reqwest::Method::GET, &extended, Some(&owner)).await;
        assert_eq!(status, StatusCode::OK, "{extended}");
        assert_eq!(body, b"PRIVATE-BYTES");
    }
    // The tag binds the name too: another name with the owner's tag is refused.
    std::fs::write(tmp.path().join("uploads").join("other.txt"), b"OTHER").expect("write");
    let (status, _) = fetch(
        &server,
        reqwest::Method::GET,
        &format!("{}?{query}", upload_url("other.txt")),
        Some(&owner),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Refusals use nothing up.
    let (status, body) = fetch(&server, reqwest::Method::GET, &url, Some(&owner)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"PRIVATE-BYTES");
}

/// With `App::public_uploads`, a kept file is served to anyone at its bare URL, like the
/// assets folder; files still streaming in never are (nor anything outside the folder:
/// `tests/hygiene.rs` climbs out every way it can).
#[tokio::test]
async fn public_uploads_are_served_to_anyone_and_nothing_else_is() {
    let tmp = scratch("isolation-");
    let uploads = tmp.path().join("uploads");
    let app = App::new()
        .page("/", vault_page)
        .upload_dir(&uploads)
        .public_uploads();
    let server = TestServer::start(app).await;
    let owner = arrive(&server).await;
    let other = arrive(&server).await;
    let tag = new_tag();
    upload_ok(
        &server,
        &owner,
        None,
        tag,
        &[("shared.txt", b"SHARED-BYTES")],
    )
    .await;

    let url = upload_url("shared.txt");
    for cookie in [Some(owner.as_str()), Some(other.as_str()), None] {
        let (status, body) = fetch(&server, reqwest::Method::GET, &url, cookie).await;
        assert_eq!(status, StatusCode::OK, "{cookie:?}");
        assert_eq!(body, b"SHARED-BYTES", "{cookie:?}");
    }

    std::fs::write(uploads.join(".ferrex-upload-abc123"), b"IN-FLIGHT").expect("write");
    for path in [
        "/_ferrex/uploads/.ferrex-upload-abc123",
        "/_ferrex/uploads/missing.txt",
    ] {
        let (status, body) = fetch(&server, reqwest::Method::GET, path, Some(&owner)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("IN-FLIGHT"), "{path}: {body}");
    }
}

// ---------------------------------------------------------------------------------------
// Many sessions at once.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_at_once_each_see_only_their_own_state() {
    const SESSIONS: i64 = 16;
    const EVENTS: i64 = 20;
    let tmp = scratch("isolation-");
    let (server, _) = start(&tmp).await;
    let cookies: Vec<String> =
        futures_util::future::join_all((0..SESSIONS).map(|_| arrive(&server))).await;
    let tag = new_tag();

    // Session `i` adds `i + 1` twenty times, half over its socket and half over POST, all
    // sessions at the same time; every reply must show a multiple of its own step.
    let work = cookies.iter().enumerate().map(|(i, cookie)| {
        let server = &server;
        async move {
            let step = i as i64 + 1;
            let note = format!("note-of-{i}-");
            post_event(
                server,
                Some(cookie),
                None,
                "Vault.set_note",
                json!([note, tag]),
            )
            .await;
            let mut socket = open_socket(server, cookie).await;
            let mut seen = Vec::new();
            for n in 0..EVENTS {
                let reply = if n % 2 == 0 {
                    ws_event(&mut socket, n as u64, "Vault.add", json!([step, tag])).await
                } else {
                    let (status, reply) =
                        post_event(server, Some(cookie), None, "Vault.add", json!([step, tag]))
                            .await;
                    assert_eq!(status, StatusCode::OK, "{reply}");
                    reply
                };
                let html = reply["html"].as_str().expect("html").to_owned();
                assert_eq!(
                    text_of(&html, "note"),
                    note,
                    "session {i} saw another's note"
                );
                seen.push(count_in(&html));
            }
            assert_eq!(
                seen,
                (1..=EVENTS).map(|n| n * step).collect::<Vec<_>>(),
                "session {i}"
            );
        }
    });
    futures_util::future::join_all(work).await;

    for (i, cookie) in cookies.iter().enumerate() {
        let (count, note) = shown(&server, cookie).await;
        assert_eq!(
            (count, note),
            (EVENTS * (i as i64 + 1), format!("note-of-{i}-"))
        );
    }
    assert_eq!(runs(tag), (SESSIONS * (EVENTS + 1)) as usize);
}
