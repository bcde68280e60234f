//! The counter example in a real headless Chromium: clicks update the page, two browsers
//! keep their own counts, typing keeps focus and caret through re-renders, a dropped
//! socket comes back, and a handler's error shows as a toast.

mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use support::{Browser, TestServer};

/// Waits until `#count` shows `n`.
async fn wait_count(browser: &Browser, n: i64) {
    browser
        .wait_for_js(&format!(
            "document.getElementById('count').textContent.trim() === '{n}'"
        ))
        .await;
}

/// Types `text` with the keyboard into whatever has focus, key by key, as a user does.
async fn type_keys(browser: &Browser, text: &str) {
    let mut keys = KeyActions::new("keyboard".into());
    for c in text.chars() {
        keys = keys
            .then(KeyAction::Down { value: c })
            .then(KeyAction::Up { value: c });
    }
    browser
        .client()
        .perform_actions(keys)
        .await
        .unwrap_or_else(|e| panic!("typing {text:?}: {e}"));
}

/// Waits until no event is waiting for its reply.
async fn wait_settled(browser: &Browser) {
    browser.wait_for_js("window.ferrex.pending === 0").await;
}

#[tokio::test]
async fn clicking_plus_one_twice_shows_two() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;
    wait_count(&browser, 0).await;

    browser.click("#inc").await;
    wait_count(&browser, 1).await;
    browser.click("#inc").await;
    wait_count(&browser, 2).await;

    // The state is on the server: a reload shows it too.
    browser.open(&server.url("/")).await;
    wait_count(&browser, 2).await;

    let shot = browser.screenshot("counter").await;
    eprintln!("counter screenshot: {}", shot.display());
}

#[tokio::test]
async fn two_browsers_keep_independent_counts() {
    let server = TestServer::start(counter::app()).await;
    let url = server.url("/");
    let (first, second) = tokio::join!(Browser::start_on(&url), Browser::start_on(&url));

    for _ in 0..3 {
        first.click("#inc").await;
    }
    second.click("#dec").await;
    wait_count(&first, 3).await;
    wait_count(&second, -1).await;

    second.click("#dec").await;
    wait_count(&second, -2).await;
    wait_settled(&first).await;
    wait_count(&first, 3).await;

    first.goto(&server.url("/")).await;
    wait_count(&first, 3).await;
}

#[tokio::test]
async fn typing_keeps_focus_and_caret_across_re_renders() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;

    browser.click("#draft").await;
    type_keys(&browser, "hello").await;
    // Each key sent an event whose reply re-rendered the page with the new `value`.
    browser
        .wait_for_js(
            "window.ferrex.pending === 0 && \
             document.getElementById('draft').getAttribute('value') === 'hello'",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('draft').value;")
            .await,
        "hello"
    );

    browser
        .js("const d = document.getElementById('draft'); d.setSelectionRange(2, 2); return null;")
        .await;
    type_keys(&browser, "X").await;
    browser
        .wait_for_js(
            "window.ferrex.pending === 0 && \
             document.getElementById('draft').getAttribute('value') === 'heXllo'",
        )
        .await;

    let state = browser
        .js("const d = document.getElementById('draft'); \
         return [d.value, document.activeElement === d, d.selectionStart, d.selectionEnd];")
        .await;
    assert_eq!(
        state,
        serde_json::json!(["heXllo", true, 3, 3]),
        "[value, focused, selectionStart, selectionEnd] after the re-render"
    );
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_the_next_click_works() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;
    browser.click("#inc").await;
    wait_count(&browser, 1).await;
    wait_settled(&browser).await;

    let dropped = browser
        .js("const ok = window.ferrex.dropSocket(); \
         return [ok, document.documentElement.dataset.fxConnected];")
        .await;
    assert_eq!(dropped, serde_json::json!([true, "false"]));
    browser.wait_connected().await;
    browser.click("#inc").await;
    wait_count(&browser, 2).await;

    // A click while the socket is down waits in the queue and is sent on reconnect.
    browser.js("window.ferrex.dropSocket(); return null;").await;
    browser.click("#inc").await;
    wait_count(&browser, 3).await;
    browser.wait_connected().await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.fx-toast').length;")
            .await,
        0,
        "no event was lost, so no toast"
    );
}

#[tokio::test]
async fn adding_an_empty_item_shows_a_toast() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;

    browser.click("#add").await;
    browser
        .wait_for_js(
            "Array.from(document.querySelectorAll('.fx-toast'))\
             .some((t) => t.textContent.includes('Type something first.'))",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#items li').length;")
            .await,
        0
    );

    // The session keeps working: a real item is added and the draft cleared.
    browser.click("#draft").await;
    type_keys(&browser, "milk").await;
    wait_settled(&browser).await;
    browser.click("#add").await;
    browser
        .wait_for_js(
            "document.querySelector('#items').textContent.includes('milk') && \
             document.getElementById('draft').value === ''",
        )
        .await;
    let shot = browser.screenshot("counter-list-and-toast").await;
    eprintln!("counter screenshot: {}", shot.display());
}

#[tokio::test]
async fn the_counter_mounted_under_a_path_prefix_works() {
    let router = axum::Router::new().nest("/app", counter::app().base_path("/app").into_router());
    let server = TestServer::start_router(router).await;
    let browser = Browser::start_on(&server.url("/app")).await;

    browser.click("#inc").await;
    wait_count(&browser, 1).await;
    // The stylesheet came from /app/_ferrex/style.css: the +1 button is styled.
    let styled = browser
        .js("return getComputedStyle(document.getElementById('inc')).backgroundColor;")
        .await;
    assert_ne!(styled, "rgba(0, 0, 0, 0)", "the stylesheet did not load");
    browser.click("#add").await;
    browser
        .wait_for_js("document.querySelector('.fx-toast') !== null")
        .await;
}
