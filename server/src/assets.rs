//! Static files: ferrex's own (the browser runtime and the default stylesheet, embedded in
//! the binary), the entity tags of the app's assets folder, and a faster body for whole
//! files from it.

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

/// The icon a browser shows in its tab when the app's assets folder has no `favicon.ico`
/// (browsers ask for it on every page; without an answer each page logs a 404 in the
/// console): ferrex's mark, a 32×32 PNG, which browsers take whatever the path's extension.
pub(crate) const DEFAULT_FAVICON: &[u8] = include_bytes!("../assets/favicon.png");

/// The path browsers ask for an icon when the page names none.
pub(crate) const FAVICON_PATH: &str = "/favicon.ico";

pub(crate) fn default_favicon() -> Response {
    embedded(DEFAULT_FAVICON, "image/png")
}

fn embedded(body: impl IntoResponse, content_type: &'static str) -> Response {
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

/// How much of a static file is read at a time, one read ahead of the one being sent.
const READ_CHUNK: usize = 512 * 1024;

/// The path of a `GET` that asks for a whole file (no `Range`), to send with [`read_ahead`].
pub(crate) fn whole_file_request(request: &Request) -> Option<String> {
    (request.method() == axum::http::Method::GET && !request.headers().contains_key(header::RANGE))
        .then(|| request.uri().path().to_owned())
}

/// Replaces the body of a `200` that `ServeDir` answered for the whole file at `uri_path`
/// by one that reads ahead: the next 512 KiB are read on a blocking thread, straight into a
/// fresh buffer, while the current ones are sent (`ServeDir` reads 256 KiB through
/// `tokio::fs::File`, which copies each chunk once more and starts the next read only once
/// the previous chunk is sent: about 1.5× slower on a large file). `ServeDir` still decides
/// everything else (the path, 404, 304, headers, ranges); the file is opened here again only
/// when the path is a plain relative one inside `dir` whose size is the response's length, and
/// otherwise the response is left as it is.
pub(crate) async fn read_ahead(
    dir: &std::path::Path,
    uri_path: &str,
    response: Response,
) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let Some(length) = crate::guards::declared_length(response.headers()) else {
        return response;
    };
    // Small files gain nothing from a second open.
    if length < 4 * READ_CHUNK as u64 {
        return response;
    }
    let Ok(relative) = percent_encoding::percent_decode_str(uri_path.trim_start_matches('/'))
        .decode_utf8()
        .map(|p| p.into_owned())
    else {
        return response;
    };
    if relative.is_empty()
        || relative.contains('\\')
        || !ferrex_core::path_safety::stays_inside(&relative)
    {
        return response;
    }
    let path = dir.join(&relative);
    let opened = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let meta = file.metadata()?;
        Ok::<_, std::io::Error>((file, meta))
    })
    .await;
    let Ok(Ok((file, meta))) = opened else {
        return response;
    };
    if !meta.is_file() || meta.len() != length {
        return response;
    }
    let (parts, _) = response.into_parts();
    Response::from_parts(
        parts,
        axum::body::Body::from_stream(file_chunks(file, length)),
    )
}

/// The file's first `length` bytes (what the response announced, even if the file grows
/// meanwhile), [`READ_CHUNK`] at a time, the next read running while a chunk is sent: at
/// most two chunks (1 MiB) are held per download, however slow the client.
fn file_chunks(
    file: std::fs::File,
    length: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    type Read = tokio::task::JoinHandle<(std::fs::File, u64, std::io::Result<Vec<u8>>)>;
    fn read_next(file: std::fs::File, left: u64) -> Read {
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut file = file;
            let want = left.min(READ_CHUNK as u64);
            let mut chunk = Vec::with_capacity(want as usize);
            let read = (&mut file)
                .take(want)
                .read_to_end(&mut chunk)
                .map(|_| chunk);
            (file, left, read)
        })
    }
    futures_util::stream::unfold(Some(read_next(file, length)), |running| async move {
        let (file, left, read) = match running?.await {
            Ok(done) => done,
            Err(e) => return Some((Err(std::io::Error::other(e)), None)),
        };
        match read {
            Ok(chunk) if chunk.is_empty() => None,
            Ok(chunk) => {
                let left = left - chunk.len() as u64;
                let next = (left > 0).then(|| read_next(file, left));
                Some((Ok(bytes::Bytes::from(chunk)), next))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
