//! `App`: the builder a user starts from (pages, folders, limits), and the axum `Router`
//! it becomes: the routes to pages, the event endpoints, downloads, uploads and static
//! assets. The router uses the handlers; nothing imports it back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::services::ServeDir;

use crate::app_state::AppState;
use crate::files::FileStore;
use crate::page::{ErasedPage, PageFn, Registry, erase};
use crate::parked::DownloadSlots;
use crate::session::{MemoryStore, StateStore};
use crate::settings::Settings;
use crate::{assets, downloads, events, presence, render, signing, uploads, wire};

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
    /// `None` for the in-memory store, made with the settings' cap.
    store: Option<Arc<dyn StateStore>>,
    url_secret: Option<[u8; 32]>,
    file_store: Option<FileStore>,
    files_url: Option<String>,
    download_redis_url: Option<String>,
}

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
            store: None,
            url_secret: None,
            file_store: None,
            files_url: None,
            download_redis_url: None,
        }
    }

    /// Adds a page at `path`, rendered by `page` from the session's states.
    pub fn page<Args: 'static, P: PageFn<Args>>(mut self, path: &str, page: P) -> App {
        P::register(&mut self.registry);
        self.pages
            .insert(render::normalize_page(path).into_owned(), erase(page));
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

    /// The most bytes of generated downloads kept waiting for the browser, all sessions
    /// together (default 512 MiB); past it, the oldest of the session holding the most are
    /// dropped. Each payload is counted with its bookkeeping (a few hundred bytes).
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

    /// Whether open pages reload themselves when the server was started again, so that
    /// edit → save → `cargo run` shows the new page with no manual reload. On in debug
    /// builds, off in release builds; a page whose session the server no longer knows
    /// reloads into a fresh session either way.
    pub fn dev_reload(mut self, on: bool) -> App {
        self.settings.dev_reload = on;
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
        self.store = Some(Arc::new(store));
        self
    }

    /// The most bytes of generated downloads kept waiting for one session (default 64 MiB,
    /// at most [`App::max_pending_download_bytes`]); past it, that session's oldest are
    /// dropped, so a session that never fetches what it asks for cannot push out another
    /// session's downloads.
    pub fn max_pending_download_bytes_per_session(mut self, bytes: u64) -> App {
        self.settings.max_pending_download_bytes_per_session = bytes;
        self
    }

    /// The most sessions the in-memory store keeps (default 100,000). Past it, a new
    /// session first pushes out the least recently seen session that only loaded a page
    /// (no event, socket or upload yet), so a flood of cookie-less page loads replaces only
    /// its own kind; a used session goes only when every kept session is used, the one
    /// idle longest first. A store given with [`App::store`] keeps its own bound.
    pub fn max_sessions(mut self, sessions: usize) -> App {
        self.settings.max_sessions = sessions;
        self
    }

    /// Where finished uploads and generated downloads are kept (default: the upload folder,
    /// or the store named by `FERREX_FILES_URL` when it is set). With a shared store
    /// ([`FileStore::object`], [`FileStore::from_url`]) every process of the app serves
    /// every upload; see [`FileStore`].
    pub fn file_store(mut self, store: FileStore) -> App {
        self.file_store = Some(store);
        self
    }

    /// Keeps files in the store at `url` (`s3://bucket/prefix`, cargo feature `s3`), as
    /// [`FileStore::from_url`] reads it; a URL that cannot be used stops the app at start
    /// with the reason. The same as setting `FERREX_FILES_URL`.
    pub fn files(mut self, url: &str) -> App {
        self.files_url = Some(url.to_owned());
        self
    }

    /// The Redis that holds generated downloads' one-time tokens when files are in a shared
    /// store (default: `FERREX_REDIS_URL`), so that any process hands a download out, and
    /// only once. Without it, a generated download is served by the process that made it.
    #[cfg(feature = "redis")]
    pub fn shared_downloads(mut self, redis_url: &str) -> App {
        self.download_redis_url = Some(redis_url.to_owned());
        self
    }

    /// The app as an axum `Router`, to serve or to mount in a larger app
    /// (`Router::new().merge(app.into_router())`).
    pub fn into_router(self) -> Router {
        let assets = ServeDir::new(&self.settings.assets_dir)
            .with_buf_chunk_size(256 * 1024)
            .not_found_service(axum::routing::any(render::not_found));
        let assets = Router::new()
            .fallback_service(assets)
            .layer(axum::middleware::from_fn(assets::entity_tags));
        let files = crate::files::resolve(self.file_store, self.files_url);
        let sharing = crate::parked::sharing(&files, self.download_redis_url);
        let shared = Arc::new(AppState {
            files,
            assets,
            pages: self.pages,
            registry: self.registry,
            settings: self.settings.clone(),
            store: self.store.unwrap_or_else(|| {
                Arc::new(MemoryStore::with_max_sessions(self.settings.max_sessions))
            }),
            url_secret: self.url_secret.unwrap_or_else(signing::random_secret),
            boot: crate::session::SessionId::random().as_str()[..16].to_owned(),
            downloads: DownloadSlots::new(
                self.settings.max_pending_download_bytes,
                self.settings.max_pending_download_bytes_per_session,
                self.settings.download_ttl,
            )
            .shared(sharing),
        });
        spawn_sweeper(&shared);
        // Only these two routes read a request body; the rest need no per-request wrapper.
        let body_timeout =
            tower_http::timeout::RequestBodyTimeoutLayer::new(shared.settings.body_timeout);
        let inner = Router::new()
            .route(wire::RUNTIME_PATH, get(assets::runtime_js))
            .route(wire::STYLE_PATH, get(assets::stylesheet))
            .route(wire::WS_PATH, get(events::websocket))
            .route(wire::SESSION_PATH, get(presence::presence))
            .route(
                wire::EVENT_PATH,
                post(events::post_event)
                    .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable())
                    .layer(body_timeout.clone()),
            )
            .route(
                &format!("{}{{token}}", wire::DOWNLOAD_PREFIX),
                get(downloads::fetch_slot),
            )
            .route(
                &format!("{}/{{*path}}", wire::UPLOADS_PATH),
                get(uploads::serve_uploaded),
            )
            .route(
                wire::UPLOAD_PATH,
                post(uploads::upload)
                    .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable())
                    .layer(body_timeout),
            )
            .fallback(render::page_or_asset)
            .with_state(shared.clone());
        // `/_ferrex/file` answers any same-origin URL as an attachment by asking the app
        // itself for it, so it needs the finished router.
        let file_route = Router::new()
            .route(wire::FILE_PATH, get(downloads::forced_download))
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

fn spawn_sweeper(shared: &Arc<AppState>) {
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
