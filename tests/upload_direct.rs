//! Drop zones with `direct = true` send files from the browser straight to the S3 file
//! store (a real SeaweedFS): the server checks each declared file against the zone and
//! answers a presigned POST (`/_ferrex/upload/direct`), the store enforces its size and
//! type, and `POST /_ferrex/upload/finish` hands the files to the handler. Through the HTTP
//! API and from real Chromium; the app's request bodies are counted to show it never
//! carried the file.

#[allow(unused_imports)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrex::FileStore;
use ferrex::prelude::*;
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use support::TestServer;
use support::browser::Browser;
use support::disk::scratch;
use support::http::arrive;
use support::services::S3Server;
use support::upload_log::{CallLog, new_tag};

/// The prefix the app keeps its files under in the bucket.
const PREFIX: &str = "app";

// ---------------------------------------------------------------------------------------
// A test state whose handler records what it receives.

/// One file as the handler saw it.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    relative_path: String,
    content_type: String,
    size: u64,
    sha256: String,
    shared: bool,
}

static CALLS: CallLog<Received> = CallLog::new();

fn calls(tag: u64) -> Vec<Vec<Received>> {
    CALLS.calls(tag)
}

fn hex_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Default, Serialize, Deserialize)]
struct Up {
    shown: String,
}

#[event]
impl Up {
    async fn handle(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        let mut seen = Vec::new();
        for file in files {
            let bytes = file.bytes().await?;
            // `stream` reads the same bytes as `bytes`.
            let mut streamed = 0usize;
            let mut stream = file.stream().await?;
            while let Some(chunk) = stream.next().await {
                streamed += chunk
                    .map_err(|source| UploadError::Io {
                        name: file.name.clone(),
                        source,
                    })?
                    .len();
            }
            assert_eq!(streamed, bytes.len(), "stream and bytes agree");
            seen.push(Received {
                relative_path: file.relative_path.clone(),
                content_type: file.content_type.clone(),
                size: file.size,
                sha256: hex_sha256(&bytes),
                shared: file.is_shared(),
            });
            if file.is_shared() {
                file.persist(format!("kept/{}", seen.len()), true).await?;
            } else {
                file.persist_to_upload_dir().await?;
            }
        }
        self.shown = seen
            .iter()
            .map(|r| format!("{} {} {}", r.relative_path, r.size, r.sha256))
            .collect::<Vec<_>>()
            .join("; ");
        CALLS.record(tag, seen);
        Ok(())
    }
}

/// `d` sends straight to the store (limited), `plain` through the server.
fn page(s: &Up) -> Node {
    ui! {
        vstack(
            text(s.shown.clone(), id = "shown"),
            upload(
                text("Direct"),
                id = "d",
                direct = true,
                multiple = true,
                max_files = 3,
                max_size = 16_000_000u32,
                min_size = 2u32,
                accept = [".txt", ".bin", "text/*"],
            ),
            upload(text("Plain"), id = "plain", multiple = true),
            button("Send", id = "send", on_click = Up::handle(upload_files("d"), 1)),
            button("Send plain", on_click = Up::handle(upload_files("plain"), 2)),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// What the app server has read of request bodies, all requests together.
fn counting_bodies(router: axum::Router, received: Arc<AtomicU64>) -> axum::Router {
    router.layer(axum::middleware::map_request(
        move |request: axum::extract::Request| {
            let received = received.clone();
            async move {
                let (parts, body) = request.into_parts();
                let counted = body.into_data_stream().map(move |chunk| {
                    if let Ok(bytes) = &chunk {
                        received.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                    }
                    chunk
                });
                axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(counted))
            }
        },
    ))
}

struct Setup {
    _tmp: tempfile::TempDir,
    s3: S3Server,
    server: TestServer,
    cookie: String,
    http: Client,
    tag: u64,
    /// Request body bytes the app server read.
    received: Arc<AtomicU64>,
}

async fn setup_with(app: impl FnOnce(App) -> App) -> Setup {
    let s3 = S3Server::start().await;
    let tmp = scratch("direct-");
    let received = Arc::new(AtomicU64::new(0));
    let files = FileStore::s3(s3.builder(), PREFIX).expect("an S3 file store");
    let router = counting_bodies(
        app(App::new()
            .page("/", page)
            .upload_dir(tmp.path().join("uploads"))
            .file_store(files))
        .into_router(),
        received.clone(),
    );
    let server = TestServer::start_router(router).await;
    let cookie = arrive(&server).await;
    Setup {
        _tmp: tmp,
        s3,
        server,
        cookie,
        http: Client::new(),
        tag: new_tag(),
        received,
    }
}

/// A presigned form as the server answers it.
struct Form {
    key: String,
    url: String,
    fields: Vec<(String, String)>,
}

impl Setup {
    /// `POST /_ferrex/upload/direct` for a file of `zone` as `cookie`.
    async fn presign_as(
        &self,
        cookie: &str,
        zone: &str,
        name: &str,
        size: u64,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.server.url("/_ferrex/upload/direct"))
            .header(COOKIE, cookie)
            .json(&json!({
                "page": "/", "h": "Up.handle", "zone": zone,
                "name": name, "size": size, "type": content_type,
            }))
            .send()
            .await
            .expect("POST /_ferrex/upload/direct");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// A presign that must succeed.
    async fn presigned(&self, zone: &str, name: &str, size: u64, content_type: &str) -> Form {
        let (status, body) = self
            .presign_as(&self.cookie, zone, name, size, content_type)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Form {
            key: body["key"].as_str().expect("a key").to_owned(),
            url: body["url"].as_str().expect("a url").to_owned(),
            fields: body["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().expect("a name").to_owned(),
                        pair[1].as_str().expect("a value").to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Posts `bytes` to the store with `form`, as the browser does; the store's status and
    /// body.
    async fn send_to_store(&self, form: &Form, bytes: Vec<u8>) -> (StatusCode, String) {
        let mut multipart = reqwest::multipart::Form::new();
        for (name, value) in &form.fields {
            multipart = multipart.text(name.clone(), value.clone());
        }
        multipart = multipart.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("f"),
        );
        let response = self
            .http
            .post(&form.url)
            .multipart(multipart)
            .send()
            .await
            .expect("POST to the store");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// `POST /_ferrex/upload/finish` naming direct `keys`, as `cookie`.
    async fn finish_as(&self, cookie: &str, zone: &str, keys: &[&str]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.server.url("/_ferrex/upload/finish"))
            .header(COOKIE, cookie)
            .json(&json!({
                "page": "/", "h": "Up.handle", "zone": zone,
                "args": [{"$upload": zone}, self.tag], "direct": keys,
            }))
            .send()
            .await
            .expect("POST /_ferrex/upload/finish");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The names of the objects under the app's prefix.
    async fn objects(&self) -> Vec<String> {
        self.s3.objects_under(PREFIX).await
    }
}

fn bytes_of(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 11) as u8))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Through the HTTP API.

#[tokio::test]
async fn a_presign_past_the_zones_limits_is_refused_before_any_byte() {
    let s = setup_with(|app| app.max_upload_bytes(20_000_000)).await;
    // (name, size, type, status, error): the answers of tus creation.
    let cases: [(&str, u64, &str, StatusCode, &str); 5] = [
        (
            "big.txt",
            16_000_001,
            "text/plain",
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            "tiny.txt",
            1,
            "text/plain",
            StatusCode::BAD_REQUEST,
            "too small",
        ),
        (
            "x.exe",
            10,
            "application/x-msdownload",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "type not accepted",
        ),
        (
            "huge.txt",
            20_000_001,
            "text/plain",
            StatusCode::PAYLOAD_TOO_LARGE,
            "the upload is larger than the server's limit of 20000000 bytes",
        ),
        (
            "../../etc/x.png",
            10,
            "image/png",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "type not accepted",
        ),
    ];
    for (name, size, content_type, status, error) in cases {
        let (got, body) = s.presign_as(&s.cookie, "d", name, size, content_type).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["reason"], error, "{name}: {body}");
        assert!(body.get("key").is_none(), "{name}: no form: {body}");
    }
    // A zone the page does not upload to this handler, and no session at all.
    let (got, body) = s
        .presign_as(&s.cookie, "nope", "a.txt", 10, "text/plain")
        .await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{body}");
    let (got, _) = s
        .presign_as("ferrex_session=forged", "d", "a.txt", 10, "text/plain")
        .await;
    assert_ne!(got, StatusCode::OK);
    assert_eq!(
        s.objects().await,
        Vec::<String>::new(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn the_store_itself_refuses_a_body_other_than_presigned() {
    let s = setup_with(|app| app).await;
    let form = s.presigned("d", "ten.txt", 10, "text/plain").await;
    assert!(form.key.starts_with(".ferrex-upload-"), "{}", form.key);

    let (status, body) = s.send_to_store(&form, bytes_of(11)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("EntityTooLarge"), "{body}");
    let (status, body) = s.send_to_store(&form, bytes_of(9)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("EntityTooSmall"), "{body}");

    // Another type, another key, or a forged signature are refused too.
    let altered = |name: &str, value: &str| Form {
        key: form.key.clone(),
        url: form.url.clone(),
        fields: form
            .fields
            .iter()
            .map(|(n, v)| {
                let v = if n == name {
                    value.to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), v)
            })
            .collect(),
    };
    for (field, value) in [
        ("Content-Type", "text/html"),
        ("key", "app/elsewhere.txt"),
        ("x-amz-signature", &"0".repeat(64)),
    ] {
        let (status, body) = s.send_to_store(&altered(field, value), bytes_of(10)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{field}: {body}");
    }
    assert_eq!(
        s.objects().await,
        Vec::<String>::new(),
        "nothing was stored"
    );

    // Finishing a key whose file never arrived is refused, and leaves nothing.
    let (status, body) = s.finish_as(&s.cookie, "d", &[&form.key]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["reason"], "the file did not reach the file store");
    assert!(calls(s.tag).is_empty(), "the handler did not run");
}

#[tokio::test]
async fn a_finish_naming_a_key_of_another_session_or_zone_is_refused() {
    let s = setup_with(|app| app).await;
    let form = s.presigned("d", "mine.txt", 10, "text/plain").await;
    let (status, body) = s.send_to_store(&form, bytes_of(10)).await;
    assert!(status.is_success(), "{status}: {body}");

    let other = arrive(&s.server).await;
    let (status, body) = s.finish_as(&other, "d", &[&form.key]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another session: {body}");
    let (status, body) = s.finish_as(&s.cookie, "plain", &[&form.key]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another zone: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("another page, zone or handler"),
        "{body}"
    );
    let (status, body) = s.finish_as(&s.cookie, "d", &[&form.key, &form.key]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "named twice: {body}");
    assert!(calls(s.tag).is_empty(), "no handler ran");

    // The refusals took nothing: the owner's finish still works, once.
    let (status, body) = s.finish_as(&s.cookie, "d", &[&form.key]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls(s.tag).len(), 1);
    let (status, _) = s.finish_as(&s.cookie, "d", &[&form.key]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a key is finished once");
    assert_eq!(calls(s.tag).len(), 1);
}

#[tokio::test]
async fn a_direct_upload_reaches_the_handler_and_the_app_never_carries_its_bytes() {
    let s = setup_with(|app| app).await;
    let size = 12 * 1024 * 1024;
    let big = bytes_of(size);
    let small = b"hello direct".to_vec();
    let a = s
        .presigned("d", "docs/big.bin", size as u64, "application/octet-stream")
        .await;
    let b = s
        .presigned("d", "note.txt", small.len() as u64, "text/plain")
        .await;
    assert_eq!(
        s.send_to_store(&a, big.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.send_to_store(&b, small.clone()).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = s.finish_as(&s.cookie, "d", &[&a.key, &b.key]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        calls(s.tag),
        vec![vec![
            Received {
                relative_path: "docs/big.bin".into(),
                content_type: "application/octet-stream".into(),
                size: size as u64,
                sha256: hex_sha256(&big),
                shared: true,
            },
            Received {
                relative_path: "note.txt".into(),
                content_type: "text/plain".into(),
                size: small.len() as u64,
                sha256: hex_sha256(&small),
                shared: true,
            },
        ]]
    );
    let received = s.received.load(Ordering::SeqCst);
    assert!(
        received < 64 * 1024,
        "the app read {received} bytes of request bodies for a {size}-byte file"
    );
    // Persisted in the store; the staged objects went with the move.
    let kept =
        s.s3.store()
            .get(&format!("{PREFIX}/kept/1").into())
            .await
            .expect("the kept file")
            .bytes()
            .await
            .expect("its bytes");
    assert_eq!(hex_sha256(&kept), hex_sha256(&big));
    assert_eq!(s.objects().await, vec!["kept/1", "kept/2"]);
}

#[tokio::test]
async fn presigned_uploads_never_finished_are_swept_with_their_objects() {
    let s = setup_with(|app| app.tus_expiry(Duration::from_secs(3))).await;
    let form = s.presigned("d", "left.txt", 10, "text/plain").await;
    let (status, body) = s.send_to_store(&form, bytes_of(10)).await;
    assert!(status.is_success(), "{status}: {body}");
    assert_eq!(
        s.objects().await,
        vec![form.key.clone()],
        "the file is in the store"
    );

    let store = s.s3.store();
    let location: object_store::path::Path = format!("{PREFIX}/{}", form.key).into();
    let mut gone = false;
    for _ in 0..200 {
        if matches!(
            store.head(&location).await,
            Err(object_store::Error::NotFound { .. })
        ) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the sweep removed the abandoned object");
    let (status, body) = s.finish_as(&s.cookie, "d", &[&form.key]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(calls(s.tag).is_empty());
}

#[tokio::test]
async fn a_session_holds_a_bounded_number_of_presigned_uploads() {
    let s = setup_with(|app| app.max_direct_uploads_per_session(2)).await;
    s.presigned("d", "a.txt", 10, "text/plain").await;
    s.presigned("d", "b.txt", 10, "text/plain").await;
    let (status, body) = s
        .presign_as(&s.cookie, "d", "c.txt", 10, "text/plain")
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        body["error"],
        "this session already has 2 direct uploads waiting: finish them first"
    );
    // Another session has its own allowance.
    let other = arrive(&s.server).await;
    let (status, body) = s.presign_as(&other, "d", "c.txt", 10, "text/plain").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn without_an_s3_store_a_direct_zone_is_told_to_upload_through_the_server() {
    let tmp = scratch("direct-local-");
    let server = TestServer::start(
        App::new()
            .page("/", page)
            .upload_dir(tmp.path().join("uploads"))
            .max_upload_bytes(1000),
    )
    .await;
    let cookie = arrive(&server).await;
    let ask = |size: u64| {
        Client::new()
            .post(server.url("/_ferrex/upload/direct"))
            .header(COOKIE, cookie.clone())
            .json(&json!({
                "page": "/", "h": "Up.handle", "zone": "d",
                "name": "a.txt", "size": size, "type": "text/plain",
            }))
            .send()
    };
    let response = ask(10).await.expect("presign");
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .ends_with("the file goes through the server"),
        "{body}"
    );
    // The limits are checked first all the same.
    let response = ask(1001).await.expect("presign");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

// ---------------------------------------------------------------------------------------
// From the browser.

#[tokio::test]
async fn chromium_sends_a_direct_zones_file_straight_to_the_store() {
    let s = setup_with(|app| app).await;
    let origin = format!("http://{}", s.server.addr);
    s.s3.allow_origin(&origin);
    // The bucket's rule is in force: another origin is refused.
    let bucket = format!("{}/{}/", s.s3.endpoint(), S3Server::BUCKET);
    let preflight = |origin: String| {
        Client::new()
            .request(reqwest::Method::OPTIONS, &bucket)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight(origin.clone()).await.expect("preflight");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or("")),
        Some(origin.as_str())
    );
    let refused = preflight("http://127.0.0.1:1".into())
        .await
        .expect("preflight");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{refused:?}"
    );

    let tmp = scratch("direct-browser-");
    let size = 6 * 1024 * 1024;
    let bytes = bytes_of(size);
    let file = tmp.path().join("photo.bin");
    std::fs::write(&file, &bytes).expect("write the file");
    let mut browser = Browser::start().await;
    browser.set_wait_timeout(Duration::from_secs(60));
    browser.open(&s.server.url("/")).await;
    browser.choose_files("d", &[&file]).await;
    browser.click("#send").await;
    let expected = format!("photo.bin {size} {}", hex_sha256(&bytes));
    browser
        .wait_for_js(&format!(
            "document.getElementById('shown').textContent === '{expected}'"
        ))
        .await;
    assert_eq!(
        calls(1).iter().filter(|c| c[0].size == size as u64).count(),
        1
    );
    let received = s.received.load(Ordering::SeqCst);
    assert!(
        received < 64 * 1024,
        "the app read {received} bytes of request bodies for a {size}-byte file"
    );
    assert_eq!(s.objects().await, vec!["kept/1"]);
}

#[tokio::test]
async fn without_an_s3_store_chromium_sends_a_direct_zones_file_through_the_server() {
    let tmp = scratch("direct-local-browser-");
    let uploads = tmp.path().join("uploads");
    let server = TestServer::start(App::new().page("/", page).upload_dir(&uploads)).await;
    let bytes = b"through the server after all".to_vec();
    let file = tmp.path().join("note.txt");
    std::fs::write(&file, &bytes).expect("write the file");
    let browser = Browser::start().await;
    browser.open(&server.url("/")).await;
    browser.choose_files("d", &[&file]).await;
    browser.click("#send").await;
    let expected = format!("note.txt {} {}", bytes.len(), hex_sha256(&bytes));
    browser
        .wait_for_js(&format!(
            "document.getElementById('shown').textContent === '{expected}'"
        ))
        .await;
    assert_eq!(
        std::fs::read(uploads.join("note.txt")).expect("kept in the upload folder"),
        bytes
    );
}
