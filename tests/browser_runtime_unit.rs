//! The browser runtime's inner functions (the morph, the `accept` rules, the argument
//! markers, sizes and names) checked case by case in Chromium, without a whole app: a
//! bench page loads the runtime from a real app's `/_ferrex/runtime.js` with its test hook
//! on and runs `tests/runtime/cases.js`; every case that fails is named here.

mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use axum::response::Html;
use axum::routing::get;
use ferrex_wire as wire;
use serde_json::Value;
use support::{Browser, TestServer};

/// The cases, run in the page after the runtime.
const CASES_JS: &str = include_str!("runtime/cases.js");

/// Where the bench page is served, beside the app's own routes.
const BENCH_PATH: &str = "/runtime-unit";

/// Fewer cases than this means the cases file stopped registering some of them.
const MIN_CASES: usize = 50;

/// The runtime as the server ships it.
const RUNTIME_JS: &str = include_str!("../server/assets/runtime.js");

/// The facts runtime.js shares with the server, by the names its `WIRE` block uses.
const WIRE_FACTS: [(&str, &str); 11] = [
    ("WS_PATH", wire::WS_PATH),
    ("UPLOAD_PATH", wire::UPLOAD_PATH),
    ("FILE_PATH", wire::FILE_PATH),
    ("TUS_PATH", wire::TUS_PATH),
    ("UPLOAD_FINISH_PATH", wire::UPLOAD_FINISH_PATH),
    ("DIRECT_UPLOAD_PATH", wire::DIRECT_UPLOAD_PATH),
    ("SESSION_PATH", wire::SESSION_PATH),
    ("DOWNLOAD_PREFIX", wire::DOWNLOAD_PREFIX),
    ("VALUE_MARKER", wire::VALUE_MARKER),
    ("PROGRESS_MARKER", wire::PROGRESS_MARKER),
    ("REJECTED_MARKER", wire::REJECTED_MARKER),
];

/// Rules and files for which the runtime must decide as `ferrex_wire::accepts` does: every
/// rule list against every file, with the server's answer computed here.
fn accept_cases() -> Value {
    let rule_lists: [&[&str]; 9] = [
        &["text/html"],
        &[],
        &[".png"],
        &[".PNG", ".tar.gz"],
        &["image/*"],
        &["Image/*", "text/plain"],
        &["application/pdf"],
        &[" .md ", "text/*", ".jpg"],
        &["video/*", ".Mp4"],
    ];
    let files = [
        ("photo.png", "image/png"),
        ("PHOTO.PNG", ""),
        ("a.tar.gz", "application/gzip"),
        ("png.txt", "text/plain"),
        ("photopng", "image/png"),
        ("notes.md", ""),
        ("report.pdf", "application/pdf"),
        ("report.pdfx", "application/pdfx"),
        ("clip.mp4", "video/mp4"),
        ("clip", "imagex/png"),
        ("page.html", "text/html;charset=utf-8"),
        ("x.exe", "application/x-msdownload"),
    ];
    let mut cases = Vec::new();
    for rules in rule_lists {
        for (name, type_) in files {
            cases.push(serde_json::json!({
                // As the drop zone renders them in its `accept` attribute.
                "rules": rules.join(","),
                "name": name,
                "type": type_,
                "expected": wire::accepts(rules, name, type_),
            }));
        }
    }
    Value::Array(cases)
}

/// The bench page: sets the runtime's test flag, loads the shipped runtime, runs the cases.
/// Script errors (a syntax error in either file) are collected, so they fail the test
/// by name instead of as a time-out.
fn bench_page() -> String {
    let accept_cases = accept_cases();
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ferrex runtime unit cases</title>
<script>
window.__pageErrors = [];
window.addEventListener('error', (e) => window.__pageErrors.push(`${{e.filename}}:${{e.lineno}}: ${{e.message}}`));
window.__ferrexTest = true;
window.__wireAcceptCases = {accept_cases};
</script>
</head><body>
<script src="/_ferrex/runtime.js"></script>
<script>{CASES_JS}</script>
</body></html>"#
    )
}

/// Serves an empty ferrex app (for its `/_ferrex/runtime.js`) plus the bench page.
async fn bench_server() -> TestServer {
    let page = bench_page();
    let router = axum::Router::new()
        .route(BENCH_PATH, get(move || async move { Html(page) }))
        .merge(ferrex::App::new().into_router());
    TestServer::start_router(router).await
}

#[tokio::test]
async fn runtime_unit_cases_all_pass_in_chromium() {
    let server = bench_server().await;
    let browser = Browser::start().await;
    browser.goto(&server.url(BENCH_PATH)).await;
    browser
        .wait_for_js("(window.__results && window.__results.done) || window.__pageErrors.length")
        .await;

    let errors = browser.js("return window.__pageErrors;").await;
    assert_eq!(
        errors,
        Value::Array(Vec::new()),
        "script errors on the bench page"
    );
    let results = browser.js("return window.__results;").await;
    let ran = results["ran"].as_array().map_or(0, Vec::len);
    let failures: Vec<String> = results["failures"]
        .as_array()
        .unwrap_or_else(|| panic!("no failure list in {results}"))
        .iter()
        .map(|f| format!("  {}: {}", text(&f["name"]), text(&f["message"])))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {ran} runtime cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        ran >= MIN_CASES,
        "only {ran} runtime cases ran, expected at least {MIN_CASES}"
    );
    eprintln!("{ran} runtime cases passed");
}

#[tokio::test]
async fn the_runtime_wire_block_holds_ferrex_wire_facts() {
    let server = bench_server().await;
    let browser = Browser::start().await;
    browser.goto(&server.url(BENCH_PATH)).await;
    browser
        .wait_for_js("window.__results && window.__results.done")
        .await;
    let shipped = browser.js("return window.__ferrexTest.WIRE;").await;
    let expected: serde_json::Map<String, Value> = WIRE_FACTS
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
        .collect();
    assert_eq!(shipped, Value::Object(expected));
}

/// A path or marker spelled outside the `WIRE` block would escape the check above.
#[test]
fn runtime_js_spells_paths_and_markers_only_in_its_wire_block() {
    let block_start = RUNTIME_JS
        .find("const WIRE = Object.freeze({")
        .expect("runtime.js has a WIRE block");
    let block_end = block_start
        + RUNTIME_JS[block_start..]
            .find("});")
            .expect("the WIRE block ends");
    let outside = format!("{}{}", &RUNTIME_JS[..block_start], &RUNTIME_JS[block_end..]);
    let code_lines = outside
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"));
    let strays: Vec<&str> = code_lines
        .filter(|line| {
            WIRE_FACTS
                .iter()
                .any(|(_, value)| line.contains(&format!("'{value}")))
                || line.contains("'/_ferrex/")
        })
        .collect();
    assert!(
        strays.is_empty(),
        "runtime.js spells wire facts outside its WIRE block:\n{}",
        strays.join("\n")
    );
}

#[tokio::test]
async fn an_app_page_gets_no_test_hook() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;
    let hook = browser
        .js("return typeof window.__ferrexTest + ' ' + typeof window.ferrex;")
        .await;
    assert_eq!(hook, Value::from("undefined object"));
}

/// A JSON string's text, or the JSON itself for anything else.
fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}
