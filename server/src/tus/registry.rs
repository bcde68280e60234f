//! The uploads of the process that are not handed to a handler yet: who owns each, where
//! its bytes are, and when an untouched one expires.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ferrex_core::upload::UploadWriter;

use super::protocol::Refusal;
use crate::session::SessionId;

/// The tus uploads of the process that are not handed to a handler yet.
pub(crate) struct TusUploads {
    uploads: Mutex<HashMap<String, Arc<TusUpload>>>,
}

/// One file on its way in.
pub(super) struct TusUpload {
    /// The session that created it; no other may touch it.
    pub(super) session: SessionId,
    pub(super) page: String,
    pub(super) zone: String,
    pub(super) handler: String,
    /// The sanitized relative path from `Upload-Metadata` `filename`.
    pub(super) relative: String,
    pub(super) content_type: String,
    /// `Upload-Length`: the file's size, checked against the zone before any byte.
    pub(super) length: u64,
    /// `Upload-Metadata` as it came, for `HEAD`.
    pub(super) metadata: String,
    /// The bytes written and kept: `Upload-Offset`.
    pub(super) offset: AtomicU64,
    /// When an untouched upload is removed: `Upload-Expires`.
    pub(super) expires: Mutex<SystemTime>,
    /// The file and the digest of its bytes so far; held by the one `PATCH` that writes.
    pub(super) data: tokio::sync::Mutex<Partial>,
    /// Bumped by each `PATCH`, so that one still reading a body a client gave up on stops
    /// and lets the client's new `PATCH` in.
    pub(super) turn: tokio::sync::watch::Sender<u64>,
}

pub(super) struct Partial {
    /// Dropped (with the upload, or taken at finish), the temporary file is deleted.
    pub(super) temp: Option<tempfile::TempPath>,
    /// The SHA-256 of the bytes kept so far, unless the app turned it off.
    pub(super) hash: Option<sha2::Sha256>,
    /// The app's writer (`App::upload_writer`), given the bytes that are kept.
    pub(super) writer: Option<Box<dyn UploadWriter>>,
}

impl TusUploads {
    pub(crate) fn new() -> TusUploads {
        TusUploads {
            uploads: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TusUpload>>> {
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
    pub(super) fn find(&self, id: &str, session: &SessionId) -> Result<Arc<TusUpload>, Refusal> {
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

    pub(super) fn remove(&self, id: &str) -> Option<Arc<TusUpload>> {
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

    pub(super) fn touch(&self, expiry: Duration) -> SystemTime {
        let at = SystemTime::now() + expiry;
        *self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
        at
    }

    pub(super) fn expires_at(&self) -> SystemTime {
        *self
            .expires
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
