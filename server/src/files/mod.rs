//! Where finished uploads and parked download payloads are kept: the local upload folder
//! (the default) or an object store that every process of the app shares.
//!
//! With the local folder nothing changes from a single process: uploads are moved into the
//! folder and payloads wait in memory. With an object store (cargo feature `object-store`,
//! or `s3` for S3 and S3-compatible stores), an upload is copied to the store after its
//! limits were checked on the local temporary file and before its handler runs; persisting
//! it keeps it there, and any process serves it back. See `docs/DEPLOY.md`.

#[cfg(not(feature = "object-store"))]
mod no_object;
#[cfg(feature = "object-store")]
mod object;
#[cfg(feature = "s3")]
pub(crate) mod presign;

use std::sync::Arc;

#[cfg(not(feature = "object-store"))]
pub(crate) use no_object::ObjectFiles;
#[cfg(feature = "object-store")]
pub(crate) use object::ObjectFiles;

/// Names in the store that are ferrex's own, never served as uploads: uploads waiting for
/// their handler (also the temporary files in the local folder) and parked payloads.
pub(crate) const STAGED_PREFIX: &str = ".ferrex-upload-";
/// See [`STAGED_PREFIX`].
pub(crate) const PARKED_PREFIX: &str = ".ferrex-download-";

/// The environment variable an [`App`](crate::App) reads its file store from when none was
/// set in code: `s3://bucket/prefix` (endpoint and credentials from the `AWS_*` variables).
pub const FILES_URL_ENV: &str = "FERREX_FILES_URL";

/// Where an app keeps finished uploads and parked download payloads.
///
/// ```
/// use ferrex_server::{App, FileStore};
/// // The default: the upload folder (`App::upload_dir`), payloads in memory.
/// let app = App::new().file_store(FileStore::local());
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    pub(crate) backend: Backend,
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Local,
    // Without the `object-store` feature `ObjectFiles` has no values, so this is never made.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    Object(Arc<ObjectFiles>),
}

/// Why a file store could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    /// The store's URL is not one ferrex can use.
    #[error("the file store URL `{url}` cannot be used: {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The object store refused or could not be reached.
    #[error("the file store is unavailable: {0}")]
    Unavailable(String),
}

impl FileStoreError {
    /// What went wrong, without the sentence's start (for a message that says it).
    pub(crate) fn cause(&self) -> String {
        match self {
            FileStoreError::Unavailable(cause) => cause.clone(),
            other => other.to_string(),
        }
    }
}

impl FileStore {
    /// The local upload folder (`App::upload_dir`): the default.
    pub fn local() -> FileStore {
        FileStore {
            backend: Backend::Local,
        }
    }

    /// Any `object_store` backend, files under `prefix` (`""` for the bucket's root).
    /// Operations are bounded by the store's own retry settings: give it a
    /// `RetryConfig` with a short `retry_timeout` so an outage fails uploads in seconds.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ferrex_server::FileStore;
    /// let memory = Arc::new(object_store::memory::InMemory::new());
    /// let files = FileStore::object(memory, "app/files");
    /// assert!(files.is_shared());
    /// ```
    #[cfg(feature = "object-store")]
    pub fn object(store: Arc<dyn object_store::ObjectStore>, prefix: &str) -> FileStore {
        FileStore {
            backend: Backend::Object(Arc::new(ObjectFiles::new(store, prefix))),
        }
    }

    /// A store from its URL: `s3://bucket/prefix` with the endpoint, region and
    /// credentials from the standard `AWS_*` variables (`AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, …). An `http://`
    /// endpoint is allowed and addressed path-style (`http://host/bucket/key`), as
    /// self-hosted stores (SeaweedFS, Ceph) expect. Needs the cargo feature `s3`.
    ///
    /// ```
    /// let err = ferrex_server::FileStore::from_url("ftp://x").unwrap_err();
    /// assert!(err.to_string().contains("s3://"));
    /// ```
    pub fn from_url(url: &str) -> Result<FileStore, FileStoreError> {
        let refuse = |why: &str| FileStoreError::Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(refuse("only `s3://bucket/prefix` URLs are supported"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(refuse("it names no bucket (`s3://bucket/prefix`)"));
        }
        #[cfg(feature = "s3")]
        {
            FileStore::s3(object::s3_from_env(bucket), prefix).map_err(|e| refuse(&e.cause()))
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = prefix;
            Err(refuse(
                "this build of ferrex has no S3 support: enable the cargo feature `s3` of `ferrex`",
            ))
        }
    }

    /// An S3 (or S3-compatible) store from its client settings, files under `prefix`. With
    /// static credentials in `builder` (an access key id and secret, and a session token if
    /// any), drop zones with `direct = true` can send files straight to it (presigned POST
    /// requests to the bucket's URL: the endpoint path-style, or the AWS bucket host); with
    /// other credentials their files go through the server. Needs the cargo feature `s3`.
    ///
    /// ```
    /// use object_store::aws::AmazonS3Builder;
    /// let builder = AmazonS3Builder::new()
    ///     .with_bucket_name("photos")
    ///     .with_region("eu-west-1")
    ///     .with_access_key_id("AKID")
    ///     .with_secret_access_key("secret");
    /// let files = ferrex_server::FileStore::s3(builder, "app/files").unwrap();
    /// assert!(files.is_shared());
    /// ```
    #[cfg(feature = "s3")]
    pub fn s3(
        builder: object_store::aws::AmazonS3Builder,
        prefix: &str,
    ) -> Result<FileStore, FileStoreError> {
        let signer = presign::PostSigner::from_builder(&builder);
        let store = builder
            .build()
            .map_err(|e| FileStoreError::Unavailable(e.to_string()))?;
        let mut files = ObjectFiles::new(Arc::new(store), prefix);
        if let Some(signer) = signer {
            files = files.with_post_signer(signer);
        }
        Ok(FileStore {
            backend: Backend::Object(Arc::new(files)),
        })
    }

    /// Whether every process of the app sees the same files (an object store), rather than
    /// each its own folder.
    pub fn is_shared(&self) -> bool {
        self.objects().is_some()
    }

    /// The object store, when files are kept in one.
    pub(crate) fn objects(&self) -> Option<&Arc<ObjectFiles>> {
        match &self.backend {
            Backend::Local => None,
            Backend::Object(files) => Some(files),
        }
    }
}

impl Default for FileStore {
    fn default() -> Self {
        FileStore::local()
    }
}

/// The file store an app runs with: the one set in code, else `FERREX_FILES_URL`, else the
/// local folder. A URL that cannot be used stops the app from starting, with the reason:
/// an app that silently kept files on one machine's disk would lose them behind a load
/// balancer.
pub(crate) fn resolve(set: Option<FileStore>, url: Option<String>) -> FileStore {
    if let Some(store) = set {
        return store;
    }
    let url = url.or_else(|| {
        std::env::var(FILES_URL_ENV)
            .ok()
            .filter(|url| !url.trim().is_empty())
    });
    match url {
        None => FileStore::local(),
        Some(url) => match FileStore::from_url(url.trim()) {
            Ok(store) => {
                tracing::info!(url = %url.trim(), "files are kept in an object store");
                store
            }
            Err(e) => panic!("ferrex cannot start: {e} (from `App::files` or {FILES_URL_ENV})"),
        },
    }
}

/// A random name for a staged upload or a parked payload: 128 bits, hex.
#[cfg(feature = "object-store")]
pub(crate) fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", crate::session::SessionId::random().as_str())
}
