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

use crate::app_state::AppState;
use crate::guards::CurrentSession;

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
    let answer = Presence {
        known: CurrentSession::from_headers(&app, &headers).is_ok(),
        boot: &app.boot,
        reload_on_restart: app.settings.dev_reload,
    };
    let mut response = Json(answer).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
