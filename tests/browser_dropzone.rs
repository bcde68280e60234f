//! Drop zones driven the way a person drives them, in real Chromium: files and a folder
//! dragged from the desktop (DevTools `Input.dispatchDragEvent`, whose drops carry real
//! files), the drag-over highlight, the picker opened by a click, Enter and Space, and
//! what `no_click`, `no_drag`, `no_keyboard` and `disabled` take away.
//!
//! The picker never opens for real: a listener on each zone's hidden file input records
//! the `click` the runtime sends it (`input.click()` is how a page opens a picker) and
//! cancels it. Every file lives under `CARGO_TARGET_TMPDIR`.

mod support;

use std::path::Path;

use fantoccini::Locator;
use ferrex::prelude::*;
use serde_json::{Value, json};
use support::disk::{UploadScratch, listing};
use support::{Browser, TestServer};

// ---------------------------------------------------------------------------------------
// The test page: one zone per prop, each uploading what it takes at once.

#[derive(Default, Serialize, Deserialize)]
struct Zones {
    /// `relative_path:size` of every file received, in order.
    got: Vec<String>,
}

#[event]
impl Zones {
    async fn dropped(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        for file in files {
            self.got
                .push(format!("{}:{}", file.relative_path, file.size));
            file.persist_to_upload_dir().await?;
        }
        Ok(())
    }
}

fn zones_page(s: &Zones) -> Node {
    ui! {
        vstack(
            upload(text("Plain"), id = "plain", multiple = true, on_drop = Zones::dropped),
            upload(text("No click"), id = "no-click", multiple = true, no_click = true,
                   on_drop = Zones::dropped),
            upload(text("No drag"), id = "no-drag", multiple = true, no_drag = true,
                   on_drop = Zones::dropped),
            upload(text("No keyboard"), id = "no-keys", multiple = true, no_keyboard = true,
                   on_drop = Zones::dropped),
            upload(text("Off"), id = "off", multiple = true, disabled = true,
                   on_drop = Zones::dropped),
            list(
                for item in &s.got {
                    list_item(item, key = item)
                },
                id = "got",
            ),
            // Zones fill their column: a narrower column leaves room beside them for the
            // drags that must land on no zone.
            style = "max-width: 40rem",
        )
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// The page on a fresh server, in a fresh browser, with every picker opening recorded.
async fn open_zones(scratch: &UploadScratch) -> (TestServer, Browser) {
    let server = TestServer::start(
        App::new()
            .page("/", zones_page)
            .upload_dir(scratch.uploads()),
    )
    .await;
    let browser = Browser::start_on(&server.url("/")).await;
    record_pickers(&browser).await;
    (server, browser)
}

/// From now on, a zone's picker opening is recorded in `window.__pickers` (the zone's id)
/// instead of happening; and every key press, with whether something prevented its
/// default, in `window.__keys`.
async fn record_pickers(browser: &Browser) {
    browser
        .js("window.__pickers = []; window.__keys = []; \
             for (const input of document.querySelectorAll('input.fx-upload-input')) { \
               input.addEventListener('click', (e) => { \
                 e.preventDefault(); \
                 window.__pickers.push(input.closest('.fx-upload').id); \
               }); \
             } \
             window.addEventListener('keydown', (e) => window.__keys.push([e.key, e.defaultPrevented])); \
             return null;")
        .await;
}

/// The zones whose picker opened so far, in order.
async fn pickers(browser: &Browser) -> Vec<String> {
    serde_json::from_value(browser.js("return window.__pickers;").await).expect("a list of ids")
}

/// Waits until the pickers opened so far are exactly `expected`.
async fn wait_for_pickers(browser: &Browser, expected: &[&str]) {
    let expected = serde_json::to_string(expected).expect("JSON");
    browser
        .wait_for_js(&format!(
            "JSON.stringify(window.__pickers) === '{expected}'"
        ))
        .await;
}

/// The middle of the element `#id`, in the viewport's CSS pixels (scrolled into view).
async fn middle_of(browser: &Browser, id: &str) -> (f64, f64) {
    let at = browser
        .js(&format!(
            "const el = document.getElementById('{id}'); \
             el.scrollIntoView({{block: 'center'}}); \
             const r = el.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2];"
        ))
        .await;
    let coordinate = |i: usize| {
        at[i]
            .as_f64()
            .unwrap_or_else(|| panic!("#{id} has no position: {at}"))
    };
    (coordinate(0), coordinate(1))
}

/// One step of a drag of `paths` from outside the browser (`dragEnter`, `dragOver`,
/// `drop`, `dragCancel`) at `(x, y)`.
async fn drag_step(browser: &Browser, step: &str, (x, y): (f64, f64), paths: &[&Path]) {
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    browser
        .cdp(
            "Input.dispatchDragEvent",
            json!({
                "type": step,
                "x": x,
                "y": y,
                // 1: copy, what a file manager offers.
                "data": { "items": [], "files": files, "dragOperationsMask": 1 },
            }),
        )
        .await;
}

/// Drags `paths` over the zone `#id` and lets go.
async fn drop_on(browser: &Browser, id: &str, paths: &[&Path]) {
    let at = middle_of(browser, id).await;
    drag_step(browser, "dragEnter", at, paths).await;
    drag_step(browser, "dragOver", at, paths).await;
    drag_step(browser, "drop", at, paths).await;
}

/// A point level with `#id`, at the right edge of the window, on no zone.
async fn beside(browser: &Browser, id: &str) -> (f64, f64) {
    let (_, y) = middle_of(browser, id).await;
    let point = (1250.0, y);
    let off_zones = browser
        .js(&format!(
            "return document.elementFromPoint({}, {}).closest('.fx-upload') === null;",
            point.0, point.1
        ))
        .await;
    assert_eq!(off_zones, true, "the point beside #{id} is on no zone");
    point
}

/// Moves the mouse to `(x, y)`, as a person pointing at something.
async fn point_at(browser: &Browser, (x, y): (f64, f64)) {
    browser
        .cdp(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": x, "y": y }),
        )
        .await;
}

/// Whether `#id` shows the drag-over highlight.
async fn highlighted(browser: &Browser, id: &str) -> bool {
    browser
        .js(&format!(
            "return document.getElementById('{id}').classList.contains('fx-upload-dragover');"
        ))
        .await
        == Value::Bool(true)
}

/// The texts of the items of `#got`.
async fn got(browser: &Browser) -> Vec<String> {
    let value = browser
        .js("return Array.from(document.querySelectorAll('#got li'), e => e.textContent.trim());")
        .await;
    serde_json::from_value(value).expect("a list of texts")
}

/// Waits until `#got` lists `n` files.
async fn wait_for_got(browser: &Browser, n: usize) {
    browser
        .wait_for_js(&format!(
            "document.querySelectorAll('#got li').length === {n}"
        ))
        .await;
}

/// Presses `keys` (WebDriver key codes) with the zone `#id` focused, as a keyboard user.
async fn press_on(browser: &Browser, id: &str, keys: &str) {
    let zone = browser
        .client()
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no zone #{id}: {e}"));
    zone.send_keys(keys)
        .await
        .unwrap_or_else(|e| panic!("typing into #{id}: {e}"));
}

/// WebDriver's code for the Enter key.
const ENTER: &str = "\u{E007}";

// ---------------------------------------------------------------------------------------
// Dropping.

#[tokio::test]
async fn files_dropped_on_a_zone_are_uploaded_and_the_highlight_follows_the_drag() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;
    let a = scratch.file("a.txt", b"alpha");
    let b = scratch.file("b.bin", &[7u8; 3000]);
    let at = middle_of(&browser, "plain").await;

    // Entering the zone with files highlights it; the drag moving on, off every zone,
    // takes the highlight away (the drag is then given up).
    assert!(!highlighted(&browser, "plain").await);
    drag_step(&browser, "dragEnter", at, &[&a, &b]).await;
    drag_step(&browser, "dragOver", at, &[&a, &b]).await;
    assert!(highlighted(&browser, "plain").await, "dragged over");
    let beside = beside(&browser, "plain").await;
    drag_step(&browser, "dragOver", beside, &[&a, &b]).await;
    drag_step(&browser, "dragCancel", beside, &[&a, &b]).await;
    browser
        .wait_for_js("!document.getElementById('plain').classList.contains('fx-upload-dragover')")
        .await;

    // Dropped: uploaded at once (the zone's `on_drop`), highlight gone, nothing picked.
    drop_on(&browser, "plain", &[&a, &b]).await;
    wait_for_got(&browser, 2).await;
    assert_eq!(got(&browser).await, ["a.txt:5", "b.bin:3000"]);
    assert!(!highlighted(&browser, "plain").await, "dropped");
    assert_eq!(
        std::fs::read(scratch.uploads().join("a.txt")).expect("on disk"),
        b"alpha"
    );
    assert_eq!(
        std::fs::read(scratch.uploads().join("b.bin")).expect("on disk"),
        [7u8; 3000]
    );
    assert_eq!(pickers(&browser).await, Vec::<String>::new());
}

/// More files than Chromium lists in one `readEntries` batch (100), so the runtime must
/// ask again until a batch comes back empty.
const MANY: usize = 130;

#[tokio::test]
async fn a_dropped_folder_is_walked_and_keeps_its_relative_paths() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;
    let mut expected = vec![
        "loose.txt:5".to_owned(),
        "trip/notes.txt:7".to_owned(),
        "trip/photos/beach.jpg:700".to_owned(),
        "trip/photos/deep/night.jpg:900".to_owned(),
    ];
    scratch.file("trip/notes.txt", b"day one");
    scratch.file("trip/photos/beach.jpg", &[1u8; 700]);
    scratch.file("trip/photos/deep/night.jpg", &[2u8; 900]);
    for n in 0..MANY {
        let name = format!("trip/log/{n:03}.txt");
        scratch.file(&name, name.as_bytes());
        expected.push(format!("{name}:{}", name.len()));
    }
    expected.sort();
    let loose = scratch.file("loose.txt", b"alone");
    let trip = scratch.local("trip");

    // A folder and a file dropped together.
    drop_on(&browser, "plain", &[&trip, &loose]).await;
    wait_for_got(&browser, expected.len()).await;
    let mut received = got(&browser).await;
    received.sort();
    assert_eq!(received, expected);
    let on_disk: Vec<String> = listing(&scratch.uploads())
        .into_iter()
        .filter(|path| !path.starts_with("trip/log/"))
        .collect();
    assert_eq!(
        on_disk,
        [
            "loose.txt",
            "trip",
            "trip/log",
            "trip/notes.txt",
            "trip/photos",
            "trip/photos/beach.jpg",
            "trip/photos/deep",
            "trip/photos/deep/night.jpg",
        ]
    );
    assert_eq!(
        std::fs::read(scratch.uploads().join("trip/photos/deep/night.jpg")).expect("on disk"),
        [2u8; 900]
    );
    assert_eq!(
        std::fs::read(scratch.uploads().join("trip/log/129.txt")).expect("on disk"),
        b"trip/log/129.txt"
    );
}

#[tokio::test]
async fn no_drag_and_disabled_zones_take_no_dropped_files() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;
    let refused = scratch.file("refused.txt", b"nope");
    let taken = scratch.file("taken.txt", b"yes");

    for zone in ["no-drag", "off"] {
        let at = middle_of(&browser, zone).await;
        drag_step(&browser, "dragEnter", at, &[&refused]).await;
        drag_step(&browser, "dragOver", at, &[&refused]).await;
        assert!(
            !highlighted(&browser, zone).await,
            "#{zone} is not highlighted"
        );
        drag_step(&browser, "drop", at, &[&refused]).await;
    }
    // A drop event that reaches them anyway (Chromium holds back a drop the page said it
    // would not take, so the runtime's own check is tried with a synthesized one) is
    // ignored as well.
    for zone in ["no-drag", "off"] {
        browser
            .js(&format!(
                "const dt = new DataTransfer(); \
                 dt.items.add(new File(['nope'], 'synthesized.txt', {{type: 'text/plain'}})); \
                 const zone = document.getElementById('{zone}'); \
                 for (const type of ['dragenter', 'dragover', 'drop']) {{ \
                   zone.dispatchEvent(new DragEvent(type, {{bubbles: true, cancelable: true, dataTransfer: dt}})); \
                 }} \
                 return null;"
            ))
            .await;
        assert!(!highlighted(&browser, zone).await, "#{zone} after a drop");
    }

    // The zone beside them takes the same drop: by then theirs would have been uploaded.
    drop_on(&browser, "plain", &[&taken]).await;
    wait_for_got(&browser, 1).await;
    assert_eq!(got(&browser).await, ["taken.txt:3"]);
    let held = browser
        .js("return [window.ferrex.selected('no-drag').length, window.ferrex.selected('off').length];")
        .await;
    assert_eq!(held, json!([0, 0]), "nothing selected in either");
    assert_eq!(listing(&scratch.uploads()), ["taken.txt"]);
}

#[tokio::test]
async fn no_click_and_no_keyboard_zones_still_take_drops() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;
    let one = scratch.file("one.txt", b"1");
    let two = scratch.file("two.txt", b"22");
    drop_on(&browser, "no-click", &[&one]).await;
    wait_for_got(&browser, 1).await;
    drop_on(&browser, "no-keys", &[&two]).await;
    wait_for_got(&browser, 2).await;
    assert_eq!(got(&browser).await, ["one.txt:1", "two.txt:2"]);
}

#[tokio::test]
async fn text_dragged_over_a_zone_is_not_offered_to_it() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;
    let at = middle_of(&browser, "plain").await;
    let text = json!({
        "items": [{ "mimeType": "text/plain", "data": "just words" }],
        "dragOperationsMask": 1,
    });
    for step in ["dragEnter", "dragOver"] {
        browser
            .cdp(
                "Input.dispatchDragEvent",
                json!({ "type": step, "x": at.0, "y": at.1, "data": text }),
            )
            .await;
    }
    assert!(!highlighted(&browser, "plain").await, "text is no file");
    browser
        .cdp(
            "Input.dispatchDragEvent",
            json!({ "type": "drop", "x": at.0, "y": at.1, "data": text }),
        )
        .await;
    // Files dragged the same way are: the text drag had its turn before them.
    let file = scratch.file("file.txt", b"file");
    drag_step(&browser, "dragEnter", at, &[&file]).await;
    drag_step(&browser, "dragOver", at, &[&file]).await;
    assert!(highlighted(&browser, "plain").await, "a file is offered");
    drag_step(&browser, "drop", at, &[&file]).await;
    wait_for_got(&browser, 1).await;
    assert_eq!(got(&browser).await, ["file.txt:4"]);
}

// ---------------------------------------------------------------------------------------
// Opening the picker.

#[tokio::test]
async fn a_click_opens_the_picker_unless_no_click_or_disabled() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;

    browser.click("#no-click").await;
    browser.click("#off").await;
    // The zones that open it, clicked after: the two above had their chance first.
    browser.click("#plain").await;
    browser.click("#no-keys").await;
    browser.click("#no-drag").await;
    wait_for_pickers(&browser, &["plain", "no-keys", "no-drag"]).await;
}

#[tokio::test]
async fn enter_and_space_open_the_picker_unless_no_keyboard_or_disabled() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;

    press_on(&browser, "plain", ENTER).await;
    wait_for_pickers(&browser, &["plain"]).await;
    press_on(&browser, "plain", " ").await;
    wait_for_pickers(&browser, &["plain", "plain"]).await;
    // Space would scroll the page: the runtime stops that when it opens the picker.
    let keys = browser.js("return window.__keys;").await;
    assert_eq!(keys, json!([["Enter", true], [" ", true]]));

    for zone in ["no-keys", "off"] {
        press_on(&browser, zone, ENTER).await;
        press_on(&browser, zone, " ").await;
    }
    // Zones without the keyboard leave the keys alone (Space scrolls as it always does).
    press_on(&browser, "no-click", ENTER).await;
    wait_for_pickers(&browser, &["plain", "plain", "no-click"]).await;
    let keys = browser.js("return window.__keys;").await;
    assert_eq!(
        keys,
        json!([
            ["Enter", true],
            [" ", true],
            ["Enter", false],
            [" ", false],
            ["Enter", false],
            [" ", false],
            ["Enter", true],
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Disabled.

#[tokio::test]
async fn a_disabled_zone_looks_disabled_and_ignores_chosen_files() {
    let scratch = UploadScratch::new("browser-dropzone-");
    let (_server, browser) = open_zones(&scratch).await;

    let looks = browser
        .js("const look = (id) => { \
               const el = document.getElementById(id); const s = getComputedStyle(el); \
               return [el.getAttribute('aria-disabled'), s.opacity, s.cursor]; \
             }; \
             return [look('off'), look('plain')];")
        .await;
    assert_eq!(
        looks,
        json!([["true", "0.5", "not-allowed"], [null, "1", "pointer"]])
    );

    // Pointing at it does not light it up as pointing at a zone that takes files does
    // (read without the border's transition, which would show the colour it comes from).
    browser
        .js("const s = document.createElement('style'); \
             s.textContent = '.fx-upload { transition: none !important; }'; \
             document.head.appendChild(s); return null;")
        .await;
    let resting = browser
        .js("return getComputedStyle(document.getElementById('off')).borderTopColor;")
        .await;
    point_at(&browser, middle_of(&browser, "plain").await).await;
    browser
        .wait_for_js(&format!(
            "getComputedStyle(document.getElementById('plain')).borderTopColor !== {resting}"
        ))
        .await;
    point_at(&browser, middle_of(&browser, "off").await).await;
    let hovered = browser
        .js("return [document.getElementById('off').matches(':hover'), \
                     getComputedStyle(document.getElementById('off')).borderTopColor];")
        .await;
    assert_eq!(
        hovered,
        json!([true, resting]),
        "the disabled zone under the pointer"
    );

    // Files that reach its input anyway (a script, a stale picker) are not taken.
    let path = scratch.file("sneaky.txt", b"sneaky");
    let later = scratch.file("later.txt", b"later");
    for (zone, file) in [("off", &path), ("plain", &later)] {
        browser
            .client()
            .find(Locator::Css(&format!("#{zone} input[type=file]")))
            .await
            .unwrap_or_else(|e| panic!("#{zone} has no file input: {e}"))
            .send_keys(&file.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("choosing a file in #{zone}: {e}"));
    }
    wait_for_got(&browser, 1).await;
    assert_eq!(got(&browser).await, ["later.txt:5"]);
    assert_eq!(
        browser
            .js("return window.ferrex.selected('off').length;")
            .await,
        0
    );
}
