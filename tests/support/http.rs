//! Plain HTTP requests with reqwest: a session's cookie, events and uploads posted with a
//! hand-picked identity, JSON answers, and the text the server rendered into a page.

use std::fmt::Display;
use std::str::FromStr;

use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::multipart::Form;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::TestServer;

/// The `name=value` part of a response's `Set-Cookie`, if any.
pub fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The value of a response's header `name` as text; empty when it is missing or not text.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A browser-like client (it keeps cookies) that has loaded `/` (200): it holds a session.
pub async fn session_client(server: &TestServer) -> Client {
    let client = Client::builder()
        .cookie_store(true)
        .build()
        .expect("an HTTP client");
    let page = client.get(server.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    client
}

/// A client arrives: a first visit of `/`, which must answer 200 and set a session
/// cookie. Returns that `Cookie` header value, e.g. `ferrex_session=…`.
pub async fn arrive(server: &TestServer) -> String {
    let response = reqwest::get(server.url("/")).await.expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    set_cookie(&response).expect("the first visit sets a session cookie")
}

/// A later visit of `/` sending `cookie`, which must answer 200.
pub async fn visit(server: &TestServer, cookie: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(server.url("/"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    response
}

/// The page `/` for `cookie`, a known session: it answers 200 and sets no new cookie.
pub async fn page(server: &TestServer, cookie: &str) -> String {
    let response = visit(server, cookie).await;
    assert_eq!(
        set_cookie(&response),
        None,
        "a known session keeps its cookie"
    );
    response.text().await.expect("the page")
}

/// The body of an event from page `/`: handler `h` called with `args`.
pub fn page_event(h: &str, args: Value) -> String {
    json!({ "page": "/", "h": h, "args": args }).to_string()
}

/// `POST /_ferrex/event` of the event `h(args…)` from page `/`, carrying exactly this cookie
/// and origin (each only if given); returns the status and the JSON answer.
pub async fn post_event(
    server: &TestServer,
    cookie: Option<&str>,
    origin: Option<&str>,
    h: &str,
    args: Value,
) -> (StatusCode, Value) {
    post_event_body(&Client::new(), server, cookie, origin, page_event(h, args)).await
}

/// Like [`post_event`] with any body, sent through `client` (which may keep its
/// connection between events).
pub async fn post_event_body(
    client: &Client,
    server: &TestServer,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let request = client
        .post(server.url("/_ferrex/event"))
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    send(identified(request, cookie, origin)).await
}

/// `POST /_ferrex/upload` of `form` from a fresh client carrying exactly this cookie and
/// origin (each only if given); returns the status and the JSON answer.
pub async fn post_upload(
    server: &TestServer,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: Form,
) -> (StatusCode, Value) {
    status_json(upload_response(&Client::new(), server, cookie, origin, form).await).await
}

/// The answer to `POST /_ferrex/upload` of `form` through `client` (with its own cookies,
/// if it keeps them), adding exactly this cookie and origin (each only if given).
pub async fn upload_response(
    client: &Client,
    server: &TestServer,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: Form,
) -> reqwest::Response {
    let request = client.post(server.url("/_ferrex/upload")).multipart(form);
    identified(request, cookie, origin)
        .send()
        .await
        .expect("the upload request failed")
}

/// `request` with a `Cookie` and an `Origin` header, each only if given.
fn identified(
    request: RequestBuilder,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> RequestBuilder {
    let request = match cookie {
        Some(cookie) => request.header(COOKIE, cookie),
        None => request,
    };
    match origin {
        Some(origin) => request.header(ORIGIN, origin),
        None => request,
    }
}

/// Sends `request`; returns the status and the body, which must be JSON.
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    status_json(request.send().await.expect("the request failed")).await
}

/// The status and the body of a response, which must be JSON.
pub async fn status_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("cannot read the body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// The text inside the element with `id` in server-rendered HTML (`<p … id="x">text</p>`),
/// trimmed.
pub fn text_of<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').expect("a tag end") + 1;
    let end = start + rest[start..].find('<').expect("a text end");
    rest[start..end].trim()
}

/// The number inside the element with `id`, e.g. `<p … id="count" …>3</p>`.
pub fn number_in<T>(html: &str, id: &str) -> T
where
    T: FromStr,
    T::Err: Display,
{
    let text = text_of(html, id);
    text.parse()
        .unwrap_or_else(|e| panic!("#{id} holds {text:?}, not a number ({e}), in {html}"))
}
