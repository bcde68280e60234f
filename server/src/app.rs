//! `App`: the builder a user starts from (pages, folders, limits), and the axum `Router`
//! it becomes: pages, the event endpoints, downloads, uploads and static assets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use ferrex_core::Node;
use maud::{DOCTYPE, PreEscaped, html};
use tower_http::services::ServeDir;

use crate::downloads::DownloadSlots;
use crate::page::{ErasedPage, PageFn, Registry, erase};
use crate::session::{MemoryStore, SessionId, SharedSession, StateStore};
use crate::{assets, downloads, events, uploads};

/// A ferrex application: its pages and settings.
///
/// ```no_run
/// use ferrex_core::prelude::*;
/// use ferrex_server::App;
///
/// fn index() -> Node { text().child("Hello").into() }
///
/// # async fn run() -> std::io::Result<()> {
/// App::new().page("/", index).serve("127.0.0.1:3000").await
/// # }
/// ```
pub struct App {
    pages: HashMap<String, ErasedPage>,
    registry: Registry,
    settings: Settings,
    store: Arc<dyn StateStore>,
    url_secret: Option<[u8; 32]>,
}

/// Settings an app can change.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The folder served at `/`.
    pub assets_dir: PathBuf,
    /// Where uploads stream to and are kept.
    pub upload_dir: PathBuf,
    /// The page title.
    pub title: String,
    /// A session unused this long is dropped.
    pub session_idle: Duration,
    /// The most bytes one upload request may carry.
    pub max_upload_bytes: u64,
    /// The most bytes of generated downloads held for the browser to fetch.
    pub max_pending_download_bytes: u64,
    /// How long a generated download waits to be fetched.
    pub download_ttl: Duration,
    /// The path the app is mounted under (`""` at the root, else e.g. `"/app"`): the prefix
    /// of the runtime's own URLs in the page and of the session cookie's path.
    pub base_path: String,
    /// Whether uploaded files are served to anyone with their URL. By default an
    /// `upload_url` answers only for the session it was made for.
    pub public_uploads: bool,
    /// The most bytes one event message may have (`POST /_ferrex/event` or a WebSocket
    /// message).
    pub max_event_bytes: usize,
    /// How long a request body may stall (no bytes arriving) before the request fails
    /// with 408: slow or stuck clients do not hold a connection and a temporary file.
    pub body_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            assets_dir: PathBuf::from("assets"),
            upload_dir: PathBuf::from("uploaded_files"),
            title: "ferrex".into(),
            session_idle: Duration::from_secs(60 * 60),
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            max_pending_download_bytes: 512 * 1024 * 1024,
            download_ttl: Duration::from_secs(5 * 60),
            base_path: String::new(),
            public_uploads: false,
            max_event_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub pages: HashMap<String, ErasedPage>,
    pub registry: Registry,
    pub settings: Settings,
    pub store: Arc<dyn StateStore>,
    pub downloads: DownloadSlots,
    /// Signs session-bound URLs (`upload_url`).
    pub url_secret: [u8; 32],
    /// The assets folder's files, for what is not a page.
    pub assets: Router,
}

pub(crate) type AppState = Arc<Shared>;

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no pages, assets from `assets/`, uploads in `uploaded_files/`.
    pub fn new() -> App {
        App {
            pages: HashMap::new(),
            registry: Registry::default(),
            settings: Settings::default(),
            store: Arc::new(MemoryStore::default()),
            url_secret: None,
        }
    }

    /// Adds a page at `path`, rendered by `page` from the session's states.
    pub fn page<Args: 'static, P: PageFn<Args>>(mut self, path: &str, page: P) -> App {
        P::register(&mut self.registry);
        self.pages
            .insert(normalize_page(path).into_owned(), erase(page));
        self
    }

    /// Registers a state that no page reads but handlers use.
    pub fn state<S: ferrex_core::State>(mut self) -> App {
        self.registry.register::<S>();
        self
    }

    /// The folder served at `/` (default `assets`).
    pub fn assets_dir(mut self, dir: impl Into<PathBuf>) -> App {
        self.settings.assets_dir = dir.into();
        self
    }

    /// Where uploads go (default `uploaded_files`).
    pub fn upload_dir(mut self, dir: impl Into<PathBuf>) -> App {
        self.settings.upload_dir = dir.into();
        self
    }

    /// The page title.
    pub fn title(mut self, title: impl Into<String>) -> App {
        self.settings.title = title.into();
        self
    }

    /// Drops sessions unused for this long (default one hour).
    pub fn session_idle(mut self, idle: Duration) -> App {
        self.settings.session_idle = idle;
        self
    }

    /// The most bytes one upload request may carry (default 10 GiB).
    pub fn max_upload_bytes(mut self, bytes: u64) -> App {
        self.settings.max_upload_bytes = bytes;
        self
    }

    /// The most bytes of generated downloads kept waiting for the browser (default 512 MiB);
    /// the oldest are dropped past it.
    pub fn max_pending_download_bytes(mut self, bytes: u64) -> App {
        self.settings.max_pending_download_bytes = bytes;
        self
    }

    /// How long a generated download waits to be fetched before its one-time URL answers
    /// 404 and its memory is released (default five minutes).
    pub fn download_ttl(mut self, ttl: Duration) -> App {
        self.settings.download_ttl = ttl;
        self
    }

    /// Serves the app under a path prefix, for an app mounted with
    /// `Router::new().nest("/app", app.into_router())` or behind a proxy that strips the
    /// prefix: the page then loads the runtime, the stylesheet, the event socket, uploads
    /// and generated downloads from `/app/_ferrex/…`. Links the app renders itself
    /// (`link(href = …)`, `upload_url`) are not rewritten.
    ///
    /// ```
    /// let app = ferrex_server::App::new().base_path("/app/");
    /// let router = axum::Router::new().nest("/app", app.into_router());
    /// # drop(router);
    /// ```
    pub fn base_path(mut self, path: &str) -> App {
        let trimmed = path.trim_matches('/');
        self.settings.base_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// The most bytes one event message may carry (default 1 MiB); larger ones get 413
    /// (over HTTP, from their `Content-Length` before the body is read) or close the
    /// WebSocket.
    pub fn max_event_bytes(mut self, bytes: usize) -> App {
        self.settings.max_event_bytes = bytes;
        self
    }

    /// How long a request body may stall before the request fails with 408 (default 30 s).
    /// The clock restarts with every chunk that arrives, so a large upload on a slow but
    /// steady connection is not cut off; an upload that stalls leaves nothing behind.
    pub fn body_timeout(mut self, timeout: Duration) -> App {
        self.settings.body_timeout = timeout;
        self
    }

    /// Serves uploaded files to anyone who has their URL, as a public folder. By default
    /// the URL `upload_url` makes while rendering for a session answers for that session
    /// only (404 for everyone else).
    pub fn public_uploads(mut self) -> App {
        self.settings.public_uploads = true;
        self
    }

    /// The secret that signs session-bound URLs (`upload_url`); random per process by
    /// default. Set the same secret in every process behind a load balancer that share a
    /// session store, so a URL made by one is honoured by all.
    pub fn url_secret(mut self, secret: [u8; 32]) -> App {
        self.url_secret = Some(secret);
        self
    }

    /// Keeps sessions in another store (e.g. one shared by several processes).
    pub fn store(mut self, store: impl StateStore) -> App {
        self.store = Arc::new(store);
        self
    }

    /// The app as an axum `Router`, to serve or to mount in a larger app
    /// (`Router::new().merge(app.into_router())`).
    pub fn into_router(self) -> Router {
        let assets = ServeDir::new(&self.settings.assets_dir)
            .with_buf_chunk_size(256 * 1024)
            .not_found_service(axum::routing::any(not_found));
        let assets = Router::new()
            .fallback_service(assets)
            .layer(axum::middleware::from_fn(assets::entity_tags));
        let shared = Arc::new(Shared {
            assets,
            pages: self.pages,
            registry: self.registry,
            settings: self.settings.clone(),
            store: self.store,
            url_secret: self.url_secret.unwrap_or_else(random_secret),
            downloads: DownloadSlots::new(
                self.settings.max_pending_download_bytes,
                self.settings.download_ttl,
            ),
        });
        spawn_sweeper(&shared);
        // Only these two routes read a request body; the rest need no per-request wrapper.
        let body_timeout =
            tower_http::timeout::RequestBodyTimeoutLayer::new(shared.settings.body_timeout);
        let inner = Router::new()
            .route("/_ferrex/runtime.js", get(assets::runtime_js))
            .route("/_ferrex/style.css", get(assets::stylesheet))
            .route("/_ferrex/ws", get(events::websocket))
            .route(
                "/_ferrex/event",
                post(events::post_event)
                    .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable())
                    .layer(body_timeout.clone()),
            )
            .route("/_ferrex/download/{token}", get(downloads::fetch_slot))
            .route("/_ferrex/uploads/{*path}", get(uploads::serve_uploaded))
            .route(
                "/_ferrex/upload",
                post(uploads::upload)
                    .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable())
                    .layer(body_timeout),
            )
            .fallback(page_or_asset)
            .with_state(shared.clone());
        // `/_ferrex/file` answers any same-origin URL as an attachment by asking the app
        // itself for it, so it needs the finished router.
        let file_route = Router::new()
            .route("/_ferrex/file", get(downloads::forced_download))
            .with_state(downloads::SelfRouter(inner.clone()));
        inner
            .merge(file_route)
            .layer(tower::layer::layer_fn(NoSniff))
    }

    /// Serves the app on `addr` until the process is stopped.
    pub async fn serve(self, addr: &str) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("ferrex serving on http://{}", listener.local_addr()?);
        axum::serve(listener, self.into_router()).await
    }
}

fn normalize_page(path: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else if trimmed.starts_with('/') {
        trimmed.into()
    } else {
        format!("/{trimmed}").into()
    }
}

fn spawn_sweeper(shared: &AppState) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let every = (shared.settings.session_idle / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(60));
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(shared) = weak.upgrade() else { break };
            let dropped = shared.store.expire_idle(shared.settings.session_idle);
            if dropped > 0 {
                tracing::debug!(dropped, "expired idle sessions");
            }
            shared.downloads.expire();
        }
    });
}

/// A page if one is registered at the path, else a file from the assets folder.
async fn page_or_asset(AxState(app): AxState<AppState>, request: Request) -> Response {
    let path = normalize_page(request.uri().path());
    if app.pages.contains_key(path.as_ref()) && request.method() == axum::http::Method::GET {
        return render_page(&app, &path, request.headers()).await;
    }
    use tower::ServiceExt;
    let whole_file = assets::whole_file_request(&request);
    let response = match app.assets.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    match whole_file {
        Some(path) => assets::read_ahead(&app.settings.assets_dir, &path, response).await,
        None => response,
    }
}

async fn not_found(request: Request) -> Response {
    crate::ServerError::NotFound(request.uri().path().to_owned()).into_response()
}

/// Renders a page for the request's session, creating the session if needed.
pub(crate) async fn render_page(app: &AppState, path: &str, headers: &HeaderMap) -> Response {
    let idle = app.settings.session_idle;
    let existing =
        SessionId::from_headers(headers).and_then(|id| app.store.open(&id, idle).map(|s| (id, s)));
    let (id, session, fresh) = match existing {
        Some((id, session)) => (id, session, false),
        None => {
            let (id, session) = app.store.create();
            (id, session, true)
        }
    };
    let (body, rev) = match render_body(app, &id, &session, path).await {
        Some(Ok(rendered)) => rendered,
        Some(Err(failed)) => return failed.into_response(),
        None => return crate::ServerError::UnknownPage(path.to_owned()).into_response(),
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
                link rel="stylesheet" href={ (base) "/_ferrex/style.css" };
                script src={ (base) "/_ferrex/runtime.js" } defer {}
            }
            body {
                main #fx-root data-fx-page=(path) data-fx-base=[mount] data-fx-rev=(rev) { (PreEscaped(body)) }
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

/// The HTML inside `#fx-root` for a page and its revision, or `None` if there is no such
/// page.
pub(crate) async fn render_body(
    app: &AppState,
    id: &SessionId,
    session: &SharedSession,
    path: &str,
) -> Option<Result<(String, u64), crate::ServerError>> {
    let mut session = lock_for_render(session).await;
    let html = match render_node(app, id, &mut session, path)? {
        Ok(node) => node.into_html(),
        Err(failed) => return Some(Err(failed)),
    };
    // A page load shows nothing yet: it always gets the HTML.
    let (rev, _) = session.record_render(path, &html, Some(0));
    Some(Ok((html, rev)))
}

/// Locks a session for a page render, which holds it for a few microseconds. When another
/// render holds it, trying again after letting other tasks run is much cheaper than
/// queueing: a queued waiter is handed the lock when it is released and holds it, idle,
/// until its worker thread gets to it, so concurrent GETs of one session would run one
/// per scheduling round. Queues like any other locker if the lock stays taken (a handler
/// awaiting something).
async fn lock_for_render(
    session: &SharedSession,
) -> tokio::sync::MutexGuard<'_, crate::session::Session> {
    for _ in 0..16 {
        if let Ok(guard) = session.try_lock() {
            return guard;
        }
        tokio::task::yield_now().await;
    }
    session.lock().await
}

/// Renders a page's node tree, with the session locked by the caller: `None` if there is
/// no such page, an error if the page panicked.
pub(crate) fn render_node(
    app: &AppState,
    id: &SessionId,
    session: &mut crate::session::Session,
    path: &str,
) -> Option<Result<Node, crate::ServerError>> {
    let page = app.pages.get(path)?;
    let key = cached_session_key(app, id, session);
    // A page that panics fails the one request that rendered it, like a handler does.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ferrex_core::upload::with_url_key(key, || page(session))
    }));
    Some(rendered.map_err(|_| {
        tracing::warn!(page = path, "the page panicked while rendering");
        crate::ServerError::PageFailed(path.to_owned())
    }))
}

/// The key that binds URLs to one session (see `ferrex_core::upload_url`).
pub(crate) fn session_key(app: &AppState, id: &SessionId) -> [u8; 32] {
    ferrex_core::upload::derive_key(&app.url_secret, id.as_str())
}

/// [`session_key`], derived once per session and kept in it (an HMAC per render and per
/// event is a noticeable part of a small page's cost).
pub(crate) fn cached_session_key(
    app: &AppState,
    id: &SessionId,
    session: &mut crate::session::Session,
) -> [u8; 32] {
    *session.url_key.get_or_insert_with(|| session_key(app, id))
}

fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    // Like session ids: a server cannot go on without the OS random source.
    getrandom::fill(&mut secret).expect("the OS random source is unavailable");
    secret
}

/// `nosniff` on every response: a browser never guesses a type ferrex did not declare.
/// A plain service wrapper: `middleware::from_fn` would clone the inner service and box a
/// future on every request, a measurable part of a small page's cost.
#[derive(Clone)]
struct NoSniff<S>(S);

impl<S> tower::Service<Request> for NoSniff<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<S::Future, fn(Response) -> Response>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::TryFutureExt;
        self.0
            .call(request)
            .map_ok(nosniff as fn(Response) -> Response)
    }
}

fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Checks that a state-changing request comes from this site: its `Origin` (sent by every
/// browser on cross-origin and POST requests) must name the host the request was sent to —
/// the `Host` header, or the URI's authority where there is none (HTTP/2). Clients without
/// an `Origin` (curl, tests, other servers) are allowed; they cannot carry a victim's cookie.
pub(crate) fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin_host.eq_ignore_ascii_case(host)
}

/// The `Content-Length` of a request or response, if it has a valid one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A 403 for requests that fail [`same_origin`].
pub(crate) fn cross_site() -> Response {
    (StatusCode::FORBIDDEN, crate::ServerError::CrossSite).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Uri;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn same_origin_compares_origin_with_host() {
        let uri = Uri::from_static("/_ferrex/event");
        let ok = headers(&[
            (header::HOST, "app.example:8080"),
            (header::ORIGIN, "http://app.example:8080"),
        ]);
        assert!(same_origin(&ok, &uri));
        let foreign = headers(&[
            (header::HOST, "app.example:8080"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(!same_origin(&foreign, &uri));
        assert!(same_origin(&headers(&[]), &uri), "no Origin: not a browser");
    }

    #[test]
    fn without_a_host_header_the_uri_authority_stands_in_http2() {
        let uri = Uri::from_static("https://app.example/_ferrex/event");
        let ok = headers(&[(header::ORIGIN, "https://app.example")]);
        assert!(same_origin(&ok, &uri));
        let foreign = headers(&[(header::ORIGIN, "https://evil.example")]);
        assert!(!same_origin(&foreign, &uri));
        let nowhere = Uri::from_static("/_ferrex/event");
        assert!(!same_origin(&ok, &nowhere), "no host at all: refused");
    }
}
