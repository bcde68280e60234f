//! Resumable uploads over tus 1.0 (core, creation, termination, expiration and checksum
//! extensions; `docs/PROTOCOL.md`). Each file is its own tus upload, created for a page,
//! a drop zone and a handler of the caller's session and checked against the zone's limits
//! from its declared length before any byte; its bytes go to a temporary file in the upload
//! folder across as many `PATCH` requests as the connection needs. A batch is handed to the
//! handler once, by `POST /_ferrex/upload/finish` naming its finished uploads. Uploads are
//! bounded per session and per process, and one untouched for `App::tus_expiry` is removed
//! with its file.
//!
//! Here: `OPTIONS`, creation, `HEAD` and termination. `registry` keeps the uploads in
//! flight, `protocol` the headers and refusals every answer shares, `patch` the bytes, and
//! `finish` the hand-over of a batch to its handler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrex_core::path_safety::sanitize_relative_path;
use ferrex_core::upload::UploadTarget;

use crate::ServerError;
use crate::app_state::AppState;
use crate::guards::{CurrentSession, SameOrigin};
use crate::session::SessionId;
use crate::uploads::{
    admit_upload, check_file, file_content_type, new_temp_file, upload_dir, within_upload_limit,
    zone_limits,
};

mod finish;
mod patch;
mod protocol;
mod registry;

pub(crate) use finish::finish;
pub(crate) use patch::patch;
use protocol::{
    CHECKSUMS, EXTENSIONS, Refusal, VERSION, date, header_value, metadata, number_header,
    speaks_tus, tus,
};
pub(crate) use registry::TusUploads;
use registry::{Partial, TusUpload};

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

    within_upload_limit(app, &relative, length)?;
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
