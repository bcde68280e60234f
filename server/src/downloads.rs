//! Download routes: `/_ferrex/download/<token>`, which hands out a payload parked by a
//! handler (see `parked`) once, to its own session (from the shared file store when the app
//! runs as several processes), and `/_ferrex/file`, which answers any
//! same-origin URL as an attachment under a chosen name.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrex_core::download::DownloadBody;
use serde::Deserialize;
use tower::ServiceExt;

use crate::ServerError;
use crate::app_state::AppState;
use crate::parked::{SHARED_MARK, STREAM_MARK, SlotBody};
use crate::session::SessionId;

/// `GET /_ferrex/download/<token>`: the payload, once, for its own session. A `HEAD`
/// (a link checker, `curl -I`) answers the headers and leaves the payload in place.
pub(crate) async fn fetch_slot(
    State(app): State<Arc<AppState>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let session = SessionId::from_headers(&headers);
    if method == Method::HEAD {
        return match app.downloads.peek(&token, session.as_ref()) {
            Some((filename, content_type, len)) => {
                attachment(Body::empty(), &content_type, len, &filename)
            }
            None => ServerError::DownloadGone.into_response(),
        };
    }
    if app.downloads.is_shared() && token.starts_with(SHARED_MARK) {
        return fetch_shared(&app, &token, session.as_ref()).await;
    }
    let Some(slot) = app.downloads.take(&token, session.as_ref()) else {
        if app.downloads.is_shared() && token.starts_with(STREAM_MARK) {
            return ServerError::DownloadElsewhere.into_response();
        }
        return ServerError::DownloadGone.into_response();
    };
    let SlotBody::Held(body) = slot.body else {
        return ServerError::DownloadGone.into_response();
    };
    let (body, len) = match body {
        DownloadBody::Data(data) => {
            let bytes = if data.is_image() {
                match tokio::task::spawn_blocking(move || data.into_bytes()).await {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(e)) => {
                        return ServerError::Storage(format!("image encoding failed: {e}"))
                            .into_response();
                    }
                    Err(e) => return ServerError::Storage(e.to_string()).into_response(),
                }
            } else {
                match data.into_bytes() {
                    Ok(bytes) => bytes,
                    Err(e) => return ServerError::Storage(e.to_string()).into_response(),
                }
            };
            let len = bytes.len() as u64;
            (Body::from(bytes), Some(len))
        }
        DownloadBody::Stream { stream, len } => (Body::from_stream(stream), len),
        DownloadBody::Url(_) => return ServerError::DownloadGone.into_response(),
    };
    tracing::debug!(file = %slot.filename, "download fetched");
    attachment(body, &slot.content_type, len, &slot.filename)
}

/// A payload parked in the shared file store, by this process or another: taken once of all
/// processes (Redis `GETDEL`), then streamed from the store.
async fn fetch_shared(app: &AppState, token: &str, session: Option<&SessionId>) -> Response {
    let payload = match app.downloads.take_shared(token, session).await {
        Ok(Some(payload)) => payload,
        Ok(None) => return ServerError::DownloadGone.into_response(),
        Err(e) => return ServerError::FileStore(e).into_response(),
    };
    match payload.files.take_parked(&payload.name).await {
        Ok(Some((body, len))) => {
            tracing::debug!(file = %payload.filename, "download fetched from the file store");
            attachment(body, &payload.content_type, Some(len), &payload.filename)
        }
        // Dropped for a budget by the process that parked it.
        Ok(None) => ServerError::DownloadGone.into_response(),
        Err(e) => ServerError::FileStore(e.cause()).into_response(),
    }
}

/// A generated download's response: its type, length if known, and name.
fn attachment(body: Body, content_type: &str, len: Option<u64>, filename: &str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    // A type that is no header value (a handler's override with a line break) still
    // leaves the download typed: never without a type, which would say nothing of it.
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, ct);
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(filename));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The router itself, so `/_ferrex/file` can ask it for any same-origin URL.
#[derive(Clone)]
pub(crate) struct SelfRouter(pub Router);

#[derive(Deserialize)]
pub(crate) struct FileQuery {
    url: String,
    filename: Option<String>,
}

/// `GET /_ferrex/file?url=/x.png&filename=y.png`: fetches `url` from this app (with the
/// request's cookies) and answers it as an attachment named `filename`.
pub(crate) async fn forced_download(
    State(SelfRouter(router)): State<SelfRouter>,
    Query(query): Query<FileQuery>,
    request: Request,
) -> Response {
    let url = query.url;
    if !url.starts_with('/') || url.starts_with("//") || url.starts_with(crate::wire::FILE_PATH) {
        return ServerError::ForeignUrl(url).into_response();
    }
    let filename = query
        .filename
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| ferrex_core::download::url_file_name(&url).to_owned());
    let Ok(uri) = url.parse::<axum::http::Uri>() else {
        return ServerError::ForeignUrl(url).into_response();
    };
    let mut inner = Request::new(Body::empty());
    *inner.uri_mut() = uri;
    for name in [
        header::COOKIE,
        header::HOST,
        header::RANGE,
        header::IF_NONE_MATCH,
    ] {
        if let Some(value) = request.headers().get(&name) {
            inner.headers_mut().insert(name, value.clone());
        }
    }
    let Ok(mut response) = router.oneshot(inner).await;
    if response.status() == StatusCode::OK || response.status() == StatusCode::PARTIAL_CONTENT {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, content_disposition(&filename));
    }
    response
}

/// `Content-Disposition: attachment` with an ASCII `filename` and, for other names, an
/// RFC 6266 / 5987 `filename*`. A `%` also goes to `filename*` only: browsers
/// percent-decode the plain `filename` (Chromium saves `100%41.png` as `100A.png`), as
/// RFC 6266 appendix D warns.
///
/// ```
/// # // the function is crate-private; its behaviour is tested in tests/download.rs
/// ```
pub(crate) fn content_disposition(filename: &str) -> HeaderValue {
    let ascii: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{ascii}\"");
    if !filename.is_ascii() || ascii != filename {
        let encoded = percent_encoding::utf8_percent_encode(filename, RFC5987);
        value.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Characters RFC 5987 `attr-char` does not allow unescaped.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');
