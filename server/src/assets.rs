//! Static files: ferrex's own (the browser runtime and the default stylesheet, embedded in
//! the binary) and the entity tags of the app's assets folder.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
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

/// Entity tags for the files of the assets folder, which tower-http's `ServeDir` serves with
/// `Last-Modified` and `Range` but no `ETag`: a weak tag from the file's size and
/// modification time, and `304 Not Modified` for an `If-None-Match` that names it.
pub(crate) async fn entity_tags(mut request: Request, next: Next) -> Response {
    let if_none_match = request.headers_mut().remove(header::IF_NONE_MATCH);
    if if_none_match.is_some() {
        // RFC 9110 §13.1.3: a recipient ignores If-Modified-Since when If-None-Match is present.
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
    }
    let mut response = next.run(request).await;
    let Some(tag) = entity_tag(&response) else {
        return response;
    };
    if if_none_match.is_some_and(|wanted| tag_matches(&wanted, &tag)) {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        for name in [header::LAST_MODIFIED, header::CACHE_CONTROL] {
            if let Some(value) = response.headers_mut().remove(&name) {
                not_modified.headers_mut().insert(name, value);
            }
        }
        response = not_modified;
    }
    response.headers_mut().insert(header::ETAG, tag);
    response
}

/// `W/"<size>-<hash of Last-Modified>"` for a file response (whole or a range of it).
fn entity_tag(response: &Response) -> Option<HeaderValue> {
    let headers = response.headers();
    let size = match response.status() {
        StatusCode::OK => headers.get(header::CONTENT_LENGTH)?.to_str().ok()?,
        StatusCode::PARTIAL_CONTENT => {
            let range = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
            range.rsplit_once('/')?.1
        }
        _ => return None,
    };
    let size: u64 = size.trim().parse().ok()?;
    let modified = headers.get(header::LAST_MODIFIED)?.as_bytes();
    // FNV-1a: a hash that stays the same across builds and restarts.
    let hash = modified.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("W/\"{size:x}-{hash:016x}\"")).ok()
}

/// Whether an `If-None-Match` list names `tag` (weak comparison) or is `*`.
fn tag_matches(wanted: &HeaderValue, tag: &HeaderValue) -> bool {
    let (Ok(wanted), Ok(tag)) = (wanted.to_str(), tag.to_str()) else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = opaque(tag);
    wanted
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == tag)
}
