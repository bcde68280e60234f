//! `POST /_ferrex/upload/finish`: a batch of finished uploads handed to its handler once.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ferrex_core::UploadFile;
use ferrex_core::upload::UploadLimits;
use serde::Deserialize;
use serde_json::Value;

use super::registry::TusUpload;
use crate::ServerError;
use crate::app_state::AppState;
use crate::events::EventMessage;
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::upload_write::{close_writer, with_digest};
use crate::uploads::{
    Batch, check_file, hand_over, named_once, rejected, upload_answer, within_upload_limit,
    zone_limits,
};

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
        let batch = Batch {
            session: &current.id,
            page: &finish.page,
            zone: &finish.zone,
            handler: &finish.handler,
        };
        let taken = take_finished(&app, &batch, &finish.uploads, &limits)?;
        let sent: u64 = taken.iter().map(|upload| upload.length).sum();
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

/// Checks the tus uploads `named` (by id or URL) as one batch against the zone (each file
/// again, their total; the finish counted them) and, if all pass, takes them out of the tus
/// endpoint.
fn take_finished(
    app: &AppState,
    batch: &Batch<'_>,
    named: &[String],
    limits: &UploadLimits,
) -> Result<Vec<Arc<TusUpload>>, ServerError> {
    let ids: Vec<&str> = named
        .iter()
        .map(|u| u.trim_end_matches('/').rsplit('/').next().unwrap_or(u))
        .collect();
    let mut uploads = app.tus.lock();
    let mut taken: Vec<Arc<TusUpload>> = Vec::with_capacity(ids.len());
    let mut total: u64 = 0;
    for (n, id) in ids.iter().enumerate() {
        named_once(&ids, n)?;
        let upload = uploads
            .get(*id)
            .filter(|u| u.session == *batch.session)
            .ok_or_else(|| ServerError::NotFound(format!("upload `{id}`")))?;
        batch.check_made_for(id, &upload.page, &upload.zone, &upload.handler)?;
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
        taken.push(upload.clone());
    }
    within_upload_limit(app, "", total)?;
    for id in ids {
        uploads.remove(id);
    }
    Ok(taken)
}
