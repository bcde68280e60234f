//! Uploads a drop zone sends straight to the S3 file store (`direct = true`): per file the
//! server checks the declared name, size and type against the zone, then answers a
//! presigned POST for a new staged key bound to the caller's session, page, zone and
//! handler; `POST /_ferrex/upload/finish` names the keys, which are looked up in the store
//! and handed to the handler as `UploadFile`s kept there. Keys presigned but never
//! finished are removed with their objects after `App::tus_expiry`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrex_core::UploadFile;
use ferrex_core::path_safety::sanitize_relative_path;
use ferrex_core::upload::UploadLimits;
use serde::Deserialize;

use crate::ServerError;
use crate::app_state::AppState;
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::session::SessionId;
use crate::uploads::{
    Batch, check_file, file_content_type, named_once, rejected, within_upload_limit, zone_limits,
};

/// How long a presigned POST may be used, at most (less when `App::tus_expiry` is
/// shorter, so a form never outlives the record that lets the sweep remove its object).
#[cfg(feature = "s3")]
const POST_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The direct uploads presigned by this process and not finished yet, by staged name.
pub(crate) struct DirectUploads {
    uploads: Mutex<HashMap<String, Arc<DirectUpload>>>,
    /// Whether the app was told that its direct zones upload through the server.
    warned: AtomicBool,
}

/// One file a browser may send straight to the store.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
struct DirectUpload {
    session: SessionId,
    page: String,
    zone: String,
    handler: String,
    /// The sanitized relative path of the declared name.
    relative: String,
    content_type: String,
    /// The declared size: the form lets exactly this many bytes in.
    size: u64,
    /// When the record goes, with whatever object was sent under it.
    expires: SystemTime,
}

impl DirectUploads {
    pub(crate) fn new() -> DirectUploads {
        DirectUploads {
            uploads: Mutex::new(HashMap::new()),
            warned: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<DirectUpload>>> {
        // The map holds no invariant a panic elsewhere could break half-way.
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes the records past their expiry and deletes their objects from the store (an
    /// object never sent is a delete of nothing). Returns how many went.
    pub(crate) fn expire(&self, files: &crate::files::FileStore) -> usize {
        let now = SystemTime::now();
        let gone: Vec<String> = {
            let mut uploads = self.lock();
            let gone: Vec<String> = uploads
                .iter()
                .filter(|(_, u)| u.expires <= now)
                .map(|(name, _)| name.clone())
                .collect();
            for name in &gone {
                uploads.remove(name);
            }
            gone
        };
        if let Some(objects) = files.objects() {
            for name in &gone {
                objects.delete_later(name);
            }
        }
        gone.len()
    }
}

/// The body of `POST /_ferrex/upload/direct`: one file, as the browser declares it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresignRequest {
    page: String,
    #[serde(rename = "h")]
    handler: String,
    zone: String,
    /// The file's name (a relative path for a folder's files).
    name: String,
    size: u64,
    #[serde(default, rename = "type")]
    content_type: Option<String>,
}

/// `POST /_ferrex/upload/direct`: a presigned POST that sends one file of a `direct` zone
/// to the store, refused before any byte (413, 415, 400) when the zone or the server would
/// refuse the file; 501 when the app has no S3 store to sign for (the runtime then sends
/// the file through the server).
pub(crate) async fn presign(
    State(app): State<Arc<AppState>>,
    _: SameOrigin,
    current: CurrentSession,
    length: DeclaredLength,
    body: Body,
) -> Response {
    async {
        let bytes = crate::events::read_event_body(&app, &length, body).await?;
        let asked: PresignRequest = serde_json::from_slice(&bytes)
            .map_err(|e| ServerError::MalformedEvent(e.to_string()))?;
        presign_file(&app, &current, asked).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn presign_file(
    app: &AppState,
    current: &CurrentSession,
    asked: PresignRequest,
) -> Result<Response, ServerError> {
    let relative = sanitize_relative_path(&asked.name);
    let content_type = file_content_type(&relative, asked.content_type.as_deref());
    within_upload_limit(app, &relative, asked.size)?;
    let limits = zone_limits(app, current, &asked.page, &asked.zone, &asked.handler).await?;
    check_file(&limits, &relative, &content_type, asked.size)?;
    sign_for(
        app,
        DirectUpload {
            session: current.id.clone(),
            page: asked.page,
            zone: asked.zone,
            handler: asked.handler,
            relative,
            content_type,
            size: asked.size,
            expires: SystemTime::now() + app.settings.tus_expiry,
        },
    )
}

#[cfg(feature = "s3")]
fn sign_for(app: &AppState, upload: DirectUpload) -> Result<Response, ServerError> {
    use crate::files::presign::PostRule;
    let Some((objects, signer)) = app
        .files
        .objects()
        .and_then(|objects| objects.post_signer().map(|signer| (objects, signer)))
    else {
        return Err(through_server(app));
    };
    let name = crate::files::random_name(crate::files::STAGED_PREFIX);
    let key = objects.key_of(&name);
    {
        let mut uploads = app.direct.lock();
        let mine = uploads
            .values()
            .filter(|u| u.session == upload.session)
            .count();
        crate::uploads::admit_upload(
            mine,
            app.settings.max_direct_uploads_per_session,
            uploads.len(),
            app.settings.max_direct_uploads,
            "direct uploads waiting: finish them first",
        )?;
        let form = signer.sign(
            &PostRule {
                key: &key,
                content_type: &upload.content_type,
                min: upload.size,
                max: upload.size,
                valid_for: POST_VALID_FOR.min(app.settings.tus_expiry),
            },
            SystemTime::now(),
        );
        tracing::debug!(%name, size = upload.size, file = %upload.relative, "direct upload presigned");
        uploads.insert(name.clone(), Arc::new(upload));
        Ok(axum::Json(serde_json::json!({
            "key": name,
            "url": form.url,
            "fields": form.fields,
        }))
        .into_response())
    }
}

#[cfg(not(feature = "s3"))]
fn sign_for(app: &AppState, _: DirectUpload) -> Result<Response, ServerError> {
    Err(through_server(app))
}

/// The 501 that sends a direct zone's file through the server, with a warning the first
/// time.
fn through_server(app: &AppState) -> ServerError {
    let why = "this app keeps no files in an S3 store it can sign uploads for \
               (`App::files` / FERREX_FILES_URL with static AWS credentials): \
               the file goes through the server";
    if !app.direct.warned.swap(true, Ordering::Relaxed) {
        tracing::warn!("a drop zone with `direct = true` uploads through the server: {why}");
    }
    ServerError::refused(StatusCode::NOT_IMPLEMENTED, why)
}

/// The files of the direct uploads `names` of a finish, checked against `limits` and
/// `batch` (each presigned for it, not expired, named once), taken out of the records, and
/// each found in the store at its declared size. A file that fails any check fails the
/// batch, and every object named is deleted (a refused object leaves nothing behind).
/// `total` is the bytes of the batch's other files, to which these add.
pub(crate) async fn take_finished(
    app: &AppState,
    batch: &Batch<'_>,
    names: &[String],
    limits: &UploadLimits,
    total: u64,
) -> Result<Vec<UploadFile>, ServerError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let Some(objects) = app.files.objects() else {
        return Err(ServerError::NotFound(format!(
            "direct upload `{}`",
            names[0]
        )));
    };
    let taken = {
        let mut uploads = app.direct.lock();
        let now = SystemTime::now();
        let mut total = total;
        for (n, name) in names.iter().enumerate() {
            named_once(names, n)?;
            let upload = uploads
                .get(name)
                .filter(|u| u.session == *batch.session && u.expires > now)
                .ok_or_else(|| ServerError::NotFound(format!("direct upload `{name}`")))?;
            batch.check_made_for(name, &upload.page, &upload.zone, &upload.handler)?;
            // The zone may have changed since the upload was presigned.
            check_file(limits, &upload.relative, &upload.content_type, upload.size)?;
            total = total.saturating_add(upload.size);
        }
        within_upload_limit(app, "", total)?;
        names
            .iter()
            .filter_map(|name| uploads.remove(name).map(|u| (name.clone(), u)))
            .collect::<Vec<_>>()
    };
    // From here each file owns its object: dropped, it is deleted from the store.
    let files: Vec<UploadFile> = taken
        .iter()
        .map(|(name, u)| {
            UploadFile::in_shared_store(
                u.relative.clone(),
                u.content_type.clone(),
                u.size,
                objects.shared_files(),
                name.clone(),
            )
        })
        .collect();
    for (name, upload) in &taken {
        let found = objects.size_of(name).await.map_err(|e| {
            ServerError::FileStore(format!("the upload was not checked ({})", e.cause()))
        })?;
        match found {
            Some(size) if size == upload.size => {}
            Some(size) => {
                return Err(rejected(
                    StatusCode::BAD_REQUEST,
                    &upload.relative,
                    format!(
                        "the store holds {size} bytes, not the {} declared",
                        upload.size
                    ),
                ));
            }
            None => {
                return Err(rejected(
                    StatusCode::CONFLICT,
                    &upload.relative,
                    "the file did not reach the file store".into(),
                ));
            }
        }
    }
    tracing::debug!(count = files.len(), "direct uploads finished");
    Ok(files)
}
