//! Resumable uploads over tus 1.0 (`/_ferrex/tus`, then `POST /_ferrex/upload/finish`):
//! the protocol by hand with reqwest and raw TCP, and two tus clients no one here wrote,
//! `tuspy` (Python) and `tus-js-client` (run by node), installed by `scripts/test.sh` into
//! `target/tus-clients`. Every scenario checks what reached the handler and what is left in
//! the upload folder, a fresh folder per test.

#[allow(unused_imports)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use ferrex::prelude::*;
use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use support::disk::{listing, pattern, scratch};
use support::http::{arrive, header};
use support::raw_http::{RawRequest, read_answer};
use support::upload_log::{calls, limits_page, new_tag};
use support::{PATIENCE, TestServer, wait_until};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------
// Helpers.

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    server: TestServer,
    cookie: String,
    http: Client,
    tag: u64,
}

async fn setup_with(app: impl FnOnce(App) -> App) -> Setup {
    let tmp = scratch("tus-");
    let dir = tmp.path().join("uploads");
    let server = TestServer::start(app(App::new()
        .page("/", limits_page)
        .upload_dir(&dir)
        .upload_sha256(true)))
    .await;
    let cookie = arrive(&server).await;
    Setup {
        _tmp: tmp,
        dir,
        server,
        cookie,
        http: Client::new(),
        tag: new_tag(),
    }
}

async fn setup() -> Setup {
    setup_with(|app| app).await
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `Upload-Metadata` for a file of `zone` going to `handler` on page `/`.
fn metadata(zone: &str, handler: &str, filename: &str, filetype: &str) -> String {
    format!(
        "page {},zone {},handler {},filename {},filetype {}",
        b64("/"),
        b64(zone),
        b64(handler),
        b64(filename),
        b64(filetype)
    )
}

impl Setup {
    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// `POST /_ferrex/tus` with this session's cookie.
    async fn create(&self, length: u64, metadata: &str) -> reqwest::Response {
        self.create_as(&self.cookie, length, metadata).await
    }

    async fn create_as(&self, cookie: &str, length: u64, metadata: &str) -> reqwest::Response {
        self.http
            .post(self.url("/_ferrex/tus"))
            .header(COOKIE, cookie)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length)
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .expect("POST /_ferrex/tus")
    }

    /// Creates an upload that must succeed; returns its path (`Location`).
    async fn created(&self, length: u64, zone: &str, handler: &str, name: &str) -> String {
        let response = self
            .create(length, &metadata(zone, handler, name, "text/plain"))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response);
        assert_eq!(header(&response, "tus-resumable"), "1.0.0");
        assert!(!header(&response, "upload-expires").is_empty());
        header(&response, "location").to_owned()
    }

    async fn patch(&self, location: &str, offset: u64, bytes: &[u8]) -> reqwest::Response {
        self.patch_with(location, offset, bytes, None, &self.cookie)
            .await
    }

    async fn patch_with(
        &self,
        location: &str,
        offset: u64,
        bytes: &[u8],
        checksum: Option<&str>,
        cookie: &str,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .patch(self.url(location))
            .header(COOKIE, cookie)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset)
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec());
        if let Some(checksum) = checksum {
            request = request.header("Upload-Checksum", checksum);
        }
        request.send().await.expect("PATCH")
    }

    async fn head_as(&self, location: &str, cookie: &str) -> reqwest::Response {
        self.http
            .head(self.url(location))
            .header(COOKIE, cookie)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("HEAD")
    }

    /// The offset the server reports for the upload.
    async fn offset(&self, location: &str) -> u64 {
        let response = self.head_as(location, &self.cookie).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "cache-control"), "no-store");
        header(&response, "upload-offset")
            .parse()
            .expect("Upload-Offset is a number")
    }

    /// Starts a `PATCH` of `length` bytes at offset 0 over a raw connection and sends only
    /// `first` of them: the caller leaves the rest hanging or drops the connection.
    async fn start_patch(&self, location: &str, length: u64, first: &[u8]) -> TcpStream {
        let head = RawRequest::new("PATCH", location, self.server.addr)
            .header("Cookie", &self.cookie)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", 0)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Content-Length", length)
            .head();
        let mut stream = TcpStream::connect(self.server.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send");
        stream.write_all(first).await.expect("send");
        stream.flush().await.expect("flush");
        stream
    }

    /// `POST /_ferrex/upload` of one file, `name`, to `Up.handle` through zone `any`: the
    /// upload without tus.
    async fn multipart(&self, name: &str, bytes: &[u8]) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text(
                "event",
                json!({"page": "/", "h": "Up.handle", "zone": "any",
                       "args": [{"$upload": "any"}, self.tag]})
                .to_string(),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
            );
        self.http
            .post(self.url("/_ferrex/upload"))
            .header(COOKIE, &self.cookie)
            .multipart(form)
            .send()
            .await
            .expect("POST /_ferrex/upload")
    }

    /// `POST /_ferrex/upload/finish` for `handler` of `zone` with `uploads`.
    async fn finish(&self, zone: &str, handler: &str, uploads: &[&str]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/_ferrex/upload/finish"))
            .header(COOKIE, &self.cookie)
            .json(&json!({
                "page": "/", "h": handler, "zone": zone,
                "args": [{"$upload": zone}, self.tag], "uploads": uploads,
            }))
            .send()
            .await
            .expect("POST /_ferrex/upload/finish");
        let status = response.status();
        (status, response.json().await.expect("a JSON answer"))
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

fn sha1_checksum(bytes: &[u8]) -> String {
    format!(
        "sha1 {}",
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(bytes))
    )
}

/// Asserts the upload folder holds exactly `names` (no temporary files).
fn assert_folder(dir: &Path, names: &[&str]) {
    assert_eq!(listing(dir), names, "in {}", dir.display());
}

// ---------------------------------------------------------------------------------------
// The protocol by hand.

#[tokio::test]
async fn options_names_version_extensions_checksums_and_max_size() {
    let s = setup_with(|app| app.max_upload_bytes(123_456)).await;
    let response = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/_ferrex/tus"))
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "tus-version"), "1.0.0");
    assert_eq!(header(&response, "tus-max-size"), "123456");
    assert_eq!(
        header(&response, "tus-extension"),
        "creation,expiration,termination,checksum"
    );
    assert_eq!(header(&response, "tus-checksum-algorithm"), "sha1,sha256");
}

#[tokio::test]
async fn a_file_sent_in_chunks_reaches_the_handler_once_with_its_sha256() {
    let s = setup().await;
    let bytes = pattern(250_000, 3);
    let location = s
        .created(bytes.len() as u64, "any", "Up.handle", "a/b.bin")
        .await;
    assert!(location.starts_with("/_ferrex/tus/"), "{location}");
    assert_eq!(s.offset(&location).await, 0);
    let mut offset = 0usize;
    for chunk in bytes.chunks(100_000) {
        let response = s.patch(&location, offset as u64, chunk).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        offset += chunk.len();
        assert_eq!(header(&response, "upload-offset"), offset.to_string());
        assert_eq!(s.offset(&location).await, offset as u64);
    }
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let got = calls(s.tag);
    assert_eq!(got.len(), 1, "the handler runs once");
    assert_eq!(got[0].len(), 1);
    let file = &got[0][0];
    assert_eq!(file.relative_path, "a/b.bin");
    assert_eq!(file.size, bytes.len() as u64);
    assert!(file.bytes == bytes, "the bytes arrived intact");
    assert_eq!(file.sha256, Some(sha256(&bytes)));
    assert_folder(&s.dir, &["a", "a/b.bin"]);
    // Finished, the upload is no longer at its URL.
    let response = s.head_as(&location, &s.cookie).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_batch_of_uploads_goes_to_the_handler_in_the_order_named() {
    let s = setup().await;
    let a = s.created(3, "z", "Up.handle", "a.txt").await;
    let b = s.created(2, "z", "Up.handle", "b.txt").await;
    assert_eq!(s.patch(&b, 0, b"bb").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.patch(&a, 0, b"aaa").await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, reply) = s.finish("z", "Up.handle", &[&b, &a]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let got = calls(s.tag);
    let names: Vec<&str> = got[0].iter().map(|f| f.relative_path.as_str()).collect();
    assert_eq!(names, ["b.txt", "a.txt"]);
    assert_eq!(got[0][1].content_type, "text/plain");
    assert_folder(&s.dir, &["a.txt", "b.txt"]);
}

#[tokio::test]
async fn limits_are_checked_against_the_declared_length_before_any_byte() {
    let s = setup().await;
    let cases = [
        (
            1001,
            metadata("z", "Up.handle", "big.txt", "text/plain"),
            413,
            "too large",
        ),
        (
            0,
            metadata("z", "Up.handle", "empty.txt", "text/plain"),
            400,
            "too small",
        ),
        (
            10,
            metadata("z", "Up.handle", "x.exe", "application/x-msdownload"),
            415,
            "not accepted",
        ),
        (
            10,
            metadata("off", "Up.handle", "a.txt", "text/plain"),
            400,
            "disabled",
        ),
        (
            10,
            metadata("nope", "Up.handle", "a.txt", "text/plain"),
            400,
            "no drop zone",
        ),
        (
            10,
            metadata("any", "Up.strict", "a.txt", "text/plain"),
            400,
            "does not upload",
        ),
        (
            10,
            format!("zone {},handler {}", b64("z"), b64("Up.handle")),
            400,
            "`page`",
        ),
        (10, "page !!!".to_owned(), 400, "base64"),
    ];
    for (length, meta, status, why) in cases {
        let response = s.create(length, &meta).await;
        assert_eq!(response.status().as_u16(), status, "{meta}");
        assert_eq!(header(&response, "tus-resumable"), "1.0.0");
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(why)),
            "{body}"
        );
    }
    let over = setup_with(|app| app.max_upload_bytes(1000)).await;
    let response = over
        .create(1001, &metadata("any", "Up.handle", "a.txt", "text/plain"))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_folder(&s.dir, &[]);
    assert_folder(&over.dir, &[]);
}

#[tokio::test]
async fn requests_without_tus_resumable_get_412_and_the_version() {
    let s = setup().await;
    let response = s
        .http
        .post(s.url("/_ferrex/tus"))
        .header(COOKIE, &s.cookie)
        .header("Upload-Length", 3)
        .header("Upload-Metadata", metadata("any", "Up.handle", "a", ""))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&response, "tus-version"), "1.0.0");
}

#[tokio::test]
async fn another_session_cannot_see_write_finish_or_delete_an_upload() {
    let s = setup().await;
    let location = s.created(4, "any", "Up.handle", "mine.txt").await;
    let other = arrive(&s.server).await;
    assert_eq!(
        s.head_as(&location, &other).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = s.patch_with(&location, 0, b"evil", None, &other).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = s
        .http
        .delete(s.url(&location))
        .header(COOKIE, &other)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = s
        .http
        .post(s.url("/_ferrex/upload/finish"))
        .header(COOKIE, &other)
        .json(&json!({"page": "/", "h": "Up.handle", "zone": "any",
                      "args": [{"$upload": "any"}, s.tag], "uploads": [location]}))
        .send()
        .await
        .expect("finish");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Without any session: 403.
    let response = s.patch_with(&location, 0, b"evil", None, "").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Untouched by all of that.
    assert_eq!(s.offset(&location).await, 0);
    assert_eq!(
        s.patch(&location, 0, b"mine").await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(calls(s.tag)[0][0].bytes, b"mine");
}

#[tokio::test]
async fn each_chunk_is_checked_offset_type_and_length() {
    let s = setup().await;
    let location = s.created(10, "any", "Up.handle", "ten.bin").await;
    // Not at the server's offset.
    assert_eq!(
        s.patch(&location, 3, b"abc").await.status(),
        StatusCode::CONFLICT
    );
    // Past the declared length, from Content-Length before a byte and mid-body.
    assert_eq!(
        s.patch(&location, 0, &[7u8; 11]).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        s.patch(&location, 0, b"12345").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.patch(&location, 5, b"678901").await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let response = s
        .http
        .patch(s.url(&location))
        .header(COOKIE, &s.cookie)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", 5)
        .header("Content-Type", "text/plain")
        .body("67890")
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(s.offset(&location).await, 5);
    // Not complete yet: finishing is refused and leaves the upload alone.
    let (status, body) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        s.patch(&location, 5, b"67890").await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(calls(s.tag)[0][0].bytes, b"1234567890");
    assert_folder(&s.dir, &["ten.bin"]);
}

#[tokio::test]
async fn a_corrupted_chunk_is_refused_with_460_and_its_retry_is_kept() {
    let s = setup().await;
    let bytes = pattern(5000, 9);
    let location = s.created(5000, "any", "Up.handle", "sum.bin").await;
    let first = &bytes[..3000];
    let good = sha1_checksum(first);
    let mut corrupted = first.to_vec();
    corrupted[1234] ^= 0x40;
    let response = s
        .patch_with(&location, 0, &corrupted, Some(&good), &s.cookie)
        .await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(s.offset(&location).await, 0, "nothing of the chunk is kept");
    let response = s
        .patch_with(&location, 0, first, Some(&good), &s.cookie)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let rest = &bytes[3000..];
    let sha256_sum = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha256(rest))
    );
    let response = s
        .patch_with(&location, 3000, rest, Some("md5 AAAA"), &s.cookie)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "unknown algorithm"
    );
    let response = s
        .patch_with(&location, 3000, rest, Some(&sha256_sum), &s.cookie)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert!(file.bytes == bytes);
    assert_eq!(
        file.sha256,
        Some(sha256(&bytes)),
        "the digest skips the refused chunk"
    );
}

#[tokio::test]
async fn a_patch_cut_off_keeps_what_arrived_and_the_upload_resumes_from_there() {
    let s = setup().await;
    let bytes = pattern(300_000, 5);
    let location = s.created(300_000, "any", "Up.handle", "cut.bin").await;
    let stream = s.start_patch(&location, 300_000, &bytes[..120_000]).await;
    drop(stream);
    // The server keeps what it wrote once it sees the connection gone.
    let mut offset = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while offset != 120_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "offset stays {offset}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        offset = s.offset(&location).await;
    }
    let response = s.patch(&location, offset, &bytes[offset as usize..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert!(file.bytes == bytes);
    assert_eq!(file.sha256, Some(sha256(&bytes)));
}

#[tokio::test]
async fn a_new_patch_takes_over_from_one_still_hanging() {
    let s = setup().await;
    let bytes = pattern(50_000, 1);
    let location = s.created(50_000, "any", "Up.handle", "hang.bin").await;
    // A PATCH that sends 10 000 bytes and then nothing, its connection left open.
    let mut hanging = s.start_patch(&location, 50_000, &bytes[..10_000]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The client gave up on it: its next PATCH stops the hanging one, which keeps its
    // bytes; the client is told to ask for the offset (409) and goes on from there.
    let response = s.patch(&location, 0, &bytes).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let offset = s.offset(&location).await;
    assert_eq!(offset, 10_000);
    let response = s.patch(&location, offset, &bytes[10_000..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, _) = read_answer(&mut hanging, PATIENCE).await;
    assert_eq!(status, 409, "the hanging PATCH was answered");
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(calls(s.tag)[0][0].bytes == bytes);
}

#[tokio::test]
async fn delete_removes_the_upload_and_its_file() {
    let s = setup().await;
    let location = s.created(10, "any", "Up.handle", "gone.bin").await;
    assert_eq!(
        s.patch(&location, 0, b"12345").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(support::disk::temp_files(&s.dir).len(), 1);
    let response = s
        .http
        .delete(s.url(&location))
        .header(COOKIE, &s.cookie)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.head_as(&location, &s.cookie).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_folder(&s.dir, &[]);
}

#[tokio::test]
async fn an_abandoned_upload_expires_and_leaves_nothing_behind() {
    let s = setup_with(|app| app.tus_expiry(Duration::from_millis(300))).await;
    let location = s.created(10, "any", "Up.handle", "left.bin").await;
    let response = s.patch(&location, 0, b"12345").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let expires = httpdate_header(&response);
    assert!(expires.is_some(), "Upload-Expires is an HTTP date");
    assert_eq!(
        support::disk::temp_files(&s.dir).len(),
        1,
        "the partial file is there before the sweep"
    );
    let dir = s.dir.clone();
    wait_until("the sweep removes the partial file", || {
        support::disk::temp_files(&dir).is_empty()
    })
    .await;
    let status = s.head_as(&location, &s.cookie).await.status();
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::GONE,
        "{status}"
    );
    assert_folder(&s.dir, &[]);
}

fn httpdate_header(response: &reqwest::Response) -> Option<String> {
    let value = header(response, "upload-expires");
    // `Sun, 06 Nov 1994 08:49:37 GMT`
    (value.len() == 29 && value.ends_with(" GMT")).then(|| value.to_owned())
}

#[tokio::test]
async fn finishing_checks_the_batch_against_the_zone() {
    let s = setup().await;
    // `one` takes a single file.
    let a = s.created(1, "one", "Up.handle", "a.txt").await;
    let b = s.created(1, "one", "Up.handle", "b.txt").await;
    assert_eq!(s.patch(&a, 0, b"a").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.patch(&b, 0, b"b").await.status(), StatusCode::NO_CONTENT);
    let (status, body) = s.finish("one", "Up.handle", &[&a, &b]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("too many"))
    );
    // Made for another zone.
    let (status, body) = s.finish("any", "Up.handle", &[&a]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Named twice.
    let (status, _) = s.finish("one", "Up.handle", &[&a, &a]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(calls(s.tag).is_empty());
    let (status, reply) = s.finish("one", "Up.handle", &[&a]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // Finished once: a second finish finds nothing.
    let (status, _) = s.finish("one", "Up.handle", &[&a]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(calls(s.tag).len(), 1);
}

#[tokio::test]
async fn uploads_in_progress_are_capped_per_session_and_per_process() {
    let s = setup_with(|app| app.max_tus_uploads_per_session(2).max_tus_uploads(3)).await;
    let meta = metadata("any", "Up.handle", "a.bin", "");
    let first = s.created(5, "any", "Up.handle", "a.bin").await;
    s.created(5, "any", "Up.handle", "b.bin").await;
    assert_eq!(
        s.create(5, &meta).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = arrive(&s.server).await;
    assert_eq!(
        s.create_as(&other, 5, &meta).await.status(),
        StatusCode::CREATED
    );
    let third = arrive(&s.server).await;
    assert_eq!(
        s.create_as(&third, 5, &meta).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Finishing one frees its place.
    assert_eq!(
        s.patch(&first, 0, b"12345").await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = s.finish("any", "Up.handle", &[&first]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.create(5, &meta).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_multipart_upload_also_gives_the_sha256() {
    let s = setup().await;
    let bytes = pattern(3_000_000, 2);
    let response = s.multipart("m.bin", &bytes).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls(s.tag)[0][0].sha256, Some(sha256(&bytes)));
}

#[tokio::test]
async fn an_app_can_turn_the_sha256_off() {
    let s = setup_with(|app| app.upload_sha256(false)).await;
    let location = s.created(3, "any", "Up.handle", "a.bin").await;
    assert_eq!(
        s.patch(&location, 0, b"abc").await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert_eq!(file.bytes, b"abc");
    assert_eq!(file.sha256, None);
}

// ---------------------------------------------------------------------------------------
// Clients no one here wrote.

/// Where `scripts/test.sh` installs the tus clients.
fn clients_dir() -> PathBuf {
    std::env::var_os("FERREX_TUS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tus-clients"))
}

fn missing(what: &str) -> String {
    format!(
        "{what} is not installed in {}: run scripts/test.sh ",
        clients_dir().display()
    )
}

/// Runs `program` with `args` off the test's runtime, failing the test on a non-zero exit;
/// returns its standard output.
async fn run(mut command: Command) -> String {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the client ran")
        .expect("the client started");
    assert!(
        output.status.success(),
        "the client failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const TUSPY: &str = r#"
import sys
from tusclient import client
endpoint, cookie, path, zone, chunk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tus = client.TusClient(endpoint, headers={"Cookie": cookie})
uploader = tus.uploader(path, chunk_size=chunk, upload_checksum=True, retries=3, retry_delay=0,
    metadata={"page": "/", "zone": zone, "handler": "Up.handle", "filename": "py/data.bin"})
uploader.upload()
print(uploader.url)
"#;

fn tuspy(s: &Setup, path: &Path, chunk: usize) -> Command {
    let py = clients_dir().join("py");
    assert!(py.join("tusclient").is_dir(), "{}", missing("tuspy"));
    let mut command = Command::new("python3");
    command
        .env("PYTHONPATH", &py)
        .arg("-c")
        .arg(TUSPY)
        .arg(s.url("/_ferrex/tus"))
        .arg(&s.cookie)
        .arg(path)
        .arg("any")
        .arg(chunk.to_string());
    command
}

#[tokio::test]
async fn tuspy_uploads_with_checksums_and_the_handler_gets_the_file() {
    let s = setup().await;
    let tmp = scratch("tuspy-");
    let path = tmp.path().join("data.bin");
    let bytes = pattern(700_000, 4);
    std::fs::write(&path, &bytes).expect("write the file");
    let url = run(tuspy(&s, &path, 256 * 1024)).await;
    let url = url.trim();
    assert!(url.contains("/_ferrex/tus/"), "{url}");
    let (status, reply) = s.finish("any", "Up.handle", &[url]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert_eq!(file.relative_path, "py/data.bin");
    assert!(file.bytes == bytes);
    assert_eq!(file.sha256, Some(sha256(&bytes)));
}

#[tokio::test]
async fn tuspy_retries_a_chunk_corrupted_on_the_way_after_460() {
    let tmp = scratch("tus-");
    let dir = tmp.path().join("uploads");
    let corrupted = std::sync::Arc::new(AtomicU64::new(0));
    let router = corrupt_second_patch(
        App::new()
            .page("/", limits_page)
            .upload_dir(&dir)
            .upload_sha256(true)
            .into_router(),
        corrupted.clone(),
    );
    let server = TestServer::start_router(router).await;
    let cookie = arrive(&server).await;
    let s = Setup {
        _tmp: tmp,
        dir,
        server,
        cookie,
        http: Client::new(),
        tag: new_tag(),
    };
    let file_dir = scratch("tuspy-");
    let path = file_dir.path().join("data.bin");
    let bytes = pattern(300_000, 8);
    std::fs::write(&path, &bytes).expect("write the file");
    let url = run(tuspy(&s, &path, 100_000)).await;
    assert_eq!(
        corrupted.load(Ordering::SeqCst),
        1,
        "one chunk was corrupted"
    );
    let (status, reply) = s.finish("any", "Up.handle", &[url.trim()]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert!(file.bytes == bytes, "the corrupted chunk was not kept");
}

/// Flips one byte of the second `PATCH` body that passes (between client and server), and
/// counts it in `corrupted`.
fn corrupt_second_patch(
    router: axum::Router,
    corrupted: std::sync::Arc<AtomicU64>,
) -> axum::Router {
    let seen = std::sync::Arc::new(AtomicU64::new(0));
    router.layer(axum::middleware::map_request(
        move |request: axum::extract::Request| {
            let seen = seen.clone();
            let corrupted = corrupted.clone();
            async move {
                if request.method() != axum::http::Method::PATCH
                    || seen.fetch_add(1, Ordering::SeqCst) != 1
                {
                    return request;
                }
                corrupted.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = request.into_parts();
                let mut bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .expect("the body")
                    .to_vec();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))
            }
        },
    ))
}

const TUS_JS: &str = r#"
const tus = require('tus-js-client');
const fs = require('fs');
const [endpoint, cookie, path] = process.argv.slice(1);
const data = fs.readFileSync(path);
const upload = new tus.Upload(data, {
  endpoint, headers: { Cookie: cookie }, chunkSize: 200000, retryDelays: [0, 100, 500],
  metadata: { page: '/', zone: 'any', handler: 'Up.handle', filename: 'js/data.bin', filetype: 'application/x-test' },
  onError: (e) => { console.error(String(e)); process.exit(1); },
  onSuccess: () => { console.log(upload.url); },
});
upload.start();
"#;

#[tokio::test]
async fn tus_js_client_uploads_and_the_handler_gets_the_file() {
    let s = setup().await;
    let modules = clients_dir().join("node_modules");
    assert!(
        modules.join("tus-js-client").is_dir(),
        "{}",
        missing("tus-js-client")
    );
    let tmp = scratch("tusjs-");
    let path = tmp.path().join("data.bin");
    let bytes = pattern(900_000, 6);
    std::fs::write(&path, &bytes).expect("write the file");
    let mut command = Command::new("node");
    command
        .env("NODE_PATH", &modules)
        .arg("-e")
        .arg(TUS_JS)
        .arg(s.url("/_ferrex/tus"))
        .arg(&s.cookie)
        .arg(&path);
    let url = run(command).await;
    let (status, reply) = s.finish("any", "Up.handle", &[url.trim()]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let file = &calls(s.tag)[0][0];
    assert_eq!(file.relative_path, "js/data.bin");
    assert_eq!(file.content_type, "application/x-test");
    assert!(file.bytes == bytes);
    assert_eq!(file.sha256, Some(sha256(&bytes)));
}

// ---------------------------------------------------------------------------------------
// The app's writer (`App::upload_writer`).

/// Every byte each writer saw, by file name, and whether it was closed.
static SEEN: Mutex<Vec<(String, Vec<u8>, bool)>> = Mutex::new(Vec::new());

/// Keeps what it sees; refuses a file containing `EICAR`.
struct Recorder {
    index: usize,
}

impl ferrex::core::upload::UploadWriter for Recorder {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut seen = SEEN.lock().expect("the writer log");
        let entry = &mut seen[self.index].1;
        entry.extend_from_slice(bytes);
        if entry.windows(5).any(|w| w == b"EICAR") {
            return Err(std::io::Error::other("the file looks infected"));
        }
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        SEEN.lock().expect("the writer log")[self.index].2 = true;
        Ok(())
    }
}

async fn setup_with_writer() -> Setup {
    setup_with(|app| {
        app.upload_writer(|target: &ferrex::core::upload::UploadTarget<'_>| {
            let mut seen = SEEN.lock().expect("the writer log");
            seen.push((target.name.to_owned(), Vec::new(), false));
            Recorder {
                index: seen.len() - 1,
            }
        })
    })
    .await
}

/// What the writer made for `name` saw, and whether it was closed.
fn seen(name: &str) -> (Vec<u8>, bool) {
    let seen = SEEN.lock().expect("the writer log");
    let (_, bytes, closed) = seen
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no writer was made for {name}"));
    (bytes.clone(), *closed)
}

#[tokio::test]
async fn the_apps_writer_sees_every_kept_byte_in_order_and_nothing_refused() {
    let s = setup_with_writer().await;
    let bytes = pattern(400_000, 11);
    let location = s.created(400_000, "any", "Up.handle", "w-tus.bin").await;
    assert_eq!(
        s.patch(&location, 0, &bytes[..150_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    // A corrupted chunk with a checksum: refused, and the writer never sees it.
    let chunk = &bytes[150_000..300_000];
    let mut corrupted = chunk.to_vec();
    corrupted[10] ^= 1;
    let response = s
        .patch_with(
            &location,
            150_000,
            &corrupted,
            Some(&sha1_checksum(chunk)),
            &s.cookie,
        )
        .await;
    assert_eq!(response.status().as_u16(), 460);
    let response = s
        .patch_with(
            &location,
            150_000,
            chunk,
            Some(&sha1_checksum(chunk)),
            &s.cookie,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.patch(&location, 300_000, &bytes[300_000..])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(!seen("w-tus.bin").1, "closed only at finish");
    let (status, reply) = s.finish("any", "Up.handle", &[&location]).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (got, closed) = seen("w-tus.bin");
    assert!(
        got == bytes,
        "the writer saw the file's bytes, in order, once"
    );
    assert!(closed);

    // The multipart upload goes through the same writer.
    let response = s.multipart("w-multi.bin", &bytes).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (got, closed) = seen("w-multi.bin");
    assert!(got == bytes && closed);
    assert_eq!(calls(s.tag).len(), 2);
}

#[tokio::test]
async fn a_file_the_apps_writer_refuses_is_removed_and_never_handled() {
    let s = setup_with_writer().await;
    let mut bytes = pattern(100_000, 12);
    bytes[60_000..60_005].copy_from_slice(b"EICAR");
    let location = s.created(100_000, "any", "Up.handle", "bad-tus.bin").await;
    let response = s.patch(&location, 0, &bytes).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("infected")),
        "{body}"
    );
    assert_eq!(
        s.head_as(&location, &s.cookie).await.status(),
        StatusCode::NOT_FOUND,
        "the upload is gone"
    );
    let response = s.multipart("bad-multi.bin", &bytes).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(calls(s.tag).is_empty());
    let dir = s.dir.clone();
    wait_until("the refused files to go", || listing(&dir).is_empty()).await;
}
