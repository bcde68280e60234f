//! Downloads over real HTTP (issue 4): every kind of data a handler can return, the
//! one-time session-bound token URLs (`/_ferrex/download/<token>`), the pending-bytes
//! bound, `download(url = …)` from a handler, `/_ferrex/file` (forced download and
//! rename of any same-origin URL), and the Files example's download buttons as rendered.
//!
//! Every test serves `examples/files.rs`'s app on 127.0.0.1 with one extra state,
//! [`Kinds`], whose handlers return each kind of download.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::time::{Duration, Instant};

use axum::body::Bytes;
use ferrex::prelude::*;
use futures_util::stream;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};
use support::TestServer;

/// The asset every URL download in the Files guide points at.
const BANNER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/assets/reflex_banner.png"
);

/// A state whose handlers return each kind of download.
#[derive(Default, Serialize, Deserialize)]
struct Kinds {
    calls: u32,
}

/// What `Kinds::record` downloads as JSON.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    tags: Vec<String>,
    score: f64,
    nested: std::collections::BTreeMap<String, Option<i64>>,
}

fn sample_record() -> Record {
    Record {
        name: "Zoë \"quoted\" <tag>".into(),
        tags: vec!["a".into(), "ü".into(), String::new()],
        score: -1.5,
        nested: [("x".to_owned(), Some(7)), ("y".to_owned(), None)]
            .into_iter()
            .collect(),
    }
}

/// The pixels of the image `Kinds::picture` returns.
fn sample_image() -> image::RgbaImage {
    image::RgbaImage::from_fn(5, 3, |x, y| {
        image::Rgba([(x * 50) as u8, (y * 80) as u8, 7, 255 - (x + y) as u8])
    })
}

#[event]
impl Kinds {
    /// A `&str`.
    fn str_text(&mut self, name: Option<String>) -> Download {
        self.calls += 1;
        let d = Download::data("héllo, wörld\n");
        match name {
            Some(name) => d.filename(name),
            None => d,
        }
    }

    /// A `String`.
    fn string_text(&mut self, text: String, name: String) -> Download {
        Download::data(text).filename(name)
    }

    /// A `Vec<u8>`.
    fn bytes(&mut self, bytes: Vec<u8>, name: Option<String>) -> Download {
        let d = Download::data(bytes);
        match name {
            Some(name) => d.filename(name),
            None => d,
        }
    }

    /// A `data:` URI (a string starting with `data:`).
    fn data_uri(&mut self, uri: String, name: String) -> Download {
        Download::data(uri.as_str()).filename(name)
    }

    /// An `image::DynamicImage`.
    fn picture(&mut self) -> Download {
        Download::data(image::DynamicImage::ImageRgba8(sample_image())).filename("pixels.png")
    }

    /// `Download::json` of a struct.
    fn record(&mut self) -> Download {
        Download::json(&sample_record()).filename("record.json")
    }

    /// `Download::stream` of `chunks` chunks of `size` bytes, announcing the length or not.
    fn chunks(&mut self, chunks: u32, size: usize, with_len: bool) -> Download {
        let total = u64::from(chunks) * size as u64;
        let parts = (0..chunks)
            .map(move |i| Ok::<_, std::io::Error>(Bytes::from(vec![(i % 251) as u8; size])));
        Download::stream(stream::iter(parts), with_len.then_some(total)).filename("big.bin")
    }

    /// 600 bytes of `fill`, to fill the pending-download budget.
    fn payload(&mut self, fill: u8) -> Download {
        Download::data(vec![fill; 600]).filename(format!("payload-{fill}.bin"))
    }

    /// `download(url = …, filename = …)` returned by a handler, as the builder.
    fn renamed_url(&mut self) -> ferrex::download::DownloadBuilder<ferrex::download::HasSource> {
        ferrex::download()
            .url("/reflex_banner.png")
            .filename("x.png")
    }

    /// `Download::url`, without a name.
    fn plain_url(&mut self) -> Download {
        Download::url("/reflex_banner.png")
    }
}

/// The Files example (with [`Kinds`]) on a fresh port, uploads in a scratch folder.
async fn start(configure: impl FnOnce(App) -> App) -> (TestServer, tempfile::TempDir) {
    let uploads = support::disk::scratch("download-");
    let app = configure(files::app().state::<Kinds>().upload_dir(uploads.path()));
    (TestServer::start(app).await, uploads)
}

/// A browser-like client: a cookie jar holding the session `GET /` gave it.
async fn session(server: &TestServer) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("build an HTTP client");
    let page = client.get(server.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        support::http::set_cookie(&page).is_some_and(|c| c.starts_with("ferrex_session=")),
        "GET / sets the session cookie"
    );
    client
}

/// Runs handler `h` through `POST /_ferrex/event` and returns the reply's only action.
async fn trigger(client: &reqwest::Client, server: &TestServer, h: &str, args: Value) -> Value {
    let (reply, _) = trigger_raw(client, server, h, args).await;
    let actions = reply["actions"].as_array().expect("actions is an array");
    assert_eq!(actions.len(), 1, "one action from {h}: {reply}");
    let action = actions[0].clone();
    assert_eq!(
        action["t"], "download",
        "a download action from {h}: {action}"
    );
    action
}

/// Like [`trigger`], also returning the reply's raw text.
async fn trigger_raw(
    client: &reqwest::Client,
    server: &TestServer,
    h: &str,
    args: Value,
) -> (Value, String) {
    let response = client
        .post(server.url("/_ferrex/event"))
        .json(&json!({ "page": "/", "h": h, "args": args }))
        .send()
        .await
        .expect("POST /_ferrex/event");
    let status = response.status();
    let text = response.text().await.expect("reply body");
    assert_eq!(status, StatusCode::OK, "{h} replied {status}: {text}");
    let reply: Value = serde_json::from_str(&text).expect("reply is JSON");
    assert!(reply["error"].is_null(), "{h} failed: {reply}");
    (reply, text)
}

/// The one-time URL of a parked payload, checked to be a token URL.
fn token_url(action: &Value) -> String {
    let url = action["url"].as_str().expect("the action has a url");
    assert!(
        url.starts_with("/_ferrex/download/"),
        "generated data is served from a token URL, got {url}"
    );
    assert!(
        action.get("data").is_none(),
        "no payload inside the reply: {action}"
    );
    url.to_owned()
}

/// A fetched download: status, the headers we check, and the body.
struct Fetched {
    status: StatusCode,
    content_type: Option<String>,
    disposition: Option<String>,
    length: Option<u64>,
    body: Vec<u8>,
}

async fn fetch(client: &reqwest::Client, server: &TestServer, path: &str) -> Fetched {
    let response = client
        .get(server.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().expect("an ASCII header").to_owned())
    };
    let content_type = header(CONTENT_TYPE);
    let disposition = header(CONTENT_DISPOSITION);
    let length = header(CONTENT_LENGTH).map(|v| v.parse().expect("a numeric Content-Length"));
    let status = response.status();
    let body = response.bytes().await.expect("body").to_vec();
    Fetched {
        status,
        content_type,
        disposition,
        length,
        body,
    }
}

/// Fetches a token URL once, expecting a 200 with those headers.
async fn fetch_ok(client: &reqwest::Client, server: &TestServer, url: &str) -> Fetched {
    let got = fetch(client, server, url).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "GET {url}: {}",
        String::from_utf8_lossy(&got.body)
    );
    got
}

/// Asserts the answer of a token URL that must not (or no longer) serve anything.
fn assert_gone(got: &Fetched, why: &str) {
    assert_eq!(got.status, StatusCode::NOT_FOUND, "{why}");
    let body: Value = serde_json::from_slice(&got.body).expect("a JSON error body");
    assert_eq!(
        body["error"], "this download does not exist or has expired",
        "{why}"
    );
}

/// Runs `h` and fetches the download, checking the basic token invariants.
async fn download(server: &TestServer, h: &str, args: Value) -> (Value, Fetched) {
    let client = session(server).await;
    let action = trigger(&client, server, h, args).await;
    let url = token_url(&action);
    let got = fetch_ok(&client, server, &url).await;
    assert_eq!(
        got.length,
        Some(got.body.len() as u64),
        "Content-Length of {h}"
    );
    (action, got)
}

fn disposition(ascii: &str) -> String {
    format!("attachment; filename=\"{ascii}\"")
}

// ---------------------------------------------------------------------------------------
// Every kind of data.

#[tokio::test]
async fn str_text_is_utf8_plain_text() {
    let (server, _tmp) = start(|app| app).await;
    let (action, got) = download(&server, "Kinds.str_text", json!(["hello.txt"])).await;
    assert_eq!(action["filename"], "hello.txt");
    assert_eq!(got.body, "héllo, wörld\n".as_bytes());
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
    assert_eq!(got.disposition, Some(disposition("hello.txt")));

    // Without a name (the extension decides nothing): UTF-8 text as download.txt.
    let (action, got) = download(&server, "Kinds.str_text", json!([null])).await;
    assert_eq!(action["filename"], "download.txt");
    assert_eq!(got.body, "héllo, wörld\n".as_bytes());
    assert_eq!(
        got.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(got.disposition, Some(disposition("download.txt")));
}

#[tokio::test]
async fn string_text_takes_its_type_from_the_extension() {
    let (server, _tmp) = start(|app| app).await;
    let cases = [
        ("a.csv", "1,2,3\n4,5,6\n", "text/csv"),
        ("data.json", "{\"a\": [1, 2]}", "application/json"),
        ("notes", "no extension", "text/plain; charset=utf-8"),
        ("page.html", "<p>hi</p>", "text/html"),
    ];
    for (name, text, content_type) in cases {
        let (action, got) = download(&server, "Kinds.string_text", json!([text, name])).await;
        assert_eq!(action["filename"], name);
        assert_eq!(got.body, text.as_bytes(), "{name}");
        assert_eq!(got.content_type.as_deref(), Some(content_type), "{name}");
        assert_eq!(got.disposition, Some(disposition(name)), "{name}");
    }
}

#[tokio::test]
async fn the_payload_never_travels_in_the_reply() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;
    let secret = "a-distinctive-payload-7f3a9c";
    let (reply, raw) = trigger_raw(
        &client,
        &server,
        "Kinds.string_text",
        json!([secret, "s.txt"]),
    )
    .await;
    assert!(
        !raw.contains(secret),
        "payload leaked into the reply: {raw}"
    );
    let url = token_url(&reply["actions"][0]);
    assert_eq!(
        fetch_ok(&client, &server, &url).await.body,
        secret.as_bytes()
    );
}

#[tokio::test]
async fn bytes_take_their_type_from_the_name_else_octet_stream() {
    let (server, _tmp) = start(|app| app).await;
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();

    let (action, got) = download(&server, "Kinds.bytes", json!([bytes, null])).await;
    assert_eq!(action["filename"], "download");
    assert_eq!(got.body, bytes);
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(got.disposition, Some(disposition("download")));

    let (_, got) = download(&server, "Kinds.bytes", json!([bytes, "blob.bin"])).await;
    assert_eq!(got.body, bytes);
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(got.disposition, Some(disposition("blob.bin")));

    let (_, got) = download(&server, "Kinds.bytes", json!([bytes, "shot.png"])).await;
    assert_eq!(got.body, bytes);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(got.disposition, Some(disposition("shot.png")));

    let (_, got) = download(&server, "Kinds.bytes", json!([[], "empty.bin"])).await;
    assert!(got.body.is_empty());
    assert_eq!(got.length, Some(0));
}

#[tokio::test]
async fn data_uris_are_decoded_and_keep_their_media_type() {
    let (server, _tmp) = start(|app| app).await;
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "data:image/png;base64,AAEC/w==",
            &[0, 1, 2, 255],
            "image/png",
        ),
        ("data:text/csv,a%2Cb%0A1%2C2", b"a,b\n1,2", "text/csv"),
        (
            "data:text/plain;charset=utf-8;base64,aMOpbGxv",
            "héllo".as_bytes(),
            "text/plain;charset=utf-8",
        ),
        (
            "data:application/json,%7B%22k%22%3A%20%22%C3%BC%22%7D",
            "{\"k\": \"ü\"}".as_bytes(),
            "application/json",
        ),
        (
            "data:,plain%20text",
            b"plain text",
            "text/plain;charset=US-ASCII",
        ),
    ];
    for (uri, bytes, media_type) in cases {
        let (_, got) = download(&server, "Kinds.data_uri", json!([uri, "decoded.dat"])).await;
        assert_eq!(got.body, bytes, "{uri}");
        assert_eq!(got.content_type.as_deref(), Some(media_type), "{uri}");
        assert_eq!(got.disposition, Some(disposition("decoded.dat")), "{uri}");
    }

    // Text that merely starts with `data:` but is no valid URI is sent as it is.
    let (_, got) = download(
        &server,
        "Kinds.data_uri",
        json!(["data: no comma here", "note.txt"]),
    )
    .await;
    assert_eq!(got.body, b"data: no comma here");
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
}

#[tokio::test]
async fn an_image_is_sent_as_png() {
    let (server, _tmp) = start(|app| app).await;
    let (action, got) = download(&server, "Kinds.picture", json!([])).await;
    assert_eq!(action["filename"], "pixels.png");
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(got.disposition, Some(disposition("pixels.png")));
    assert!(
        got.body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG signature"
    );
    let decoded = image::load_from_memory_with_format(&got.body, image::ImageFormat::Png)
        .expect("the download decodes as PNG");
    assert_eq!((decoded.width(), decoded.height()), (5, 3));
    assert_eq!(decoded.to_rgba8(), sample_image(), "every pixel survives");
}

#[tokio::test]
async fn json_parses_back_equal() {
    let (server, _tmp) = start(|app| app).await;
    let (action, got) = download(&server, "Kinds.record", json!([])).await;
    assert_eq!(action["filename"], "record.json");
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.disposition, Some(disposition("record.json")));
    let back: Record = serde_json::from_slice(&got.body).expect("the download is JSON");
    assert_eq!(back, sample_record());
}

#[tokio::test]
async fn a_stream_is_sent_whole_with_its_length_when_known() {
    let (server, _tmp) = start(|app| app).await;
    let expected: Vec<u8> = (0..40u32)
        .flat_map(|i| std::iter::repeat_n((i % 251) as u8, 10_000))
        .collect();

    let (_, got) = download(&server, "Kinds.chunks", json!([40, 10_000, true])).await;
    assert_eq!(got.length, Some(400_000));
    assert_eq!(got.body.len(), expected.len());
    assert!(got.body == expected, "streamed bytes differ");
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(got.disposition, Some(disposition("big.bin")));

    // Without a length: chunked, same bytes.
    let client = session(&server).await;
    let action = trigger(&client, &server, "Kinds.chunks", json!([40, 10_000, false])).await;
    let got = fetch_ok(&client, &server, &token_url(&action)).await;
    assert_eq!(
        got.length, None,
        "no Content-Length for a stream of unknown length"
    );
    assert!(got.body == expected, "streamed bytes differ");
}

#[tokio::test]
async fn non_ascii_names_get_an_rfc5987_filename_and_an_ascii_fallback() {
    let (server, _tmp) = start(|app| app).await;
    let cases = [
        (
            "résumé.txt",
            "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt",
            "text/plain",
        ),
        (
            "数据 2024.csv",
            "attachment; filename=\"__ 2024.csv\"; filename*=UTF-8''%E6%95%B0%E6%8D%AE%202024.csv",
            "text/csv",
        ),
        (
            // Browsers percent-decode a plain `filename`: a `%` only goes in `filename*`.
            "100%41.txt",
            "attachment; filename=\"100_41.txt\"; filename*=UTF-8''100%2541.txt",
            "text/plain",
        ),
        (
            "say \"hi\".txt",
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt",
            "text/plain",
        ),
    ];
    for (name, header, content_type) in cases {
        let (action, got) = download(&server, "Kinds.string_text", json!(["x", name])).await;
        assert_eq!(action["filename"], name);
        assert_eq!(got.disposition.as_deref(), Some(header), "{name}");
        assert_eq!(got.content_type.as_deref(), Some(content_type), "{name}");
        assert_eq!(got.body, b"x");
    }
}

// ---------------------------------------------------------------------------------------
// Token rules.

#[tokio::test]
async fn a_token_is_good_for_one_fetch() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;
    let action = trigger(
        &client,
        &server,
        "DownloadState.download_random_data",
        json!([]),
    )
    .await;
    assert_eq!(action["filename"], "random_numbers.csv");
    let url = token_url(&action);
    let got = fetch_ok(&client, &server, &url).await;
    assert_eq!(got.content_type.as_deref(), Some("text/csv"));
    assert_eq!(got.disposition, Some(disposition("random_numbers.csv")));
    let numbers: Vec<u8> = std::str::from_utf8(&got.body)
        .expect("UTF-8")
        .split(',')
        .map(|n| n.parse().expect("an integer"))
        .collect();
    assert_eq!(numbers.len(), 10);
    assert!(numbers.iter().all(|&n| n <= 100), "{numbers:?}");

    assert_gone(&fetch(&client, &server, &url).await, "a second fetch");
}

#[tokio::test]
async fn a_token_belongs_to_its_session() {
    let (server, _tmp) = start(|app| app).await;
    let owner = session(&server).await;
    let other = session(&server).await;
    let stranger = reqwest::Client::new();
    let action = trigger(
        &owner,
        &server,
        "Kinds.string_text",
        json!(["mine", "m.txt"]),
    )
    .await;
    let url = token_url(&action);

    assert_gone(
        &fetch(&other, &server, &url).await,
        "another session's cookie",
    );
    assert_gone(&fetch(&stranger, &server, &url).await, "no cookie");
    let forged = reqwest::Client::new()
        .get(server.url(&url))
        .header(reqwest::header::COOKIE, "ferrex_session=not-a-session")
        .send()
        .await
        .expect("GET with a forged cookie");
    assert_eq!(forged.status(), StatusCode::NOT_FOUND, "a malformed cookie");

    // The failed attempts did not use the token up.
    let got = fetch_ok(&owner, &server, &url).await;
    assert_eq!(got.body, b"mine");
    assert_gone(
        &fetch(&owner, &server, &url).await,
        "after the owner's fetch",
    );
}

#[tokio::test]
async fn unknown_tokens_are_404() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;
    for token in [
        "0123456789abcdef0123456789abcdef",
        "nope",
        "..%2F..%2Fetc%2Fpasswd",
        &"f".repeat(500),
    ] {
        let got = fetch(&client, &server, &format!("/_ferrex/download/{token}")).await;
        assert_gone(&got, token);
    }
}

#[tokio::test]
async fn a_head_request_does_not_use_the_token_up() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;
    let action = trigger(
        &client,
        &server,
        "Kinds.string_text",
        json!(["héad", "h.csv"]),
    )
    .await;
    let url = token_url(&action);
    for _ in 0..2 {
        let head = client.head(server.url(&url)).send().await.expect("HEAD");
        assert_eq!(head.status(), StatusCode::OK);
        let h = head.headers();
        assert_eq!(h[CONTENT_TYPE], "text/csv");
        assert_eq!(h[CONTENT_LENGTH], "5");
        assert_eq!(h[CONTENT_DISPOSITION], disposition("h.csv").as_str());
    }
    let other = session(&server).await;
    let head = other.head(server.url(&url)).send().await.expect("HEAD");
    assert_eq!(
        head.status(),
        StatusCode::NOT_FOUND,
        "HEAD from another session"
    );

    assert_eq!(
        fetch_ok(&client, &server, &url).await.body,
        "héad".as_bytes()
    );
    let head = client.head(server.url(&url)).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::NOT_FOUND, "HEAD after the fetch");
}

#[tokio::test]
async fn an_expired_token_is_404() {
    // A zero time-to-live: every payload has expired by the time it is asked for.
    let (server, _tmp) = start(|app| app.download_ttl(Duration::ZERO)).await;
    let client = session(&server).await;
    let action = trigger(
        &client,
        &server,
        "Kinds.string_text",
        json!(["old", "o.txt"]),
    )
    .await;
    assert_gone(
        &fetch(&client, &server, &token_url(&action)).await,
        "ttl zero",
    );

    // A short one: fetchable before it runs out, gone after.
    let ttl = Duration::from_millis(400);
    let (server, _tmp) = start(|app| app.download_ttl(ttl)).await;
    let client = session(&server).await;
    let parked_at = Instant::now();
    let first = trigger(&client, &server, "Kinds.string_text", json!(["a", "a.txt"])).await;
    let second = trigger(&client, &server, "Kinds.string_text", json!(["b", "b.txt"])).await;
    let got = fetch(&client, &server, &token_url(&first)).await;
    if parked_at.elapsed() < ttl {
        assert_eq!(
            got.status,
            StatusCode::OK,
            "fetched within its time-to-live"
        );
        assert_eq!(got.body, b"a");
    }
    // Wait for the deadline itself to pass (a clock condition, not a guess).
    tokio::time::sleep_until((parked_at + ttl + Duration::from_millis(20)).into()).await;
    assert_gone(
        &fetch(&client, &server, &token_url(&second)).await,
        "past its ttl",
    );
}

#[tokio::test]
async fn pending_payloads_are_bounded_oldest_dropped_first() {
    // Each 600-byte payload is charged about 1 KiB with its bookkeeping: one fits, not two.
    let (server, _tmp) = start(|app| app.max_pending_download_bytes(1600)).await;
    let client = session(&server).await;
    let mut urls = Vec::new();
    for fill in 1..=3u8 {
        let action = trigger(&client, &server, "Kinds.payload", json!([fill])).await;
        urls.push(token_url(&action));
    }
    assert_gone(
        &fetch(&client, &server, &urls[0]).await,
        "the oldest payload",
    );
    assert_gone(
        &fetch(&client, &server, &urls[1]).await,
        "the second payload",
    );
    let got = fetch_ok(&client, &server, &urls[2]).await;
    assert_eq!(got.body, vec![3u8; 600], "the newest payload is kept");
    assert_eq!(got.disposition, Some(disposition("payload-3.bin")));

    // Fetching released its bytes: two more fit again (two payloads > 1600 drop only one).
    let a = token_url(&trigger(&client, &server, "Kinds.payload", json!([4])).await);
    let got = fetch_ok(&client, &server, &a).await;
    assert_eq!(got.body, vec![4u8; 600]);
    let b = token_url(&trigger(&client, &server, "Kinds.payload", json!([5])).await);
    assert_eq!(fetch_ok(&client, &server, &b).await.body, vec![5u8; 600]);
}

#[tokio::test]
async fn the_budget_is_shared_across_sessions_but_tokens_stay_private() {
    // Room for one payload in all: of two equal holders, the older payload goes.
    let (server, _tmp) = start(|app| app.max_pending_download_bytes(1600)).await;
    let alice = session(&server).await;
    let bob = session(&server).await;
    let a = token_url(&trigger(&alice, &server, "Kinds.payload", json!([1])).await);
    let b = token_url(&trigger(&bob, &server, "Kinds.payload", json!([2])).await);
    assert_gone(
        &fetch(&alice, &server, &a).await,
        "dropped for bob's newer payload",
    );
    assert_gone(
        &fetch(&alice, &server, &b).await,
        "bob's token with alice's cookie",
    );
    assert_eq!(fetch_ok(&bob, &server, &b).await.body, vec![2u8; 600]);
}

#[tokio::test]
async fn a_payload_larger_than_the_whole_budget_fails_its_event_with_a_reason() {
    let (server, _tmp) = start(|app| app.max_pending_download_bytes(500)).await;
    let client = session(&server).await;
    let response = client
        .post(server.url("/_ferrex/event"))
        .json(&json!({ "page": "/", "h": "Kinds.payload", "args": [3] }))
        .send()
        .await
        .expect("POST /_ferrex/event");
    let status = response.status();
    let reply: Value = response.json().await.expect("a JSON reply");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    let error = reply["error"].as_str().expect("an error");
    assert!(
        error.contains("payload-3.bin") && error.contains("Download::stream"),
        "{error}"
    );
    assert_eq!(reply["actions"], json!([]), "no download that would 404");
    // A payload that fits still goes through.
    let small = trigger(&client, &server, "Kinds.str_text", json!([null])).await;
    assert_eq!(
        fetch_ok(&client, &server, &token_url(&small)).await.body,
        "héllo, wörld\n".as_bytes()
    );
}

// ---------------------------------------------------------------------------------------
// `download(url = …)` and `/_ferrex/file`.

#[tokio::test]
async fn a_url_download_from_a_handler_is_the_same_origin_path() {
    let (server, _tmp) = start(|app| app).await;
    let banner = std::fs::read(BANNER).expect("read the banner");
    let client = session(&server).await;

    let action = trigger(&client, &server, "Kinds.renamed_url", json!([])).await;
    assert_eq!(
        action,
        json!({"t": "download", "url": "/reflex_banner.png", "filename": "x.png"})
    );
    // What the runtime does with it: ask /_ferrex/file for an attachment.
    let got = fetch_ok(
        &client,
        &server,
        "/_ferrex/file?url=%2Freflex_banner.png&filename=x.png",
    )
    .await;
    assert_eq!(got.body, banner);
    assert_eq!(got.disposition, Some(disposition("x.png")));

    let action = trigger(&client, &server, "Kinds.plain_url", json!([])).await;
    assert_eq!(action["url"], "/reflex_banner.png");
    assert_eq!(
        action["filename"], "reflex_banner.png",
        "the URL's last segment"
    );
}

#[tokio::test]
async fn forced_download_renames_an_asset() {
    let (server, _tmp) = start(|app| app).await;
    let banner = std::fs::read(BANNER).expect("read the banner");
    assert!(banner.starts_with(b"\x89PNG"), "the asset is a PNG");
    let client = session(&server).await;

    let got = fetch_ok(
        &client,
        &server,
        "/_ferrex/file?url=/reflex_banner.png&filename=different_name_logo.png",
    )
    .await;
    assert_eq!(got.body, banner);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        got.disposition,
        Some(disposition("different_name_logo.png"))
    );

    // Without a name: the URL's last segment, still an attachment.
    let got = fetch_ok(&client, &server, "/_ferrex/file?url=/reflex_banner.png").await;
    assert_eq!(got.body, banner);
    assert_eq!(got.disposition, Some(disposition("reflex_banner.png")));

    // A non-ASCII name.
    let got = fetch_ok(
        &client,
        &server,
        "/_ferrex/file?url=/reflex_banner.png&filename=r%C3%A9sum%C3%A9.png",
    )
    .await;
    assert_eq!(got.body, banner);
    assert_eq!(
        got.disposition.as_deref(),
        Some("attachment; filename=\"r_sum_.png\"; filename*=UTF-8''r%C3%A9sum%C3%A9.png")
    );

    // The plain asset itself, for the `link`: served inline (no attachment).
    let got = fetch_ok(&client, &server, "/reflex_banner.png").await;
    assert_eq!(got.body, banner);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(got.disposition, None);
}

#[tokio::test]
async fn forced_download_refuses_other_origins() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;
    for url in [
        "https%3A%2F%2Fevil.example%2Fx",
        "%2F%2Fevil%2Fx",
        "//evil/x",
        "evil/x",
        "",
    ] {
        let got = fetch(&client, &server, &format!("/_ferrex/file?url={url}")).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "url={url}");
        let body: Value = serde_json::from_slice(&got.body).expect("a JSON error body");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("only paths on this site can be downloaded")),
            "url={url}: {body}"
        );
        assert_eq!(got.disposition, None, "url={url}");
    }
    let got = fetch(&client, &server, "/_ferrex/file").await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST, "no url at all");
}

#[tokio::test]
async fn forced_download_of_a_page_and_of_a_missing_file() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;

    let got = fetch_ok(&client, &server, "/_ferrex/file?url=/&filename=page.html").await;
    assert_eq!(got.disposition, Some(disposition("page.html")));
    assert!(
        got.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        got.content_type
    );
    let html = String::from_utf8(got.body).expect("UTF-8 HTML");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("Download and Rename"));

    let got = fetch(
        &client,
        &server,
        "/_ferrex/file?url=/missing.png&filename=m.png",
    )
    .await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.disposition, None, "an error is not offered as a file");
    let body: Value = serde_json::from_slice(&got.body).expect("a JSON error body");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("/missing.png")),
        "{body}"
    );
}

#[tokio::test]
async fn forced_download_keeps_ranges() {
    let (server, _tmp) = start(|app| app).await;
    let banner = std::fs::read(BANNER).expect("read the banner");
    let client = session(&server).await;

    // A resumed download asks for a range: still an attachment under the new name.
    let response = client
        .get(server.url("/_ferrex/file?url=/reflex_banner.png&filename=part.png"))
        .header(reqwest::header::RANGE, "bytes=4-11")
        .send()
        .await
        .expect("a range request");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()[CONTENT_DISPOSITION],
        disposition("part.png").as_str()
    );
    let part = response.bytes().await.expect("the range");
    assert_eq!(part.as_ref(), &banner[4..12]);
}

#[tokio::test]
async fn forced_download_of_an_uploaded_file() {
    let (server, tmp) = start(|app| app.public_uploads()).await;
    std::fs::write(tmp.path().join("notes.txt"), "uploaded text").expect("seed an upload");
    let client = session(&server).await;
    let url = format!(
        "/_ferrex/file?url={}&filename=renamed.txt",
        percent_encode(&upload_url("notes.txt"))
    );
    let got = fetch_ok(&client, &server, &url).await;
    assert_eq!(got.body, b"uploaded text");
    assert_eq!(got.disposition, Some(disposition("renamed.txt")));
}

/// `s` as a query value: everything but letters and digits escaped.
fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ---------------------------------------------------------------------------------------
// The Files example's buttons as rendered.

/// `(button text, data-fx-click JSON)` for every button on the page.
fn buttons(html: &str) -> Vec<(String, Option<Value>)> {
    html.split("<button")
        .skip(1)
        .map(|chunk| {
            let (tag, rest) = chunk.split_once('>').expect("a closed start tag");
            let inner = rest.split("</button>").next().unwrap_or("");
            let click = tag.split_once("data-fx-click=\"").map(|(_, v)| {
                let raw = v.split('"').next().unwrap_or("");
                serde_json::from_str(&unescape(raw)).expect("data-fx-click is JSON")
            });
            (text_of(inner), click)
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of an HTML fragment (tags removed, whitespace collapsed).
fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one action of the button labelled `label` (`data-fx-click` is a list of actions).
fn click_of(buttons: &[(String, Option<Value>)], label: &str) -> Value {
    let found: Vec<_> = buttons.iter().filter(|(text, _)| text == label).collect();
    assert_eq!(found.len(), 1, "one button {label:?} among {buttons:?}");
    let click = found[0]
        .1
        .clone()
        .unwrap_or_else(|| panic!("{label:?} has an on_click"));
    match click {
        Value::Array(mut list) if list.len() == 1 => list.remove(0),
        other => panic!("{label:?}: data-fx-click is not a one-action list: {other}"),
    }
}

#[tokio::test]
async fn the_files_page_renders_its_download_buttons() {
    let (server, _tmp) = start(|app| app).await;
    let html = reqwest::get(server.url("/"))
        .await
        .expect("GET /")
        .text()
        .await
        .expect("HTML");
    let buttons = buttons(&html);

    assert_eq!(
        click_of(&buttons, "Download"),
        json!({"t": "download", "url": "/reflex_banner.png", "filename": null})
    );
    assert_eq!(
        click_of(&buttons, "Download and Rename"),
        json!({"t": "download", "url": "/reflex_banner.png", "filename": "different_name_logo.png"})
    );
    for (label, h) in [
        (
            "Download random numbers",
            "DownloadState.download_random_data",
        ),
        ("Download an image", "DownloadState.download_image"),
        ("Download the state as JSON", "DownloadState.download_state"),
    ] {
        let click = click_of(&buttons, label);
        assert_eq!(click["t"], "event", "{label}: {click}");
        assert_eq!(click["h"], h, "{label}");
    }
    // The file list is state turned into JSON inside the page.
    let list = click_of(&buttons, "Download the file list");
    assert_eq!(list["t"], "download");
    assert_eq!(list["filename"], "uploaded.json");
    assert_eq!(list["type"], "application/json");
    assert_eq!(list["data"], "W10=", "base64 of `[]`, the empty list");

    // The plain link, and the bytes it serves.
    assert!(
        html.contains("href=\"/reflex_banner.png\""),
        "the link to the asset"
    );
}

#[tokio::test]
async fn the_files_handlers_download_through_tokens() {
    let (server, _tmp) = start(|app| app).await;
    let client = session(&server).await;

    let action = trigger(&client, &server, "DownloadState.download_image", json!([])).await;
    assert_eq!(action["filename"], "checkerboard.png");
    let got = fetch_ok(&client, &server, &token_url(&action)).await;
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    let img =
        image::load_from_memory_with_format(&got.body, image::ImageFormat::Png).expect("a PNG");
    assert_eq!((img.width(), img.height()), (64, 64));

    let action = trigger(&client, &server, "DownloadState.download_state", json!([])).await;
    assert_eq!(action["filename"], "state.json");
    let got = fetch_ok(&client, &server, &token_url(&action)).await;
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    let state: Value = serde_json::from_slice(&got.body).expect("JSON");
    assert_eq!(state, json!({"saved": [], "progress": 0.0, "status": ""}));
}
