//! How the default look renders in real Chromium: the Files example compared with a
//! reference screenshot (`tests/reference/files-page.png`), and the behaviours a screenshot
//! cannot show — an image's two sizes winning, the progress bar's percentage, the busy
//! state of an upload and its Cancel button, a refusal that names the limit, the default
//! favicon.
//!
//! The reference is rewritten by running this file with `FERREX_UPDATE_REFERENCE=1`; look
//! at the new image before committing it.

mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrex::image::{self, Rgba, RgbaImage};
use ferrex::prelude::*;
use ferrex_wire as wire;
use serde_json::Value;
use support::disk::UploadScratch;
use support::{Browser, TestServer};

/// Chromium flags that make a screenshot the same from run to run: a window narrower than
/// the page's column at its widest (so the column's own width, the viewport less its
/// padding, is what is compared) and tall enough for the whole page, one device pixel per
/// CSS pixel, no scroll bars, glyph outlines not snapped to the pixel grid.
const STEADY_LOOK: [&str; 4] = [
    "--window-size=720,1400",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--font-render-hinting=none",
];

/// The viewport's width those flags give.
const VIEWPORT_WIDTH: u32 = 720;

/// How far one channel of a pixel may stray before the pixel counts as different
/// (rounding in blending moves a level or two between runs; a changed colour moves more).
const CHANNEL_TOLERANCE: u8 = 6;

/// The share of pixels that may differ before the look counts as changed: about a line of
/// text's worth of antialiasing, far less than a moved block or a changed colour.
const MAX_DIFFERING_SHARE: f64 = 0.002;

/// Where the reference screenshot of the Files page is kept.
fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/files-page.png")
}

/// A 4:3 picture as PNG: wide enough that a square box must crop it.
fn wide_png() -> Vec<u8> {
    let img = RgbaImage::from_fn(160, 120, |x, y| {
        Rgba([(x * 255 / 160) as u8, (y * 2) as u8, 160, 255])
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode a PNG");
    png
}

/// Clicks the button labelled `label` from script, so the mouse stays where it was and no
/// hover colour reaches a screenshot.
async fn press(browser: &Browser, label: &str) {
    let found = browser
        .client()
        .execute(
            "const b = Array.from(document.querySelectorAll('button')) \
               .find(b => b.textContent.trim() === arguments[0]); \
             if (b) b.click(); return !!b;",
            vec![Value::String(label.to_owned())],
        )
        .await
        .expect("the page answers");
    assert_eq!(found, true, "no button {label:?}");
}

/// The state of the files example's Upload and Cancel buttons and its zone:
/// `[upload disabled, upload aria-busy, cancel disabled, zone aria-busy]`.
async fn upload_controls(browser: &Browser) -> Value {
    browser
        .js("const b = (t) => Array.from(document.querySelectorAll('button')) \
               .find(b => b.textContent.trim() === t); \
             return [b('Upload').disabled, b('Upload').getAttribute('aria-busy'), \
                     b('Cancel').disabled, document.getElementById('files').getAttribute('aria-busy')];")
        .await
}

/// Waits until the page stops changing: fonts and images loaded, no transition running,
/// nothing focused (no focus ring, no caret).
async fn wait_still(browser: &Browser) {
    browser
        .js("if (document.activeElement) document.activeElement.blur(); return null;")
        .await;
    browser
        .wait_for_js(
            "document.fonts.status === 'loaded' \
             && Array.from(document.images).every(i => i.complete && i.naturalWidth > 0) \
             && document.getAnimations().length === 0",
        )
        .await;
}

// ---------------------------------------------------------------------------------------
// The Files page against its reference.

#[tokio::test]
async fn files_page_looks_as_its_reference() {
    let scratch = UploadScratch::new("browser-look-");
    let server = TestServer::start(files::app().upload_dir(scratch.uploads())).await;
    let browser = Browser::start_with(&STEADY_LOOK).await;
    browser.open(&server.url("/")).await;
    let width = browser.js("return window.innerWidth;").await;
    assert_eq!(
        width, VIEWPORT_WIDTH,
        "the width the reference was taken at"
    );

    // Two uploads, one a picture: the list then shows a thumbnail beside its bullet, the
    // bar its 100 %, and the status line.
    let pic = scratch.file("picture.png", &wide_png());
    let notes = scratch.file("notes.txt", b"the same bytes every run\n");
    browser.choose_files("files", &[&pic, &notes]).await;
    browser
        .wait_for_js("document.querySelectorAll('[data-fx-selected-files=files] li').length === 2")
        .await;
    press(&browser, "Upload").await;
    browser
        .wait_for_js(
            "document.querySelectorAll('#uploaded li').length === 2 \
             && document.getElementById('upload-progress').getAttribute('data-fx-percent') === '100%' \
             && document.getElementById('upload-status') \
             && document.querySelector('[data-fx-selected-files=files]').children.length === 0 \
             && !document.querySelector('.fx-toast')",
        )
        .await;
    wait_still(&browser).await;

    // The page's own height, not the window's: the reference holds the page and no more.
    let height = browser
        .js("return [Math.ceil(document.querySelector('.fx-container').getBoundingClientRect().bottom), window.innerHeight];")
        .await;
    let (page_height, viewport_height) = (
        height[0].as_u64().expect("a height") as u32,
        height[1].as_u64().expect("a height") as u32,
    );
    assert!(
        page_height <= viewport_height,
        "the page ({page_height} px) is taller than the window ({viewport_height} px): \
         make the window taller"
    );
    let png = browser
        .client()
        .screenshot()
        .await
        .expect("a screenshot of the page");
    let shot = image::load_from_memory(&png)
        .expect("Chromium's screenshot is a PNG")
        .to_rgba8();
    let actual = image::imageops::crop_imm(&shot, 0, 0, shot.width(), page_height).to_image();
    compare_with_reference(&actual, &reference_path());
}

/// Compares `actual` with the PNG at `reference`, or writes it there when
/// `FERREX_UPDATE_REFERENCE=1`.
///
/// # Panics
///
/// Panics when the reference is missing, has another size, or more than
/// [`MAX_DIFFERING_SHARE`] of its pixels differ; the actual image and a diff (differing
/// pixels red over a faded copy of the reference) are saved and named in the message.
fn compare_with_reference(actual: &RgbaImage, reference: &Path) {
    if std::env::var_os("FERREX_UPDATE_REFERENCE").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(reference.parent().expect("a folder")).expect("reference folder");
        // Best compression: the reference is committed, and a flat UI packs well.
        let file = std::fs::File::create(reference).expect("write the reference");
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            std::io::BufWriter::new(file),
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::Adaptive,
        );
        actual
            .write_with_encoder(encoder)
            .expect("write the reference");
        println!("rewrote {}", reference.display());
        return;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("look");
    std::fs::create_dir_all(&out).expect("the folder for failed looks");
    let actual_path = out.join("files-page.actual.png");
    let expected = match image::open(reference) {
        Ok(img) => img.to_rgba8(),
        Err(e) => {
            actual.save(&actual_path).expect("save the actual look");
            panic!(
                "cannot read the reference {}: {e}; the page now looks like {} \
                 (run with FERREX_UPDATE_REFERENCE=1 to make it the reference)",
                reference.display(),
                actual_path.display()
            );
        }
    };
    if expected.dimensions() != actual.dimensions() {
        actual.save(&actual_path).expect("save the actual look");
        panic!(
            "the screenshot is {:?}, the reference {:?}; the page now looks like {}",
            actual.dimensions(),
            expected.dimensions(),
            actual_path.display()
        );
    }
    let mut diff = RgbaImage::new(actual.width(), actual.height());
    let mut differing = 0u64;
    for ((x, y, a), e) in actual.enumerate_pixels().zip(expected.pixels()) {
        let strays =
            a.0.iter()
                .zip(e.0)
                .any(|(a, e)| a.abs_diff(e) > CHANNEL_TOLERANCE);
        let faded = |c: u8| 192 + c / 4;
        let shown = if strays {
            differing += 1;
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([faded(e[0]), faded(e[1]), faded(e[2]), 255])
        };
        diff.put_pixel(x, y, shown);
    }
    let share = differing as f64 / f64::from(actual.width() * actual.height());
    if share > MAX_DIFFERING_SHARE {
        let diff_path = out.join("files-page.diff.png");
        actual.save(&actual_path).expect("save the actual look");
        diff.save(&diff_path).expect("save the diff");
        panic!(
            "the Files page looks different from {}: {differing} pixels ({:.3} %) differ, \
             at most {:.3} % may; the page now: {}, the differences in red: {} \
             (if the change is meant, run with FERREX_UPDATE_REFERENCE=1)",
            reference.display(),
            share * 100.0,
            MAX_DIFFERING_SHARE * 100.0,
            actual_path.display(),
            diff_path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// What a screenshot does not show.

#[state]
#[derive(Default)]
struct Bench {}

#[event]
impl Bench {}

fn bench_page(_: &Bench) -> Node {
    ui! {
        vstack(
            image(src = "/wide.png", alt = "square", width = 120, height = 120, id = "square"),
            image(src = "/wide.png", alt = "natural", width = 120, id = "natural"),
            progress(value = 30, id = "p30"),
            progress(value = 1, max = 8, id = "p-eighth"),
        )
    }
}

/// The bench page (with the wide picture among its assets) on a fresh server, in a fresh
/// browser.
async fn open_bench(scratch: &UploadScratch) -> (TestServer, Browser) {
    let assets = scratch.folder("assets");
    std::fs::write(assets.join("wide.png"), wide_png()).expect("the picture");
    let server = TestServer::start(App::new().page("/", bench_page).assets_dir(assets)).await;
    let browser = Browser::start_on(&server.url("/")).await;
    (server, browser)
}

#[tokio::test]
async fn an_image_with_width_and_height_renders_that_box() {
    let scratch = UploadScratch::new("browser-look-");
    let (_server, browser) = open_bench(&scratch).await;
    wait_still(&browser).await;
    let sizes = browser
        .js(
            "const r = (id) => { const b = document.getElementById(id).getBoundingClientRect(); \
                                 return [b.width, b.height]; }; \
             return [r('square'), r('natural')];",
        )
        .await;
    // Both sizes given: that box. One given: the picture's own 4:3.
    assert_eq!(sizes, serde_json::json!([[120, 120], [120, 90]]));
    let fit = browser
        .js("return getComputedStyle(document.getElementById('square')).objectFit;")
        .await;
    assert_eq!(fit, "cover", "cropped, not stretched");
}

#[tokio::test]
async fn a_progress_bar_shows_its_percentage() {
    let scratch = UploadScratch::new("browser-look-");
    let (_server, browser) = open_bench(&scratch).await;
    let shown = browser
        .js("const label = (id) => getComputedStyle(document.getElementById(id), '::after').content; \
             return [label('p30'), label('p-eighth')];")
        .await;
    assert_eq!(shown, serde_json::json!(["\"30%\"", "\"13%\""]));
}

#[tokio::test]
async fn upload_is_busy_while_it_runs_and_cancel_only_then() {
    let scratch = UploadScratch::new("browser-look-");
    // The server holds every upload until the gate opens: the test sees the busy state for
    // as long as it needs, without a large file or a slow network.
    let (open_gate, gate) = tokio::sync::watch::channel(false);
    let gate = Arc::new(gate);
    let router = files::app()
        .upload_dir(scratch.uploads())
        .into_router()
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let mut gate = (*gate).clone();
                async move {
                    if request.uri().path().starts_with(wire::UPLOAD_PATH) {
                        let _ = gate.wait_for(|open| *open).await;
                    }
                    next.run(request).await
                }
            },
        ));
    let server = TestServer::start_router(router).await;
    let browser = Browser::start_on(&server.url("/")).await;

    // Idle: Upload ready, Cancel disabled (nothing to cancel), the zone not busy.
    browser
        .wait_for_js("document.getElementById('files').hasAttribute('data-fx-upload')")
        .await;
    assert_eq!(
        upload_controls(&browser).await,
        serde_json::json!([false, null, true, null])
    );

    let file = scratch.file("held.txt", b"held at the gate\n");
    browser.choose_files("files", &[&file]).await;
    browser
        .wait_for_js("document.querySelectorAll('[data-fx-selected-files=files] li').length === 1")
        .await;
    press(&browser, "Upload").await;
    // Running: the zone and its Upload button busy, Upload disabled, Cancel enabled; still
    // so after the page is updated with the progress report (the body is sent, the server
    // has not answered).
    browser
        .wait_for_js(
            "document.getElementById('upload-progress').getAttribute('data-fx-percent') === '100%'",
        )
        .await;
    assert_eq!(
        upload_controls(&browser).await,
        serde_json::json!([true, "true", false, "true"])
    );

    // Cancel: says so, and everything is as idle again (the selection kept, to retry).
    press(&browser, "Cancel").await;
    browser.wait_for_toast("Upload cancelled").await;
    assert_eq!(
        upload_controls(&browser).await,
        serde_json::json!([false, null, true, null])
    );
    let role = browser
        .js("return Array.from(document.querySelectorAll('.fx-toast')) \
               .find(t => t.textContent.includes('Upload cancelled')).getAttribute('role');")
        .await;
    assert_eq!(role, "status", "news, not an error");

    // Once the server answers, the upload ends and so does the busy state.
    press(&browser, "Upload").await;
    assert_eq!(upload_controls(&browser).await[0], true);
    open_gate.send(true).expect("the server holds the gate");
    browser
        .wait_for_js("document.querySelectorAll('#uploaded li').length === 1")
        .await;
    browser
        .wait_for_js("!document.getElementById('files').hasAttribute('data-fx-uploading')")
        .await;
    assert_eq!(
        upload_controls(&browser).await,
        serde_json::json!([false, null, true, null])
    );
}

#[tokio::test]
async fn a_refused_file_is_named_with_the_limit_it_broke() {
    let scratch = UploadScratch::new("browser-look-");
    let server = TestServer::start(files::app().upload_dir(scratch.uploads())).await;
    let browser = Browser::start_on(&server.url("/")).await;
    // Over the example's 2 GiB limit, sparse: no disk used, never read by the browser.
    let huge = scratch.sparse("huge.iso", 3 * 1024 * 1024 * 1024);
    browser.choose_files("files", &[&huge]).await;
    browser
        .wait_for_toast("huge.iso: too large (3.0 GB; the limit is 2.0 GB)")
        .await;
    let selected = browser.js("return window.ferrex.selected('files');").await;
    assert_eq!(selected, serde_json::json!([]), "not selected");
}

#[tokio::test]
async fn favicon_is_ferrex_s_own_unless_the_assets_have_one() {
    let scratch = UploadScratch::new("browser-look-");
    let plain = TestServer::start(files::app().upload_dir(scratch.uploads())).await;
    let answer = reqwest::get(plain.url("/favicon.ico"))
        .await
        .expect("GET /favicon.ico");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "image/png");
    let icon = answer.bytes().await.expect("the icon");
    let decoded = image::load_from_memory(&icon).expect("a PNG");
    assert_eq!((decoded.width(), decoded.height()), (32, 32));

    // The page names it, so a mounted app's icon is asked for under its mount path.
    let page = reqwest::get(plain.url("/"))
        .await
        .expect("GET /")
        .text()
        .await
        .expect("the page");
    assert!(
        page.contains(r#"<link rel="icon" href="/favicon.ico">"#),
        "{page}"
    );

    // The app's own icon wins.
    std::fs::write(
        scratch.folder("assets").join("favicon.ico"),
        b"the app's icon",
    )
    .expect("an icon");
    let own = TestServer::start(
        App::new()
            .page("/", bench_page)
            .assets_dir(scratch.folder("assets")),
    )
    .await;
    let answer = reqwest::get(own.url("/favicon.ico")).await.expect("GET");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.bytes().await.expect("the icon").as_ref(),
        b"the app's icon"
    );
    // Other missing files are still 404.
    let missing = reqwest::get(plain.url("/favicon.png")).await.expect("GET");
    assert_eq!(missing.status(), 404);
}
