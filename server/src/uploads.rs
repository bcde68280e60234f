//! Uploads: the streaming multipart endpoint that checks the drop zone's limits (read
//! from the server's own rendering of the page) while each file streams to a temporary
//! file, then hands the files to the handler; and serving uploaded files back safely.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrex_core::UploadFile;
use ferrex_core::path_safety::{sanitize_relative_path, stays_inside};
use ferrex_core::upload::{UploadLimits, UploadTarget};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;

use crate::ServerError;
use crate::app_state::AppState;
use crate::events::{EventMessage, Reply, ZoneUpload, run_event};
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::render::render_node;
use crate::session::SessionId;
use crate::upload_body::{PartHeadTooLong, PartHeads};
use crate::upload_write::{ChunkWriter, Taps, close_writer, with_digest, write_error};

/// How the temporary files of uploads in progress are named in the upload folder (and
/// uploads staged in a shared file store).
pub(crate) const TEMP_PREFIX: &str = crate::files::STAGED_PREFIX;

/// A new temporary file in the upload folder `dir`, where an upload streams before its
/// handler runs (named with [`TEMP_PREFIX`], so it is never served).
pub(crate) async fn new_temp_file(
    dir: std::path::PathBuf,
) -> Result<tempfile::NamedTempFile, ServerError> {
    tokio::task::spawn_blocking(move || {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
    })
    .await
    .map_err(|e| ServerError::Storage(e.to_string()))?
    .map_err(|e| ServerError::Storage(format!("cannot write to the upload folder: {e}")))
}

/// The `event` field of an upload request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadEvent {
    page: String,
    #[serde(rename = "h")]
    handler: String,
    #[serde(default)]
    args: Value,
    zone: String,
    #[serde(default)]
    rev: Option<u64>,
}

/// `POST /_ferrex/upload`.
pub(crate) async fn upload(
    State(app): State<Arc<AppState>>,
    _: SameOrigin,
    current: CurrentSession,
    length: DeclaredLength,
    request: Request,
) -> Response {
    upload_answer(receive(&app, &current, &length, request).await)
}

/// The answer to an upload's event, whichever way its files came (multipart or tus). Like
/// `POST /_ferrex/event`: a handler that failed answers 422 with its reply (the runtime
/// keeps the files for another try); a failure after a handler that ran (the re-render, a
/// download too large to keep) is reported with 200.
pub(crate) fn upload_answer(result: Result<Reply, ServerError>) -> Response {
    match result {
        Ok(reply) if reply.handler_failed => {
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(reply)).into_response()
        }
        Ok(reply) => axum::Json(reply).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn receive(
    app: &AppState,
    current: &CurrentSession,
    length: &DeclaredLength,
    request: Request,
) -> Result<Reply, ServerError> {
    let max_total = app.settings.max_upload_bytes;
    if length.at_most(max_total).is_err() {
        return Err(over_upload_limit(app, ""));
    }
    let mut multipart = guarded_multipart(request, max_total).await?;
    let timeout = app.settings.body_timeout;

    let first = multipart
        .next_field()
        .await
        .map_err(|e| broken(e, timeout, max_total))?
        .ok_or_else(|| ServerError::MalformedUpload("the request has no fields".into()))?;
    if first.name() != Some("event") {
        return Err(ServerError::MalformedUpload(
            "the first field must be `event`".into(),
        ));
    }
    let event_bytes = read_small(first, 64 * 1024, timeout, max_total).await?;
    let event: UploadEvent = serde_json::from_slice(&event_bytes)
        .map_err(|e| ServerError::MalformedEvent(e.to_string()))?;

    let limits = zone_limits(app, current, &event.page, &event.zone, &event.handler).await?;
    let dir = upload_dir(app).await?;

    let mut files: Vec<UploadFile> = Vec::new();
    let mut total: u64 = event_bytes.len() as u64;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| broken(e, timeout, max_total))?
    {
        if field.name() != Some("file") {
            return Err(ServerError::MalformedUpload(format!(
                "unexpected field `{}`",
                field.name().unwrap_or("")
            )));
        }
        if files.len() as u64 >= limits.file_count_limit() {
            let name = client_file_name(&field).unwrap_or_default();
            return Err(rejected(
                StatusCode::BAD_REQUEST,
                &name,
                "too many files".into(),
            ));
        }
        let file = stream_file(field, &limits, &dir, &mut total, app, &event.zone).await?;
        files.push(file);
    }
    tracing::debug!(count = files.len(), bytes = total, "upload received");
    let message = EventMessage {
        id: None,
        page: event.page,
        handler: event.handler,
        args: event.args,
        rev: event.rev,
    };
    hand_over(app, current, message, event.zone, files).await
}

/// Runs an upload's handler with its finished files, whichever way they came (multipart
/// or tus). With a shared store the files go there first, so any process can serve what
/// the handler keeps; if the store fails, the handler is not called and every temporary
/// file (and staged copy) is deleted as `files` drops.
pub(crate) async fn hand_over(
    app: &AppState,
    current: &CurrentSession,
    message: EventMessage,
    zone: String,
    files: Vec<UploadFile>,
) -> Result<Reply, ServerError> {
    let files = match app.files.objects() {
        Some(objects) => {
            let mut staged = Vec::with_capacity(files.len());
            for file in files {
                // Sent straight to the store (a `direct` zone): already there.
                if file.is_shared() {
                    staged.push(file);
                    continue;
                }
                let name = objects
                    .stage(file.temp_path(), file.size)
                    .await
                    .map_err(|e| {
                        ServerError::FileStore(format!("the upload was not kept ({})", e.cause()))
                    })?;
                staged.push(file.staged_in(objects.shared_files(), name));
            }
            tracing::debug!(count = staged.len(), "upload copied to the file store");
            staged
        }
        None => files,
    };
    run_event(app, current, message, Some(ZoneUpload { zone, files })).await
}

/// The limits of drop zone `zone` of `page`, which must upload to `handler`, from the
/// server's own rendering of the page, never from the client: the manifest of its last
/// render, or of a new one if an event has run since. A disabled zone is refused.
pub(crate) async fn zone_limits(
    app: &AppState,
    current: &CurrentSession,
    page: &str,
    zone: &str,
    handler: &str,
) -> Result<UploadLimits, ServerError> {
    let limits = {
        let mut guard = current.session.lock().await;
        // Files are checked against the page's manifest before their event begins (which
        // is what brings a shared store's copy up to date): bring it up to date first, so
        // the limits are those of the page as the session is now — for every upload path
        // (multipart, tus creation, the tus finish).
        if app.store.is_shared() {
            app.store.refresh(&current.id, &mut guard).await?;
        }
        let rendered;
        let manifest = match guard.current_manifest(page) {
            Some(manifest) => manifest,
            None => {
                rendered = render_node(app, &current.id, &mut guard, page)
                    .ok_or_else(|| ServerError::UnknownPage(page.to_owned()))??
                    .1;
                &rendered
            }
        };
        let limits = manifest.drop_zone(zone).cloned().ok_or_else(|| {
            ServerError::MalformedUpload(format!("the page has no drop zone with id `{zone}`"))
        })?;
        // Naming a looser zone of the page must not get files past the handler's own zone.
        if !manifest.uploads_to(zone, handler) {
            return Err(ServerError::MalformedUpload(format!(
                "the page does not upload drop zone `{zone}` to `{handler}`"
            )));
        }
        limits
    };
    if limits.disabled {
        return Err(rejected(
            StatusCode::BAD_REQUEST,
            "",
            "this drop zone is disabled".into(),
        ));
    }
    Ok(limits)
}

/// A declared file of `length` bytes named `relative` of type `content_type` fits the
/// zone: the checks made before any byte of a tus or direct upload (415, 413, 400).
pub(crate) fn check_file(
    limits: &UploadLimits,
    relative: &str,
    content_type: &str,
    length: u64,
) -> Result<(), ServerError> {
    if !limits.accepts(relative, content_type) {
        return Err(rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            relative,
            "type not accepted".into(),
        ));
    }
    match limits.check_size(relative, length) {
        Ok(()) => Ok(()),
        Err(why) if limits.max_size.is_some_and(|max| length > max) => {
            Err(rejected(StatusCode::PAYLOAD_TOO_LARGE, relative, why))
        }
        Err(why) => Err(rejected(StatusCode::BAD_REQUEST, relative, why)),
    }
}

/// The upload folder, created if missing.
pub(crate) async fn upload_dir(app: &AppState) -> Result<PathBuf, ServerError> {
    let dir = app.settings.upload_dir.clone();
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        // The OS says "File exists" or "Not a directory": name what is actually wrong.
        let why = match e.kind() {
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
                format!("a file is in the way ({e})")
            }
            _ => e.to_string(),
        };
        ServerError::Storage(format!("cannot create the upload folder: {why}"))
    })?;
    Ok(dir)
}

/// The type a file is taken to have: the one the client declared, unless it said nothing
/// useful, else the one its (sanitized) name implies.
pub(crate) fn file_content_type(relative: &str, declared: Option<&str>) -> String {
    declared
        .filter(|ct| *ct != "application/octet-stream" && !ct.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            mime_guess::from_path(relative)
                .first_raw()
                .unwrap_or("application/octet-stream")
                .to_owned()
        })
}

/// Streams one file to a temporary file in the upload folder, enforcing the limits as
/// bytes arrive. On any error the temporary file is dropped, which deletes it.
async fn stream_file(
    mut field: Field<'_>,
    limits: &UploadLimits,
    dir: &std::path::Path,
    total: &mut u64,
    app: &AppState,
    zone: &str,
) -> Result<UploadFile, ServerError> {
    let (max_total, timeout) = (app.settings.max_upload_bytes, app.settings.body_timeout);
    let relative =
        sanitize_relative_path(&client_file_name(&field).unwrap_or_else(|| "file".into()));
    let content_type = file_content_type(&relative, field.content_type());
    if !limits.accepts(&relative, &content_type) {
        return Err(rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &relative,
            "type not accepted".into(),
        ));
    }
    let (std_file, temp_path) = new_temp_file(dir.to_path_buf()).await?.into_parts();
    let mut taps = Taps::new(app.settings.upload_sha256);
    taps.app = app.writer_for(&UploadTarget {
        zone,
        name: &relative,
        content_type: &content_type,
        size: None,
    });
    let mut out = ChunkWriter::new(std_file, taps);
    let mut size: u64 = 0;
    let over_total = || over_upload_limit(app, &relative);
    while let Some(chunk) =
        field
            .chunk()
            .await
            .map_err(|e| match broken(e, timeout, max_total) {
                // The whole body (part heads included) passed the limit during this file.
                ServerError::TooLarge(_) => over_total(),
                other => other,
            })?
    {
        size += chunk.len() as u64;
        *total += chunk.len() as u64;
        if limits.max_size.is_some_and(|max| size > max) {
            return Err(rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                &relative,
                "too large".into(),
            ));
        }
        if *total > max_total {
            return Err(over_total());
        }
        out.push(chunk)
            .await
            .map_err(|e| write_error(e, &relative))?;
    }
    let (_, mut taps) = out.finish().await.map_err(|e| write_error(e, &relative))?;
    close_writer(taps.app.take(), &relative).await?;
    if limits.min_size.is_some_and(|min| size < min) {
        return Err(rejected(
            StatusCode::BAD_REQUEST,
            &relative,
            "too small".into(),
        ));
    }
    Ok(with_digest(
        UploadFile::new(relative, content_type, size, temp_path, dir.to_path_buf()),
        taps.file,
    ))
}

/// The file name a part gives, unsanitized: its `filename*` (RFC 7578 / 5987
/// `UTF-8''percent-encoded`) when it has one that decodes, else its `filename`.
fn client_file_name(field: &Field<'_>) -> Option<String> {
    field
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(extended_file_name)
        .or_else(|| field.file_name().map(str::to_owned))
}

/// The decoded `filename*` parameter of a `Content-Disposition` value, if it has a UTF-8
/// one (the only charset browsers send); its language tag is ignored.
fn extended_file_name(disposition: &str) -> Option<String> {
    let value = disposition_params(disposition)
        .find(|(name, _)| name.eq_ignore_ascii_case("filename*"))?
        .1;
    let (charset, rest) = value.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|name| name.into_owned())
}

/// The `name=value` parameters after a `Content-Disposition`'s type, with quoted values
/// unquoted; a `;` inside quotes does not split.
fn disposition_params(disposition: &str) -> impl Iterator<Item = (&str, String)> {
    let mut rest = disposition.split_once(';').map_or("", |(_, params)| params);
    std::iter::from_fn(move || {
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let value = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = quoted[end..].split_once(';').map_or("", |(_, r)| r);
            value
        } else {
            let (value, r) = after.split_once(';').unwrap_or((after, ""));
            rest = r;
            value.trim().to_owned()
        };
        // A parameter without a value (`form-data; x; filename=…`) is skipped.
        let name = name.rsplit(';').next().unwrap_or(name).trim();
        Some((name, value))
    })
}

async fn read_small(
    mut field: Field<'_>,
    max: usize,
    timeout: std::time::Duration,
    max_total: u64,
) -> Result<Vec<u8>, ServerError> {
    let mut out = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| broken(e, timeout, max_total))?
    {
        out.extend_from_slice(&chunk);
        if out.len() > max {
            return Err(ServerError::MalformedUpload(
                "the `event` field is too large".into(),
            ));
        }
    }
    Ok(out)
}

/// The request's multipart body, read through [`PartHeads`]: the whole body bounded by
/// `max_total` (a chunked body included), the preamble and each part's head by
/// [`crate::upload_body::MAX_PART_HEAD`].
async fn guarded_multipart(request: Request, max_total: u64) -> Result<Multipart, ServerError> {
    let (parts, body) = request.into_parts();
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            ServerError::MalformedUpload(
                "the request is not `multipart/form-data` with a boundary".into(),
            )
        })?;
    let limited =
        http_body_util::Limited::new(body, usize::try_from(max_total).unwrap_or(usize::MAX));
    let checked = PartHeads::new(Body::new(limited).into_data_stream(), &boundary);
    let request = Request::from_parts(parts, Body::from_stream(checked));
    Multipart::from_request(request, &())
        .await
        .map_err(|e| ServerError::MalformedUpload(e.body_text()))
}

/// A multipart body that could not be read: stalled past the body timeout (408), larger
/// than the server takes (413), or malformed, with an over-long part head, or cut off
/// (400).
fn broken(err: MultipartError, timeout: std::time::Duration, limit: u64) -> ServerError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cause {
        if let Some(too_long) = e.downcast_ref::<PartHeadTooLong>() {
            return ServerError::MalformedUpload(too_long.to_string());
        }
        cause = e.source();
    }
    let text = err.body_text();
    crate::error::body_failure(&err, timeout, limit, |_| ServerError::MalformedUpload(text))
}

pub(crate) fn rejected(status: StatusCode, file: &str, reason: String) -> ServerError {
    ServerError::UploadRejected {
        status,
        file: file.to_owned(),
        reason,
    }
}

/// `GET /_ferrex/uploads/<path>`: an uploaded file, `nosniff`, sandboxed, and an
/// attachment unless its type is safe to show inline (raster images, plain text, PDF).
pub(crate) async fn serve_uploaded(
    State(app): State<Arc<AppState>>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    // Uploads still streaming in (temp files) and parked payloads are nobody's to read.
    if path.split('/').any(|s| {
        s.is_empty()
            || s == "."
            || s == ".."
            || s.starts_with(TEMP_PREFIX)
            || s.starts_with(crate::files::PARKED_PREFIX)
    }) || !stays_inside(&path)
    {
        return not_found(&path).into_response();
    }
    if !app.settings.public_uploads
        && !bound_to_session(&app, &path, request.uri().query(), request.headers()).await
    {
        // 404, not 403: a URL of another session's does not even say the file exists.
        return not_found(&path).into_response();
    }
    if let Some(objects) = app.files.objects() {
        let response = objects.serve(&path, request.headers()).await;
        if response.status() == StatusCode::NOT_FOUND {
            return not_found(&path).into_response();
        }
        return uploaded_file_headers(response, &path);
    }
    let file: PathBuf = app.settings.upload_dir.join(&path);
    // A folder opens like a file on Unix and then fails mid-body: only files are served.
    if !tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
        return not_found(&path).into_response();
    }
    let mut inner = Request::new(Body::empty());
    *inner.headers_mut() = request.headers().clone();
    let Ok(response) = tower_http::services::ServeFile::new(&file)
        .oneshot(inner)
        .await
        .map(IntoResponse::into_response);
    if response.status() == StatusCode::NOT_FOUND {
        return not_found(&path).into_response();
    }
    uploaded_file_headers(response, &path)
}

/// What every uploaded file is served with, wherever it is kept: an attachment unless its
/// type is safe inline, and a sandboxing content security policy.
fn uploaded_file_headers(mut response: Response, path: &str) -> Response {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let headers = response.headers_mut();
    if !safe_inline(&content_type) {
        let name = path.rsplit('/').next().unwrap_or("file");
        headers.insert(
            header::CONTENT_DISPOSITION,
            crate::downloads::content_disposition(name),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    response
}

/// Whether the request's `k` tag binds `path` to the request's own (live) session.
async fn bound_to_session(
    app: &AppState,
    path: &str,
    query: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> bool {
    let Some(tag) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("k="))
    else {
        return false;
    };
    // The tag is 32 hex digits; a query an app glued on with `?` (`…?k=tag?v=2`) follows.
    let tag = tag.get(..32).unwrap_or(tag);
    // A session another process made counts too (sessions in a shared store).
    let Ok(current) = CurrentSession::resolve(app, headers).await else {
        return false;
    };
    let key = crate::signing::session_key(&app.url_secret, &current.id);
    crate::signing::verify_upload_tag(&key, path, tag)
}

fn safe_inline(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
            | "text/plain"
            | "application/pdf"
    )
}

/// The 404 for an uploaded file that is not there, or not this session's.
fn not_found(path: &str) -> Response {
    ServerError::NotFound(format!("{}/{path}", crate::wire::UPLOADS_PATH)).into_response()
}

/// 413 for `file` (`""`: the upload as a whole): past the server's limit on one upload
/// (`App::max_upload_bytes`).
pub(crate) fn over_upload_limit(app: &AppState, file: &str) -> ServerError {
    let max = app.settings.max_upload_bytes;
    rejected(
        StatusCode::PAYLOAD_TOO_LARGE,
        file,
        format!("the upload is larger than the server's limit of {max} bytes"),
    )
}

/// `bytes` of `file` (`""`: the upload as a whole) within the server's limit on one upload,
/// else [`over_upload_limit`].
pub(crate) fn within_upload_limit(
    app: &AppState,
    file: &str,
    bytes: u64,
) -> Result<(), ServerError> {
    if bytes > app.settings.max_upload_bytes {
        return Err(over_upload_limit(app, file));
    }
    Ok(())
}

/// Who a finish is for: the batch's session, page, zone and handler. Every upload it names
/// (over tus or straight to the store) must have been made for the same.
pub(crate) struct Batch<'a> {
    pub(crate) session: &'a SessionId,
    pub(crate) page: &'a str,
    pub(crate) zone: &'a str,
    pub(crate) handler: &'a str,
}

impl Batch<'_> {
    /// The upload `name`, made for `page`, `zone` and `handler`, belongs in this batch.
    pub(crate) fn check_made_for(
        &self,
        name: &str,
        page: &str,
        zone: &str,
        handler: &str,
    ) -> Result<(), ServerError> {
        if page != self.page || zone != self.zone || handler != self.handler {
            return Err(ServerError::MalformedUpload(format!(
                "upload `{name}` was made for another page, zone or handler"
            )));
        }
        Ok(())
    }
}

/// A finish names each upload once: `names[n]` is not among the names before it.
pub(crate) fn named_once<T: PartialEq + std::fmt::Display>(
    names: &[T],
    n: usize,
) -> Result<(), ServerError> {
    if names[..n].contains(&names[n]) {
        return Err(ServerError::MalformedUpload(format!(
            "upload `{}` is named twice",
            names[n]
        )));
    }
    Ok(())
}

/// Whether one more upload in progress may start: `mine` of this session's and `all` of the
/// process's are held now, against their caps (tus uploads, direct-upload forms). Past the
/// session's cap: 429, "this session already has {mine} {held}"; past the process's: 503;
/// each with a sentence.
pub(crate) fn admit_upload(
    mine: usize,
    per_session: usize,
    all: usize,
    per_process: usize,
    held: &str,
) -> Result<(), ServerError> {
    if mine >= per_session {
        return Err(ServerError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this session already has {mine} {held}"),
        ));
    }
    if all >= per_process {
        return Err(ServerError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server has too many uploads in progress: try again later",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filename_star_is_decoded_from_utf8_percent_encoding() {
        let name = |d: &str| extended_file_name(d);
        assert_eq!(
            name("form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt")
                .as_deref(),
            Some("naïve résumé.txt")
        );
        assert_eq!(
            name("form-data; filename=\"a;b.txt\"; filename*=utf-8'fr'%E2%82%AC.txt").as_deref(),
            Some("€.txt"),
            "a `;` in a quoted value and a language tag"
        );
        assert_eq!(name("form-data; filename=\"plain.txt\""), None);
        assert_eq!(
            name("form-data; odd; filename*=UTF-8''x%20y.txt").as_deref(),
            Some("x y.txt")
        );
        assert_eq!(name("form-data; filename*=ISO-8859-1''%E9.txt"), None);
        assert_eq!(
            name("form-data; filename*=UTF-8''%FF.txt"),
            None,
            "not UTF-8"
        );
        assert_eq!(
            name("form-data; filename*=UTF-8''%2e%2e%2fx"),
            Some("../x".into())
        );
    }
}
