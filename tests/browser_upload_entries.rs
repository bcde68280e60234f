//! Each selected file is an entry of its own in real Chromium: its own progress bar, its
//! own remove/cancel button (the rest of the batch goes on), its own error beside it (the
//! zone's rules in the browser, or the server's refusal), each given to `on_drop_rejected`
//! with its code; `on_upload_progress` reports every file; handlers return
//! `cancel_upload` and `clear_selected_files`.
//!
//! The server side is a plain app with an `UploadWriter` that holds `slow.bin` until the
//! test lets it go (so a file is caught mid-upload without timing) and refuses `bad.txt`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrex::prelude::*;
use ferrex::upload::{UploadTarget, UploadWriter};
use serde_json::{Value, json};
use support::disk::{UploadScratch, names_in};
use support::{Browser, TestServer};

#[derive(Default, Serialize, Deserialize)]
struct Batch {
    /// `name:size` of every file a handler received, in order.
    got: Vec<String>,
    /// How many times an upload handler ran.
    calls: u32,
    /// `name:code` of every file refused, via `on_drop_rejected`.
    refused: Vec<String>,
    /// The last report of the whole batch, `loaded/total`.
    whole: String,
    /// Each file's last report, `loaded/total`.
    each: BTreeMap<String, String>,
}

#[event]
impl Batch {
    async fn received(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        self.calls += 1;
        for file in files {
            self.got.push(format!("{}:{}", file.name, file.size));
            file.persist_to_upload_dir().await?;
        }
        Ok(())
    }

    fn rejected(&mut self, files: Vec<RejectedFile>) {
        for file in files {
            let code = serde_json::to_value(file.code).expect("a code serializes");
            let code = code.as_str().unwrap_or_default().to_owned();
            self.refused.push(format!("{}:{code}", file.name));
        }
    }

    fn progress(&mut self, progress: UploadProgress) {
        self.whole = format!("{}/{}", progress.loaded, progress.total);
        for file in progress.files {
            self.each
                .insert(file.name, format!("{}/{}", file.loaded, file.total));
        }
    }

    /// Stops zone `g`'s upload as soon as any of `slow.bin` is on its way.
    fn guard(&mut self, progress: UploadProgress) -> Option<ClientAction> {
        let slow_started = progress
            .files
            .iter()
            .any(|f| f.name == "slow.bin" && f.loaded > 0);
        slow_started.then(|| cancel_upload("g"))
    }

    /// Forgets everything zone `r` holds, refused files included.
    fn clear_r(&mut self) -> ClientAction {
        clear_selected_files("r")
    }
}

fn page(s: &Batch) -> Node {
    ui! {
        vstack(
            upload(text("Files"), id = "u", multiple = true, on_drop_rejected = Batch::rejected),
            selected_files(id = "u"),
            button("Upload u", id = "upload-u", on_click = Batch::received(
                upload_files("u", on_upload_progress = Batch::progress),
            )),
            upload(
                text("Ruled"),
                id = "r",
                multiple = true,
                max_files = 2,
                max_size = 100u32,
                min_size = 1u32,
                accept = ".txt",
                on_drop_rejected = Batch::rejected,
            ),
            selected_files(id = "r"),
            button("Upload r", id = "upload-r", on_click = Batch::received(upload_files("r"))),
            button("Clear r", id = "clear-r", on_click = Batch::clear_r),
            upload(text("Guarded"), id = "g"),
            selected_files(id = "g"),
            button("Upload g", id = "upload-g", on_click = Batch::received(
                upload_files("g", on_upload_progress = Batch::guard),
            )),
            text(s.calls, id = "calls"),
            text({ &s.whole }, id = "whole"),
            list(for item in &s.got { list_item(item, key = item) }, id = "got"),
            list(for item in &s.refused { list_item(item, key = item) }, id = "refused"),
            list(
                for (name, seen) in &s.each {
                    list_item(format!("{name}:{seen}"), key = name)
                },
                id = "each",
            ),
        )
    }
}

/// Holds `slow.bin`'s bytes until the gate opens, and refuses `bad.txt` as a virus scanner
/// would.
struct Checker {
    name: String,
    gate: Gate,
}

impl UploadWriter for Checker {
    fn write(&mut self, _bytes: &[u8]) -> std::io::Result<()> {
        if self.name == "bad.txt" {
            return Err(std::io::Error::other("the scanner refused it"));
        }
        if self.name == "slow.bin" {
            self.gate.wait();
        }
        Ok(())
    }
}

/// What holds `slow.bin`: open once the test says so, when the bench is dropped (a failed
/// test), or 30 s after the bench started, whichever comes first, so no writer thread
/// outlives a test for long (the test's runtime waits for its blocking threads).
#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
    until: Instant,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            open: Arc::new(AtomicBool::new(false)),
            until: Instant::now() + Duration::from_secs(30),
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    fn wait(&self) {
        while !self.open.load(Ordering::SeqCst) && Instant::now() < self.until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

struct Bench {
    /// Kept for the test's length: dropping it stops the server.
    _server: TestServer,
    browser: Browser,
    gate: Gate,
    dir: UploadScratch,
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.gate.open();
    }
}

impl Bench {
    async fn start() -> Bench {
        let dir = UploadScratch::new("upload-entries-");
        let gate = Gate::new();
        let held = gate.clone();
        let app = App::new()
            .page("/", page)
            .upload_dir(dir.uploads())
            .upload_writer(move |target: &UploadTarget<'_>| Checker {
                name: target.name.to_owned(),
                gate: held.clone(),
            });
        let server = TestServer::start(app).await;
        let browser = Browser::start_on(&server.url("/")).await;
        Bench {
            _server: server,
            browser,
            gate,
            dir,
        }
    }

    /// Writes a file the browser can choose.
    fn file(&self, name: &str, len: usize) -> PathBuf {
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        self.dir.file(name, &bytes)
    }

    fn uploads(&self) -> PathBuf {
        self.dir.uploads()
    }

    async fn choose(&self, zone: &str, paths: &[&Path]) {
        self.browser.choose_files(zone, paths).await;
    }

    /// Waits until zone `zone`'s list shows `n` files.
    async fn listed(&self, zone: &str, n: usize) {
        self.browser
            .wait_for_count(&format!("[data-fx-selected-files={zone}] li"), n)
            .await;
    }

    /// Presses the button of a file in zone `zone`'s list, by its label ("Remove a.txt").
    async fn press_entry(&self, zone: &str, label: &str) {
        self.browser
            .click(&format!(
                "[data-fx-selected-files={zone}] button[aria-label='{label}']"
            ))
            .await;
    }

    /// Waits until zone `zone` no longer uploads.
    async fn wait_idle(&self, zone: &str) {
        self.browser
            .wait_for_js(&format!(
                "!document.getElementById('{zone}').hasAttribute('data-fx-uploading')"
            ))
            .await;
    }

    /// `window.ferrex.entries(zone)`: name, size, status, loaded and error code of each.
    async fn entries(&self, zone: &str) -> Value {
        self.browser
            .js(&format!("return window.ferrex.entries('{zone}');"))
            .await
    }

    /// Waits until the entry of `name` in `zone` meets `condition` (JavaScript on `e`).
    async fn wait_entry(&self, zone: &str, name: &str, condition: &str) {
        self.browser
            .wait_for_js(&format!(
                "window.ferrex.entries('{zone}').some(e => e.name === '{name}' && {condition})"
            ))
            .await;
    }

    /// Waits until no upload of the server's is left in its folder but `kept`.
    async fn wait_uploads_dir(&self, kept: &[&str]) {
        let dir = self.uploads();
        let want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        support::wait_until("only the finished uploads in the upload folder", || {
            let mut names = names_in(&dir);
            names.sort();
            names == want
        })
        .await;
    }
}

#[tokio::test]
async fn one_file_cancelled_mid_upload_leaves_the_batch_and_the_others_arrive() {
    let bench = Bench::start().await;
    let a = bench.file("a.txt", 1000);
    let slow = bench.file("slow.bin", 8 * 1024 * 1024);
    let c = bench.file("c.txt", 2000);
    bench.choose("u", &[&a, &slow, &c]).await;
    bench.listed("u", 3).await;
    bench.browser.click("#upload-u").await;

    // slow.bin is on its way (the server holds its bytes): it shows its own progress bar and
    // a button to cancel it alone.
    bench
        .wait_entry("u", "slow.bin", "e.status === 'uploading' && e.loaded > 0")
        .await;
    let bar = bench
        .browser
        .js("const b = document.querySelector('[data-fx-selected-files=u] li[data-fx-status=uploading] .fx-file-progress'); \
             return b ? [b.max, b.value > 0] : null;")
        .await;
    assert_eq!(bar, json!([8 * 1024 * 1024, true]));
    bench.press_entry("u", "Cancel slow.bin").await;
    bench.gate.open();

    // The others arrive, in one handler call; slow.bin never does.
    bench.browser.wait_for_count("#got li", 2).await;
    assert_eq!(
        bench.browser.texts("#got li").await,
        ["a.txt:1000", "c.txt:2000"]
    );
    assert_eq!(bench.browser.texts("#calls").await, ["1"]);
    // Every file was reported on its own, and the batch's total lost slow.bin with it.
    bench
        .browser
        .wait_for_js("document.getElementById('whole').textContent === '3000/3000'")
        .await;
    let each = bench.browser.texts("#each li").await;
    assert!(each.contains(&"a.txt:1000/1000".to_owned()), "{each:?}");
    assert!(each.contains(&"c.txt:2000/2000".to_owned()), "{each:?}");
    assert!(
        each.iter()
            .all(|e| !e.starts_with("slow.bin:") || e.ends_with("/8388608")),
        "{each:?}"
    );
    // Nothing is left selected, and the server kept nothing of slow.bin.
    bench.listed("u", 0).await;
    assert_eq!(bench.entries("u").await, json!([]));
    bench.wait_uploads_dir(&["a.txt", "c.txt"]).await;
}

#[tokio::test]
async fn a_file_the_server_refuses_gets_its_error_beside_it_and_the_others_go_on() {
    let bench = Bench::start().await;
    let one = bench.file("one.txt", 10);
    let bad = bench.file("bad.txt", 20);
    let two = bench.file("two.txt", 30);
    bench.choose("u", &[&one, &bad, &two]).await;
    bench.listed("u", 3).await;
    bench.browser.click("#upload-u").await;

    bench.browser.wait_for_count("#got li", 2).await;
    assert_eq!(
        bench.browser.texts("#got li").await,
        ["one.txt:10", "two.txt:30"]
    );
    // The refused file stays, marked, with the server's sentence beside it, and the zone's
    // on_drop_rejected heard of it with code `refused`.
    bench.browser.wait_for_count("#refused li", 1).await;
    assert_eq!(
        bench.browser.texts("#refused li").await,
        ["bad.txt:refused"]
    );
    assert_eq!(
        bench.entries("u").await,
        json!([{"name": "bad.txt", "size": 20, "status": "error", "loaded": 0, "error": "refused"}])
    );
    let beside = bench
        .browser
        .texts("[data-fx-selected-files=u] li[data-fx-status=error] .fx-file-error")
        .await;
    assert_eq!(beside.len(), 1);
    assert!(
        beside[0].starts_with("bad.txt: refused") && beside[0].contains("the scanner refused it"),
        "{beside:?}"
    );
    // Its button takes it away.
    bench.press_entry("u", "Remove bad.txt").await;
    bench.listed("u", 0).await;
    bench.wait_uploads_dir(&["one.txt", "two.txt"]).await;
}

#[tokio::test]
async fn each_broken_rule_is_shown_beside_its_file_and_removing_files_changes_what_is_sent() {
    let bench = Bench::start().await;
    let big = bench.file("big.txt", 200);
    let pic = bench.file("pic.png", 3);
    let empty = bench.file("empty.txt", 0);
    let a = bench.file("a.txt", 5);
    let b = bench.file("b.txt", 6);
    let c = bench.file("c.txt", 7);
    bench.choose("r", &[&big, &pic, &empty, &a, &b, &c]).await;
    bench.listed("r", 6).await;

    // Each refused file has its code (to on_drop_rejected and in the entry) and the sentence
    // naming the rule beside it.
    bench.browser.wait_for_count("#refused li", 4).await;
    assert_eq!(
        bench.browser.texts("#refused li").await,
        [
            "big.txt:too_large",
            "pic.png:not_accepted",
            "empty.txt:too_small",
            "c.txt:too_many"
        ]
    );
    let codes: Vec<Value> = bench
        .entries("r")
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| json!([e["name"], e["status"], e["error"]]))
        .collect();
    assert_eq!(
        codes,
        [
            json!(["big.txt", "error", "too_large"]),
            json!(["pic.png", "error", "not_accepted"]),
            json!(["empty.txt", "error", "too_small"]),
            json!(["a.txt", "ready", null]),
            json!(["b.txt", "ready", null]),
            json!(["c.txt", "error", "too_many"]),
        ]
    );
    assert_eq!(
        bench
            .browser
            .texts("[data-fx-selected-files=r] .fx-file-error")
            .await,
        [
            "big.txt: too large (200 B; the limit is 100 B)",
            "pic.png: type not accepted (accepted: .txt)",
            "empty.txt: too small (0 B; the minimum is 1 B)",
            "c.txt: too many files (at most 2 at a time)",
        ]
    );

    // Removed before the upload: a.txt is not sent, and c.txt, refused for being one too
    // many, fits once it is chosen again.
    for name in ["a.txt", "c.txt"] {
        bench.press_entry("r", &format!("Remove {name}")).await;
    }
    bench.listed("r", 4).await;
    bench.choose("r", &[&c]).await;
    bench.wait_entry("r", "c.txt", "e.status === 'ready'").await;
    bench.browser.click("#upload-r").await;
    bench.browser.wait_for_count("#got li", 2).await;
    assert_eq!(bench.browser.texts("#got li").await, ["b.txt:6", "c.txt:7"]);

    // The refused ones stay until a handler clears the zone (a client action it returns).
    bench.listed("r", 3).await;
    bench.browser.click("#clear-r").await;
    bench.listed("r", 0).await;
    assert_eq!(bench.entries("r").await, json!([]));
}

#[tokio::test]
async fn a_files_item_and_its_button_outlive_renders_of_the_page_and_other_files_changing() {
    let bench = Bench::start().await;
    let a = bench.file("a.txt", 5);
    let b = bench.file("b.txt", 6);
    bench.choose("u", &[&a, &b]).await;
    bench.listed("u", 2).await;
    // The very button a user is about to press, held across what follows.
    bench
        .browser
        .js("window.__remove = document.querySelector(\"[data-fx-selected-files=u] button[aria-label='Remove a.txt']\"); return null;")
        .await;

    // A render of the page (another zone's refusal runs a handler) and another file joining
    // this zone's list.
    let big = bench.file("big.txt", 200);
    bench.choose("r", &[&big]).await;
    bench.browser.wait_for_count("#refused li", 1).await;
    let c = bench.file("c.txt", 7);
    bench.choose("u", &[&c]).await;
    bench.listed("u", 3).await;

    assert_eq!(
        bench
            .browser
            .js("return window.__remove.isConnected;")
            .await,
        json!(true),
        "the button was rebuilt: a click on it would be lost"
    );
    bench
        .browser
        .js("window.__remove.click(); return null;")
        .await;
    bench.listed("u", 2).await;
    assert_eq!(
        bench
            .browser
            .texts("[data-fx-selected-files=u] .fx-file-name")
            .await,
        ["b.txt", "c.txt"]
    );
}

#[tokio::test]
async fn a_progress_handler_returning_cancel_upload_stops_the_upload() {
    let bench = Bench::start().await;
    let slow = bench.file("slow.bin", 4 * 1024 * 1024);
    bench.choose("g", &[&slow]).await;
    bench.listed("g", 1).await;
    bench.browser.click("#upload-g").await;

    // The guard saw slow.bin's first bytes and answered `cancel_upload("g")`.
    bench.browser.wait_for_toast("Upload cancelled").await;
    bench.gate.open();
    bench
        .wait_entry("g", "slow.bin", "e.status === 'ready'")
        .await;
    assert_eq!(
        bench.entries("g").await,
        json!([{"name": "slow.bin", "size": 4194304, "status": "ready", "loaded": 0, "error": null}]),
        "kept to try again"
    );
    assert_eq!(bench.browser.texts("#calls").await, ["0"]);
    bench.wait_idle("g").await;
    // What the server had of it is gone.
    bench.wait_uploads_dir(&[]).await;
}

#[tokio::test]
async fn a_batch_refused_whole_runs_no_handler_and_nothing_chosen_runs_it_with_no_files() {
    let bench = Bench::start().await;
    let bad = bench.file("bad.txt", 20);
    bench.choose("u", &[&bad]).await;
    bench.listed("u", 1).await;
    bench.browser.click("#upload-u").await;
    bench
        .wait_entry("u", "bad.txt", "e.error === 'refused'")
        .await;
    bench.wait_idle("u").await;
    assert_eq!(bench.browser.texts("#calls").await, ["0"]);

    // With nothing chosen the handler runs, with no files.
    bench.press_entry("u", "Remove bad.txt").await;
    bench.listed("u", 0).await;
    bench.browser.click("#upload-u").await;
    bench
        .browser
        .wait_for_js("document.getElementById('calls').textContent === '1'")
        .await;
    assert_eq!(bench.browser.texts("#got li").await, Vec::<String>::new());
    bench.wait_uploads_dir(&[]).await;
}
