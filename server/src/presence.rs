//! `GET /_ferrex/session`: what a page asks when its socket dropped. Is its session still
//! known here (after a restart with in-memory sessions it is not, and the page reloads into
//! a fresh one), and is this the server start that rendered it (in development, a page
//! reloads itself when the server comes back after a rebuild)?

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ServerError;
use crate::app_state::AppState;
use crate::guards::CurrentSession;
use crate::session::StoreError;

/// The answer, as `docs/PROTOCOL.md` describes it.
#[derive(Serialize)]
struct Presence<'a> {
    /// Whether the request's cookie names a live session of this server.
    known: bool,
    /// This server start's id, as the page's `data-fx-boot` carries it.
    boot: &'a str,
    /// Whether a page rendered by another start should reload itself.
    reload_on_restart: bool,
}

/// `GET /_ferrex/session`.
pub(crate) async fn presence(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    // A store that cannot answer now fails the probe, and the page asks again later
    // rather than reloading into an error.
    let known = match CurrentSession::resolve(&app, &headers).await {
        // This process's copy may outlive the session in a shared store.
        Ok(current) if app.store.is_shared() => {
            let mut session = current.session.lock().await;
            match app.store.refresh(&current.id, &mut session).await {
                Ok(()) => true,
                Err(StoreError::NoSession) => false,
                Err(other) => return ServerError::from(other).into_response(),
            }
        }
        Ok(_) => true,
        Err(ServerError::NoSession) => false,
        Err(other) => return other.into_response(),
    };
    let answer = Presence {
        known,
        boot: &app.boot,
        // With a shared store, another `boot` is another process of the same app, which
        // the page moved to when its socket's process went away: not a rebuild.
        reload_on_restart: app.settings.dev_reload && !app.store.is_shared(),
    };
    let mut response = Json(answer).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
