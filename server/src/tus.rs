//! Resumable uploads over tus 1.0 (core, creation, termination, expiration and checksum
//! extensions; `docs/PROTOCOL.md`). Each file is its own tus upload, created for a page,
//! a drop zone and a handler of the caller's session and checked against the zone's limits
//! from its declared length before any byte; its bytes go to a temporary file in the upload
//! folder across as many `PATCH` requests as the connection needs. A batch is handed to the
//! handler once, by `POST /_ferrex/upload/finish` naming its finished uploads. Uploads are
//! bounded per session and per process, and one untouched for `App::tus_expiry` is removed
//! with its file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferrex_core::UploadFile;
use ferrex_core::path_safety::sanitize_relative_path;
use ferrex_core::upload::{UploadLimits, UploadTarget, UploadWriter};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::ServerError;
use crate::app_state::AppState;
use crate::events::EventMessage;
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::session::SessionId;
use crate::upload_write::{
    ChunkDigest, ChunkWriter, Taps, close_writer, is_refusal, replay, with_digest, write_error,
};
use crate::uploads::{
    admit_upload, check_file, file_content_type, hand_over, new_temp_file, rejected, upload_answer,
    upload_dir, zone_limits,
};

/// The protocol version ferrex speaks.
const VERSION: &str = "1.0.0";
/// The extensions ferrex implements.
const EXTENSIONS: &str = "creation,expiration,termination,checksum";
/// The checksum algorithms `Upload-Checksum` may name.
const CHECKSUMS: &str = "sha1,sha256";
/// The content type of a `PATCH` body.
const PATCH_TYPE: &str = "application/offset+octet-stream";
/// The status of a chunk whose checksum does not match (tus checksum extension).
const CHECKSUM_MISMATCH: u16 = 460;

/// The tus uploads of the process that are not handed to a handler yet.
pub(crate) struct TusUploads {
    uploads: Mutex<HashMap<String, Arc<TusUpload>>>,
}

/// One file on its way in.
struct TusUpload {
    /// The session that created it; no other may touch it.
    session: SessionId,
    page: String,
    zone: String,
    handler: String,
    /// The sanitized relative path from `Upload-Metadata` `filename`.
    relative: String,
    content_type: String,
    /// `Upload-Length`: the file's size, checked against the zone before any byte.
    length: u64,
    /// `Upload-Metadata` as it came, for `HEAD`.
    metadata: String,
    /// The bytes written and kept: `Upload-Offset`.
    offset: AtomicU64,
    /// When an untouched upload is removed: `Upload-Expires`.
    expires: Mutex<SystemTime>,
    /// The file and the digest of its bytes so far; held by the one `PATCH` that writes.
    data: tokio::sync::Mutex<Partial>,
    /// Bumped by each `PATCH`, so that one still reading a body a client gave up on stops
    /// and lets the client's new `PATCH` in.
    turn: tokio::sync::watch::Sender<u64>,
}

struct Partial {
    /// Dropped (with the upload, or taken at finish), the temporary file is deleted.
    temp: Option<tempfile::TempPath>,
    /// The SHA-256 of the bytes kept so far, unless the app turned it off.
    hash: Option<sha2::Sha256>,
    /// The app's writer (`App::upload_writer`), given the bytes that are kept.
    writer: Option<Box<dyn UploadWriter>>,
}

impl TusUploads {
    pub(crate) fn new() -> TusUploads {
        TusUploads {
            uploads: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TusUpload>>> {
        // The map holds no invariant a panic elsewhere could break half-way.
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes uploads untouched past their expiry, with their files; one a `PATCH` is
    /// writing is left alone. Returns how many went.
    pub(crate) fn expire(&self) -> usize {
        let now = SystemTime::now();
        let mut uploads = self.lock();
        let before = uploads.len();
        uploads.retain(|_, upload| !(upload.expired(now) && upload.data.try_lock().is_ok()));
        before - uploads.len()
    }

    /// The upload `id` if `session` owns it. Expired, it is removed and `Gone`.
    fn find(&self, id: &str, session: &SessionId) -> Result<Arc<TusUpload>, Refusal> {
        let mut uploads = self.lock();
        let upload = uploads
            .get(id)
            .filter(|u| u.session == *session)
            .cloned()
            .ok_or(Refusal::NotFound)?;
        if upload.expired(SystemTime::now()) {
            uploads.remove(id);
            return Err(Refusal::Gone);
        }
        Ok(upload)
    }

    fn remove(&self, id: &str) -> Option<Arc<TusUpload>> {
        self.lock().remove(id)
    }
}

impl TusUpload {
    fn expired(&self, now: SystemTime) -> bool {
        *self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            <= now
    }

    fn touch(&self, expiry: Duration) -> SystemTime {
        let at = SystemTime::now() + expiry;
        *self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
        at
    }

    fn expires_at(&self) -> SystemTime {
        *self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why a tus request is refused, besides the errors every endpoint shares.
enum Refusal {
    /// No such upload, or another session's (which must not learn it exists).
    NotFound,
    /// The upload expired and was removed.
    Gone,
    Server(ServerError),
}

impl Refusal {
    /// A tus status with a sentence: 409, 412, 415, 460.
    fn refused(status: StatusCode, why: String) -> Refusal {
        Refusal::Server(ServerError::Refused { status, why })
    }
}

impl From<ServerError> for Refusal {
    fn from(err: ServerError) -> Refusal {
        Refusal::Server(err)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = match self {
            Refusal::NotFound => {
                ServerError::NotFound("this upload does not exist".into()).into_response()
            }
            Refusal::Gone => (
                StatusCode::GONE,
                axum::Json(serde_json::json!({ "error": "this upload has expired" })),
            )
                .into_response(),
            Refusal::Server(err) => err.into_response(),
        };
        if response.status() == StatusCode::PRECONDITION_FAILED {
            response
                .headers_mut()
                .insert("tus-version", HeaderValue::from_static(VERSION));
        }
        response
    }
}

/// Every tus answer carries `Tus-Resumable`.
fn tus(result: Result<Response, Refusal>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(VERSION));
    response
}

/// The request speaks tus 1.0.0 (`Tus-Resumable`), else 412.
fn speaks_tus(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(Refusal::refused(
            StatusCode::PRECONDITION_FAILED,
            format!("this server speaks tus {VERSION}: send `Tus-Resumable: {VERSION}`"),
        )),
    }
}

fn number_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Refusal> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Refusal::Server(ServerError::MalformedUpload(format!(
                        "`{name}` is not a number"
                    )))
                })
        })
        .transpose()
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn date(at: SystemTime) -> HeaderValue {
    header_value(&httpdate::fmt_http_date(at))
}

/// `OPTIONS /_ferrex/tus` (and on an upload): what the server supports.
pub(crate) async fn options(State(app): State<Arc<AppState>>) -> Response {
    let headers = [
        (
            HeaderName::from_static("tus-version"),
            header_value(VERSION),
        ),
        (
            HeaderName::from_static("tus-max-size"),
            header_value(&app.settings.max_upload_bytes.to_string()),
        ),
        (
            HeaderName::from_static("tus-extension"),
            header_value(EXTENSIONS),
        ),
        (
            HeaderName::from_static("tus-checksum-algorithm"),
            header_value(CHECKSUMS),
        ),
    ];
    tus(Ok((StatusCode::NO_CONTENT, headers).into_response()))
}

/// The `Upload-Metadata` pairs (`key base64,key base64`), decoded; a key without a value
/// is empty. Malformed metadata is refused with 400.
fn metadata(raw: &str) -> Result<HashMap<String, String>, Refusal> {
    let mut pairs = HashMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Refusal::Server(ServerError::MalformedUpload(format!(
                    "`Upload-Metadata` `{key}` is not base64 of UTF-8 text"
                )))
            })?;
        if pairs.insert(key.to_owned(), value).is_some() {
            return Err(Refusal::Server(ServerError::MalformedUpload(format!(
                "`Upload-Metadata` names `{key}` twice"
            ))));
        }
    }
    Ok(pairs)
}

/// `POST /_ferrex/tus`: creates an upload for a page, a drop zone and a handler of the
/// caller's session (`Upload-Metadata` `page`, `zone`, `handler`, `filename`, `filetype`),
/// refused from its `Upload-Length` before any byte when the zone or the server would
/// refuse the file.
pub(crate) async fn create(
    State(app): State<Arc<AppState>>,
    origin: Result<SameOrigin, ServerError>,
    current: Result<CurrentSession, ServerError>,
    headers: HeaderMap,
) -> Response {
    tus(async {
        origin?;
        speaks_tus(&headers)?;
        let current = current?;
        create_upload(&app, &current, &headers).await
    }
    .await)
}

async fn create_upload(
    app: &AppState,
    current: &CurrentSession,
    headers: &HeaderMap,
) -> Result<Response, Refusal> {
    if headers.contains_key("upload-defer-length") {
        return Err(ServerError::MalformedUpload(
            "uploads of unknown length are not supported: send `Upload-Length`".into(),
        )
        .into());
    }
    let length = number_header(headers, "upload-length")?
        .ok_or_else(|| ServerError::MalformedUpload("a new upload needs `Upload-Length`".into()))?;
    let raw = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let meta = metadata(&raw)?;
    let field = |key: &str| {
        meta.get(key).cloned().ok_or_else(|| {
            Refusal::Server(ServerError::MalformedUpload(format!(
                "`Upload-Metadata` must name the upload's `{key}`"
            )))
        })
    };
    let (page, zone, handler) = (field("page")?, field("zone")?, field("handler")?);
    let client_name = meta
        .get("filename")
        .or_else(|| meta.get("name"))
        .cloned()
        .unwrap_or_else(|| "file".into());
    let relative = sanitize_relative_path(&client_name);
    let content_type = file_content_type(
        &relative,
        meta.get("filetype")
            .or_else(|| meta.get("type"))
            .map(String::as_str),
    );

    let max_total = app.settings.max_upload_bytes;
    if length > max_total {
        return Err(rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            &relative,
            format!("the upload is larger than the server's limit of {max_total} bytes"),
        )
        .into());
    }
    let limits = zone_limits(app, current, &page, &zone, &handler).await?;
    check_file(&limits, &relative, &content_type, length)?;

    let dir = upload_dir(app).await?;
    let (_, temp) = new_temp_file(dir).await?.into_parts();

    let id = SessionId::random().as_str().to_owned();
    let expiry = app.settings.tus_expiry;
    let writer = app.writer_for(&UploadTarget {
        zone: &zone,
        name: &relative,
        content_type: &content_type,
        size: Some(length),
    });
    let upload = Arc::new(TusUpload {
        session: current.id.clone(),
        page,
        zone,
        handler,
        relative: relative.clone(),
        content_type,
        length,
        metadata: raw,
        offset: AtomicU64::new(0),
        expires: Mutex::new(SystemTime::now() + expiry),
        data: tokio::sync::Mutex::new(Partial {
            temp: Some(temp),
            hash: app
                .settings
                .upload_sha256
                .then(<sha2::Sha256 as sha2::Digest>::new),
            writer,
        }),
        turn: tokio::sync::watch::Sender::new(0),
    });
    {
        let mut uploads = app.tus.lock();
        let mine = uploads.values().filter(|u| u.session == current.id).count();
        admit_upload(
            mine,
            app.settings.max_tus_uploads_per_session,
            uploads.len(),
            app.settings.max_tus_uploads,
            "uploads in progress: finish or delete some first",
        )?;
        uploads.insert(id.clone(), upload.clone());
    }
    tracing::debug!(%id, length, file = %relative, "tus upload created");
    let location = format!("{}{}/{id}", app.settings.base_path, crate::wire::TUS_PATH);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, header_value(&location)),
            (
                HeaderName::from_static("upload-expires"),
                date(upload.expires_at()),
            ),
        ],
    )
        .into_response())
}

/// The caller's upload `id`.
fn owned(
    app: &AppState,
    current: Result<CurrentSession, ServerError>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Arc<TusUpload>, Refusal> {
    speaks_tus(headers)?;
    let current = current?;
    app.tus.find(id, &current.id)
}

/// `HEAD /_ferrex/tus/<id>`: how much of the upload the server has.
pub(crate) async fn head(
    State(app): State<Arc<AppState>>,
    current: Result<CurrentSession, ServerError>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    tus((|| {
        let upload = owned(&app, current, &headers, &id)?;
        let mut response = StatusCode::OK.into_response();
        let out = response.headers_mut();
        out.insert(
            "upload-offset",
            header_value(&upload.offset.load(Ordering::Acquire).to_string()),
        );
        out.insert("upload-length", header_value(&upload.length.to_string()));
        if !upload.metadata.is_empty() {
            out.insert("upload-metadata", header_value(&upload.metadata));
        }
        out.insert("upload-expires", date(upload.expires_at()));
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    })())
}

/// `DELETE /_ferrex/tus/<id>`: the upload and its file go (a `PATCH` still writing stops).
pub(crate) async fn terminate(
    State(app): State<Arc<AppState>>,
    origin: Result<SameOrigin, ServerError>,
    current: Result<CurrentSession, ServerError>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    tus((|| {
        origin?;
        let upload = owned(&app, current, &headers, &id)?;
        app.tus.remove(&id);
        upload.turn.send_modify(|turn| *turn += 1);
        tracing::debug!(%id, "tus upload terminated");
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

/// `PATCH /_ferrex/tus/<id>`: bytes from `Upload-Offset` on. They are kept as they are
/// written, so a body cut off part-way still moves the offset (without a checksum: a
/// chunk with `Upload-Checksum` is kept whole or not at all).
pub(crate) async fn patch(
    State(app): State<Arc<AppState>>,
    origin: Result<SameOrigin, ServerError>,
    current: Result<CurrentSession, ServerError>,
    length: DeclaredLength,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    tus(async {
        origin?;
        let upload = owned(&app, current, &headers, &id)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if content_type != Some(PATCH_TYPE) {
            return Err(Refusal::refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("a PATCH body must be `Content-Type: {PATCH_TYPE}`"),
            ));
        }
        let offset = number_header(&headers, "upload-offset")?
            .ok_or_else(|| ServerError::MalformedUpload("a PATCH needs `Upload-Offset`".into()))?;
        let checksum = headers
            .get("upload-checksum")
            .map(|v| parse_checksum(v.to_str().unwrap_or("")))
            .transpose()?;
        write_chunk(&app, &id, &upload, offset, length.0, checksum, body).await?;
        let mut response = StatusCode::NO_CONTENT.into_response();
        let out = response.headers_mut();
        out.insert(
            "upload-offset",
            header_value(&upload.offset.load(Ordering::Acquire).to_string()),
        );
        out.insert("upload-expires", date(upload.expires_at()));
        Ok(response)
    }
    .await)
}

/// `Upload-Checksum: <algorithm> <base64 digest>`; an algorithm ferrex does not know is 400.
fn parse_checksum(value: &str) -> Result<(ChunkDigest, Vec<u8>), Refusal> {
    let malformed = |why: &str| Refusal::Server(ServerError::MalformedUpload(why.to_owned()));
    let (algorithm, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| malformed("`Upload-Checksum` is `<algorithm> <base64 digest>`"))?;
    let digest = ChunkDigest::for_algorithm(algorithm).ok_or_else(|| {
        malformed(&format!(
            "checksum algorithm `{algorithm}` is not supported (only {CHECKSUMS})"
        ))
    })?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("the `Upload-Checksum` digest is not base64"))?;
    Ok((digest, expected))
}

/// Writes one `PATCH` body at `offset`, then moves the upload's offset past what was
/// kept. Every byte is checked against the declared length as it arrives.
async fn write_chunk(
    app: &AppState,
    id: &str,
    upload: &TusUpload,
    offset: u64,
    declared: Option<u64>,
    checksum: Option<(ChunkDigest, Vec<u8>)>,
    body: Body,
) -> Result<(), Refusal> {
    // A PATCH a client gave up on may still be reading its body: it stops at its next
    // chunk (or at once, when waiting for one) and this one goes next.
    let mut turn = upload.turn.subscribe();
    upload.turn.send_modify(|t| *t += 1);
    turn.borrow_and_update();
    let mut data = upload.data.lock().await;
    let start = upload.offset.load(Ordering::Acquire);
    if offset != start {
        return Err(Refusal::refused(
            StatusCode::CONFLICT,
            format!("the upload is at offset {start}, not {offset}: ask with HEAD"),
        ));
    }
    let room = upload.length - start;
    if declared.is_some_and(|len| len > room) {
        return Err(rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            &upload.relative,
            format!(
                "the chunk goes past the upload's length of {} bytes",
                upload.length
            ),
        )
        .into());
    }
    upload.touch(app.settings.tus_expiry);
    let path = data
        .temp
        .as_ref()
        .map(|t| t.to_path_buf())
        .ok_or(Refusal::NotFound)?;
    let file = tokio::task::spawn_blocking(move || open_at(&path, start))
        .await
        .map_err(|e| ServerError::Storage(e.to_string()))?
        .map_err(|e| ServerError::Storage(format!("cannot reopen the upload's file: {e}")))?;
    let (expects_checksum, expected) = match checksum {
        Some((digest, expected)) => (Some(digest), expected),
        None => (None, Vec::new()),
    };
    let verify = expects_checksum.is_some();
    // The app's writer sees bytes as they are written only when they cannot be taken
    // back: a chunk with a checksum, or of no declared length, may be refused whole.
    let deferred = verify || declared.is_none();
    let mut writer = ChunkWriter::new(
        file,
        Taps {
            file: data.hash.clone(),
            chunk: expects_checksum,
            app: if deferred { None } else { data.writer.take() },
        },
    );
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    // Why the body ended early, if it did: its bytes so far may still be kept.
    let mut cut: Option<Refusal> = None;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = turn.changed() => {
                cut = Some(Refusal::refused(StatusCode::CONFLICT,
                    "another request for this upload took over".into(),
                ));
                break;
            }
        };
        let chunk = match next {
            None => break,
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => {
                cut = Some(
                    crate::error::body_failure(
                        &err,
                        app.settings.body_timeout,
                        room,
                        ServerError::MalformedUpload,
                    )
                    .into(),
                );
                break;
            }
        };
        received += chunk.len() as u64;
        if received > room {
            // Nothing of a chunk that overflows is kept.
            let (file, _) = writer
                .finish()
                .await
                .map_err(|e| ServerError::Storage(e.to_string()))?;
            truncate(file, start).await?;
            return Err(rejected(
                StatusCode::PAYLOAD_TOO_LARGE,
                &upload.relative,
                format!(
                    "the chunk goes past the upload's length of {} bytes",
                    upload.length
                ),
            )
            .into());
        }
        if let Err(e) = writer.push(chunk).await {
            if is_refusal(&e) {
                app.tus.remove(id);
            }
            cut = Some(write_error(e, &upload.relative).into());
            break;
        }
    }
    let (file, taps) = match writer.finish().await {
        Ok(done) => done,
        Err(e) if is_refusal(&e) => {
            // The app refused the file: the upload goes, with its file.
            app.tus.remove(id);
            return Err(write_error(e, &upload.relative).into());
        }
        Err(e) => {
            // What reached the disk is unknown: keep nothing of this chunk.
            if let Some(path) = data.temp.as_ref().map(|t| t.to_path_buf()) {
                let reopened = tokio::task::spawn_blocking(move || open_at(&path, start))
                    .await
                    .ok()
                    .and_then(Result::ok);
                if let Some(file) = reopened {
                    truncate(file, start).await?;
                }
            }
            return Err(ServerError::Storage(e.to_string()).into());
        }
    };
    if taps.app.is_some() {
        data.writer = taps.app;
    }
    let keep = match (&cut, taps.chunk) {
        // A checksum covers the whole chunk: part of one cannot be verified.
        (Some(_), Some(_)) => false,
        (None, Some(digest)) => {
            if digest.finish() != expected {
                truncate(file, start).await?;
                return Err(Refusal::refused(
                    StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                    "Checksum Mismatch: the chunk was not kept, send it again".into(),
                ));
            }
            true
        }
        (_, None) => true,
    };
    if keep {
        data.hash = taps.file;
        if deferred
            && received > 0
            && let (Some(app_writer), Some(path)) = (
                data.writer.take(),
                data.temp.as_ref().map(|t| t.to_path_buf()),
            )
        {
            let (app_writer, fed) = replay(app_writer, path, start, received).await;
            data.writer = Some(app_writer);
            if let Err(e) = fed {
                app.tus.remove(id);
                return Err(write_error(e, &upload.relative).into());
            }
        }
        upload.offset.store(start + received, Ordering::Release);
    } else {
        truncate(file, start).await?;
    }
    upload.touch(app.settings.tus_expiry);
    drop(data);
    tracing::debug!(offset = start, received, verify, kept = keep, "tus chunk");
    match cut {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// The upload's file, open for writing at `offset`, anything past it cut off.
fn open_at(path: &std::path::Path, offset: u64) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(offset)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

/// Cuts the file back to `len`, dropping a chunk that is not kept.
async fn truncate(file: std::fs::File, len: u64) -> Result<(), Refusal> {
    tokio::task::spawn_blocking(move || file.set_len(len))
        .await
        .map_err(|e| ServerError::Storage(e.to_string()))?
        .map_err(|e| Refusal::Server(ServerError::Storage(e.to_string())))
}

/// The body of `POST /_ferrex/upload/finish`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Finish {
    page: String,
    #[serde(rename = "h")]
    handler: String,
    #[serde(default)]
    args: Value,
    zone: String,
    #[serde(default)]
    rev: Option<u64>,
    /// The finished uploads, by id or by their URL (`Location`).
    #[serde(default)]
    uploads: Vec<String>,
    /// The keys of the files sent straight to the store (`direct` zones), as the presign
    /// answered them.
    #[serde(default)]
    direct: Vec<String>,
}

/// `POST /_ferrex/upload/finish`: runs the handler once with the files of the named
/// finished uploads (each of this session, page, zone and handler), which leave the tus
/// endpoint. Answers like `POST /_ferrex/upload`.
pub(crate) async fn finish(
    State(app): State<Arc<AppState>>,
    _: SameOrigin,
    current: CurrentSession,
    length: DeclaredLength,
    body: Body,
) -> Response {
    let result = async {
        let bytes = crate::events::read_event_body(&app, &length, body).await?;
        let finish: Finish = serde_json::from_slice(&bytes)
            .map_err(|e| ServerError::MalformedEvent(e.to_string()))?;
        let limits =
            zone_limits(&app, &current, &finish.page, &finish.zone, &finish.handler).await?;
        let count = finish.uploads.len().saturating_add(finish.direct.len());
        if count as u64 > limits.file_count_limit() {
            return Err(rejected(
                StatusCode::BAD_REQUEST,
                "",
                "too many files".into(),
            ));
        }
        let taken = take_finished(&app, &current.id, &finish, &limits)?;
        let sent: u64 = taken.iter().map(|upload| upload.length).sum();
        let batch = crate::direct::Batch {
            session: &current.id,
            page: &finish.page,
            zone: &finish.zone,
            handler: &finish.handler,
        };
        let direct =
            crate::direct::take_finished(&app, &batch, &finish.direct, &limits, sent).await?;
        let mut files = Vec::with_capacity(taken.len() + direct.len());
        for upload in taken {
            let mut data = upload.data.lock().await;
            let temp = data.temp.take().ok_or_else(|| {
                ServerError::MalformedUpload(format!("`{}` is already finished", upload.relative))
            })?;
            let hash = data.hash.take();
            close_writer(data.writer.take(), &upload.relative).await?;
            files.push(with_digest(
                UploadFile::new(
                    upload.relative.clone(),
                    upload.content_type.clone(),
                    upload.length,
                    temp,
                    app.settings.upload_dir.clone(),
                ),
                hash,
            ));
        }
        files.extend(direct);
        tracing::debug!(count = files.len(), "tus uploads finished");
        let message = EventMessage {
            id: None,
            page: finish.page,
            handler: finish.handler,
            args: finish.args,
            rev: finish.rev,
        };
        hand_over(&app, &current, message, finish.zone, files).await
    }
    .await;
    upload_answer(result)
}

/// Checks the named uploads as one batch against the zone (each file again, their count,
/// their total) and, if all pass, takes them out of the tus endpoint.
fn take_finished(
    app: &AppState,
    session: &SessionId,
    finish: &Finish,
    limits: &UploadLimits,
) -> Result<Vec<Arc<TusUpload>>, ServerError> {
    let ids: Vec<&str> = finish
        .uploads
        .iter()
        .map(|u| u.trim_end_matches('/').rsplit('/').next().unwrap_or(u))
        .collect();
    if ids.len() as u64 > limits.file_count_limit() {
        return Err(rejected(
            StatusCode::BAD_REQUEST,
            "",
            "too many files".into(),
        ));
    }
    let mut uploads = app.tus.lock();
    let mut batch: Vec<Arc<TusUpload>> = Vec::with_capacity(ids.len());
    let mut total: u64 = 0;
    for (n, id) in ids.iter().enumerate() {
        if ids[..n].contains(id) {
            return Err(ServerError::MalformedUpload(format!(
                "upload `{id}` is named twice"
            )));
        }
        let upload = uploads
            .get(*id)
            .filter(|u| u.session == *session)
            .ok_or_else(|| ServerError::NotFound(format!("upload `{id}`")))?;
        if upload.page != finish.page
            || upload.zone != finish.zone
            || upload.handler != finish.handler
        {
            return Err(ServerError::MalformedUpload(format!(
                "upload `{id}` was made for another page, zone or handler"
            )));
        }
        if upload.offset.load(Ordering::Acquire) != upload.length {
            return Err(rejected(
                StatusCode::CONFLICT,
                &upload.relative,
                "the upload is not complete".into(),
            ));
        }
        // The zone may have changed since the upload was created.
        check_file(
            limits,
            &upload.relative,
            &upload.content_type,
            upload.length,
        )?;
        total = total.saturating_add(upload.length);
        batch.push(upload.clone());
    }
    let max_total = app.settings.max_upload_bytes;
    if total > max_total {
        return Err(rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
            format!("the upload is larger than the server's limit of {max_total} bytes"),
        ));
    }
    for id in ids {
        uploads.remove(id);
    }
    Ok(batch)
}
