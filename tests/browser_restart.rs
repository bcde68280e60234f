//! A page open while its server goes away and comes back: the runtime shows that it is
//! reconnecting, and when the new server does not know the page's session (sessions were
//! in the old process's memory) the page reloads itself into a fresh one, at the same
//! URL, and says which of the user's actions were not applied.

mod support;

use support::Browser;
use support::process::AppProcess;

#[tokio::test]
async fn a_page_reloads_into_a_fresh_session_after_its_server_restarts() {
    let mut server = AppProcess::start("counter").await;
    let browser = Browser::start_on(&server.url("/?from=test")).await;
    browser.wait_connected().await;
    browser.click("#inc").await;
    browser.click("#inc").await;
    browser
        .wait_for_js("document.getElementById('count').textContent.trim() === '2'")
        .await;
    // Gone after a reload, so the test sees that the page really loaded again.
    browser
        .js("window.__beforeRestart = true; return null;")
        .await;

    server.kill();
    browser
        .wait_for_js("(() => { const n = document.getElementById('fx-away'); return n && !n.hidden && n.textContent.includes('Reconnecting'); })()")
        .await;
    // A click while the server is away waits in the queue…
    browser.click("#inc").await;

    server.start_again().await;
    // …and the new server does not know the session: the page reloads itself.
    browser
        .wait_for_js("window.__beforeRestart === undefined")
        .await;
    browser.wait_connected().await;
    let url = browser
        .js("return window.location.pathname + window.location.search;")
        .await;
    assert_eq!(url, "/?from=test", "the reload keeps the URL");
    let count = browser
        .js("return document.getElementById('count').textContent.trim();")
        .await;
    assert_eq!(
        count, "0",
        "a fresh session starts from the state's default"
    );
    browser
        .wait_for_js("Array.from(document.querySelectorAll('.fx-toast')).some((t) => t.textContent.includes('Your last action was not applied'))")
        .await;
    let away_shown = browser
        .js("const n = document.getElementById('fx-away'); return !!n && !n.hidden;")
        .await;
    assert_eq!(
        away_shown,
        serde_json::Value::Bool(false),
        "no notice once connected"
    );

    // The fresh session works.
    browser.click("#inc").await;
    browser
        .wait_for_js("document.getElementById('count').textContent.trim() === '1'")
        .await;
}
