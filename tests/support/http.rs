//! Plain HTTP requests with reqwest: a session's cookie, JSON answers, and the text the
//! server rendered into a page.

use std::fmt::Display;
use std::str::FromStr;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;

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
