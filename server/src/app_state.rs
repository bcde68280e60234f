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
    pub(crate) url_secret: [u8; 32],
    /// This start of the server, random: pages carry it (`data-fx-boot`) so that in
    /// development a page can tell that the server it talks to was started again.
    pub(crate) boot: String,
    /// The assets folder's files, for what is not a page.
    pub(crate) assets: Router,
    /// Where finished uploads are kept.
    pub(crate) files: crate::files::FileStore,
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
