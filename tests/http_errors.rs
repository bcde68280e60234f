//! Errors as their reader needs them, over real HTTP on 127.0.0.1: an unknown URL is an
//! HTML page for a browser and JSON for a program; `HEAD` answers for pages and assets as
//! `GET` does, without a body and without starting a session.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

use ferrex::prelude::*;
use reqwest::StatusCode;
use reqwest::header;
use support::TestServer;

/// What a browser sends when it navigates to a URL.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

fn index() -> Node {
    ui! { text("Hello", id = "hello") }
}

async fn server() -> (TestServer, tempfile::TempDir) {
    let assets = support::disk::scratch("http-errors-");
    std::fs::write(assets.path().join("notes.txt"), "twelve bytes").expect("write an asset");
    let app = App::new().page("/", index).assets_dir(assets.path());
    (TestServer::start(app).await, assets)
}

#[tokio::test]
async fn an_unknown_url_is_an_html_page_for_a_browser() {
    let (server, _assets) = server().await;
    let response = reqwest::Client::new()
        .get(server.url("/no/such/page"))
        .header(header::ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().await.expect("body");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains("<title>404 · Not found</title>"), "{body}");
    assert!(body.contains("not found: /no/such/page"), "{body}");
}

#[tokio::test]
async fn an_unknown_url_is_json_for_a_program() {
    let (server, _assets) = server().await;
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = reqwest::Client::new().get(server.url("/no/such/page"));
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let response = request.send().await.expect("request");
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "Accept: {accept:?}"
        );
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(
            body["error"], "not found: /no/such/page",
            "Accept: {accept:?}"
        );
    }
}

#[tokio::test]
async fn head_of_a_page_answers_like_get_without_a_body_or_a_session() {
    let (server, _assets) = server().await;
    let client = reqwest::Client::new();
    let head = client.head(server.url("/")).send().await.expect("HEAD /");
    assert_eq!(head.status(), StatusCode::OK);
    let content_type = head.headers()[header::CONTENT_TYPE].clone();
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        head.headers().get(header::SET_COOKIE).is_none(),
        "HEAD starts no session"
    );
    assert!(head.bytes().await.expect("body").is_empty());

    let get = client.get(server.url("/")).send().await.expect("GET /");
    assert_eq!(get.headers()[header::CONTENT_TYPE], content_type);
    assert!(get.text().await.expect("body").contains("Hello"));

    let missing = client
        .head(server.url("/nothing"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn head_of_an_asset_has_its_length_and_no_body() {
    let (server, _assets) = server().await;
    let head = reqwest::Client::new()
        .head(server.url("/notes.txt"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "12");
    assert!(head.bytes().await.expect("body").is_empty());
}
