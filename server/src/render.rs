//! Pages: the fallback route that answers a page or else a static asset, rendering a page
//! for the request's session (creating the session if needed) into a whole document, and
//! the render of a page's body that events and uploads share.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{Html, IntoResponse, Response};
use ferrex_core::PageManifest;
use maud::{DOCTYPE, PreEscaped, html};

use crate::ServerError;
use crate::app_state::AppState;
use crate::session::{Session, SessionId, SharedSession};
use crate::{assets, wire};

/// A page if one is registered at the path, else a file from the assets folder.
pub(crate) async fn page_or_asset(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let path = normalize_page(request.uri().path());
    if app.pages.contains_key(path.as_ref()) {
        if request.method() == Method::GET {
            return render_page(&app, &path, request.headers()).await;
        }
        if request.method() == Method::HEAD {
            return page_head();
        }
    }
    use tower::ServiceExt;
    let whole_file = assets::whole_file_request(&request);
    // Every browser asks for `/favicon.ico`: ferrex's own icon answers it unless the assets
    // folder has one (a 404 would log an error in the console on every page).
    let favicon = request.uri().path() == assets::FAVICON_PATH
        && matches!(*request.method(), Method::GET | Method::HEAD);
    let response = match app.assets.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if favicon && response.status() == axum::http::StatusCode::NOT_FOUND {
        return assets::default_favicon();
    }
    match whole_file {
        Some(path) => assets::read_ahead(&app.settings.assets_dir, &path, response).await,
        None => response,
    }
}

/// The 404 for a path that is neither a page nor an asset: a page for a browser, JSON for
/// a program.
pub(crate) async fn not_found(request: Request) -> Response {
    ServerError::NotFound(crate::error::quoted(request.uri().path())).answer(request.headers())
}

/// `HEAD` of a page: that it exists and is HTML, without rendering it or starting a session
/// (a monitor's probe every few seconds would otherwise fill the session store).
fn page_head() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        (),
    )
        .into_response()
}

/// A page path as pages are registered: with a leading `/`, without a trailing one.
pub(crate) fn normalize_page(path: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else if trimmed.starts_with('/') {
        trimmed.into()
    } else {
        format!("/{trimmed}").into()
    }
}

/// Renders a page for the request's session, creating the session if needed.
async fn render_page(app: &AppState, path: &str, headers: &HeaderMap) -> Response {
    let idle = app.settings.session_idle;
    let mut existing = None;
    if let Some(id) = SessionId::from_headers(headers) {
        existing = match app.store.view(&id, idle) {
            Some(session) => Some((id, session)),
            None => match app.store.find(&id, idle).await {
                Ok(found) => found.map(|session| (id, session)),
                Err(error) => return ServerError::from(error).answer(headers),
            },
        };
    }
    let rendered = match existing {
        Some((id, session)) => match render_body(app, &id, &session, path, true).await {
            // Gone from the shared store since this process last saw it: a fresh one.
            Err(ServerError::NoSession) => render_new(app, path).await,
            rendered => rendered.map(|body| (id, body, false)),
        },
        None => render_new(app, path).await,
    };
    let (id, (body, rev), fresh) = match rendered {
        Ok((id, Some(body), fresh)) => (id, body, fresh),
        Ok((_, None, _)) => return ServerError::UnknownPage(path.to_owned()).answer(headers),
        Err(failed) => return failed.answer(headers),
    };
    let base = &app.settings.base_path;
    let mount = (!base.is_empty()).then_some(base);
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (app.settings.title) }
                link rel="stylesheet" href={ (base) (wire::STYLE_PATH) };
                // Named, so an app mounted under a path gets its icon (the assets folder's,
                // else ferrex's) rather than the site root's.
                link rel="icon" href={ (base) (assets::FAVICON_PATH) };
                script src={ (base) (wire::RUNTIME_PATH) } defer {}
            }
            body {
                main #fx-root data-fx-page=(path) data-fx-base=[mount] data-fx-rev=(rev) data-fx-boot=(app.boot) { (PreEscaped(body)) }
            }
        }
    };
    tracing::debug!(page = path, "page rendered");
    let mut response = Html(document.into_string()).into_response();
    let cookie_path = if base.is_empty() { "/" } else { base.as_str() };
    if fresh && let Ok(cookie) = HeaderValue::from_str(&id.cookie(cookie_path)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page rendered for a new session, made known to every process sharing the store
/// before its cookie goes out.
async fn render_new(
    app: &AppState,
    path: &str,
) -> Result<(SessionId, Option<(String, u64)>, bool), ServerError> {
    let (id, session) = app.store.create();
    app.store.publish(&id).await?;
    // Nobody else has seen it yet: nothing to refresh.
    let body = render_body(app, &id, &session, path, false).await?;
    Ok((id, body, true))
}

/// The HTML inside `#fx-root` for a page and its revision, or `None` if there is no such
/// page. With `refresh`, a shared store first brings the session up to date.
async fn render_body(
    app: &AppState,
    id: &SessionId,
    session: &SharedSession,
    path: &str,
    refresh: bool,
) -> Result<Option<(String, u64)>, ServerError> {
    let mut session = lock_for_render(session).await;
    if refresh && app.store.is_shared() {
        app.store.refresh(id, &mut session).await?;
    }
    let Some(rendered) = render_node(app, id, &mut session, path) else {
        return Ok(None);
    };
    let (html, manifest) = rendered?;
    let rev = session.record_page_load(path, &html, manifest);
    Ok(Some((html, rev)))
}

/// Locks a session for a page render, which holds it for a few microseconds. When another
/// render holds it, trying again after letting other tasks run is much cheaper than
/// queueing: a queued waiter is handed the lock when it is released and holds it, idle,
/// until its worker thread gets to it, so concurrent GETs of one session would run one
/// per scheduling round. Queues like any other locker if the lock stays taken (a handler
/// awaiting something).
async fn lock_for_render(session: &SharedSession) -> tokio::sync::MutexGuard<'_, Session> {
    for _ in 0..16 {
        if let Ok(guard) = session.try_lock() {
            return guard;
        }
        tokio::task::yield_now().await;
    }
    session.lock().await
}

/// Renders a page, with the session locked by the caller, into its HTML and manifest:
/// `None` if there is no such page, an error if the page panicked.
pub(crate) fn render_node(
    app: &AppState,
    id: &SessionId,
    session: &mut Session,
    path: &str,
) -> Option<Result<(String, PageManifest), ServerError>> {
    let page = app.pages.get(path)?;
    let scope = app.session_scope(id, session);
    // A page that panics fails the one request that rendered it, like a handler does.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scope.render(|| page(session))
    }));
    Some(rendered.map(ferrex_core::Node::into_page).map_err(|_| {
        tracing::warn!(page = path, "the page panicked while rendering");
        ServerError::PageFailed(path.to_owned())
    }))
}
