//! HTTP hygiene, over raw TCP on 127.0.0.1 so every byte (and every byte *not* sent) is
//! the test's: oversize bodies are refused from their `Content-Length` before they are
//! read, stalled bodies time out (configurable) and leave nothing behind, traversal out of
//! the assets and upload folders answers 404 however it is encoded, and every answer
//! carries `nosniff`.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::path::PathBuf;
use std::time::Duration;

use ferrex::prelude::*;
use support::TestServer;
use support::disk::{names_in, scratch};
use support::raw_http;
use support::run_log::{new_tag, ran, runs};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long a test waits for an answer before it calls the server stuck.
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Default, Serialize, Deserialize)]
struct Vault {
    kept: Vec<String>,
    clicks: u64,
}

#[event]
impl Vault {
    async fn keep(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        for file in files {
            let saved = file.persist_to_upload_dir().await?;
            self.kept.push(saved.name);
        }
        ran(tag);
        Ok(())
    }

    fn click(&mut self) {
        self.clicks += 1;
    }
}

fn vault(s: &Vault) -> Node {
    ui! {
        vstack(
            text(s.clicks, id = "clicks"),
            upload(text("Drop"), id = "u", multiple = true),
            button("Keep", on_click = Vault::keep(upload_files("u"), 0)),
            button("Click", on_click = Vault::click),
        )
    }
}

struct Site {
    server: TestServer,
    _scratch: tempfile::TempDir,
    uploads: PathBuf,
    cookie: String,
}

async fn site(configure: impl FnOnce(App) -> App) -> Site {
    let scratch = scratch("hygiene-");
    let uploads = scratch.path().join("uploads");
    let assets = scratch.path().join("assets");
    std::fs::create_dir_all(&assets).expect("assets folder");
    std::fs::write(assets.join("hello.txt"), b"hello").expect("an asset");
    // What traversal must never reach: beside both folders.
    std::fs::write(scratch.path().join("secret.txt"), b"TOP SECRET").expect("a secret");
    let app = App::new()
        .page("/", vault)
        .assets_dir(&assets)
        .upload_dir(&uploads);
    let server = TestServer::start(configure(app)).await;
    let (_, head, _) = exchange(&server, &get("/", "")).await;
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|v| v.split(';').next())
        .expect("the first visit sets a session cookie")
        .to_owned();
    Site {
        server,
        _scratch: scratch,
        uploads,
        cookie,
    }
}

fn get(path: &str, cookie: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
}

/// Sends `request` whole and reads the answer: (status, lower-cased head, body).
async fn exchange(server: &TestServer, request: &str) -> (u16, String, Vec<u8>) {
    let (status, head, body) = raw_http::exchange(server.addr, request.as_bytes(), PATIENCE).await;
    (status, head.to_ascii_lowercase(), body)
}

/// Reads one answer on a connection whose request the test wrote itself: (status,
/// lower-cased head, body).
async fn read_answer(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let (status, head, body) = raw_http::read_answer(stream, PATIENCE).await;
    (status, head.to_ascii_lowercase(), body)
}

fn error_of(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).expect("a JSON error body");
    value["error"]
        .as_str()
        .expect("an error sentence")
        .to_owned()
}

const BOUNDARY: &str = "ferrexHygieneBoundary";

/// The start of an upload body: the `event` field (the handler counts its runs under
/// `tag`) and the head of one file's part.
fn upload_prefix(file_name: &str, tag: u64) -> String {
    let event =
        format!(r#"{{"page":"/","h":"Vault.keep","args":[{{"$upload":"u"}},{tag}],"zone":"u"}}"#);
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{event}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}

fn upload_suffix() -> String {
    format!("\r\n--{BOUNDARY}--\r\n")
}

fn upload_head(cookie: &str, length: u64) -> String {
    format!(
        "POST /_ferrex/upload HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

fn event_head(cookie: &str, length: u64) -> String {
    format!(
        "POST /_ferrex/event HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

async fn clicks(site: &Site) -> String {
    let (status, _, body) = exchange(&site.server, &get("/", &site.cookie)).await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&body).into_owned();
    let start = page.find("id=\"clicks\">").expect("the click count") + "id=\"clicks\">".len();
    page[start..start + page[start..].find('<').expect("its end")].to_owned()
}

// ---------- oversize bodies ----------

#[tokio::test]
async fn an_oversize_upload_is_413_from_its_content_length_before_any_body_is_sent() {
    let site = site(|app| {
        app.max_upload_bytes(1024 * 1024)
            .body_timeout(Duration::from_secs(60))
    })
    .await;
    let tag = new_tag();
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    // Only the head: a server that waited for the body would never answer (60 s timeout).
    stream
        .write_all(upload_head(&site.cookie, 50 * 1024 * 1024 * 1024).as_bytes())
        .await
        .expect("send the head");
    let (status, head, body) = read_answer(&mut stream).await;
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let error = error_of(&body);
    assert!(error.contains("1048576 bytes"), "{error}");
    assert_eq!(names_in(&site.uploads), Vec::<String>::new());
    assert_eq!(runs(tag), 0, "the handler never ran");
}

#[tokio::test]
async fn an_oversize_event_is_413_from_its_content_length_before_any_body_is_sent() {
    let site = site(|app| {
        app.max_event_bytes(4096)
            .body_timeout(Duration::from_secs(60))
    })
    .await;
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    stream
        .write_all(event_head(&site.cookie, 1 << 40).as_bytes())
        .await
        .expect("send the head");
    let (status, head, body) = read_answer(&mut stream).await;
    assert_eq!(status, 413, "{head}");
    assert!(error_of(&body).contains("4096 bytes"), "{body:?}");
    assert_eq!(clicks(&site).await, "0");
}

/// An event request whose body is one chunk of `event`, with no `Content-Length`.
fn chunked_event(cookie: &str, event: &str) -> String {
    format!(
        "POST /_ferrex/event HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{event}\r\n0\r\n\r\n",
        event.len()
    )
}

#[tokio::test]
async fn an_event_body_without_a_length_is_cut_off_at_the_limit() {
    let site = site(|app| app.max_event_bytes(4096)).await;
    // Chunked, no Content-Length: the server reads up to the limit, then refuses.
    let padding = " ".repeat(10_000);
    let event = format!(r#"{{"page":"/","h":"Vault.click","args":[]{padding}}}"#);
    let (status, _, body) = exchange(&site.server, &chunked_event(&site.cookie, &event)).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert_eq!(clicks(&site).await, "0");

    // Under the limit, the same way, it runs.
    let event = r#"{"page":"/","h":"Vault.click","args":[]}"#;
    let (status, _, body) = exchange(&site.server, &chunked_event(&site.cookie, event)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(clicks(&site).await, "1");
}

// ---------- slow bodies ----------

#[tokio::test]
async fn a_stalled_upload_times_out_with_408_and_leaves_nothing() {
    let site = site(|app| app.body_timeout(Duration::from_millis(400))).await;
    let tag = new_tag();
    let prefix = upload_prefix("stalled.bin", tag);
    let length = (prefix.len() + 1_000_000 + upload_suffix().len()) as u64;
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    stream
        .write_all(upload_head(&site.cookie, length).as_bytes())
        .await
        .expect("head");
    stream.write_all(prefix.as_bytes()).await.expect("prefix");
    stream.write_all(&[7u8; 1000]).await.expect("some bytes");
    // …and then nothing: the server gives up after the body timeout.
    let (status, head, body) = read_answer(&mut stream).await;
    assert_eq!(status, 408, "{head}");
    let error = error_of(&body);
    assert!(error.contains("stalled"), "{error}");
    // The temporary file goes with the failed request.
    let mut left = names_in(&site.uploads);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = names_in(&site.uploads);
    }
    assert_eq!(left, Vec::<String>::new());
    assert_eq!(runs(tag), 0, "the handler never ran");
}

#[tokio::test]
async fn a_slow_but_steady_upload_is_not_cut_off() {
    // Each pause is under the timeout; the whole upload takes several timeouts.
    let site = site(|app| app.body_timeout(Duration::from_millis(800))).await;
    let tag = new_tag();
    let prefix = upload_prefix("steady.bin", tag);
    let suffix = upload_suffix();
    let chunk = [42u8; 4096];
    let chunks = 8;
    let length = (prefix.len() + chunk.len() * chunks + suffix.len()) as u64;
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    stream
        .write_all(upload_head(&site.cookie, length).as_bytes())
        .await
        .expect("head");
    stream.write_all(prefix.as_bytes()).await.expect("prefix");
    for _ in 0..chunks {
        tokio::time::sleep(Duration::from_millis(250)).await;
        stream.write_all(&chunk).await.expect("a chunk");
    }
    stream.write_all(suffix.as_bytes()).await.expect("suffix");
    let (status, head, body) = read_answer(&mut stream).await;
    assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&body));
    let kept = std::fs::read(site.uploads.join("steady.bin")).expect("kept");
    assert_eq!(kept.len(), chunk.len() * chunks);
    assert!(kept.iter().all(|&b| b == 42));
    assert_eq!(runs(tag), 1, "the handler ran once");
}

#[tokio::test]
async fn a_stalled_event_body_times_out_with_408() {
    let site = site(|app| app.body_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    stream
        .write_all(event_head(&site.cookie, 200).as_bytes())
        .await
        .expect("head");
    stream
        .write_all(br#"{"page":"/","h":"Vault.cl"#)
        .await
        .expect("part of the body");
    let (status, head, body) = read_answer(&mut stream).await;
    assert_eq!(status, 408, "{head}");
    assert!(error_of(&body).contains("stalled"));
    assert_eq!(clicks(&site).await, "0");
}

// ---------- traversal ----------

#[tokio::test]
async fn traversal_out_of_the_assets_folder_is_404_however_encoded() {
    let site = site(|app| app).await;
    let (status, _, body) = exchange(&site.server, &get("/hello.txt", "")).await;
    assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
    for path in [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%252fsecret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%2fsecret.txt",
        "//secret.txt",
        "/.%2e/secret.txt",
        "/hello.txt/..%2f..%2fsecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
    ] {
        assert_hidden(&site, path).await;
    }
}

#[tokio::test]
async fn traversal_out_of_the_upload_folder_is_404_however_encoded() {
    // Public uploads, so that only the path decides (a session tag is not needed).
    let site = site(App::public_uploads).await;
    std::fs::create_dir_all(&site.uploads).expect("upload folder");
    std::fs::write(site.uploads.join("inside.txt"), b"inside").expect("a file inside");
    let (status, _, body) = exchange(&site.server, &get("/_ferrex/uploads/inside.txt", "")).await;
    assert_eq!((status, body.as_slice()), (200, b"inside".as_slice()));
    for path in [
        "/_ferrex/uploads/../secret.txt",
        "/_ferrex/uploads/..%2fsecret.txt",
        "/_ferrex/uploads/%2e%2e/secret.txt",
        "/_ferrex/uploads/%2e%2e%2fsecret.txt",
        "/_ferrex/uploads/..%252fsecret.txt",
        "/_ferrex/uploads/%252e%252e%252fsecret.txt",
        "/_ferrex/uploads/..%5csecret.txt",
        "/_ferrex/uploads/%2f..%2fsecret.txt",
        "/_ferrex/uploads/.%2e/secret.txt",
        "/_ferrex/uploads/inside.txt/..%2f..%2fsecret.txt",
        "/_ferrex/file?url=/_ferrex/uploads/..%252fsecret.txt",
        "/_ferrex/file?url=/..%252fsecret.txt",
    ] {
        assert_hidden(&site, path).await;
    }
}

/// `path` answers 404 with `nosniff`, and nothing of the secret beside the folders.
async fn assert_hidden(site: &Site, path: &str) {
    let (status, head, body) = exchange(&site.server, &get(path, &site.cookie)).await;
    assert_eq!(status, 404, "{path}: {head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{path}");
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("TOP SECRET"), "{path}: {text}");
}

// ---------- nosniff ----------

#[tokio::test]
async fn upload_answers_and_uploaded_files_carry_nosniff() {
    let site = site(App::public_uploads).await;
    std::fs::create_dir_all(&site.uploads).expect("upload folder");
    std::fs::write(site.uploads.join("page.html"), b"<script>1</script>").expect("a file");
    // The file itself, served (and as an attachment), then three refusals.
    for (request, expected) in [
        (get("/_ferrex/uploads/page.html", ""), 200),
        (get("/_ferrex/uploads/missing.html", ""), 404),
        (upload_head(&site.cookie, 3) + "abc", 400),
        (upload_head("", 3) + "abc", 403),
    ] {
        let (status, head, body) = exchange(&site.server, &request).await;
        assert_eq!(status, expected, "{head}");
        if status == 200 {
            assert_eq!(body, b"<script>1</script>");
            assert!(head.contains("content-disposition: attachment"), "{head}");
        }
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{status}: {head}"
        );
    }
}
