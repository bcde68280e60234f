//! The Files example's downloads in a real headless Chromium (issue 4): each button is
//! clicked and the file that lands in the download folder is checked by name and bytes;
//! for the plain link, the bytes served at its `href` are checked.

mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::collections::BTreeSet;

use fantoccini::Locator;
use serde_json::Value;
use support::{Browser, TestServer};

/// The asset the guide's URL downloads point at.
const BANNER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/assets/reflex_banner.png"
);

/// The Files example on a fresh port, with uploads in a scratch folder.
async fn start_files() -> (TestServer, tempfile::TempDir) {
    let uploads = support::disk::scratch("browser-files-");
    let server = TestServer::start(files::app().upload_dir(uploads.path())).await;
    (server, uploads)
}

/// Clicks the button whose text is `label`.
async fn click_button(browser: &Browser, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    let buttons = browser
        .client()
        .find_all(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("looking for the button {label:?}: {e}"));
    assert_eq!(buttons.len(), 1, "exactly one button {label:?}");
    buttons[0]
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {label:?}: {e}"));
}

/// The names in the download folder, partial downloads included.
fn downloaded(browser: &Browser) -> BTreeSet<String> {
    std::fs::read_dir(browser.download_dir())
        .expect("read the download folder")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// After the clicks the page is still the Files page, connected, without an error toast.
async fn assert_page_intact(browser: &Browser) {
    let state = browser
        .js(
            "return [window.location.pathname, document.documentElement.dataset.fxConnected, \
             document.title];",
        )
        .await;
    assert_eq!(
        state,
        serde_json::json!(["/", "true", "ferrex · Files"]),
        "the page stays put while files download"
    );
}

#[tokio::test]
async fn url_downloads_save_the_asset_under_its_name_or_the_new_one() {
    let banner = std::fs::read(BANNER).expect("read the banner asset");
    let (server, _tmp) = start_files().await;
    let browser = Browser::start_on(&server.url("/")).await;

    // `download(url = "/reflex_banner.png")`: an image the browser could show, saved.
    click_button(&browser, "Download").await;
    let bytes = browser.wait_for_download("reflex_banner.png").await;
    assert!(bytes == banner, "Download saves the asset's bytes");

    // `download(url = …, filename = "different_name_logo.png")`.
    click_button(&browser, "Download and Rename").await;
    let bytes = browser.wait_for_download("different_name_logo.png").await;
    assert!(
        bytes == banner,
        "Download and Rename saves the asset's bytes"
    );

    assert_eq!(
        downloaded(&browser),
        ["different_name_logo.png", "reflex_banner.png"]
            .map(String::from)
            .into(),
        "exactly the two files, once each"
    );
    assert_page_intact(&browser).await;
}

#[tokio::test]
async fn the_plain_link_serves_the_asset() {
    let banner = std::fs::read(BANNER).expect("read the banner asset");
    let (server, _tmp) = start_files().await;
    let browser = Browser::start_on(&server.url("/")).await;

    let links = browser
        .client()
        .find_all(Locator::XPath("//a[normalize-space()='Download']"))
        .await
        .expect("look for the link");
    assert_eq!(links.len(), 1, "one link labelled Download");
    let href = links[0]
        .prop("href")
        .await
        .expect("read the link's href")
        .expect("the link has an href");
    assert_eq!(href, server.url("/reflex_banner.png"));
    let attr = links[0]
        .attr("href")
        .await
        .expect("read the href attribute");
    assert_eq!(attr.as_deref(), Some("/reflex_banner.png"));

    let response = reqwest::get(&href).await.expect("GET the link's href");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "image/png"
    );
    let bytes = response.bytes().await.expect("the asset's body");
    assert!(
        bytes.as_ref() == banner.as_slice(),
        "the link serves the asset's bytes"
    );
}

#[tokio::test]
async fn handler_downloads_land_with_their_names_and_content() {
    let (server, _tmp) = start_files().await;
    let browser = Browser::start_on(&server.url("/")).await;

    click_button(&browser, "Download random numbers").await;
    let csv = browser.wait_for_download("random_numbers.csv").await;
    let csv = String::from_utf8(csv).expect("the CSV is UTF-8");
    let numbers: Vec<u32> = csv
        .split(',')
        .map(|n| {
            n.parse()
                .unwrap_or_else(|e| panic!("{n:?} in {csv:?} is not an integer: {e}"))
        })
        .collect();
    assert_eq!(numbers.len(), 10, "ten numbers: {csv:?}");
    assert!(
        numbers.iter().all(|&n| n <= 100),
        "each in 0..=100: {csv:?}"
    );

    click_button(&browser, "Download an image").await;
    let png = browser.wait_for_download("checkerboard.png").await;
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("checkerboard.png decodes as PNG");
    assert_eq!((img.width(), img.height()), (64, 64));

    click_button(&browser, "Download the state as JSON").await;
    let json = browser.wait_for_download("state.json").await;
    let state: Value = serde_json::from_slice(&json).expect("state.json is JSON");
    let keys: BTreeSet<&str> = state
        .as_object()
        .expect("state.json holds an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["progress", "saved", "status"].into(), "{state}");
    assert_eq!(state["saved"], serde_json::json!([]));

    assert_eq!(
        downloaded(&browser),
        ["checkerboard.png", "random_numbers.csv", "state.json"]
            .map(String::from)
            .into()
    );
    assert_page_intact(&browser).await;
}

#[tokio::test]
async fn the_file_list_downloads_as_json() {
    let (server, _tmp) = start_files().await;
    let browser = Browser::start_on(&server.url("/")).await;

    click_button(&browser, "Download the file list").await;
    let json = browser.wait_for_download("uploaded.json").await;
    let list: Value = serde_json::from_slice(&json).expect("uploaded.json is JSON");
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(downloaded(&browser), ["uploaded.json".to_owned()].into());
    assert_page_intact(&browser).await;
}

/// Handlers and buttons whose file names browsers tend to get wrong.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Names {}

#[ferrex::event]
impl Names {
    fn odd_token(&mut self) -> ferrex::Download {
        ferrex::Download::data("odd").filename("100%41.txt")
    }

    fn accented_token(&mut self) -> ferrex::Download {
        ferrex::Download::data("accented").filename("résumé 数据.txt")
    }
}

/// Not a literal in `ui!`, so the compile-time asset check (which looks for an `assets/`
/// folder beside this file) leaves it to the runtime.
const BANNER_URL: &str = "/reflex_banner.png";

fn names_page(_: &Names) -> ferrex::Node {
    use ferrex::prelude::*;
    ui! {
        hstack(
            button("Odd token", on_click = Names::odd_token),
            button("Accented token", on_click = Names::accented_token),
            button("Odd rename", on_click = download(url = BANNER_URL, filename = "50%41.png")),
            button("Accented rename", on_click = download(url = BANNER_URL, filename = "logo é.png")),
        )
    }
}

#[tokio::test]
async fn names_with_percent_signs_and_accents_are_saved_as_given() {
    let banner = std::fs::read(BANNER).expect("read the banner asset");
    let app = ferrex::App::new()
        .page("/", names_page)
        .assets_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/assets"));
    let server = TestServer::start(app).await;
    let browser = Browser::start_on(&server.url("/")).await;

    click_button(&browser, "Odd token").await;
    assert_eq!(browser.wait_for_download("100%41.txt").await, b"odd");
    click_button(&browser, "Accented token").await;
    assert_eq!(
        browser.wait_for_download("résumé 数据.txt").await,
        b"accented"
    );
    click_button(&browser, "Odd rename").await;
    let bytes = browser.wait_for_download("50%41.png").await;
    assert!(bytes == banner, "the renamed asset's bytes");
    click_button(&browser, "Accented rename").await;
    let bytes = browser.wait_for_download("logo é.png").await;
    assert!(bytes == banner, "the renamed asset's bytes");
    assert_eq!(
        downloaded(&browser),
        ["100%41.txt", "50%41.png", "logo é.png", "résumé 数据.txt"]
            .map(String::from)
            .into()
    );
}
