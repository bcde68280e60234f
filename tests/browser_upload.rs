//! Uploads in real Chromium: choosing files (WebDriver `send_keys` on the zone's file
//! input), the selection list, clear, upload with progress, cancel, `on_drop`, the limits
//! checked in the browser, and uploaded HTML served back without running. The files
//! example and a test page with limited zones; every file lives under
//! `CARGO_TARGET_TMPDIR`.

mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::elements::Element;
use ferrex::prelude::*;
use serde_json::Value;
use support::disk::{UploadScratch, names_in, pattern};
use support::{Browser, TestServer};

// ---------------------------------------------------------------------------------------
// A test page: a zone that uploads on drop, a zone with limits that uploads on drop, and
// a zone with a progress handler. The state shows what the handlers received.

#[derive(Default, Serialize, Deserialize)]
struct Drops {
    /// `name:size` of every file received, in order.
    got: Vec<String>,
    /// How many times a handler ran.
    calls: u32,
    /// The last progress report, as `loaded/total/fraction`.
    last_progress: String,
    /// How many progress reports arrived.
    reports: u32,
    /// `name:size:reason` of every file a zone refused, via `on_drop_rejected`.
    refused: Vec<String>,
}

#[event]
impl Drops {
    async fn dropped(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        self.calls += 1;
        for file in files {
            self.got.push(format!("{}:{}", file.name, file.size));
            file.persist_to_upload_dir().await?;
        }
        Ok(())
    }

    fn rejected(&mut self, files: Vec<RejectedFile>) {
        for file in files {
            self.refused
                .push(format!("{}:{}:{}", file.name, file.size, file.reason));
        }
    }

    fn progress(&mut self, progress: UploadProgress) {
        self.reports += 1;
        self.last_progress = format!(
            "{}/{}/{}",
            progress.loaded, progress.total, progress.fraction
        );
    }
}

fn drops_page(s: &Drops) -> Node {
    ui! {
        vstack(
            upload(text("Drop here"), id = "d", multiple = true, on_drop = Drops::dropped),
            upload(
                text("Limited"),
                id = "z",
                multiple = true,
                max_files = 2,
                max_size = 1000u32,
                min_size = 1u32,
                accept = [".txt", "image/*"],
                on_drop = Drops::dropped,
            ),
            upload(text("With progress"), id = "p"),
            upload(
                text("Reports refusals"),
                id = "r",
                multiple = true,
                max_size = 10u32,
                accept = ".txt",
                on_drop_rejected = Drops::rejected,
            ),
            list(
                for item in &s.refused {
                    list_item(item, key = item)
                },
                id = "refused",
            ),
            button("Send p", id = "send-p",
                   on_click = Drops::dropped(upload_files("p", on_upload_progress = Drops::progress))),
            text(s.calls, id = "calls"),
            text({ &s.last_progress }, id = "last-progress"),
            text(s.reports, id = "reports"),
            list(
                for item in &s.got {
                    list_item(item, key = item)
                },
                id = "got",
            ),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Polls `condition` every 20 ms for at most `limit`.
async fn poll(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The files example on a fresh server, uploading into `scratch`.
async fn start_files(scratch: &UploadScratch) -> TestServer {
    TestServer::start(files::app().upload_dir(scratch.uploads())).await
}

/// Chooses `paths` in zone `zone` and waits until the runtime holds them all.
async fn choose_and_wait(browser: &Browser, zone: &str, paths: &[&Path]) {
    browser.choose_files(zone, paths).await;
    browser
        .wait_for_js(&format!(
            "window.ferrex.selected('{zone}').length === {}",
            paths.len()
        ))
        .await;
}

/// Chooses `paths` in the files example's zone and waits until its selection lists them all.
async fn choose_listed(browser: &Browser, paths: &[&Path]) {
    browser.choose_files("files", paths).await;
    browser
        .wait_for_count("[data-fx-selected-files=files] li", paths.len())
        .await;
}

async fn find_button(browser: &Browser, label: &str) -> Element {
    browser
        .client()
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
}

async fn click(browser: &Browser, label: &str) {
    find_button(browser, label)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {label:?}: {e}"));
}

/// The names shown in the selection list of `zone`.
async fn selected_names(browser: &Browser, zone: &str) -> Vec<String> {
    let value = browser.js(&format!(
            "return Array.from(document.querySelectorAll('[data-fx-selected-files={zone}] .fx-file-name'), e => e.textContent);"
        ),
    )
    .await;
    serde_json::from_value(value).expect("a list of names")
}

/// The page as the server renders it now for the browser's session (a plain GET with the
/// browser's session cookie): the handlers' state, whatever the DOM shows.
async fn server_page(browser: &Browser, server: &TestServer) -> String {
    let cookie = browser
        .client()
        .get_named_cookie("ferrex_session")
        .await
        .expect("the browser has a session cookie");
    reqwest::Client::new()
        .get(server.url("/"))
        .header("cookie", format!("ferrex_session={}", cookie.value()))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("the page")
}

/// Polls [`server_page`] (at most 30 s) until `condition` holds; returns that page.
async fn wait_for_server_page(
    browser: &Browser,
    server: &TestServer,
    what: &str,
    condition: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = server_page(browser, server).await;
        if condition(&page) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the server's page to show {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of the element with `id` in server-rendered HTML (`<p … id="x">text</p>`).
fn text_of(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].to_owned())
}

/// Whether the example's progress bar is at 100 in server-rendered HTML.
fn progress_full(html: &str) -> bool {
    html.split("<progress")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .any(|tag| tag.contains("id=\"upload-progress\"") && tag.contains("value=\"100\""))
}

/// Waits until the files example's selection is empty.
async fn wait_for_no_selection(browser: &Browser) {
    browser
        .wait_for_js(
            "document.querySelector('[data-fx-selected-files=files]').children.length === 0",
        )
        .await;
}

/// Waits for the files example's progress bar at 100 (read from the server's rendering: see
/// `replies_over_two_channels_apply_in_order`), then asserts the upload status reads `status`.
async fn assert_upload_finished(browser: &Browser, server: &TestServer, status: &str) {
    wait_for_server_page(browser, server, "the bar at 100", progress_full).await;
    assert_eq!(
        browser
            .js("return document.getElementById('upload-status').textContent;")
            .await,
        status
    );
}

// ---------------------------------------------------------------------------------------
// The files example.

#[tokio::test]
async fn select_clear_then_upload_one_file() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_files(&scratch).await;
    let browser = Browser::start().await;
    let bytes = pattern(4096, 3);
    let path = scratch.file("hello.txt", &bytes);
    browser.open(&server.url("/")).await;

    // Select: the selection lists the name with its size.
    choose_listed(&browser, &[&path]).await;
    assert_eq!(selected_names(&browser, "files").await, ["hello.txt"]);
    let item = browser
        .js("return document.querySelector('[data-fx-selected-files=files] li').textContent;")
        .await;
    assert!(
        item.as_str().is_some_and(|t| t.contains("4.0 KB")),
        "{item}"
    );

    // Clear empties it; nothing was sent.
    click(&browser, "Clear").await;
    wait_for_no_selection(&browser).await;
    assert_eq!(names_in(&scratch.uploads()), Vec::<String>::new());

    // Select again, upload: listed under "Uploaded files", bytes on disk, selection empty.
    choose_listed(&browser, &[&path]).await;
    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 1).await;
    assert_eq!(browser.texts("#uploaded li").await, ["hello.txt"]);
    assert_eq!(
        std::fs::read(scratch.uploads().join("hello.txt")).expect("on disk"),
        bytes
    );
    wait_for_no_selection(&browser).await;
    let href = browser
        .js("return document.querySelector('#uploaded a').getAttribute('href');")
        .await;
    // Bound to this session: `?k=` and a 128-bit tag.
    let href = href.as_str().expect("an href").to_owned();
    let tag = href
        .strip_prefix("/_ferrex/uploads/hello.txt?k=")
        .unwrap_or_else(|| panic!("a session-bound upload URL: {href}"));
    assert!(
        tag.len() == 32 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
        "{href}"
    );
    // The upload finished: the bar is at 100 (the last progress report is always sent).
    // Read from the server's rendering: see `replies_over_two_channels_apply_in_order`.
    assert_upload_finished(&browser, &server, "Uploaded 1 file(s).").await;
}

#[tokio::test]
async fn three_files_upload_in_order() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_files(&scratch).await;
    let browser = Browser::start().await;
    let names = ["zeta.txt", "alpha.bin", "mid.csv"];
    let contents = [pattern(100, 1), pattern(3 * 1024 * 1024, 2), pattern(7, 3)];
    let paths: Vec<PathBuf> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| scratch.file(n, c))
        .collect();
    browser.open(&server.url("/")).await;

    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    choose_listed(&browser, &refs).await;
    assert_eq!(selected_names(&browser, "files").await, names);

    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 3).await;
    assert_eq!(browser.texts("#uploaded li").await, names);
    for (name, content) in names.iter().zip(&contents) {
        assert_eq!(
            &std::fs::read(scratch.uploads().join(name)).expect("on disk"),
            content
        );
    }
    assert_upload_finished(&browser, &server, "Uploaded 3 file(s).").await;
}

#[tokio::test]
async fn cancel_during_a_slow_upload_leaves_nothing() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_files(&scratch).await;
    let mut browser = Browser::start().await;
    browser.set_wait_timeout(Duration::from_secs(30));
    // 1 GiB, sparse: instant to make, long enough to send that Cancel lands mid-way.
    let big = scratch.sparse("huge.bin", 1024 * 1024 * 1024);
    browser.open(&server.url("/")).await;

    choose_listed(&browser, &[&big]).await;
    let cancel = find_button(&browser, "Cancel").await;
    click(&browser, "Upload").await;
    browser
        .wait_for_js("document.getElementById('files').hasAttribute('data-fx-uploading')")
        .await;
    // Cancel only once the server is writing the file: its temp file is there to remove.
    poll(Duration::from_secs(20), "the server's temp file", || {
        names_in(&scratch.uploads())
            .iter()
            .any(|n| n.starts_with(".ferrex-upload-"))
    })
    .await;
    cancel.click().await.expect("cannot click Cancel");
    browser
        .wait_for_js("!document.getElementById('files').hasAttribute('data-fx-uploading')")
        .await;

    // The server saw the connection go: its temp file is removed.
    poll(
        Duration::from_secs(20),
        "the upload folder to empty",
        || names_in(&scratch.uploads()).is_empty(),
    )
    .await;
    // The handler never ran, and no progress report reached 100 %.
    let state = browser
        .js("return [document.getElementById('upload-progress').value, \
                 document.querySelectorAll('#uploaded li').length, \
                 document.body.textContent.includes('Nothing uploaded yet.'), \
                 !!document.getElementById('upload-status')];")
        .await;
    let progress = state[0].as_f64().expect("a progress value");
    assert!(progress < 100.0, "progress reached {progress} after cancel");
    assert_eq!(state[1], 0, "nothing listed");
    assert_eq!(state[2], true, "the empty list message stays");
    assert_eq!(state[3], false, "no upload status");
    // The selection is kept, to retry.
    assert_eq!(selected_names(&browser, "files").await, ["huge.bin"]);
    assert!(names_in(&scratch.uploads()).is_empty());
    println!("cancelled with the bar at {progress}%");
}

/// The `href` of the page's link to the uploaded file `name` (bound to the session).
async fn link_to(browser: &Browser, name: &str) -> String {
    let found = browser
        .client()
        .execute(
            "const a = Array.from(document.querySelectorAll('#uploaded a')) \
               .find(a => a.textContent === arguments[0]); \
             return a ? a.getAttribute('href') : null;",
            vec![serde_json::Value::String(name.to_owned())],
        )
        .await
        .expect("the page answers");
    match found {
        serde_json::Value::String(href) => href,
        other => panic!("no link to {name} on the page: {other}"),
    }
}

#[tokio::test]
async fn uploaded_html_is_downloaded_not_run() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_files(&scratch).await;
    let browser = Browser::start().await;
    let html = b"<html><head><title>x</title></head><body><script>document.title='pwned'; \
        try { parent.document.title = 'pwned'; } catch (e) {}</script>hi</body></html>";
    let path = scratch.file("x.html", html);
    browser.open(&server.url("/")).await;

    choose_listed(&browser, &[&path]).await;
    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 1).await;

    // Navigating to it downloads it (Content-Disposition: attachment): no page, no script.
    let url = link_to(&browser, "x.html").await;
    browser.goto(&server.url(&url)).await;
    let saved = browser.wait_for_download("x.html").await;
    assert_eq!(saved, html);
    let title = browser.client().title().await.expect("a title");
    assert_ne!(title, "pwned");
    let current = browser.client().current_url().await.expect("a URL");
    println!("after navigating to the upload: title {title:?}, URL {current}");

    // Framed by a page of the site (same origin, so a running script could reach the
    // parent), it is downloaded again instead of rendered.
    browser.open(&server.url("/")).await;
    let url = link_to(&browser, "x.html").await;
    browser
        .client()
        .execute(
            "const f = document.createElement('iframe'); f.src = arguments[0]; \
             document.body.appendChild(f); return null;",
            vec![serde_json::Value::String(url)],
        )
        .await
        .expect("an iframe");
    let again = browser.wait_for_download("x (1).html").await;
    assert_eq!(again, html);
    assert_eq!(
        browser.client().title().await.expect("a title"),
        "ferrex · Files"
    );

    // The same markup in a `.txt` is shown inline, as text (nosniff): still no script.
    let fake = scratch.file("fake.txt", html);
    choose_and_wait(&browser, "files", &[&fake]).await;
    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 2).await;
    let url = link_to(&browser, "fake.txt").await;
    browser.goto(&server.url(&url)).await;
    browser
        .wait_for_js("document.body && document.body.textContent.includes('<script>')")
        .await;
    assert_ne!(browser.client().title().await.expect("a title"), "pwned");
    assert_eq!(
        browser
            .js("return document.querySelectorAll('script').length;")
            .await,
        0
    );
}

/// Requests to `/pwned`: what a script in an uploaded file would send if it ever ran.
static PWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn pwned() -> &'static str {
    PWNED.fetch_add(1, Ordering::SeqCst);
    "seen"
}

#[tokio::test]
async fn uploaded_svg_never_runs_script() {
    let scratch = UploadScratch::new("browser-upload-");
    let router = files::app()
        .upload_dir(scratch.uploads())
        .into_router()
        .route("/pwned", axum::routing::get(pwned));
    let server = TestServer::start_router(router).await;
    let browser = Browser::start().await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="fetch('/pwned?onload')"><script>fetch('/pwned?script'); document.title = 'pwned';</script><rect width="20" height="20" fill="red"/></svg>"#;
    let path = scratch.file("x.svg", svg);
    browser.open(&server.url("/")).await;

    // The counter works: a script that does run is seen.
    browser.js("fetch('/pwned?control'); return null;").await;
    poll(Duration::from_secs(10), "the control request", || {
        PWNED.load(Ordering::SeqCst) == 1
    })
    .await;

    choose_and_wait(&browser, "files", &[&path]).await;
    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 1).await;
    let url = link_to(&browser, "x.svg").await;

    // Opened directly: an attachment, saved, not rendered.
    browser.goto(&server.url(&url)).await;
    assert_eq!(browser.wait_for_download("x.svg").await, svg);

    // As an image (scripts never run there), in a frame and as an object: nothing runs.
    browser.open(&server.url("/")).await;
    browser
        .client()
        .execute(
            "const u = arguments[0]; \
             const i = document.createElement('img'); i.id = 'svg-img'; i.src = u; \
             document.body.appendChild(i); \
             const f = document.createElement('iframe'); f.src = u; document.body.appendChild(f); \
             const o = document.createElement('object'); o.data = u; o.type = 'image/svg+xml'; \
             document.body.appendChild(o); return null;",
            vec![Value::String(url)],
        )
        .await
        .expect("embed the upload");
    browser
        .wait_for_js("document.getElementById('svg-img').complete")
        .await;
    // Give a script that ran every chance to be heard.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(PWNED.load(Ordering::SeqCst), 1, "a script in the SVG ran");
    assert_eq!(
        browser.client().title().await.expect("a title"),
        "ferrex · Files"
    );
}

#[tokio::test]
async fn screenshots_of_a_selection_and_an_upload() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_files(&scratch).await;
    let browser = Browser::start().await;
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/assets/reflex_banner.png"
    ))
    .expect("the example's PNG");
    let image = scratch.file("banner.png", &png);
    let text = scratch.file("notes.txt", &pattern(1500, 9));
    browser.open(&server.url("/")).await;

    choose_listed(&browser, &[&image, &text]).await;
    browser
        .wait_for_js("Array.from(document.querySelectorAll('.fx-preview')).every(i => i.complete && i.naturalWidth > 0)")
        .await;
    browser
        .js("document.getElementById('files').scrollIntoView(); return null;")
        .await;
    let shot = browser.screenshot("files-selection").await;
    println!("selection screenshot: {}", shot.display());

    click(&browser, "Upload").await;
    browser.wait_for_count("#uploaded li", 2).await;
    // Load the page afresh once the server has the last progress report, so the picture
    // shows the server's latest state.
    wait_for_server_page(&browser, &server, "the bar at 100", progress_full).await;
    browser.open(&server.url("/")).await;
    browser
        .wait_for_js("Array.from(document.querySelectorAll('#uploaded img')).every(i => i.complete && i.naturalWidth > 0)")
        .await;
    // The bar animates its width; a still picture wants the end of it.
    browser
        .js("const s = document.createElement('style'); \
         s.textContent = '*, ::-webkit-progress-value { transition: none !important; }'; \
         document.head.appendChild(s); return null;")
        .await;
    browser
        .js("document.getElementById('uploaded').scrollIntoView({block: 'center'}); return null;")
        .await;
    let shot = browser.screenshot("files-uploaded").await;
    println!("upload screenshot: {}", shot.display());
}

// ---------------------------------------------------------------------------------------
// The test page.

async fn start_drops(scratch: &UploadScratch) -> TestServer {
    TestServer::start(
        App::new()
            .page("/", drops_page)
            .upload_dir(scratch.uploads()),
    )
    .await
}

#[tokio::test]
async fn on_drop_uploads_at_once() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_drops(&scratch).await;
    let browser = Browser::start().await;
    let a = scratch.file("one.txt", b"first");
    let b = scratch.file("two.dat", &pattern(2048, 1));
    browser.open(&server.url("/")).await;

    // Choosing files is enough: no button.
    browser.choose_files("d", &[&a, &b]).await;
    browser.wait_for_count("#got li", 2).await;
    assert_eq!(
        browser.texts("#got li").await,
        ["one.txt:5", "two.dat:2048"]
    );
    assert_eq!(names_in(&scratch.uploads()), ["one.txt", "two.dat"]);
    assert_eq!(
        std::fs::read(scratch.uploads().join("one.txt")).expect("on disk"),
        b"first"
    );
    // Uploaded files leave the selection.
    browser
        .wait_for_js("window.ferrex.selected('d').length === 0")
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('calls').textContent;")
            .await,
        "1"
    );
}

#[tokio::test]
async fn the_last_progress_report_says_everything_was_sent() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_drops(&scratch).await;
    let browser = Browser::start().await;
    let size = 3 * 1024 * 1024;
    let path = scratch.file("three-megs.bin", &pattern(size, 4));
    browser.open(&server.url("/")).await;

    choose_and_wait(&browser, "p", &[&path]).await;
    browser.click("#send-p").await;
    browser.wait_for_count("#got li", 1).await;
    // The handler's state (see `replies_over_two_channels_apply_in_order` for why not
    // the DOM).
    let page = wait_for_server_page(&browser, &server, "the last report", |page| {
        text_of(page, "last-progress").is_some_and(|t| t.ends_with("/1"))
    })
    .await;
    let last = text_of(&page, "last-progress").expect("the last report");
    let parts: Vec<u64> = last
        .split('/')
        .take(2)
        .map(|p| p.parse().expect("a number"))
        .collect();
    assert_eq!(parts[0], parts[1], "loaded == total: {last}");
    assert!(
        parts[1] >= size as u64,
        "total counts the whole body: {last}"
    );
    assert_eq!(names_in(&scratch.uploads()), ["three-megs.bin"]);
}

#[tokio::test]
async fn progress_reports_come_about_ten_times_a_second_at_most() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_drops(&scratch).await;
    let mut browser = Browser::start().await;
    browser.set_wait_timeout(Duration::from_secs(60));
    // 256 MiB, sparse: long enough to send for a stream of reports.
    let size: u64 = 256 * 1024 * 1024;
    let path = scratch.sparse("quarter-gig.bin", size);
    browser.open(&server.url("/")).await;

    choose_and_wait(&browser, "p", &[&path]).await;
    let send = browser
        .client()
        .find(Locator::Css("#send-p"))
        .await
        .expect("the send button");
    let started = Instant::now();
    send.click().await.expect("click");
    browser.wait_for_count("#got li", 1).await;
    let page = wait_for_server_page(&browser, &server, "the last report", |page| {
        text_of(page, "last-progress").is_some_and(|t| t.ends_with("/1"))
    })
    .await;
    let elapsed = started.elapsed();
    let reports: u64 = text_of(&page, "reports")
        .and_then(|t| t.parse().ok())
        .expect("a count");
    let last = text_of(&page, "last-progress").expect("the last report");
    println!("{reports} progress reports in {elapsed:?}; last {last}");
    let allowed = (elapsed.as_secs_f64() * 10.0).ceil() as u64 + 2;
    assert!(reports >= 1, "at least the last report");
    assert!(
        reports <= allowed,
        "{reports} reports in {elapsed:?} is more than ~10 a second"
    );
    let parts: Vec<u64> = last
        .split('/')
        .take(2)
        .map(|p| p.parse().expect("a number"))
        .collect();
    assert_eq!(parts[0], parts[1], "loaded == total: {last}");
    assert!(parts[1] >= size, "{last}");
    assert_eq!(
        std::fs::metadata(scratch.uploads().join("quarter-gig.bin"))
            .expect("on disk")
            .len(),
        size
    );
}

#[tokio::test]
async fn limits_are_checked_in_the_browser() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_drops(&scratch).await;
    let browser = Browser::start().await;
    let big = scratch.file("big.txt", &pattern(2000, 1));
    let empty = scratch.file("empty.txt", b"");
    let exe = scratch.file("tool.exe", b"MZ");
    browser.open(&server.url("/")).await;

    // Each refused file gets a toast naming it and the reason; the zone's on_drop upload
    // never starts, so the server is not asked.
    browser.choose_files("z", &[&big]).await;
    browser.wait_for_toast("big.txt: too large").await;
    browser.choose_files("z", &[&exe]).await;
    browser.wait_for_toast("tool.exe: type not accepted").await;
    browser.choose_files("z", &[&empty]).await;
    browser.wait_for_toast("empty.txt: too small").await;
    assert_eq!(
        browser
            .js("return window.ferrex.selected('z').length;")
            .await,
        0
    );

    // Too many: three good files, the zone takes two and uploads them at once.
    let a = scratch.file("a.txt", b"aa");
    let b = scratch.file("b.txt", b"bbb");
    let c = scratch.file("c.txt", b"cccc");
    browser.choose_files("z", &[&a, &b, &c]).await;
    browser.wait_for_toast("c.txt: too many files").await;
    browser.wait_for_count("#got li", 2).await;

    // Only the accepted files ever reached the handler, in one call.
    assert_eq!(browser.texts("#got li").await, ["a.txt:2", "b.txt:3"]);
    assert_eq!(
        browser
            .js("return document.getElementById('calls').textContent;")
            .await,
        "1"
    );
    assert_eq!(names_in(&scratch.uploads()), ["a.txt", "b.txt"]);
}

#[tokio::test]
async fn the_server_limit_is_reported_in_the_browser() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = TestServer::start(
        files::app()
            .upload_dir(scratch.uploads())
            .max_upload_bytes(1024 * 1024),
    )
    .await;
    let browser = Browser::start().await;
    let path = scratch.file("large.bin", &pattern(20 * 1024 * 1024, 6));
    browser.open(&server.url("/")).await;

    // The zone allows it, the server does not: its 413 reaches the user as a toast.
    choose_and_wait(&browser, "files", &[&path]).await;
    click(&browser, "Upload").await;
    browser
        .wait_for_toast("larger than the server's limit")
        .await;
    assert!(names_in(&scratch.uploads()).is_empty());
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#uploaded li').length;")
            .await,
        0
    );
}

#[tokio::test]
async fn on_drop_rejected_receives_the_refusals_instead_of_a_toast() {
    let scratch = UploadScratch::new("browser-upload-");
    let server = start_drops(&scratch).await;
    let browser = Browser::start().await;
    let long = scratch.file("long.txt", &pattern(11, 1));
    let pic = scratch.file("pic.png", b"png");
    browser.open(&server.url("/")).await;

    browser.choose_files("r", &[&long, &pic]).await;
    browser.wait_for_count("#refused li", 2).await;
    assert_eq!(
        browser.texts("#refused li").await,
        ["long.txt:11:too large", "pic.png:3:type not accepted"]
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.fx-toast').length;")
            .await,
        0,
        "no toast when the page handles refusals"
    );
    assert_eq!(
        browser
            .js("return window.ferrex.selected('r').length;")
            .await,
        0
    );
}

// ---------------------------------------------------------------------------------------
// Replies arriving over two channels: the upload's HTTP reply and the WebSocket's.

/// Set by `Race::take` once the upload handler has run.
static TAKEN: AtomicBool = AtomicBool::new(false);
/// Lets the held upload reply go.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// The status of the held upload reply, once released (0 before).
static RELEASED: AtomicU16 = AtomicU16::new(0);

#[derive(Default, Serialize, Deserialize)]
struct Race {
    got: Vec<String>,
    bumps: u32,
}

#[event]
impl Race {
    async fn take(&mut self, files: Vec<UploadFile>) {
        self.got.extend(files.iter().map(|f| f.name.clone()));
        TAKEN.store(true, Ordering::SeqCst);
    }

    fn bump(&mut self) {
        self.bumps += 1;
    }
}

fn race_page(s: &Race) -> Node {
    ui! {
        vstack(
            upload(text("Drop"), id = "u", on_drop = Race::take),
            button("Bump", id = "bump", on_click = Race::bump),
            text(s.bumps, id = "bumps"),
            list(for name in &s.got { list_item(name, key = name) }, id = "race-got"),
        )
    }
}

/// Holds the answer to the upload request that runs the handler (`POST /_ferrex/upload`,
/// or `/_ferrex/upload/finish` after tus uploads) until released.
async fn hold_upload_reply(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let upload = matches!(
        request.uri().path(),
        "/_ferrex/upload" | "/_ferrex/upload/finish"
    );
    let response = next.run(request).await;
    if upload {
        RELEASE.notified().await;
        RELEASED.store(response.status().as_u16(), Ordering::SeqCst);
    }
    response
}

/// The server runs the upload handler, then a click's handler (WebSocket); the click's
/// reply reaches the browser first, the upload's reply (rendered before the click) last.
/// The page must keep the newer state: the runtime skips HTML older than what it shows
/// (`rev`), so the late upload reply does not roll the click back (nor does a late
/// progress report roll back an upload's final render).
#[tokio::test]
async fn replies_over_two_channels_apply_in_order() {
    let scratch = UploadScratch::new("browser-upload-");
    let router = App::new()
        .page("/", race_page)
        .upload_dir(scratch.uploads())
        .into_router()
        .layer(axum::middleware::from_fn(hold_upload_reply));
    let server = TestServer::start_router(router).await;
    let browser = Browser::start().await;
    let file = scratch.file("late.txt", b"late");
    browser.open(&server.url("/")).await;

    // The upload runs its handler; its reply is held back.
    browser.choose_files("u", &[&file]).await;
    poll(Duration::from_secs(10), "the upload handler", || {
        TAKEN.load(Ordering::SeqCst)
    })
    .await;
    // A click, handled after the upload: its reply shows both.
    browser.click("#bump").await;
    browser
        .wait_for_js("document.getElementById('bumps').textContent === '1' && document.querySelectorAll('#race-got li').length === 1")
        .await;
    // The upload is still in flight, its file still selected.
    assert_eq!(
        browser
            .js(
                "return [document.getElementById('u').hasAttribute('data-fx-uploading'), \
                         window.ferrex.selected('u').length];"
            )
            .await,
        serde_json::json!([true, 1]),
        "the upload reply was not held"
    );
    // Now the older upload reply arrives.
    RELEASE.notify_one();
    poll(Duration::from_secs(10), "the held reply's release", || {
        RELEASED.load(Ordering::SeqCst) != 0
    })
    .await;
    assert_eq!(RELEASED.load(Ordering::SeqCst), 200, "the upload reply");
    browser
        .wait_for_js("!document.getElementById('u').hasAttribute('data-fx-uploading')")
        .await;
    // The browser took it as a success (the uploaded file leaves the selection), with no
    // error shown.
    assert_eq!(
        browser
            .js("return [window.ferrex.selected('u').length, \
                         document.querySelectorAll('.fx-toast').length];")
            .await,
        serde_json::json!([0, 0]),
        "the upload reply failed in the browser"
    );
    let server_side = server_page(&browser, &server).await;
    assert_eq!(text_of(&server_side, "bumps").as_deref(), Some("1"));
    assert_eq!(
        browser
            .js("return document.getElementById('bumps').textContent;")
            .await,
        "1",
        "the older upload reply rolled the page back"
    );
}

#[derive(Default, Serialize, Deserialize)]
struct Picky {
    tries: u32,
}

#[event]
impl Picky {
    async fn refuse(&mut self, files: Vec<UploadFile>) -> Result<(), String> {
        self.tries += 1;
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        Err(format!("No room for {}.", names.join(", ")))
    }
}

fn picky_page(s: &Picky) -> Node {
    ui! {
        vstack(
            upload(text("Drop"), id = "p"),
            button("Send", on_click = Picky::refuse(upload_files("p"))),
            text(s.tries, id = "tries"),
        )
    }
}

/// The files arrive but the handler returns `Err`: the page shows its message and its
/// render (422 with a reply), the selection stays for another try, nothing is kept.
#[tokio::test]
async fn an_upload_handler_error_is_shown_and_the_selection_kept() {
    let scratch = UploadScratch::new("browser-upload-");
    let app = App::new()
        .page("/", picky_page)
        .upload_dir(scratch.uploads());
    let server = TestServer::start(app).await;
    let browser = Browser::start().await;
    let file = scratch.file("big-idea.txt", b"idea");
    browser.open(&server.url("/")).await;

    choose_and_wait(&browser, "p", &[&file]).await;
    click(&browser, "Send").await;
    browser
        .wait_for_js("document.getElementById('tries').textContent === '1'")
        .await;
    browser.wait_for_toast("No room for big-idea.txt.").await;
    assert_eq!(
        browser
            .js("return window.ferrex.selected('p').length;")
            .await,
        1
    );
    assert_eq!(names_in(&scratch.uploads()), Vec::<String>::new());

    // Another try sends the same selection again.
    click(&browser, "Send").await;
    browser
        .wait_for_js("document.getElementById('tries').textContent === '2'")
        .await;
}
