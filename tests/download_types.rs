//! The media type a download is given: `Download::content_type_override` as the header
//! of the fetched download (over real HTTP), and the type of a `download(data = …)`
//! action, which the page gives by a `data:` URI's media type or the file name's
//! extension, as the type of the blob the runtime saves (in real Chromium).

mod support;

use axum::body::Bytes;
use ferrex::prelude::*;
use futures_util::stream;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::http::session_client;
use support::{Browser, TestServer};

// ---------------------------------------------------------------------------------------
// Handlers returning overridden types.

#[derive(Default, Serialize, Deserialize)]
struct Typed {
    calls: u32,
}

#[event]
impl Typed {
    /// Text named `.txt`, declared CSV.
    fn text_as_csv(&mut self) -> Download {
        Download::data("a,b\n1,2\n")
            .filename("table.txt")
            .content_type_override("text/csv; charset=utf-8")
    }

    /// JSON declared as a JSON:API document.
    fn json_as_api(&mut self) -> Download {
        Download::json(&[1, 2, 3]).content_type_override("application/vnd.api+json")
    }

    /// Bytes whose name says PNG, declared something else.
    fn bytes_as_custom(&mut self) -> Download {
        Download::data(vec![0u8, 1, 2, 3])
            .filename("looks.png")
            .content_type_override("application/x-ferrex-test")
    }

    /// A stream declared as video.
    fn stream_as_video(&mut self) -> Download {
        let parts = (0..4u8).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![i; 1000])));
        Download::stream(stream::iter(parts), Some(4000))
            .filename("clip.bin")
            .content_type_override("video/mp4")
    }

    /// An override that is no header value (a line break in it).
    fn broken_override(&mut self) -> Download {
        Download::data("x")
            .filename("broken.bin")
            .content_type_override("text/plain\r\nX-Injected: yes")
    }

    /// A URL download, where the override has nothing to act on.
    fn url_with_override(&mut self) -> Download {
        Download::url("/")
            .filename("page.html")
            .content_type_override("text/plain")
    }
}

fn typed_page(_: &Typed) -> Node {
    ui! { text("handlers only") }
}

async fn start_typed() -> TestServer {
    TestServer::start(App::new().page("/", typed_page)).await
}

/// Runs handler `h` and returns its only action, a download.
async fn trigger(client: &Client, server: &TestServer, h: &str) -> Value {
    let reply: Value = client
        .post(server.url("/_ferrex/event"))
        .json(&json!({ "page": "/", "h": h, "args": [] }))
        .send()
        .await
        .expect("POST /_ferrex/event")
        .json()
        .await
        .expect("a JSON reply");
    assert!(reply["error"].is_null(), "{h} failed: {reply}");
    let actions = reply["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{reply}");
    assert_eq!(actions[0]["t"], "download", "{reply}");
    actions[0].clone()
}

/// The `Content-Type` of a response, if it has one.
fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().expect("an ASCII header").to_owned())
}

/// Runs `h`, then asks for its download with HEAD and GET; returns the type both
/// answered (which must agree) and the body.
async fn fetched_type(server: &TestServer, h: &str) -> (Option<String>, Vec<u8>) {
    let client = session_client(server).await;
    let action = trigger(&client, server, h).await;
    assert!(action.get("type").is_none(), "{h}: no type in {action}");
    let url = action["url"].as_str().expect("a download URL");
    let head = client.head(server.url(url)).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK, "HEAD of {h}");
    let get = client.get(server.url(url)).send().await.expect("GET");
    assert_eq!(get.status(), StatusCode::OK, "GET of {h}");
    assert_eq!(
        content_type(&head),
        content_type(&get),
        "HEAD and GET of {h}"
    );
    let declared = content_type(&get);
    (declared, get.bytes().await.expect("the body").to_vec())
}

// ---------------------------------------------------------------------------------------
// Content-Type of a handler's download.

#[tokio::test]
async fn the_override_is_the_content_type_of_every_generated_download() {
    let server = start_typed().await;
    let cases = [
        ("Typed.text_as_csv", "text/csv; charset=utf-8"),
        ("Typed.json_as_api", "application/vnd.api+json"),
        ("Typed.bytes_as_custom", "application/x-ferrex-test"),
        ("Typed.stream_as_video", "video/mp4"),
    ];
    for (h, expected) in cases {
        let (declared, body) = fetched_type(&server, h).await;
        assert_eq!(declared.as_deref(), Some(expected), "{h}");
        assert!(!body.is_empty(), "{h} sent its bytes");
    }
}

#[tokio::test]
async fn an_override_that_is_no_header_value_becomes_octet_stream() {
    let server = start_typed().await;
    let client = session_client(&server).await;
    let action = trigger(&client, &server, "Typed.broken_override").await;
    let url = action["url"].as_str().expect("a download URL");
    let got = client.get(server.url(url)).send().await.expect("GET");
    assert_eq!(got.status(), StatusCode::OK);
    assert!(
        got.headers().get("x-injected").is_none(),
        "no header smuggled in"
    );
    // Still typed (never left to sniffing) and still an attachment.
    assert_eq!(
        content_type(&got).as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        got.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"broken.bin\""
    );
    assert_eq!(got.bytes().await.expect("the body").as_ref(), b"x");
}

#[tokio::test]
async fn a_url_download_is_served_with_the_urls_own_type() {
    let server = start_typed().await;
    let client = session_client(&server).await;
    let action = trigger(&client, &server, "Typed.url_with_override").await;
    assert_eq!(
        action,
        json!({ "t": "download", "url": "/", "filename": "page.html" }),
        "a URL download carries no type to the page"
    );
    // What the runtime fetches for it: the page, as the page's own type.
    let got = client
        .get(server.url("/_ferrex/file?url=%2F&filename=page.html"))
        .send()
        .await
        .expect("GET /_ferrex/file");
    assert_eq!(got.status(), StatusCode::OK);
    let declared = content_type(&got).unwrap_or_default();
    assert!(declared.starts_with("text/html"), "{declared}");
}

// ---------------------------------------------------------------------------------------
// The type of a `download(data = …)` action, in the browser.

#[derive(Serialize, Deserialize)]
struct Sheet {
    csv: String,
    names: Vec<String>,
    raw: Vec<u8>,
}

fn sheet_page(s: &Sheet) -> Node {
    ui! {
        vstack(
            button("CSV", id = "csv", on_click = download(data = s.csv, filename = "scores.csv")),
            // A data: URI's media type wins over the name's extension.
            button("URI", id = "uri",
                   on_click = download(data = "data:text/csv;base64,MSwyCjMsNAo=", filename = "numbers.txt")),
            button("SVG", id = "svg",
                   on_click = download(data = "data:image/svg+xml,%3Csvg%2F%3E", filename = "dot.svg")),
            button("JSON", id = "json", on_click = download(data = s.names, filename = "names.json")),
            button("Raw", id = "raw", on_click = download(data = s.raw, filename = "raw")),
        )
    }
}

// A state with no handlers of its own: its page only downloads.
#[event]
impl Sheet {}

impl Default for Sheet {
    fn default() -> Sheet {
        Sheet {
            csv: "name,score\nAnn,3\n".into(),
            names: vec!["Ann".into(), "Bo".into()],
            raw: vec![0, 159, 255, 10],
        }
    }
}

#[tokio::test]
async fn a_download_actions_type_is_the_type_of_the_saved_blob() {
    let server = TestServer::start(App::new().page("/", sheet_page)).await;
    let browser = Browser::start_on(&server.url("/")).await;
    // Every blob the runtime makes a URL for, with its type.
    browser
        .js("window.__blobs = []; \
             const make = URL.createObjectURL.bind(URL); \
             URL.createObjectURL = (blob) => { window.__blobs.push(blob.type); return make(blob); }; \
             return null;")
        .await;

    let cases: [(&str, &str, &str, &[u8]); 5] = [
        ("csv", "scores.csv", "text/csv", b"name,score\nAnn,3\n"),
        ("uri", "numbers.txt", "text/csv", b"1,2\n3,4\n"),
        ("svg", "dot.svg", "image/svg+xml", b"<svg/>"),
        (
            "json",
            "names.json",
            "application/json",
            b"[\n  \"Ann\",\n  \"Bo\"\n]",
        ),
        ("raw", "raw", "application/octet-stream", &[0, 159, 255, 10]),
    ];
    for (n, (button, file, blob_type, bytes)) in cases.iter().enumerate() {
        browser.click(&format!("#{button}")).await;
        let saved = browser.wait_for_download(file).await;
        assert_eq!(&saved, bytes, "{file}");
        let blobs = browser.js("return window.__blobs;").await;
        assert_eq!(blobs.as_array().map(Vec::len), Some(n + 1), "{blobs}");
        assert_eq!(blobs[n], *blob_type, "the blob of {file}");
    }
}
