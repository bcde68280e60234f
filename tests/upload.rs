//! Uploads over raw HTTP, with the browser bypassed: `POST /_ferrex/upload` against the
//! files example and against test pages whose drop zones have limits. Every scenario
//! checks what reached the handler and what is left in the upload folder, which is a
//! fresh folder under `CARGO_TARGET_TMPDIR` per test.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferrex::prelude::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::disk::{listing, pattern, scratch};
// Short names: nearly every test builds its upload with these.
use support::forms::{upload_event as event, upload_form as form};
use support::http::{header, page, set_cookie, status_json, upload_response};
use support::raw_http::{RawRequest, exchange, start_large_upload};
use support::upload_log::{calls, limits_page, new_tag};
use support::{PATIENCE, TestServer};

// ---------------------------------------------------------------------------------------
// Helpers.

/// The upload folder inside a scratch folder (not created: the server makes it).
fn upload_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("uploads")
}

async fn start_limits(dir: &Path) -> TestServer {
    TestServer::start(App::new().page("/", limits_page).upload_dir(dir)).await
}

/// A test on the limits page: its scratch folder (removed when dropped), the upload folder
/// in it, the server, a client with a session and its `Cookie` header value, and a fresh
/// tag.
struct Limits {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    server: TestServer,
    client: Client,
    cookie: String,
    tag: u64,
}

impl Limits {
    /// Uploads `files` to handler `h` through zone `zone`, with this test's tag bound.
    async fn upload(
        &self,
        h: &str,
        zone: &str,
        files: &[(&str, &str, &[u8])],
    ) -> reqwest::Response {
        upload_to(&self.client, &self.server, h, zone, self.tag, files).await
    }

    /// [`Limits::upload`] to `Up.handle`.
    async fn handle(&self, zone: &str, files: &[(&str, &str, &[u8])]) -> reqwest::Response {
        self.upload("Up.handle", zone, files).await
    }
}

async fn limits() -> Limits {
    limits_with(|app| app).await
}

/// [`limits`] on an app `configure` changes.
async fn limits_with(configure: impl FnOnce(App) -> App) -> Limits {
    let tmp = scratch("upload-");
    let dir = upload_dir(&tmp);
    let server = TestServer::start(configure(
        App::new().page("/", limits_page).upload_dir(&dir),
    ))
    .await;
    let (client, cookie) = session(&server).await;
    Limits {
        tmp,
        dir,
        server,
        client,
        cookie,
        tag: new_tag(),
    }
}

/// A test on the files example: its scratch folder (removed when dropped), the upload
/// folder in it, the server, a client with a session and its `Cookie` header value.
async fn files_example() -> (tempfile::TempDir, PathBuf, TestServer, Client, String) {
    let tmp = scratch("upload-");
    let dir = upload_dir(&tmp);
    let server = TestServer::start(files::app().upload_dir(&dir)).await;
    let (client, cookie) = session(&server).await;
    (tmp, dir, server, client, cookie)
}

/// Uploads `files` through the files example's zone to its handler, as its Upload button does.
async fn upload_to_files(
    client: &Client,
    server: &TestServer,
    files: &[(&str, &str, &[u8])],
) -> reqwest::Response {
    upload_response(
        client,
        server,
        None,
        None,
        form(event("DownloadState.handle_upload", "files", None), files),
    )
    .await
}

/// The URL the files page links `name` at for this client's session (`upload_url` bound
/// to the session), read from the page the way a browser finds it.
async fn linked_url(server: &TestServer, cookie: &str, name: &str) -> String {
    let page = page(server, cookie).await;
    let bare = upload_url(name);
    let start = page
        .find(&format!("href=\"{bare}?k="))
        .unwrap_or_else(|| panic!("the page links no {bare}?k=…"))
        + "href=\"".len();
    let end = start + page[start..].find('"').expect("a closing quote");
    page[start..end].replace("&amp;", "&")
}

/// A client with a session: it has loaded the page and keeps the cookie. Also returns the
/// `Cookie` header value, for hand-written requests.
async fn session(server: &TestServer) -> (Client, String) {
    let client = Client::builder()
        .cookie_store(true)
        .build()
        .expect("cannot build an HTTP client");
    let response = client
        .get(server.url("/"))
        .send()
        .await
        .expect("GET / failed");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response).expect("GET / set no session cookie");
    assert!(cookie.starts_with("ferrex_session="), "{cookie}");
    (client, cookie)
}

/// Uploads `files` to handler `h` through drop zone `zone`, with `tag` as its bound argument.
async fn upload_to(
    client: &Client,
    server: &TestServer,
    h: &str,
    zone: &str,
    tag: u64,
    files: &[(&str, &str, &[u8])],
) -> reqwest::Response {
    upload_response(
        client,
        server,
        None,
        None,
        form(event(h, zone, Some(tag)), files),
    )
    .await
}

/// Asserts the upload folder holds nothing: no files and no `.ferrex-upload-*` temp files.
fn assert_empty(dir: &Path) {
    assert_eq!(
        listing(dir),
        Vec::<String>::new(),
        "the upload folder {} should be empty",
        dir.display()
    );
}

/// Asserts an upload was refused with `status` and a reason containing `reason`, that
/// nothing was left in the upload folder and that the handler was not called; returns the
/// JSON body.
async fn assert_refused(
    response: reqwest::Response,
    status: StatusCode,
    reason: &str,
    dir: &Path,
    tag: u64,
) -> Value {
    let (got, body) = status_json(response).await;
    assert_eq!(got, status, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains(reason)),
        "{body}"
    );
    assert_empty(dir);
    assert!(calls(tag).is_empty());
    body
}

/// Polls until `dir` is empty, for at most 10 s.
async fn wait_until_empty(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listing(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the upload folder still holds {:?} after 10 s",
            listing(dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The files example.

#[tokio::test]
async fn one_file_uploaded_lands_with_its_bytes_on_disk() {
    let (_tmp, dir, server, client, cookie) = files_example().await;
    let bytes = pattern(5000, 7);

    let response = upload_to_files(
        &client,
        &server,
        &[("report.bin", "application/octet-stream", &bytes)],
    )
    .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let html = reply["html"].as_str().expect("the page changed");
    assert!(html.contains("report.bin"), "{html}");
    assert!(html.contains("Uploaded 1 file(s)."), "{html}");

    assert_eq!(listing(&dir), ["report.bin"]);
    assert_eq!(
        std::fs::read(dir.join("report.bin")).expect("the file is on disk"),
        bytes
    );
    // The page the browser loads next lists it, linking to its upload_url.
    let page = page(&server, &cookie).await;
    assert!(
        page.contains(r#"href="/_ferrex/uploads/report.bin?k="#),
        "{page}"
    );
}

#[tokio::test]
async fn three_files_arrive_in_order() {
    let (_tmp, dir, server, client, _) = files_example().await;
    let contents = [pattern(10, 1), pattern(20_000, 2), pattern(300, 3)];
    let names = ["c-first.txt", "a-second.txt", "b-third.txt"];

    let files: Vec<(&str, &str, &[u8])> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| (*n, "text/plain", c.as_slice()))
        .collect();
    let response = upload_to_files(&client, &server, &files).await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let html = reply["html"].as_str().expect("the page changed");
    let positions: Vec<usize> = names
        .iter()
        .map(|n| {
            html.find(n)
                .unwrap_or_else(|| panic!("{n} not listed: {html}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "listed out of order: {positions:?}"
    );
    for (name, content) in names.iter().zip(&contents) {
        assert_eq!(&std::fs::read(dir.join(name)).expect("on disk"), content);
    }
    assert_eq!(
        listing(&dir),
        ["a-second.txt", "b-third.txt", "c-first.txt"]
    );

    // The handler itself saw them in order.
    let t2 = limits().await;
    let response = t2.handle("any", &files).await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = calls(t2.tag);
    assert_eq!(got.len(), 1, "one call");
    let got_names: Vec<&str> = got[0].iter().map(|r| r.name.as_str()).collect();
    assert_eq!(got_names, names);
    for (received, content) in got[0].iter().zip(&contents) {
        assert_eq!(&received.bytes, content);
        assert_eq!(received.size, content.len() as u64);
        assert_eq!(received.content_type, "text/plain");
    }
}

// ---------------------------------------------------------------------------------------
// Handler arguments.

#[tokio::test]
async fn a_bound_argument_is_received_with_the_files() {
    let t = limits().await;

    let response = upload_response(
        &t.client,
        &t.server,
        None,
        None,
        form(
            event("Up.handle", "z", Some(42)),
            &[("hello.txt", "text/plain", b"hello")],
        ),
    )
    .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null);
    let got = calls(42);
    assert_eq!(got.len(), 1, "called once with 42");
    assert_eq!(got[0].len(), 1);
    let file = &got[0][0];
    assert_eq!(file.name, "hello.txt");
    assert_eq!(file.relative_path, "hello.txt");
    assert_eq!(file.size, 5);
    assert_eq!(file.bytes, b"hello");
    assert_eq!(file.saved, "hello.txt");
    assert_eq!(listing(&t.dir), ["hello.txt"]);
}

#[tokio::test]
async fn a_forged_file_token_in_a_normal_event_is_bad_arguments() {
    let t = limits().await;

    let response = t
        .client
        .post(t.server.url("/_ferrex/event"))
        .header("content-type", "application/json")
        .body(json!({ "page": "/", "h": "Up.handle", "args": [["deadbeef"], t.tag] }).to_string())
        .send()
        .await
        .expect("POST /_ferrex/event");
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = body["error"].as_str().expect("an error");
    assert!(error.contains("bad arguments"), "{error}");
    assert!(calls(t.tag).is_empty(), "the handler must not run");
}

// ---------------------------------------------------------------------------------------
// Limits enforced by the server.

#[tokio::test]
async fn oversize_is_413_naming_the_file_and_leaves_nothing() {
    let t = limits().await;
    let ok = pattern(1000, 1); // exactly max_size: fine
    let big = pattern(1001, 2);

    let response = t
        .handle(
            "z",
            &[
                ("fine.txt", "text/plain", &ok),
                ("big.txt", "text/plain", &big),
            ],
        )
        .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["file"], "big.txt", "{body}");
    let error = body["error"].as_str().expect("an error");
    assert!(
        error.contains("big.txt") && error.contains("too large"),
        "{error}"
    );
    assert_empty(&t.dir);
    assert!(calls(t.tag).is_empty(), "the handler must not run");
}

#[tokio::test]
async fn too_many_files_is_400() {
    let t = limits().await;

    let response = t
        .handle(
            "z",
            &[
                ("1.txt", "text/plain", b"1"),
                ("2.txt", "text/plain", b"2"),
                ("3.txt", "text/plain", b"3"),
            ],
        )
        .await;
    let body = assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        "too many files",
        &t.dir,
        t.tag,
    )
    .await;
    assert_eq!(body["file"], "3.txt");

    // A zone without `multiple` takes one file.
    let response = t
        .handle(
            "one",
            &[("a.txt", "text/plain", b"a"), ("b.txt", "text/plain", b"b")],
        )
        .await;
    assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        "too many files",
        &t.dir,
        t.tag,
    )
    .await;
}

#[tokio::test]
async fn wrong_type_is_415() {
    let t = limits().await;

    for (name, content_type) in [
        ("tool.exe", "application/octet-stream"),
        ("page.html", "text/html"),
        ("data.csv", "text/csv"),
        // `image/*` matches the declared type, not a picture-like name.
        ("fake.png", "text/plain"),
    ] {
        let response = t
            .handle(
                "z",
                &[("ok.png", "image/png", b"png"), (name, content_type, b"x")],
            )
            .await;
        let (status, body) = status_json(response).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
        assert_eq!(body["file"], name);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("type not accepted")),
            "{body}"
        );
        assert_empty(&t.dir);
    }
    assert!(calls(t.tag).is_empty());

    // Both kinds of rule accept: the extension, and the image family by declared type.
    let response = t
        .handle(
            "z",
            &[
                ("notes.TXT", "application/octet-stream", b"t"),
                ("photo", "image/jpeg", b"j"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = calls(t.tag);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][1].content_type, "image/jpeg");
}

#[tokio::test]
async fn too_small_is_400() {
    let t = limits().await;

    let response = t.handle("z", &[("empty.txt", "text/plain", b"")]).await;
    let body = assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        "too small",
        &t.dir,
        t.tag,
    )
    .await;
    assert_eq!(body["file"], "empty.txt");
}

#[tokio::test]
async fn a_zone_the_page_does_not_have_is_400() {
    let t = limits().await;

    let response = t.handle("nope", &[("a.txt", "text/plain", b"a")]).await;
    assert_refused(response, StatusCode::BAD_REQUEST, "nope", &t.dir, t.tag).await;

    // A disabled zone takes nothing either.
    let response = t.handle("off", &[("a.txt", "text/plain", b"a")]).await;
    assert_refused(response, StatusCode::BAD_REQUEST, "disabled", &t.dir, t.tag).await;
}

#[tokio::test]
async fn a_handler_is_fed_only_through_the_zones_the_page_binds_it_to() {
    let t = limits().await;
    let big = pattern(5000, 3);
    let file: &[(&str, &str, &[u8])] = &[("tool.exe", "application/octet-stream", &big)];

    // `Up.strict` takes files from `z` only: naming the unlimited zone `any` is refused…
    let response = t.upload("Up.strict", "any", file).await;
    let reason = "does not upload drop zone `any` to `Up.strict`";
    assert_refused(response, StatusCode::BAD_REQUEST, reason, &t.dir, t.tag).await;

    // …and through `z` its limits hold.
    let response = t.upload("Up.strict", "z", file).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_empty(&t.dir);
    assert!(calls(t.tag).is_empty());

    // A handler no upload on the page names at all.
    let response = t.upload("Up.nothing", "any", file).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_empty(&t.dir);
}

#[tokio::test]
async fn no_session_or_a_foreign_origin_is_403() {
    let tmp = scratch("upload-");
    let dir = upload_dir(&tmp);
    let server = start_limits(&dir).await;
    let tag = new_tag();
    let file: &[(&str, &str, &[u8])] = &[("a.txt", "text/plain", b"a")];

    // Never loaded the page: no cookie.
    let stranger = Client::new();
    let response = upload_response(
        &stranger,
        &server,
        None,
        None,
        form(event("Up.handle", "z", Some(tag)), file),
    )
    .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("session"))
    );

    // A forged cookie.
    let forged = format!("ferrex_session={}", "ab".repeat(16));
    let response = upload_response(
        &stranger,
        &server,
        Some(&forged),
        None,
        form(event("Up.handle", "z", Some(tag)), file),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A real session, but the request comes from another site.
    let (client, _) = session(&server).await;
    let response = upload_response(
        &client,
        &server,
        None,
        Some("http://evil.example"),
        form(event("Up.handle", "z", Some(tag)), file),
    )
    .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cross-site"))
    );

    assert_empty(&dir);
    assert!(calls(tag).is_empty());
}

#[tokio::test]
async fn the_server_total_limit_is_413_before_the_body_is_read() {
    let t = limits_with(|app| app.max_upload_bytes(10_000)).await;

    // Headers announcing 10 MB, and no body at all: the answer comes anyway.
    let request = RawRequest::post("/_ferrex/upload", t.server.addr)
        .header("Cookie", &t.cookie)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .header("Content-Length", 10_000_000)
        .head();
    let (status, head, body) = exchange(t.server.addr, request.as_bytes(), PATIENCE).await;
    assert_eq!(status, 413, "{head}");
    let body: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("limit of 10000 bytes")),
        "{body}"
    );

    // A real body over the limit, its length declared.
    let big = pattern(20_000, 9);
    let response = t
        .handle("any", &[("big.bin", "application/octet-stream", &big)])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Streamed without a length (chunked): caught while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let part = Part::stream(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks,
    )))
    .file_name("streamed.bin");
    let form = Form::new()
        .text("event", event("Up.handle", "any", Some(t.tag)))
        .part("file", part);
    let (status, body) =
        status_json(upload_response(&t.client, &t.server, None, None, form).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["file"], "streamed.bin");

    assert_empty(&t.dir);
    assert!(calls(t.tag).is_empty());
}

// ---------------------------------------------------------------------------------------
// Names and containment.

#[tokio::test]
async fn hostile_names_land_inside_the_folder_sanitized() {
    let t = limits().await;
    let long = format!("{}.txt", "n".repeat(296));
    let long_clean = format!("{}.txt", "n".repeat(196));

    let cases: Vec<(String, &str)> = vec![
        ("../x".into(), "x"),
        ("..".into(), "file"),
        ("/etc/passwd".into(), "etc/passwd"),
        ("C:\\x".into(), "Cx"),
        ("a\u{202e}gnp.exe".into(), "agnp.exe"),
        (long, &long_clean),
        ("tab\there.txt".into(), "tabhere.txt"),
        ("../../../../escape.txt".into(), "escape.txt"),
    ];
    let contents: Vec<Vec<u8>> = (0..cases.len())
        .map(|i| format!("content {i}").into_bytes())
        .collect();
    let files: Vec<(&str, &str, &[u8])> = cases
        .iter()
        .zip(&contents)
        .map(|((name, _), c)| (name.as_str(), "application/octet-stream", c.as_slice()))
        .collect();
    let response = t.handle("any", &files).await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null, "{reply}");

    let got = calls(t.tag);
    assert_eq!(got.len(), 1);
    let saved: Vec<&str> = got[0].iter().map(|r| r.saved.as_str()).collect();
    let expected: Vec<&str> = cases.iter().map(|(_, clean)| *clean).collect();
    assert_eq!(saved, expected);
    for ((received, (_, clean)), content) in got[0].iter().zip(&cases).zip(&contents) {
        assert_eq!(received.relative_path, *clean);
        assert_eq!(
            received.name,
            clean.rsplit('/').next().expect("a last segment")
        );
        assert!(received.name.len() <= 200);
        assert_eq!(
            &std::fs::read(t.dir.join(clean)).expect("the file is in the folder"),
            content
        );
    }

    // Everything under the folder is inside it, and nothing landed beside it.
    let root = t.dir.canonicalize().expect("the upload folder exists");
    let mut files_found = BTreeSet::new();
    for entry in listing(&t.dir) {
        let path = t.dir.join(&entry).canonicalize().expect("canonical path");
        assert!(path.starts_with(&root), "{} escaped", path.display());
        if path.is_file() {
            files_found.insert(entry);
        }
    }
    assert_eq!(
        files_found,
        expected.iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        listing(t.tmp.path())
            .iter()
            .filter(|p| !p.starts_with("uploads"))
            .count(),
        0
    );
}

#[tokio::test]
async fn folder_paths_keep_their_sanitized_folders() {
    // Served publicly, so the bare `upload_url` works for the check at the end.
    let t = limits_with(App::public_uploads).await;
    let deep: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
    let deep_name = format!("{}/deep.txt", deep.join("/"));
    let deep_clean = format!("{}/deep.txt", deep[4..].join("/"));

    let cases: Vec<(&str, &str)> = vec![
        ("album/2024/a.png", "album/2024/a.png"),
        ("album/../../x/./y.txt", "album/x/y.txt"),
        ("album//CON/z.txt", "album/file/z.txt"),
        ("sub\u{202e}dir/b.txt", "subdir/b.txt"),
        (&deep_name, &deep_clean),
    ];
    let files: Vec<(&str, &str, &[u8])> = cases
        .iter()
        .map(|(name, _)| (*name, "application/octet-stream", name.as_bytes()))
        .collect();
    let response = t.handle("any", &files).await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = calls(t.tag);
    let saved: Vec<&str> = got[0].iter().map(|r| r.saved.as_str()).collect();
    let expected: Vec<&str> = cases.iter().map(|(_, clean)| *clean).collect();
    assert_eq!(saved, expected);
    for (name, clean) in &cases {
        assert_eq!(
            std::fs::read(t.dir.join(clean)).expect("kept under its folders"),
            name.as_bytes()
        );
    }
    // Served back under the same path; a folder itself is not a file.
    let response = t
        .client
        .get(t.server.url(&upload_url("album/2024/a.png")))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        b"album/2024/a.png"
    );
    for folder in ["album", "album/2024", "album/2024/"] {
        let response = t
            .client
            .get(t.server.url(&format!("/_ferrex/uploads/{folder}")))
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, StatusCode::NOT_FOUND, "{folder}: {body}");
    }
}

#[tokio::test]
async fn the_same_name_twice_is_numbered_never_overwritten() {
    let t = limits().await;

    for round in 0..2u8 {
        let a = [b'a', round];
        let b = [b'b', round];
        let response = t
            .handle(
                "any",
                &[("dup.txt", "text/plain", &a), ("README", "text/plain", &b)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let saved: Vec<String> = calls(t.tag)
        .iter()
        .flatten()
        .map(|r| r.saved.clone())
        .collect();
    assert_eq!(saved, ["dup.txt", "README", "dup (1).txt", "README (1)"]);
    assert_eq!(std::fs::read(t.dir.join("dup.txt")).expect("first"), b"a\0");
    assert_eq!(
        std::fs::read(t.dir.join("dup (1).txt")).expect("second"),
        b"a\x01"
    );
    assert_eq!(std::fs::read(t.dir.join("README")).expect("first"), b"b\0");
    assert_eq!(
        std::fs::read(t.dir.join("README (1)")).expect("second"),
        b"b\x01"
    );
}

#[tokio::test]
async fn files_the_handler_does_not_keep_are_deleted() {
    let t = limits().await;
    let bytes = pattern(100_000, 8);

    let response = t
        .upload(
            "Up.peek",
            "any",
            &[
                ("a.bin", "application/octet-stream", &bytes),
                ("b.txt", "text/plain", b"b"),
            ],
        )
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let got = calls(t.tag);
    assert_eq!(got[0].len(), 2);
    assert_eq!(got[0][0].bytes, bytes);
    assert_eq!(got[0][1].content_type, "text/plain");
    // The reply comes after the handler: its temp files are gone by then.
    assert_empty(&t.dir);
}

#[tokio::test]
async fn an_embedded_nul_in_a_name_never_reaches_the_disk() {
    let t = limits().await;

    let response = t.handle("any", &[("a\0b.txt", "text/plain", b"nul")]).await;
    // A NUL is not allowed in a part's header (multer refuses it), so the request is
    // malformed: 400, nothing stored, the handler not called. (Where the transport does
    // carry a control character, e.g. a tab, the sanitizer strips it: see the test above.)
    assert_refused(
        response,
        StatusCode::BAD_REQUEST,
        "malformed",
        &t.dir,
        t.tag,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Broken uploads.

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_no_temp_file() {
    // Public, so that a GET of the temp file below is refused by the temp-file rule alone
    // (not by a missing session tag).
    let t = limits_with(App::public_uploads).await;

    let event_field = event("Up.handle", "any", Some(t.tag));
    let sent = pattern(2 * 1024 * 1024, 5);
    let stream =
        start_large_upload(t.server.addr, &t.cookie, &event_field, "partial.bin", &sent).await;

    // The server is streaming the file into a temp file in the folder…
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listing(&t.dir)
        .iter()
        .any(|n| n.starts_with(".ferrex-upload-"))
    {
        assert!(Instant::now() < deadline, "no temp file appeared");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An upload in flight is nobody's to read, even knowing its temp file's name.
    let temp = listing(&t.dir)
        .into_iter()
        .find(|n| n.starts_with(".ferrex-upload-"))
        .expect("the temp file");
    let response = reqwest::get(t.server.url(&format!("/_ferrex/uploads/{temp}")))
        .await
        .expect("GET the temp file");
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "{temp}");

    // …when the client goes away.
    drop(stream);
    wait_until_empty(&t.dir).await;
    assert!(calls(t.tag).is_empty(), "the handler must not run");
}

// ---------------------------------------------------------------------------------------
// Served back.

#[tokio::test]
async fn uploaded_files_are_served_back_with_safe_headers() {
    let (_tmp, _dir, server, client, cookie) = files_example().await;
    let html = b"<script>document.title='pwned'</script>".to_vec();
    let pdf = b"%PDF-1.4\n%%EOF\n".to_vec();
    let txt = pattern(3000, 4);
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/assets/reflex_banner.png"
    ))
    .expect("the example's PNG");

    let response = upload_to_files(
        &client,
        &server,
        &[
            ("x.html", "text/html", &html),
            ("doc.pdf", "application/pdf", &pdf),
            ("my notes.txt", "text/plain", &txt),
            ("pic.svg", "image/svg+xml", &svg),
            ("pic.png", "image/png", &png),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    struct Expect<'a> {
        name: &'a str,
        bytes: &'a [u8],
        content_type: &'a str,
        inline: bool,
    }
    for e in [
        Expect {
            name: "x.html",
            bytes: &html,
            content_type: "text/html",
            inline: false,
        },
        Expect {
            name: "doc.pdf",
            bytes: &pdf,
            content_type: "application/pdf",
            inline: true,
        },
        Expect {
            name: "my notes.txt",
            bytes: &txt,
            content_type: "text/plain",
            inline: true,
        },
        Expect {
            name: "pic.svg",
            bytes: &svg,
            content_type: "image/svg+xml",
            inline: false,
        },
        Expect {
            name: "pic.png",
            bytes: &png,
            content_type: "image/png",
            inline: true,
        },
    ] {
        let url = linked_url(&server, &cookie, e.name).await;
        let response = client
            .get(server.url(&url))
            .send()
            .await
            .expect("GET upload");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{url}"
        );
        assert!(
            header(&response, "content-type").starts_with(e.content_type),
            "{url}: {}",
            header(&response, "content-type")
        );
        let disposition = header(&response, "content-disposition").to_owned();
        if e.inline {
            assert!(
                !disposition.starts_with("attachment"),
                "{url}: {disposition}"
            );
        } else {
            assert!(
                disposition.starts_with("attachment"),
                "{url}: {disposition}"
            );
            assert!(disposition.contains(e.name), "{url}: {disposition}");
        }
        let csp = header(&response, "content-security-policy").to_owned();
        assert!(csp.contains("sandbox"), "{url}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{url}: {csp}");
        let body = response.bytes().await.expect("body");
        assert_eq!(body.as_ref(), e.bytes, "{url}");
    }
}

#[tokio::test]
async fn download_of_an_upload_url_gives_equal_bytes() {
    let (_tmp, _dir, server, client, cookie) = files_example().await;
    let bytes = pattern(70_000, 11);
    let other = pattern(1234, 12);
    // Spaces, a percent sign, a `#` and non-ASCII letters all survive the round trip.
    let names = ["my data.bin", "naïve 100% #1 日本.bin"];

    let response = upload_to_files(
        &client,
        &server,
        &[
            (names[0], "application/octet-stream", &bytes),
            (names[1], "application/octet-stream", &other),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    for (name, content) in names.iter().zip([&bytes, &other]) {
        // What the runtime does for `download(url = upload_url(name))`.
        let url = linked_url(&server, &cookie, name).await;
        let file_url = reqwest::Url::parse_with_params(
            &server.url("/_ferrex/file"),
            &[("url", url.as_str()), ("filename", name)],
        )
        .expect("a URL");
        let response = client
            .get(file_url)
            .send()
            .await
            .expect("GET /_ferrex/file");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let disposition = header(&response, "content-disposition").to_owned();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        if name.is_ascii() {
            assert!(
                disposition.contains(&format!("filename=\"{name}\"")),
                "{disposition}"
            );
        } else {
            assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");
        }
        let body = response.bytes().await.expect("body");
        assert_eq!(body.as_ref(), content.as_slice(), "{url}");
    }
}

#[tokio::test]
async fn a_file_in_the_way_of_a_folder_fails_the_handler_at_once_with_a_reason() {
    let t = limits().await;
    let first = t
        .handle("any", &[("album", "text/plain", b"a file named album")])
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    // `album/a.txt` needs a folder where the file `album` is: no numbered name helps.
    let second = t
        .handle("any", &[("album/a.txt", "text/plain", b"inside")])
        .await;
    let (status, reply) = status_json(second).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    let error = reply["error"].as_str().expect("an error");
    assert!(error.contains("in the way"), "{error}");
    assert_eq!(
        listing(&t.dir),
        ["album"],
        "nothing else kept, no temp file left"
    );
}
