//! HTTP hygiene, over raw TCP on 127.0.0.1 so every byte (and every byte *not* sent) is
//! the test's: oversize bodies are refused from their `Content-Length` before they are
//! read, stalled bodies time out (configurable) and leave nothing behind, one table of
//! paths that climb out of the assets and upload folders, however encoded, finds nothing
//! through either folder's URL or `/_ferrex/file`, and every answer carries `nosniff`.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::path::PathBuf;
use std::time::Duration;

use ferrex::prelude::*;
use support::TestServer;
use support::disk::{names_in, scratch};
use support::raw_http::{self, RawRequest, upload_body_end, upload_body_start};
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
    // What traversal must never reach: a secret beside both folders and one a level
    // further up. The assets folder's name needs percent-encoding in a URL.
    let root = scratch.path().join("site");
    let uploads = root.join("uploads");
    let assets = root.join("public files");
    std::fs::create_dir_all(&assets).expect("assets folder");
    std::fs::write(assets.join("inside.txt"), b"inside").expect("an asset");
    for dir in [scratch.path(), root.as_path()] {
        std::fs::write(dir.join("secret.txt"), SECRET).expect("a secret");
    }
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
    RawRequest::get(path, "test")
        .header("Cookie", cookie)
        .header("Connection", "close")
        .head()
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
    upload_body_start(BOUNDARY, &event, file_name)
}

fn upload_suffix() -> String {
    upload_body_end(BOUNDARY)
}

/// Opens a raw upload of `length` bytes to `site` and sends its head and `prefix` (the
/// multipart start); the test sends the rest, or not.
async fn start_upload(site: &Site, length: u64, prefix: &str) -> TcpStream {
    let mut stream = TcpStream::connect(site.server.addr).await.expect("connect");
    stream
        .write_all(upload_head(&site.cookie, length).as_bytes())
        .await
        .expect("head");
    stream.write_all(prefix.as_bytes()).await.expect("prefix");
    stream
}

fn upload_head(cookie: &str, length: u64) -> String {
    RawRequest::post("/_ferrex/upload", "test")
        .header("Cookie", cookie)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("Content-Length", length)
        .header("Connection", "close")
        .head()
}

fn event_head(cookie: &str, length: u64) -> String {
    RawRequest::post("/_ferrex/event", "test")
        .header("Cookie", cookie)
        .header("Content-Type", "application/json")
        .header("Content-Length", length)
        .header("Connection", "close")
        .head()
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
    RawRequest::post("/_ferrex/event", "test")
        .header("Cookie", cookie)
        .header("Transfer-Encoding", "chunked")
        .header("Connection", "close")
        .head()
        + &format!("{:x}\r\n{event}\r\n0\r\n\r\n", event.len())
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
    let mut stream = start_upload(&site, length, &prefix).await;
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
    let mut stream = start_upload(&site, length, &prefix).await;
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

/// What the files that traversal must never reach hold.
const SECRET: &[u8] = b"TOP SECRET";

/// Paths below a folder's URL that must find nothing, however a server might decode them:
/// they climb out to a `secret.txt` one or two levels up, reach for a system file, or
/// treat a file as a folder. Each folder holds an `inside.txt`.
const REFUSED: &[&str] = &[
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "..%5csecret.txt",
    "..\\secret.txt",
    "%2e%2e/secret.txt",
    "%2e%2e%2fsecret.txt",
    ".%2e/secret.txt",
    "%c0%ae%c0%ae/secret.txt",
    "..%252fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "%2f..%2fsecret.txt",
    "..%2f..%2fsecret.txt",
    "inside.txt/..%2f..%2fsecret.txt",
    "nested/../../secret.txt",
    "%2fsecret.txt",
    "/secret.txt",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "inside.txt/x",
];

/// The URLs refused with 400 before any file is looked for, and what the answer says: a
/// path that is not UTF-8 once decoded (which the upload route's path extractor refuses
/// as plain text), and a `url=` that leaves the site.
const BAD_REQUESTS: &[(&str, &str)] = &[
    ("/_ferrex/uploads/%c0%ae%c0%ae/secret.txt", "Invalid UTF-8"),
    (
        "/_ferrex/file?url=%2F%5Fferrex%2Fuploads%2F%25c0%25ae%25c0%25ae%2Fsecret%2Etxt",
        "Invalid UTF-8",
    ),
    (
        "/_ferrex/file?url=%2F%2Fsecret%2Etxt",
        "only paths on this site",
    ),
    (
        "/_ferrex/file?url=%2F%2Fetc%2Fpasswd",
        "only paths on this site",
    ),
];

/// A site with public uploads (so that only the path decides, not a session's key) and an
/// `inside.txt` in both folders.
async fn traversal_site() -> Site {
    let site = site(App::public_uploads).await;
    std::fs::create_dir_all(&site.uploads).expect("upload folder");
    std::fs::write(site.uploads.join("inside.txt"), b"inside").expect("a file inside");
    site
}

/// `url` serves `inside.txt`, so the refusals that follow are about the path alone.
async fn assert_served(site: &Site, url: &str) {
    let (status, head, body) = exchange(&site.server, &get(url, &site.cookie)).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, b"inside".as_slice()),
        "{url}: {head}"
    );
}

/// Every path of [`REFUSED`], made a URL by `url_of`, answers 404 with a one-sentence JSON
/// error (or 400 as [`BAD_REQUESTS`] says), with `nosniff`, as no attachment, and holds
/// nothing of a secret.
async fn assert_each_refused(site: &Site, url_of: impl Fn(&str) -> String) {
    for path in REFUSED {
        let url = url_of(path);
        let (status, head, body) = exchange(&site.server, &get(&url, &site.cookie)).await;
        let text = String::from_utf8_lossy(&body);
        match BAD_REQUESTS.iter().find(|(bad, _)| *bad == url) {
            Some((_, says)) => {
                assert_eq!(status, 400, "{url}: {head}");
                assert!(text.contains(says), "{url}: {text}");
            }
            None => {
                assert_eq!(status, 404, "{url}: {head}");
                assert!(
                    head.contains("content-type: application/json"),
                    "{url}: {head}"
                );
                let error = error_of(&body);
                assert!(
                    !error.trim().is_empty() && !error.contains('\n') && error.len() < 300,
                    "{url}: not one sentence: {error:?}"
                );
            }
        }
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{url}: {head}"
        );
        assert!(!head.contains("content-disposition"), "{url}: {head}");
        assert!(
            !body.windows(SECRET.len()).any(|w| w == SECRET) && !text.contains("root:x:0:0"),
            "{url}: {text}"
        );
    }
}

/// `url` as the value of a query parameter: everything but letters and digits escaped.
fn query_value(url: &str) -> String {
    percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn no_path_climbs_out_of_the_assets_folder() {
    let site = traversal_site().await;
    assert_served(&site, "/inside.txt").await;
    assert_each_refused(&site, |path| format!("/{path}")).await;
}

#[tokio::test]
async fn no_path_climbs_out_of_the_upload_folder() {
    let site = traversal_site().await;
    assert_served(&site, "/_ferrex/uploads/inside.txt").await;
    assert_each_refused(&site, |path| format!("/_ferrex/uploads/{path}")).await;
}

#[tokio::test]
async fn the_file_route_serves_nothing_outside_either_folder() {
    let site = traversal_site().await;
    for folder in ["/", "/_ferrex/uploads/"] {
        let inside = query_value(&format!("{folder}inside.txt"));
        assert_served(&site, &format!("/_ferrex/file?url={inside}")).await;
        assert_each_refused(&site, |path| {
            format!(
                "/_ferrex/file?url={}",
                query_value(&format!("{folder}{path}"))
            )
        })
        .await;
    }
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
