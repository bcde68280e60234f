//! Files in an `object_store` backend: uploads staged and kept there, served back with
//! ranges, and parked download payloads put there and taken back once.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferrex_core::upload::{KeepFuture, SharedFiles};
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RenameOptions, RenameTargetMode,
    WriteMultipart,
};

use super::FileStoreError;

/// The size of one part of a multipart put (S3 takes 5 MiB to 5 GiB; 10,000 parts at most,
/// so 8 MiB parts carry up to 78 GiB, past any upload limit ferrex allows by default).
const PART: usize = 8 * 1024 * 1024;
/// Parts sent at once: with the part being filled and the chunk being read, an upload to
/// the store holds at most about `(PARTS_IN_FLIGHT + 1) × PART` + 1 MiB in memory.
const PARTS_IN_FLIGHT: usize = 2;
/// How much of the temporary file one read takes.
const READ_CHUNK: usize = 1024 * 1024;

/// An object store and the prefix ferrex's files live under.
pub(crate) struct ObjectFiles {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// Where deletes run when the last owner of a staged upload drops outside the runtime.
    runtime: Option<tokio::runtime::Handle>,
    /// Signs POST policies for direct uploads: an S3 store with static credentials only.
    #[cfg(feature = "s3")]
    post: Option<super::presign::PostSigner>,
}

impl fmt::Debug for ObjectFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectFiles({} under `{}`)", self.store, self.prefix)
    }
}

/// The settings of an S3 client from the `AWS_*` variables for `bucket`.
#[cfg(feature = "s3")]
pub(super) fn s3_from_env(bucket: &str) -> object_store::aws::AmazonS3Builder {
    use object_store::aws::AmazonS3Builder;
    let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_default();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        // An outage fails an upload in seconds rather than after the default three minutes
        // of retries.
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        });
    if endpoint.starts_with("http://") {
        // A self-hosted store on a private network: plain HTTP, path-style addressing.
        builder = builder
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false);
    }
    builder
}

impl ObjectFiles {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectFiles {
        let prefix = prefix
            .split('/')
            .filter(|segment| !segment.is_empty())
            .fold(StorePath::default(), |path, segment| path.join(segment));
        ObjectFiles {
            store,
            prefix,
            runtime: tokio::runtime::Handle::try_current().ok(),
            #[cfg(feature = "s3")]
            post: None,
        }
    }

    /// The same store, able to sign POST policies with `signer`.
    #[cfg(feature = "s3")]
    pub(crate) fn with_post_signer(mut self, signer: super::presign::PostSigner) -> ObjectFiles {
        self.post = Some(signer);
        self
    }

    /// What signs direct uploads' POST policies, if this store can.
    #[cfg(feature = "s3")]
    pub(crate) fn post_signer(&self) -> Option<&super::presign::PostSigner> {
        self.post.as_ref()
    }

    /// The key in the bucket of `name` (with the store's prefix).
    #[cfg(feature = "s3")]
    pub(crate) fn key_of(&self, name: &str) -> String {
        self.location(name).to_string()
    }

    /// The size of `name` in the store, `None` if it is not there.
    pub(crate) async fn size_of(&self, name: &str) -> Result<Option<u64>, FileStoreError> {
        match self.store.head(&self.location(name)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Where `name` (`/`-separated, already checked to stay inside) lives in the store.
    fn location(&self, name: &str) -> StorePath {
        name.split('/')
            .filter(|segment| !segment.is_empty())
            .fold(self.prefix.clone(), |path, segment| path.join(segment))
    }

    /// Copies the local file `file` (`size` bytes) to the store under a new staged name,
    /// streamed in parts; returns the name. A failed multipart put is aborted.
    pub(crate) async fn stage(&self, file: &Path, size: u64) -> Result<String, FileStoreError> {
        let name = super::random_name(super::STAGED_PREFIX);
        let location = self.location(&name);
        if size <= PART as u64 {
            let bytes = tokio::fs::read(file).await.map_err(unavailable)?;
            self.store
                .put_opts(&location, PutPayload::from(bytes), Default::default())
                .await
                .map_err(unavailable)?;
            return Ok(name);
        }
        let upload = self
            .store
            .put_multipart_opts(&location, Default::default())
            .await
            .map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let sent = async {
            use tokio::io::AsyncReadExt;
            let mut input = tokio::fs::File::open(file).await.map_err(unavailable)?;
            loop {
                // Filled exactly to its capacity and frozen without a copy: each chunk holds
                // READ_CHUNK bytes of memory, no more.
                let mut chunk = bytes::BytesMut::with_capacity(READ_CHUNK);
                while chunk.len() < READ_CHUNK {
                    if input.read_buf(&mut chunk).await.map_err(unavailable)? == 0 {
                        break;
                    }
                }
                if chunk.is_empty() {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(unavailable)?;
                writer.put(chunk.freeze());
            }
        }
        .await;
        match sent {
            Ok(()) => {
                writer.finish().await.map_err(unavailable)?;
                Ok(name)
            }
            Err(e) => {
                // Best effort: a store that is down cannot be told either; its lifecycle
                // rule for unfinished multipart uploads cleans up (docs/DEPLOY.md).
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// This store as the handle an `UploadFile` keeps.
    pub(crate) fn shared_files(self: &Arc<Self>) -> Arc<dyn SharedFiles> {
        self.clone()
    }

    /// Deletes `name` in the background.
    pub(crate) fn delete_later(&self, name: &str) {
        let location = self.location(name);
        let store = self.store.clone();
        let delete = async move {
            if let Err(error) = store.delete(&location).await {
                tracing::warn!(%error, %location, "a file could not be deleted from the file store");
            }
        };
        match tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
        {
            Some(runtime) => {
                runtime.spawn(delete);
            }
            None => tracing::warn!(%name, "no runtime to delete a file from the file store"),
        }
    }

    /// Stores a parked payload under `name`.
    pub(crate) async fn put_parked(&self, name: &str, bytes: Bytes) -> Result<(), FileStoreError> {
        self.store
            .put_opts(
                &self.location(name),
                PutPayload::from(bytes),
                Default::default(),
            )
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// A parked payload's bytes as a stream, and its length; the payload is deleted from the
    /// store once the stream ends or is dropped. `None` if it is not there.
    pub(crate) async fn take_parked(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Option<(Body, u64)>, FileStoreError> {
        let got = match self
            .store
            .get_opts(&self.location(name), GetOptions::default())
            .await
        {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        let len = got.meta.size;
        let stream = DeleteWhenDone {
            inner: got.into_stream().map_err(io::Error::other).boxed(),
            files: self.clone(),
            name: name.to_owned(),
        };
        Ok(Some((Body::from_stream(stream), len)))
    }

    /// `GET` of an uploaded file: streamed from the store, one byte range when asked
    /// (`Range: bytes=…`), `304` for a matching `If-None-Match`. The caller adds the
    /// headers every uploaded file gets.
    pub(crate) async fn serve(&self, name: &str, headers: &HeaderMap) -> Response {
        let range = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range);
        let options = GetOptions {
            range: range.clone(),
            if_none_match: headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ..Default::default()
        };
        let got = match self.store.get_opts(&self.location(name), options).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return StatusCode::NOT_FOUND.into_response();
            }
            Err(object_store::Error::NotModified { .. }) => {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            // A range past the end, or the store failing: the object's size tells which.
            Err(e) if range.is_some() => {
                return match self.store.head(&self.location(name)).await {
                    Ok(meta) => {
                        let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", meta.size))
                        {
                            refused.headers_mut().insert(header::CONTENT_RANGE, value);
                        }
                        refused
                    }
                    Err(_) => crate::ServerError::FileStore(e.to_string()).into_response(),
                };
            }
            Err(e) => return crate::ServerError::FileStore(e.to_string()).into_response(),
        };
        let meta = got.meta.clone();
        let served = got.range.clone();
        let body = Body::from_stream(got.into_stream());
        let mut response = Response::new(body);
        let out = response.headers_mut();
        let content_type = mime_guess::from_path(name).first_or_octet_stream();
        if let Ok(value) = HeaderValue::from_str(content_type.essence_str()) {
            out.insert(header::CONTENT_TYPE, value);
        }
        out.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(served.end - served.start),
        );
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(tag) = meta
            .e_tag
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            out.insert(header::ETAG, tag);
        }
        let modified = meta
            .last_modified
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        if let Ok(value) = HeaderValue::from_str(&modified) {
            out.insert(header::LAST_MODIFIED, value);
        }
        if range.is_some() {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!(
                "bytes {}-{}/{}",
                served.start,
                served.end.saturating_sub(1),
                meta.size
            );
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
        }
        response
    }
}

impl SharedFiles for ObjectFiles {
    fn keep<'a>(&'a self, staged: &'a str, dest: &'a str, overwrite: bool) -> KeepFuture<'a> {
        Box::pin(async move {
            let from = self.location(staged);
            let to = self.location(dest);
            let rename = |mode| RenameOptions {
                target_mode: mode,
                ..Default::default()
            };
            if overwrite {
                return self
                    .store
                    .rename_opts(&from, &to, rename(RenameTargetMode::Overwrite))
                    .await
                    .map_err(io::Error::other);
            }
            match self
                .store
                .rename_opts(&from, &to, rename(RenameTargetMode::Create))
                .await
            {
                Ok(()) => Ok(()),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Err(io::ErrorKind::AlreadyExists.into()),
                // S3 without a conditional copy: look first (documented on `persist`).
                Err(
                    object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. },
                ) => match self.store.head(&to).await {
                    Ok(_) => Err(io::ErrorKind::AlreadyExists.into()),
                    Err(object_store::Error::NotFound { .. }) => self
                        .store
                        .rename_opts(&from, &to, rename(RenameTargetMode::Overwrite))
                        .await
                        .map_err(io::Error::other),
                    Err(e) => Err(io::Error::other(e)),
                },
                Err(e) => Err(io::Error::other(e)),
            }
        })
    }

    fn discard(&self, staged: &str) {
        self.delete_later(staged);
    }

    fn read<'a>(&'a self, staged: &'a str) -> ferrex_core::upload::ReadFuture<'a> {
        Box::pin(async move {
            let got = self
                .store
                .get_opts(&self.location(staged), GetOptions::default())
                .await
                .map_err(|e| match e {
                    object_store::Error::NotFound { .. } => io::ErrorKind::NotFound.into(),
                    e => io::Error::other(e),
                })?;
            let stream: ferrex_core::upload::ByteStream =
                Box::pin(got.into_stream().map_err(io::Error::other));
            Ok(stream)
        })
    }
}

/// A parked payload's stream, which deletes the payload from the store when it ends or is
/// dropped (a browser that gave up half-way does not get a second try either).
struct DeleteWhenDone {
    inner: futures_util::stream::BoxStream<'static, io::Result<Bytes>>,
    files: Arc<ObjectFiles>,
    name: String,
}

impl Stream for DeleteWhenDone {
    type Item = io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl Drop for DeleteWhenDone {
    fn drop(&mut self) {
        self.files.delete_later(&self.name);
    }
}

/// One range of `Range: bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else (several
/// ranges, other units) is served whole, as RFC 9110 allows.
fn parse_range(value: &str) -> Option<GetRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.trim().split_once('-')?;
    match (start.trim(), end.trim()) {
        ("", suffix) => suffix.parse().ok().filter(|n| *n > 0).map(GetRange::Suffix),
        (start, "") => start.parse().ok().map(GetRange::Offset),
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            (start <= end).then(|| GetRange::Bounded(start..end.saturating_add(1)))
        }
    }
}

fn unavailable(error: impl fmt::Display) -> FileStoreError {
    FileStoreError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_range_is_read_and_others_are_served_whole() {
        assert_eq!(parse_range("bytes=0-9"), Some(GetRange::Bounded(0..10)));
        assert_eq!(parse_range("bytes=5-"), Some(GetRange::Offset(5)));
        assert_eq!(parse_range("bytes=-3"), Some(GetRange::Suffix(3)));
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("bytes=9-2"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=-0"), None);
    }
}
