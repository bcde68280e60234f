//! Proves the real-browser harness in `tests/support` works: a headless
//! Chromium loads a page, clicks a button and saves the file it downloads.

#[allow(unused_imports)]
mod support;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::Locator;
use support::Browser;

/// A page whose button downloads `hello.txt` (content `hi`) built from a Blob.
const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>Harness check</title></head>
<body>
<button id="download">Download</button>
<p id="status">idle</p>
<script>
document.getElementById("download").addEventListener("click", function () {
  const blob = new Blob(["hi"], { type: "text/plain" });
  const link = document.createElement("a");
  link.href = window.URL.createObjectURL(blob);
  link.download = "hello.txt";
  document.body.appendChild(link);
  link.click();
  link.remove();
  document.getElementById("status").textContent = "clicked";
});
</script>
</body>
</html>
"#;

/// Serves [`PAGE`] at `/` on a free loopback port and returns its URL.
async fn serve_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind the test server");
    let addr = listener
        .local_addr()
        .expect("the test server has no address");
    let app = Router::new().route("/", get(|| async { Html(PAGE) }));
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the test server failed");
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn harness_clicks_and_downloads_a_file() {
    let url = serve_page().await;
    let browser = Browser::start().await;

    browser.goto(&url).await;
    let title = browser
        .client()
        .title()
        .await
        .expect("cannot read the page title");
    assert_eq!(title, "Harness check");

    browser
        .client()
        .find(Locator::Css("#download"))
        .await
        .expect("the download button is missing")
        .click()
        .await
        .expect("cannot click the download button");
    browser
        .wait_for_js(r#"document.getElementById("status").textContent === "clicked""#)
        .await;
    browser
        .wait_for(
            |c| async move { c.title().await.is_ok_and(|t| t == "Harness check") },
            "the page to stay loaded after the click",
        )
        .await;

    let bytes = browser.wait_for_download("hello.txt").await;
    assert_eq!(bytes, b"hi");

    let shot = browser.screenshot("harness-after-download").await;
    let png = std::fs::read(&shot).expect("the screenshot was not written");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
}
