//! What every tus answer shares: the protocol's constants and headers, and its refusals.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::ServerError;
use crate::upload_write::ChunkDigest;

/// The protocol version ferrex speaks.
pub(super) const VERSION: &str = "1.0.0";
/// The extensions ferrex implements.
pub(super) const EXTENSIONS: &str = "creation,expiration,termination,checksum";
/// The checksum algorithms `Upload-Checksum` may name.
pub(super) const CHECKSUMS: &str = "sha1,sha256";
/// The content type of a `PATCH` body.
pub(super) const PATCH_TYPE: &str = "application/offset+octet-stream";
/// The status of a chunk whose checksum does not match (tus checksum extension).
pub(super) const CHECKSUM_MISMATCH: u16 = 460;

/// Why a tus request is refused, besides the errors every endpoint shares.
pub(super) enum Refusal {
    /// No such upload, or another session's (which must not learn it exists).
    NotFound,
    /// The upload expired and was removed.
    Gone,
    Server(ServerError),
}

impl Refusal {
    /// A tus status with a sentence: 409, 412, 415, 460.
    pub(super) fn refused(status: StatusCode, why: impl Into<String>) -> Refusal {
        ServerError::refused(status, why).into()
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
pub(super) fn tus(result: Result<Response, Refusal>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(VERSION));
    response
}

/// The request speaks tus 1.0.0 (`Tus-Resumable`), else 412.
pub(super) fn speaks_tus(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(Refusal::refused(
            StatusCode::PRECONDITION_FAILED,
            format!("this server speaks tus {VERSION}: send `Tus-Resumable: {VERSION}`"),
        )),
    }
}

pub(super) fn number_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Refusal> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ServerError::MalformedUpload(format!("`{name}` is not a number")).into()
                })
        })
        .transpose()
}

pub(super) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) fn date(at: SystemTime) -> HeaderValue {
    header_value(&httpdate::fmt_http_date(at))
}

/// The `Upload-Metadata` pairs (`key base64,key base64`), decoded; a key without a value
/// is empty. Malformed metadata is refused with 400.
pub(super) fn metadata(raw: &str) -> Result<HashMap<String, String>, Refusal> {
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

/// `Upload-Checksum: <algorithm> <base64 digest>`; an algorithm ferrex does not know is 400.
pub(super) fn parse_checksum(value: &str) -> Result<(ChunkDigest, Vec<u8>), Refusal> {
    let malformed = |why: &str| Refusal::from(ServerError::MalformedUpload(why.to_owned()));
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
