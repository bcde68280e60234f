//! Serving connections: HTTP/1.1 (and its WebSocket upgrades) through hyper, with a deadline
//! on every request head and a cap on open connections below the open-files limit.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::settings::Settings;

/// The most bytes of a request head (request line and headers) the server buffers; a
/// longer head is refused by hyper (431, or 414 for a target over 64 KiB), so a client
/// trickling a head holds at most this much.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Files the process keeps for itself (uploads, assets, logs) below the open-files limit
/// when the connection cap is picked from it: an eighth of the limit, at least this.
const RESERVED_FILES: usize = 64;

/// How long the accept loop pauses after an error that is not one connection's (out of
/// file descriptors or memory), so that it does not spin while connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// How connections are bounded, from the app's [`Settings`].
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimits {
    /// See [`Settings::header_timeout`].
    pub(crate) header_timeout: Duration,
    /// The most connections open at once.
    pub(crate) max_connections: usize,
}

impl ConnectionLimits {
    /// The limits `settings` ask for. Raises this process's soft open-files limit to its
    /// hard limit first, and keeps the cap below it.
    pub(crate) fn from_settings(settings: &Settings) -> ConnectionLimits {
        let files = raise_open_files_limit();
        let fitting = files.saturating_sub((files / 8).max(RESERVED_FILES)).max(1);
        let max_connections = match settings.max_connections {
            Some(wanted) if wanted > fitting => {
                tracing::warn!(
                    wanted,
                    open_files_limit = files,
                    cap = fitting,
                    "max_connections is above what the open-files limit allows; using the lower cap"
                );
                fitting
            }
            Some(wanted) => wanted.max(1),
            None => fitting,
        };
        ConnectionLimits {
            header_timeout: settings.header_timeout,
            max_connections,
        }
    }
}

/// Raises the soft limit on open files to the hard one; returns the limit in force.
fn raise_open_files_limit() -> usize {
    // Where the platform has no such limit, assume a cautious one.
    const UNKNOWN: u64 = 4096;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(u64::MAX) => UNKNOWN,
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "could not read or raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(UNKNOWN, |(soft, _)| soft)
        }
    };
    usize::try_from(limit.min(1 << 24)).unwrap_or(1 << 24)
}

/// Accepts connections on `listener` and serves `router` on each until the process stops.
/// Accept errors never end the loop: a per-connection one is skipped, running out of file
/// descriptors closes the longest-idle connection and pauses briefly.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let http = Arc::new(http);
    let open = Arc::new(OpenConnections::default());
    let mut last_warning: Option<Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) if is_one_connections(&err) => continue,
            Err(err) => {
                if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                    tracing::warn!(error = %err, open = open.count(), "accepting a connection failed; retrying");
                    last_warning = Some(Instant::now());
                }
                open.close_longest_idle();
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if open.count() >= limits.max_connections && !open.close_longest_idle() {
            // Every open connection is busy: refusing this one keeps them served.
            tracing::debug!(
                max = limits.max_connections,
                "connection refused: at the cap"
            );
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            http.clone(),
            open.clone(),
        ));
    }
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_one_connections(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    open: Arc<OpenConnections>,
) {
    let (connection, held) = open.admit(stream);
    let service = ConnectionService {
        router,
        connection: connection.clone(),
    };
    let serving = http
        .serve_connection(TokioIo::new(held), service)
        .with_upgrades();
    tokio::select! {
        // Errors here are the client's (a bad head, a timeout, a reset): hyper has answered
        // what can be answered, and there is no one else to tell.
        _ = serving => {}
        () = connection.close.notified() => {}
    }
    open.forget(connection.id);
}

/// The connections open now: a count of every socket (WebSockets included, since the count
/// travels with the socket), and the HTTP ones by age, to close one that is idle.
#[derive(Default)]
struct OpenConnections {
    count: Arc<AtomicUsize>,
    next_id: AtomicU64,
    http: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl OpenConnections {
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts a new connection until its socket closes, and lists it as an HTTP connection.
    fn admit(&self, stream: TcpStream) -> (Arc<Connection>, CountedStream) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let held = CountedStream {
            stream,
            count: self.count.clone(),
        };
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            requests: AtomicUsize::new(0),
            close: Notify::new(),
        });
        self.lock().insert(connection.id, connection.clone());
        (connection, held)
    }

    /// Closes the oldest HTTP connection with no request in progress (waiting for a head,
    /// or for the next request on a kept-alive connection); false if there is none.
    fn close_longest_idle(&self) -> bool {
        let mut http = self.lock();
        let Some(id) = http
            .iter()
            .find(|(_, c)| c.requests.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some(connection) = http.remove(&id) {
            // Stores the wake-up if the connection's task is not waiting yet.
            connection.close.notify_one();
        }
        true
    }

    fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        // The map is consistent after every statement: a panic elsewhere cannot break it.
        self.http
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One HTTP connection: how many of its requests are in progress, and the signal that
/// closes it.
struct Connection {
    id: u64,
    /// Requests from the head received to the response's last byte handed to hyper.
    requests: AtomicUsize,
    close: Notify,
}

/// A request in progress on a connection, ended when its response body is dropped.
struct InProgress(Arc<Connection>);

impl InProgress {
    fn start(connection: &Arc<Connection>) -> InProgress {
        connection.requests.fetch_add(1, Ordering::AcqRel);
        InProgress(connection.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The router as hyper calls it on one connection, marking each request in progress.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    connection: Arc<Connection>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: hyper::Request<Incoming>) -> Answer {
        let in_progress = InProgress::start(&self.connection);
        // A request with no body (most of them) needs no watching.
        let read_whole =
            (!request.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let request = request.map(|body| match &read_whole {
            Some(flag) => Body::new(WatchedBody {
                body,
                read_whole: flag.clone(),
            }),
            None => Body::new(body),
        });
        let answer = self.router.clone().oneshot(request);
        Box::pin(async move {
            let mut response = answer.await?;
            // hyper closes a connection whose request body was not read to its end (a body
            // refused from its head or part-way): say so, or a client may send its next
            // request on a connection that is closing and get no answer at all.
            if read_whole.is_some_and(|flag| !flag.load(Ordering::Acquire)) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| {
                Body::new(TrackedBody {
                    body,
                    _in_progress: in_progress,
                })
            }))
        })
    }
}

/// A request body that notes when it has been read to its end.
struct WatchedBody {
    body: Incoming,
    read_whole: Arc<AtomicBool>,
}

impl HttpBody for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read_whole.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request in progress until hyper is done with it.
struct TrackedBody {
    body: Body,
    _in_progress: InProgress,
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket, counted as open until it is dropped, whichever task owns it
/// then (hyper's, or a WebSocket's after an upgrade).
struct CountedStream {
    stream: TcpStream,
    count: Arc<AtomicUsize>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
