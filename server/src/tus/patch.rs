//! `PATCH`: bytes appended at the offset the server has, checked chunk by chunk.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::owned;
use super::protocol::{
    CHECKSUM_MISMATCH, PATCH_TYPE, Refusal, date, header_value, number_header, parse_checksum, tus,
};
use super::registry::TusUpload;
use crate::ServerError;
use crate::app_state::AppState;
use crate::guards::{CurrentSession, DeclaredLength, SameOrigin};
use crate::upload_write::{ChunkDigest, ChunkWriter, Taps, is_refusal, replay, write_error};
use crate::uploads::rejected;

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
    let past_length = || {
        Refusal::from(rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            &upload.relative,
            format!(
                "the chunk goes past the upload's length of {} bytes",
                upload.length
            ),
        ))
    };
    if declared.is_some_and(|len| len > room) {
        return Err(past_length());
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
                cut = Some(Refusal::refused(
                    StatusCode::CONFLICT,
                    "another request for this upload took over",
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
            return Err(past_length());
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
                    "Checksum Mismatch: the chunk was not kept, send it again",
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
