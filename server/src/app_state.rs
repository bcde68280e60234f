//! What every request handler shares: the app's pages and state types, its settings, the
//! session store, the parked downloads and the secret that signs session-bound URLs.

use std::collections::HashMap;

use axum::Router;
use ferrex_core::context::SessionScope;

use crate::page::{ErasedPage, Registry};
use crate::parked::DownloadSlots;
use crate::session::{Session, SessionId, StateStore};
use crate::settings::Settings;

/// The running app, behind an `Arc` in every handler's `State`.
pub(crate) struct AppState {
    pub(crate) pages: HashMap<String, ErasedPage>,
    pub(crate) registry: Registry,
    pub(crate) settings: Settings,
    pub(crate) store: std::sync::Arc<dyn StateStore>,
    pub(crate) downloads: DownloadSlots,
    /// Signs session-bound URLs (`upload_url`).
    pub(crate) url_secret: UrlSecret,
    /// This start of the server, random: pages carry it (`data-fx-boot`) so that in
    /// development a page can tell that the server it talks to was started again.
    pub(crate) boot: String,
    /// The assets folder's files, for what is not a page.
    pub(crate) assets: Router,
    /// The event WebSockets open, by session.
    pub(crate) sockets: crate::sockets::SessionSockets,
    /// Resumable uploads not handed to a handler yet.
    pub(crate) tus: crate::tus::TusUploads,
    /// Uploads presigned to go straight to the file store, not finished yet.
    pub(crate) direct: crate::direct::DirectUploads,
    /// Makes the app's writer for each uploaded file (`App::upload_writer`).
    pub(crate) upload_writer: Option<MakeWriter>,
    /// Where finished uploads are kept.
    pub(crate) files: crate::files::FileStore,
}

/// What `App::upload_writer` takes: one writer per uploaded file.
pub(crate) type MakeWriter = std::sync::Arc<
    dyn Fn(&ferrex_core::upload::UploadTarget<'_>) -> Box<dyn ferrex_core::upload::UploadWriter>
        + Send
        + Sync,
>;

impl AppState {
    /// The app's writer for a file, if it plugged a maker.
    pub(crate) fn writer_for(
        &self,
        target: &ferrex_core::upload::UploadTarget<'_>,
    ) -> Option<Box<dyn ferrex_core::upload::UploadWriter>> {
        self.upload_writer.as_ref().map(|make| make(target))
    }
}

impl AppState {
    /// The scope a session's renders and handlers run in, made once per session (an HMAC
    /// per render and per event is a noticeable part of a small page's cost).
    pub(crate) fn session_scope(&self, id: &SessionId, session: &mut Session) -> SessionScope {
        session
            .scope
            .get_or_insert_with(|| crate::signing::session_scope(&self.url_secret, id))
            .clone()
    }
}

/// The secret that signs session-bound URLs: the one the app was given, else the one a
/// shared store agreed on with the other processes (known from the store's first use on,
/// which comes before any request signs), else this process's own random one.
pub(crate) struct UrlSecret {
    pub(crate) own: [u8; 32],
    /// Whether `own` was given by the app (then it is used even with a shared store).
    pub(crate) given: bool,
    pub(crate) store: std::sync::Arc<dyn StateStore>,
}

impl std::ops::Deref for UrlSecret {
    type Target = [u8; 32];

    fn deref(&self) -> &[u8; 32] {
        if !self.given
            && let Some(shared) = self.store.url_secret()
        {
            return shared;
        }
        &self.own
    }
}
