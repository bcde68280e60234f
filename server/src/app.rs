//! `App`: the builder a user starts from (pages, folders, limits), and the axum `Router`
//! it becomes: the routes to pages, the event endpoints, downloads, uploads and static
//! assets. The router uses the handlers; nothing imports it back.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, head, patch, post};
use tower_http::services::ServeDir;

use crate::app_state::AppState;
use crate::connections::{self, ConnectionLimits};
use crate::files::FileStore;
use crate::memory_store::MemoryStore;
use crate::page::{ErasedPage, PageFn, Registry, erase};
use crate::parked::DownloadSlots;
use crate::request_target::BoundedTarget;
use crate::session::StateStore;
use crate::settings::Settings;
use crate::sockets::SessionSockets;
use crate::{
    assets, downloads, events, listen, presence, render, request_log, signing, tus, uploads, wire,
};

/// A ferrex application: its pages and settings.
///
/// ```no_run
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Counter {
///     count: i64,
/// }
///
/// #[event]
/// impl Counter {
///     fn add(&mut self, by: i64) {
///         self.count += by;
///     }
/// }
///
/// fn index(s: &Counter) -> Node {
///     ui! { vstack(heading("Counter"), text(s.count), button("+1", on_click = Counter::add(1))) }
/// }
///
/// // Serves on 127.0.0.1:3000 (or `PORT` / `FERREX_ADDR`), and prints where.
/// #[ferrex::main]
/// fn main() -> App {
///     App::new().title("Counter").page("/", index)
/// }
/// ```
pub struct App {
    pages: HashMap<String, ErasedPage>,
    registry: Registry,
    settings: Settings,
    /// `None` for the in-memory store, made with the settings' cap.
    store: Option<Arc<dyn StateStore>>,
    url_secret: Option<[u8; 32]>,
    assets: AssetsChoice,
    /// Sessions in this Redis (`App::redis`), made at start with the settings then known.
    #[cfg(feature = "redis")]
    redis_url: Option<String>,
    /// How long a process keeps a session's lease after an event (`App::session_lease_hold`).
    #[cfg(feature = "redis")]
    session_lease_hold: Option<Duration>,
    upload_writer: Option<crate::app_state::MakeWriter>,
    file_store: Option<FileStore>,
    files_url: Option<String>,
    download_redis_url: Option<String>,
}

/// Where the assets folder comes from: `App::assets_dir`, the folder `ui!` checked (told by
/// `#[ferrex::main]`), or else `assets/` in the working folder.
#[derive(Default)]
enum AssetsChoice {
    #[default]
    WorkingFolder,
    CheckedByUi(PathBuf),
    Chosen,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no pages, uploads in `uploaded_files/`, assets from `assets/` in the
    /// working folder (under `#[ferrex::main]`, from the folder `ui!` checked, wherever the
    /// program starts).
    pub fn new() -> App {
        App {
            pages: HashMap::new(),
            registry: Registry::default(),
            settings: Settings::default(),
            store: None,
            url_secret: None,
            assets: AssetsChoice::default(),
            #[cfg(feature = "redis")]
            redis_url: None,
            #[cfg(feature = "redis")]
            session_lease_hold: None,
            upload_writer: None,
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

    /// The folder served at `/` (default: see [`App::new`]). `ferrex::assets_dir!()` names
    /// the folder `ui!` checks asset URLs against for the file it is written in.
    pub fn assets_dir(mut self, dir: impl Into<PathBuf>) -> App {
        self.settings.assets_dir = dir.into();
        self.assets = AssetsChoice::Chosen;
        self
    }

    /// The default assets folder becomes `dir` (the folder `ui!` checked) when it exists at
    /// run time; an explicit `assets_dir` still wins.
    pub(crate) fn assets_checked_by_ui(mut self, dir: PathBuf) -> App {
        if !matches!(self.assets, AssetsChoice::Chosen) {
            self.assets = AssetsChoice::CheckedByUi(dir);
        }
        self
    }

    /// Settles the assets folder; a warning naming it when it does not exist.
    fn settle_assets_dir(&mut self) -> Option<String> {
        let working = PathBuf::from("assets");
        let dir = match std::mem::take(&mut self.assets) {
            AssetsChoice::Chosen => self.settings.assets_dir.clone(),
            AssetsChoice::CheckedByUi(checked) if checked.is_dir() => checked,
            // The binary was moved away from its sources: ship the folder beside it.
            AssetsChoice::CheckedByUi(_) if working.is_dir() => working,
            AssetsChoice::CheckedByUi(checked) => {
                self.settings.assets_dir = checked.clone();
                return Some(format!(
                    "there is no assets folder: neither {} (the one `ui!` checked) nor {} exists, so every file URL answers 404; create one, or choose it with `App::assets_dir`",
                    checked.display(),
                    shown(&working)
                ));
            }
            AssetsChoice::WorkingFolder => working,
        };
        self.settings.assets_dir = dir;
        self.assets = AssetsChoice::Chosen;
        let dir = &self.settings.assets_dir;
        (!dir.is_dir()).then(|| {
            format!(
                "the assets folder {} does not exist, so every file URL answers 404; create it, or choose another with `App::assets_dir`",
                shown(dir)
            )
        })
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
    /// let app = ferrex::App::new().base_path("/app/");
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
    /// default, or shared through the store when sessions are kept in Redis
    /// (`App::redis`, cargo feature `redis`), so a URL made by one process is honoured by
    /// all.
    pub fn url_secret(mut self, secret: [u8; 32]) -> App {
        self.url_secret = Some(secret);
        self
    }

    /// How long a connection may take to send a request's head (default 20 s), counted
    /// from when the server starts waiting for one: after the connection opens, and after
    /// each response on a kept-alive connection, so it also closes idle connections. A
    /// client that trickles its head (slowloris) or opens connections and sends nothing
    /// holds them no longer than this.
    pub fn header_timeout(mut self, timeout: Duration) -> App {
        self.settings.header_timeout = timeout;
        self
    }

    /// The most connections open at once, WebSockets included (default: the open-files
    /// limit, which [`App::serve`] first raises to its hard limit, less an eighth of it and
    /// at least 64, kept for files). Past it, a new connection closes the connection that has
    /// waited longest with no request in progress, or is itself closed when every connection
    /// is busy; the server never stops accepting. A value above what the open-files limit
    /// allows is lowered to it.
    pub fn max_connections(mut self, connections: usize) -> App {
        self.settings.max_connections = Some(connections);
        self
    }

    /// The most event WebSockets one session may have open (default 16: a browser opens
    /// one per tab); a new one closes the session's oldest.
    pub fn max_sockets_per_session(mut self, sockets: usize) -> App {
        self.settings.max_sockets_per_session = sockets;
        self
    }

    /// How often the server pings each event WebSocket (default 30 s), so that a socket
    /// whose client is gone, or that does not read, is found and closed.
    pub fn socket_ping_interval(mut self, every: Duration) -> App {
        self.settings.socket_ping_interval = every;
        self
    }

    /// How long an event WebSocket may stay silent (no message, not even a pong) before
    /// it is closed, and how long a reply or ping may wait to be taken by the client
    /// (default 75 s). Browsers answer pings by themselves, so an open page stays
    /// connected.
    pub fn socket_idle_timeout(mut self, timeout: Duration) -> App {
        self.settings.socket_idle_timeout = timeout;
        self
    }

    /// The most bytes waiting to be written to one event WebSocket (default 4 MiB): what
    /// a client sends for but does not read (pongs to its pings, replies) stops there, and
    /// the socket is closed at the next ping. A single reply larger than this is answered
    /// with an error instead.
    pub fn socket_max_write_buffer(mut self, bytes: usize) -> App {
        self.settings.socket_max_write_buffer = bytes;
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

    /// Keeps sessions in the Redis at `url` (`redis://host:port/db`), shared by every
    /// process of the app that uses it, so any of them may serve any request and any may
    /// die without losing an answered event (`store::RedisSessions`). Without this call,
    /// the `FERREX_REDIS_URL` environment variable, when set, does the same. The first
    /// request that needs Redis connects; while Redis is unreachable, events and page loads
    /// answer 503 and change nothing.
    ///
    /// ```no_run
    /// let app = ferrex::App::new().redis("redis://127.0.0.1:6379");
    /// # drop(app);
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(mut self, url: &str) -> App {
        self.redis_url = Some(url.to_owned());
        self
    }

    /// With sessions in Redis (`App::redis`, cargo feature `redis`): how long a process
    /// keeps a session's lease after an event while no other event of it comes (default 5 ms;
    /// `store::RedisSessions::lease_hold` says what it saves and costs). While kept, the
    /// session's next event here costs one Redis round trip instead of two; another
    /// process getting an event of the session waits for it, at most this long.
    /// `Duration::ZERO` gives the lease back with every event.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let app = ferrex::App::new()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .session_lease_hold(Duration::from_millis(100));
    /// # drop(app);
    /// ```
    #[cfg(feature = "redis")]
    pub fn session_lease_hold(mut self, hold: Duration) -> App {
        self.session_lease_hold = Some(hold);
        self
    }

    /// The store sessions live in: the one given, else Redis when configured, else memory.
    fn session_store(&mut self) -> Arc<dyn StateStore> {
        if let Some(store) = self.store.take() {
            return store;
        }
        #[cfg(feature = "redis")]
        {
            let url = self.redis_url.take().or_else(|| {
                std::env::var("FERREX_REDIS_URL")
                    .ok()
                    .filter(|url| !url.trim().is_empty())
            });
            if let Some(url) = url {
                let mut sessions = crate::store::RedisSessions::new(
                    &url,
                    self.settings.session_idle,
                    self.settings.max_sessions,
                );
                if let Some(hold) = self.session_lease_hold {
                    sessions = sessions.lease_hold(hold);
                }
                return Arc::new(sessions);
            }
        }
        Arc::new(MemoryStore::with_max_sessions(self.settings.max_sessions))
    }

    /// How long a resumable (tus) upload may go untouched before it is removed with its
    /// partial file (default one hour); each chunk that arrives restarts the clock.
    pub fn tus_expiry(mut self, expiry: Duration) -> App {
        self.settings.tus_expiry = expiry;
        self
    }

    /// The most resumable uploads one session may hold, in progress or finished but not
    /// yet handed to a handler (default 1024: a batch is one tus upload per file, so this
    /// is also the largest folder a zone takes); past it, creating one answers 429.
    pub fn max_tus_uploads_per_session(mut self, uploads: usize) -> App {
        self.settings.max_tus_uploads_per_session = uploads;
        self
    }

    /// The most resumable uploads the process holds, all sessions together (default
    /// 16384); past it, creating one answers 503.
    pub fn max_tus_uploads(mut self, uploads: usize) -> App {
        self.settings.max_tus_uploads = uploads;
        self
    }

    /// The most direct uploads (zones with `direct = true`: presigned, not finished yet)
    /// one session may hold (default 1024, a folder's worth, as for tus); past it, asking
    /// for another answers 429. One not finished within [`App::tus_expiry`] is removed
    /// with its object.
    pub fn max_direct_uploads_per_session(mut self, uploads: usize) -> App {
        self.settings.max_direct_uploads_per_session = uploads;
        self
    }

    /// The most direct uploads the process holds, all sessions together (default 16384);
    /// past it, asking for another answers 503.
    pub fn max_direct_uploads(mut self, uploads: usize) -> App {
        self.settings.max_direct_uploads = uploads;
        self
    }

    /// Whether each uploaded file's SHA-256 is computed while its bytes are written, for
    /// `UploadFile::sha256` (default off). It costs CPU time in proportion to the bytes —
    /// on this project's 2-core test machine it took a 1 GiB upload from the speed of
    /// the disk to about 0.4× of it (BENCHMARKS.md) — so an app that reads the digest
    /// turns it on.
    pub fn upload_sha256(mut self, on: bool) -> App {
        self.settings.upload_sha256 = on;
        self
    }

    /// Plugs a writer that sees each uploaded file's bytes as they arrive (to hash, scan
    /// or forward them): `make` is called once per file, multipart or tus, and its writer
    /// is given every byte in order; an error from it refuses the file (422). Without one,
    /// files only stream to their temporary files, as they always do.
    ///
    /// ```
    /// use ferrex_core::upload::{UploadTarget, UploadWriter};
    ///
    /// struct Count(u64);
    /// impl UploadWriter for Count {
    ///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
    ///         self.0 += bytes.len() as u64;
    ///         Ok(())
    ///     }
    /// }
    /// let app = ferrex_server::App::new().upload_writer(|_: &UploadTarget<'_>| Count(0));
    /// # drop(app);
    /// ```
    pub fn upload_writer<W: ferrex_core::upload::UploadWriter>(
        mut self,
        make: impl Fn(&ferrex_core::upload::UploadTarget<'_>) -> W + Send + Sync + 'static,
    ) -> App {
        self.upload_writer = Some(Arc::new(move |target| Box::new(make(target))));
        self
    }

    /// Where finished uploads and generated downloads are kept (default: the upload folder,
    /// or the store named by `FERREX_FILES_URL` when it is set). With a shared store
    /// (`FileStore::object`, cargo feature `object-store`; [`FileStore::from_url`]) every
    /// process of the app serves every upload; see [`FileStore`].
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
    pub fn into_router(mut self) -> Router {
        if let Some(warning) = self.settle_assets_dir() {
            tracing::warn!("{warning}");
        }
        self.router()
    }

    fn router(mut self) -> Router {
        // Sessions and download tokens share one Redis unless the app named another.
        #[cfg(feature = "redis")]
        if self.download_redis_url.is_none() {
            self.download_redis_url = self.redis_url.clone();
        }
        let store = self.session_store();
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
            url_secret: crate::app_state::UrlSecret {
                own: self.url_secret.unwrap_or_else(signing::random_secret),
                given: self.url_secret.is_some(),
                store: store.clone(),
            },
            store,
            boot: crate::session::SessionId::random().as_str()[..16].to_owned(),
            downloads: DownloadSlots::new(
                self.settings.max_pending_download_bytes,
                self.settings.max_pending_download_bytes_per_session,
                self.settings.download_ttl,
            )
            .shared(sharing),
            sockets: SessionSockets::default(),
            tus: crate::tus::TusUploads::new(),
            direct: crate::direct::DirectUploads::new(),
            upload_writer: self.upload_writer,
        });
        spawn_sweeper(&shared);
        // Only the routes that read a request body get the body timeout; the rest need no
        // per-request wrapper.
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
                    .layer(body_timeout.clone()),
            )
            .route(wire::TUS_PATH, post(tus::create).options(tus::options))
            .route(
                &format!("{}/{{id}}", wire::TUS_PATH),
                head(tus::head)
                    .delete(tus::terminate)
                    .options(tus::options)
                    .merge(
                        patch(tus::patch)
                            .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable())
                            .layer(body_timeout.clone()),
                    ),
            )
            .route(
                wire::UPLOAD_FINISH_PATH,
                post(tus::finish).layer(body_timeout.clone()),
            )
            .route(
                wire::DIRECT_UPLOAD_PATH,
                post(crate::direct::presign).layer(body_timeout),
            )
            .fallback(render::page_or_asset)
            .with_state(shared.clone())
            .layer(tower::layer::layer_fn(BoundedTarget));
        // `/_ferrex/file` answers any same-origin URL as an attachment by asking the app
        // itself for it, so it needs the finished router.
        let file_route = Router::new()
            .route(wire::FILE_PATH, get(downloads::forced_download))
            .with_state(downloads::SelfRouter(inner.clone()));
        inner
            .merge(file_route)
            .layer(tower::layer::layer_fn(NoSniff))
    }

    /// Serves the app until the process is stopped, on `addr` unless the environment says
    /// otherwise: `FERREX_ADDR` (`0.0.0.0:8080`) replaces it, `PORT` (`8080`) replaces its
    /// port. Prints `ferrex serving on http://…` and a warning when the assets folder is
    /// missing; `FERREX_LOG=1` logs every request. A port in use fails with an error that
    /// names it and how to choose another. Connections are served as by [`App::serve_on`].
    pub async fn serve(mut self, addr: &str) -> std::io::Result<()> {
        let addr = listen::address_from_env(addr)?;
        let listener = listen::bind(&addr).await?;
        let warnings: Vec<String> = self.settle_assets_dir().into_iter().collect();
        let limits = ConnectionLimits::from_settings(&self.settings);
        let (router, log_warning) = request_log::from_env(self.router());
        listen::announce(
            &listener,
            &[warnings, log_warning.into_iter().collect()].concat(),
        )?;
        connections::serve(listener, router, limits).await
    }

    /// Serves the app on a listener the caller bound, until the process is stopped: HTTP/1.1
    /// and WebSocket upgrades, with the connection bounds of [`App::header_timeout`] and
    /// [`App::max_connections`]. Raises the process's soft open-files limit to its hard limit.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// println!("serving on {}", listener.local_addr()?);
    /// ferrex::App::new().serve_on(listener).await
    /// # }
    /// ```
    pub async fn serve_on(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let limits = ConnectionLimits::from_settings(&self.settings);
        connections::serve(listener, self.into_router(), limits).await
    }

    /// Serves the app on a tokio runtime of its own, for a plain `fn main` (what
    /// `#[ferrex::main]` calls): on `127.0.0.1:3000` unless `FERREX_ADDR` or `PORT` says
    /// otherwise, as [`App::serve`]. If the server cannot start (a busy port), it prints
    /// why in one sentence and exits the process with status 1.
    ///
    /// ```no_run
    /// use ferrex_core::prelude::*;
    /// use ferrex::App;
    ///
    /// fn index() -> Node { text().child("Hello").into() }
    ///
    /// fn main() {
    ///     App::new().page("/", index).run();
    /// }
    /// ```
    pub fn run(self) {
        listen::run(self.serve(listen::DEFAULT_ADDR));
    }
}

/// What `#[ferrex::main]` expands to: builds the app on a new runtime, with the assets
/// folder `ui!` checked as its default, and serves it as [`App::run`] does.
#[doc(hidden)]
pub fn run_main(assets_checked_by_ui: &str, app: impl Future<Output = App>) {
    let dir = PathBuf::from(assets_checked_by_ui);
    listen::run(async move {
        app.await
            .assets_checked_by_ui(dir)
            .serve(listen::DEFAULT_ADDR)
            .await
    });
}

/// A path as the user would type it: absolute when the working folder is known.
fn shown(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn spawn_sweeper(shared: &Arc<AppState>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let every = (shared.settings.session_idle.min(shared.settings.tus_expiry) / 4)
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
            let expired = shared.tus.expire();
            if expired > 0 {
                tracing::debug!(expired, "removed expired tus uploads");
            }
            let expired = shared.direct.expire(&shared.files);
            if expired > 0 {
                tracing::debug!(expired, "removed expired direct uploads");
            }
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
