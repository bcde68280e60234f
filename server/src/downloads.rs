//! Downloads: generated payloads parked behind one-time, session-bound URLs
//! (`/_ferrex/download/<token>`), and `/_ferrex/file`, which answers any same-origin URL
//! as an attachment under a chosen name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrex_core::Download;
use ferrex_core::download::DownloadBody;
use serde::Deserialize;
use tower::ServiceExt;

use crate::ServerError;
use crate::app_state::AppState;
use crate::session::SessionId;

/// Payloads waiting to be fetched, each by the one session it was made for.
pub(crate) struct DownloadSlots {
    slots: Mutex<HashMap<String, Slot>>,
    max_bytes: u64,
    ttl: Duration,
}

struct Slot {
    session: SessionId,
    filename: String,
    content_type: String,
    body: DownloadBody,
    bytes: u64,
    created: Instant,
}

/// Where the browser fetches a download.
pub(crate) enum Parked {
    /// A same-origin URL, fetched through `/_ferrex/file`.
    Url(String),
    /// A one-time token URL.
    Token(String),
}

impl DownloadSlots {
    pub(crate) fn new(max_bytes: u64, ttl: Duration) -> DownloadSlots {
        DownloadSlots {
            slots: Mutex::new(HashMap::new()),
            max_bytes,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // Every operation is a single map call; a poisoned lock is still consistent.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parks a download for `session` and returns where the browser fetches it, or why it
    /// cannot: a payload larger than the whole budget would only be dropped unfetched.
    pub(crate) fn park(&self, session: &SessionId, download: Download) -> Result<Parked, String> {
        let filename = download.suggested_filename();
        let content_type = download.content_type();
        let body = download.into_body();
        if let DownloadBody::Url(url) = body {
            return Ok(Parked::Url(url));
        }
        let bytes = estimated_size(&body);
        if bytes > self.max_bytes {
            return Err(format!(
                "`{filename}` ({bytes} bytes) is larger than the {} bytes the server holds for \
                 downloads: return it with `Download::stream`, or raise \
                 `App::max_pending_download_bytes`",
                self.max_bytes
            ));
        }
        let token = SessionId::random().as_str().to_owned();
        let slot = Slot {
            session: session.clone(),
            filename,
            content_type,
            bytes,
            body,
            created: Instant::now(),
        };
        let mut slots = self.lock();
        slots.insert(token.clone(), slot);
        self.evict_over_budget(&mut slots);
        Ok(Parked::Token(format!(
            "{}{token}",
            crate::wire::DOWNLOAD_PREFIX
        )))
    }

    /// Drops the oldest payloads while more than the budget waits.
    fn evict_over_budget(&self, slots: &mut HashMap<String, Slot>) {
        let mut total: u64 = slots.values().map(|s| s.bytes).sum();
        while total > self.max_bytes {
            let Some(oldest) = slots
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(slot) = slots.remove(&oldest) {
                tracing::warn!(file = %slot.filename, "a generated download was dropped unfetched: too much download data is waiting");
                total -= slot.bytes;
            }
        }
    }

    /// Drops payloads older than the time-to-live.
    pub(crate) fn expire(&self) {
        let ttl = self.ttl;
        self.lock().retain(|_, slot| slot.created.elapsed() < ttl);
    }

    /// Takes the payload for `token` if `session` owns it.
    fn take(&self, token: &str, session: Option<&SessionId>) -> Option<Slot> {
        let mut slots = self.lock();
        let slot = slots.get(token)?;
        if !self.fetchable(slot, session) {
            return None;
        }
        slots.remove(token)
    }

    /// The name, type and length (when known without encoding) of the payload for `token`
    /// if `session` owns it, leaving it in place.
    fn peek(
        &self,
        token: &str,
        session: Option<&SessionId>,
    ) -> Option<(String, String, Option<u64>)> {
        let slots = self.lock();
        let slot = slots.get(token).filter(|s| self.fetchable(s, session))?;
        let len = match &slot.body {
            DownloadBody::Data(data) if !data.is_image() => Some(data.len_hint()),
            DownloadBody::Stream { len, .. } => *len,
            _ => None,
        };
        Some((slot.filename.clone(), slot.content_type.clone(), len))
    }

    fn fetchable(&self, slot: &Slot, session: Option<&SessionId>) -> bool {
        Some(&slot.session) == session && slot.created.elapsed() < self.ttl
    }
}

fn estimated_size(body: &DownloadBody) -> u64 {
    match body {
        DownloadBody::Data(data) => data.len_hint(),
        _ => 0,
    }
}

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
    let Some(slot) = app.downloads.take(&token, session.as_ref()) else {
        return ServerError::DownloadGone.into_response();
    };
    let (body, len) = match slot.body {
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

/// A generated download's response: its type, length if known, and name.
fn attachment(body: Body, content_type: &str, len: Option<u64>, filename: &str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
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
