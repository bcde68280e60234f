//! Two people, two Chromium profiles (two WebDriver sessions, each with its own
//! ChromeDriver and user-data folder), one counter app: each sees only its own count and
//! its own text, while they click at the same time and after reloading; a second tab of
//! the same profile shares that profile's session.

mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use fantoccini::Locator;
use support::{Browser, TestServer};

/// Waits until `#count` shows `n` and no event waits for its reply.
async fn wait_count(browser: &Browser, n: i64) {
    browser
        .wait_for_js(&format!(
            "window.ferrex && window.ferrex.pending === 0 \
             && document.getElementById('count').textContent.trim() === '{n}'"
        ))
        .await;
}

/// Opens `url` in a new tab of the browser's profile and switches to it; returns the tab
/// it was on.
async fn open_in_new_tab(browser: &Browser, url: &str) -> fantoccini::wd::WindowHandle {
    let first = browser.client().window().await.expect("the current tab");
    let tab = browser
        .client()
        .new_window(true)
        .await
        .expect("a new tab")
        .handle;
    browser
        .client()
        .switch_to_window(tab)
        .await
        .expect("switch");
    browser.open(url).await;
    first
}

/// The whole page as the browser shows it now.
async fn page_text(browser: &Browser) -> String {
    browser
        .js("return document.body.innerText;")
        .await
        .as_str()
        .expect("a string")
        .to_owned()
}

/// Types `text` into the draft field and adds it to the list.
async fn add_item(browser: &Browser, text: &str) {
    let field = browser
        .client()
        .find(Locator::Css("#draft"))
        .await
        .expect("the draft field");
    field.send_keys(text).await.expect("typing");
    browser
        .wait_for_js(&format!(
            "window.ferrex.pending === 0 && document.getElementById('draft').value === '{text}'"
        ))
        .await;
    browser.click("#add").await;
    browser
        .wait_for_js(&format!(
            "window.ferrex.pending === 0 \
             && document.getElementById('items').textContent.includes('{text}')"
        ))
        .await;
}

/// The session cookie as the browser holds it (read through WebDriver: the page's own
/// script cannot see an `HttpOnly` cookie).
async fn session_cookie(browser: &Browser) -> String {
    browser
        .client()
        .get_named_cookie("ferrex_session")
        .await
        .expect("the browser holds a session cookie")
        .value()
        .to_owned()
}

#[tokio::test]
async fn two_profiles_each_see_only_their_own_count_and_text() {
    let server = TestServer::start(counter::app()).await;
    let url = server.url("/");
    let (alice, bob) = tokio::join!(Browser::start_on(&url), Browser::start_on(&url));
    let (alice_id, bob_id) = (session_cookie(&alice).await, session_cookie(&bob).await);
    assert_ne!(alice_id, bob_id, "each profile has its own session");
    assert_eq!(
        alice.js("return document.cookie;").await,
        "",
        "the session cookie is out of the page's reach"
    );

    // Clicking at the same time: Alice five times up, Bob twice down.
    let alice_clicks = async {
        for _ in 0..5 {
            alice.click("#inc").await;
        }
    };
    let bob_clicks = async {
        for _ in 0..2 {
            bob.click("#dec").await;
        }
    };
    tokio::join!(alice_clicks, bob_clicks);
    wait_count(&alice, 5).await;
    wait_count(&bob, -2).await;

    // Text one types never shows in the other's page.
    add_item(&alice, "alice-only").await;
    add_item(&bob, "bob-only").await;
    let (alice_text, bob_text) = (page_text(&alice).await, page_text(&bob).await);
    assert!(alice_text.contains("alice-only") && !alice_text.contains("bob-only"));
    assert!(bob_text.contains("bob-only") && !bob_text.contains("alice-only"));

    // After a reload each still sees its own state, in the HTML the server sent.
    for browser in [&alice, &bob] {
        browser.open(&server.url("/")).await;
    }
    wait_count(&alice, 5).await;
    wait_count(&bob, -2).await;
    let alice_source = alice.client().source().await.expect("page source");
    let bob_source = bob.client().source().await.expect("page source");
    assert!(alice_source.contains("alice-only") && !alice_source.contains("bob-only"));
    assert!(bob_source.contains("bob-only") && !bob_source.contains("alice-only"));
    assert_eq!(
        session_cookie(&alice).await,
        alice_id,
        "the session survived"
    );
    assert_eq!(session_cookie(&bob).await, bob_id, "the session survived");

    // One more click each after the reload, on top of its own count.
    alice.click("#inc").await;
    bob.click("#dec").await;
    wait_count(&alice, 6).await;
    wait_count(&bob, -3).await;
}

#[tokio::test]
async fn a_second_tab_shares_its_profiles_session_and_no_other() {
    let server = TestServer::start(counter::app()).await;
    let url = server.url("/");
    let (alice, bob) = tokio::join!(Browser::start_on(&url), Browser::start_on(&url));
    for _ in 0..3 {
        alice.click("#inc").await;
    }
    wait_count(&alice, 3).await;
    bob.click("#dec").await;
    wait_count(&bob, -1).await;

    // A new tab in Alice's profile opens her session, not a fresh one and not Bob's.
    let first_tab = open_in_new_tab(&alice, &server.url("/")).await;
    wait_count(&alice, 3).await;
    alice.click("#inc").await;
    wait_count(&alice, 4).await;

    // Back in the first tab, a reload shows the shared session's count; Bob's is his own.
    alice
        .client()
        .switch_to_window(first_tab)
        .await
        .expect("switch back");
    alice.open(&server.url("/")).await;
    wait_count(&alice, 4).await;
    bob.open(&server.url("/")).await;
    wait_count(&bob, -1).await;
}

/// Two tabs of one session: what one tab changed reaches the other with its next event,
/// even when that event changes nothing (the server sends the HTML the tab lacks, by the
/// revision the tab says it shows).
#[tokio::test]
async fn a_tab_behind_catches_up_with_its_next_event_even_a_no_op() {
    let server = TestServer::start(counter::app()).await;
    let browser = Browser::start_on(&server.url("/")).await;
    browser.click("#inc").await;
    wait_count(&browser, 1).await;

    let first_tab = open_in_new_tab(&browser, &server.url("/")).await;
    wait_count(&browser, 1).await;
    browser.click("#reset").await;
    wait_count(&browser, 0).await;

    // The first tab still shows 1; its Reset changes nothing on the server (already 0),
    // yet its page must come to show 0.
    browser
        .client()
        .switch_to_window(first_tab)
        .await
        .expect("switch back");
    wait_count(&browser, 1).await;
    browser.click("#reset").await;
    wait_count(&browser, 0).await;
}
