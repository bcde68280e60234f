//! ferrex's own static files: the browser runtime and the default stylesheet, embedded in
//! the binary.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The browser runtime (hand-written, no build step).
pub const RUNTIME_JS: &str = include_str!("../assets/runtime.js");

pub(crate) async fn runtime_js() -> Response {
    embedded(RUNTIME_JS, "text/javascript; charset=utf-8")
}

pub(crate) async fn stylesheet() -> Response {
    embedded(ferrex_core::STYLESHEET, "text/css; charset=utf-8")
}

fn embedded(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
