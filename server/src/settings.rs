//! The settings an app can change, with their defaults.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Whether an open page reloads itself when it finds the server was started again
    /// (edit, save, `cargo run`, and the browser shows the new page). On by default in
    /// debug builds, off in release builds.
    pub dev_reload: bool,
    /// The most bytes of generated downloads held for one session; past it, that
    /// session's oldest are dropped. At most [`Settings::max_pending_download_bytes`].
    pub max_pending_download_bytes_per_session: u64,
    /// The most sessions the default in-memory store keeps; past it, the least recently
    /// seen session that never ran an event, opened a socket or uploaded goes first.
    pub max_sessions: usize,
    /// How long a connection may take to send a request's head, counted from when the
    /// server starts waiting for it: after the connection opens and after each response
    /// on a kept-alive connection, so it is also how long an idle connection stays open.
    pub header_timeout: Duration,
    /// The most connections open at once (WebSockets included); `None` picks the
    /// open-files limit less an eighth of it (at least 64) kept for files. Past it, the
    /// connection idle the longest is closed for a new one, or the new one is refused
    /// when none is idle.
    pub max_connections: Option<usize>,
    /// The most event WebSockets one session may have open; a new one closes the oldest.
    pub max_sockets_per_session: usize,
    /// How often the server pings an event WebSocket.
    pub socket_ping_interval: Duration,
    /// An event WebSocket from which nothing (not even a pong) arrives for this long is
    /// closed, and so is one whose writes make no progress for this long.
    pub socket_idle_timeout: Duration,
    /// The most bytes waiting to be written on an event WebSocket (replies and pongs the
    /// client has not read); a reply that does not fit is answered with an error, and the
    /// socket is closed when even a ping does not fit.
    pub socket_max_write_buffer: usize,
    /// How long a resumable (tus) upload may go untouched before it is removed with its
    /// partial file (`Upload-Expires`).
    pub tus_expiry: Duration,
    /// The most tus uploads one session may hold before they are finished or deleted.
    pub max_tus_uploads_per_session: usize,
    /// The most tus uploads the process holds, all sessions together.
    pub max_tus_uploads: usize,
    /// Whether each uploaded file's SHA-256 is computed as it is written
    /// (`UploadFile::sha256`).
    pub upload_sha256: bool,
    /// The most direct uploads (presigned, not finished) one session may hold.
    pub max_direct_uploads_per_session: usize,
    /// The most direct uploads the process holds, all sessions together.
    pub max_direct_uploads: usize,
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
            dev_reload: cfg!(debug_assertions),
            max_pending_download_bytes_per_session: 64 * 1024 * 1024,
            max_sessions: 100_000,
            header_timeout: Duration::from_secs(20),
            max_connections: None,
            max_sockets_per_session: 16,
            socket_ping_interval: Duration::from_secs(30),
            socket_idle_timeout: Duration::from_secs(75),
            socket_max_write_buffer: 4 * 1024 * 1024,
            tus_expiry: Duration::from_secs(60 * 60),
            max_tus_uploads_per_session: 1024,
            max_tus_uploads: 16 * 1024,
            upload_sha256: false,
            max_direct_uploads_per_session: 1024,
            max_direct_uploads: 16 * 1024,
        }
    }
}
