//! Ways files reach a drop zone besides the picker and a drop, in real Chromium: files
//! pasted (Ctrl/Cmd+V) into a focused zone, and a folder chosen with a `directory` zone's
//! picker, whose files keep their paths inside it. Also what `directory` and `capture`
//! put on the zone's file input.

mod support;

use ferrex::prelude::*;
use serde_json::Value;
use support::disk::scratch;
use support::{Browser, TestServer};

#[derive(Default, Serialize, Deserialize)]
struct Inbox {
    /// `relative_path:size` of every file received, in order.
    got: Vec<String>,
}

#[event]
impl Inbox {
    async fn take(&mut self, files: Vec<UploadFile>) {
        for file in files {
            self.got
                .push(format!("{}:{}", file.relative_path, file.size));
        }
    }
}

fn inbox_page(s: &Inbox) -> Node {
    ui! {
        vstack(
            text(s.got.join(" "), id = "got"),
            upload(text("Paste here"), id = "paste", multiple = true, on_drop = Inbox::take),
            upload(text("Off"), id = "off", multiple = true, disabled = true, on_drop = Inbox::take),
            upload(
                text("A folder"),
                id = "folder",
                multiple = true,
                directory = true,
                capture = Capture::Environment,
                on_drop = Inbox::take,
            ),
        )
    }
}

async fn inbox() -> (TestServer, Browser, tempfile::TempDir) {
    let dir = scratch("zone-input");
    let app = App::new().page("/", inbox_page).upload_dir(dir.path());
    let server = TestServer::start(app).await;
    let browser = Browser::start_on(&server.url("/")).await;
    browser.wait_connected().await;
    (server, browser, dir)
}

/// Pastes two files into the element matching `css` (focused first), as Chromium's
/// clipboard would hand them over.
const PASTE: &str = r#"
    const target = document.querySelector(arguments[0]);
    target.focus();
    const dt = new DataTransfer();
    dt.items.add(new File(['hello'], 'note.txt', { type: 'text/plain' }));
    dt.items.add(new File(['12345678'], 'shot.png', { type: 'image/png' }));
    const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
    target.dispatchEvent(ev);
    return ev.defaultPrevented;
"#;

async fn paste_into(browser: &Browser, css: &str) -> Value {
    browser
        .client()
        .execute(PASTE, vec![Value::from(css)])
        .await
        .expect("paste script runs")
}

#[tokio::test]
async fn files_pasted_into_a_focused_zone_are_taken_as_dropped() {
    let (_server, browser, _dir) = inbox().await;
    let taken = paste_into(&browser, "#paste").await;
    assert_eq!(taken, Value::Bool(true), "the zone takes the paste");
    browser
        .wait_for_js("document.getElementById('got').textContent === 'note.txt:5 shot.png:8'")
        .await;
}

#[tokio::test]
async fn a_paste_outside_any_zone_or_into_a_disabled_zone_is_left_alone() {
    let (_server, browser, _dir) = inbox().await;
    assert_eq!(paste_into(&browser, "#got").await, Value::Bool(false));
    assert_eq!(paste_into(&browser, "#off").await, Value::Bool(false));
    // Something taken would have reached the server by the time a later paste does.
    assert_eq!(paste_into(&browser, "#paste").await, Value::Bool(true));
    browser
        .wait_for_js("document.getElementById('got').textContent === 'note.txt:5 shot.png:8'")
        .await;
}

#[tokio::test]
async fn a_folder_zone_asks_for_a_folder_and_keeps_each_files_path() {
    let (_server, browser, _dir) = inbox().await;
    let input = browser
        .js(
            "const i = document.querySelector('#folder input[type=file]'); \
             return [i.webkitdirectory, i.hasAttribute('directory'), i.getAttribute('capture')];",
        )
        .await;
    assert_eq!(input, serde_json::json!([true, true, "environment"]));
    let plain = browser
        .js(
            "const i = document.querySelector('#paste input[type=file]'); \
             return [i.webkitdirectory, i.getAttribute('capture')];",
        )
        .await;
    assert_eq!(plain, serde_json::json!([false, null]));

    // What the picker hands over for a chosen folder: files that know their path in it.
    browser
        .js(r#"
            const input = document.querySelector('#folder input[type=file]');
            const inFolder = (text, path) => {
                const f = new File([text], path.split('/').pop(), { type: 'text/plain' });
                Object.defineProperty(f, 'webkitRelativePath', { value: path });
                return f;
            };
            Object.defineProperty(input, 'files', {
                configurable: true,
                value: [inFolder('aa', 'trip/day1/a.txt'), inFolder('bbb', 'trip/../../b.txt')],
            });
            input.dispatchEvent(new Event('change', { bubbles: true }));
            return null;
        "#)
        .await;
    browser
        .wait_for_js("document.getElementById('got').textContent !== ''")
        .await;
    let got = browser
        .js("return document.getElementById('got').textContent;")
        .await;
    let got = got.as_str().expect("text");
    assert!(got.starts_with("trip/day1/a.txt:2 "), "{got}");
    // The climbing path is made safe on the server, as a dropped folder's would be.
    let second = got.split(' ').nth(1).expect("two files");
    assert!(
        second.ends_with("b.txt:3") && !second.contains(".."),
        "{got}"
    );
}
