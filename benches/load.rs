//! Load (issue 6): WebSocket clients sending events and uploaders posting files at once,
//! for a fixed time, against a ferrex server in a child process on 127.0.0.1 (a random
//! port). Counts every error (a failed request or socket, a non-200 answer, a reply with
//! an error, the wrong id or the wrong count), reports event round trips (p50, p99, max),
//! events/s, uploads/s and MiB/s, and follows the server's resident memory (VmRSS of the
//! child, so the clients' own buffers do not count).
//!
//! Memory: the baseline is taken after a warm-up (one client, one uploader, 1 s) once its
//! sessions have expired and the server is back to its idle thread count; the figure
//! after is taken the same way after the load. The bench fails unless it saw 0 errors,
//! every session expired, the upload folder is empty and the server's RSS after is within
//! [`RSS_TOLERANCE`] (16 MiB) of the baseline. The server runs with glibc's mmap threshold
//! pinned, so that the RSS shows live memory rather than what the allocator keeps (see
//! [`pinned_mmap_threshold`]).
//!
//! Run with `cargo bench --bench load` for the full run: 64 WebSocket clients and 16
//! uploaders (1 MiB files) for 60 s. Without `--bench` (as `cargo test --all-targets`
//! runs it, unoptimised) it is a smoke run of the same code: 8 clients and 2 uploaders
//! for 3 s. Every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{MIB, full_run, load_average, mib, names_in, percentile, proc_status};
use ferrex::prelude::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// The server drops sessions idle for this long (short, so the bench sees them expire).
const SESSION_IDLE: Duration = Duration::from_secs(2);
/// The size of each uploaded file.
const FILE_BYTES: usize = MIB as usize;
/// How much the server's RSS after expiry may exceed its baseline.
const RSS_TOLERANCE: u64 = 16 * MIB;
/// The longest any single reply, upload or wait for the server may take.
const PATIENCE: Duration = Duration::from_secs(30);
/// The child process serves when this variable names its upload folder.
const CHILD_ENV: &str = "FERREX_LOAD_BENCH_UPLOADS";

// ---------------------------------------------------------------------------------------
// The app under load (run in the child process).

#[derive(Default, Serialize, Deserialize)]
struct Load {
    count: u64,
    uploads: u64,
    bytes: u64,
}

#[event]
impl Load {
    fn add(&mut self, by: u64) {
        self.count += by;
    }

    /// Reads each file through (as a handler that looks at its files does) and counts it;
    /// the files are not kept, so their temporary files are deleted.
    async fn keep(&mut self, files: Vec<UploadFile>) -> Result<(), String> {
        for file in files {
            let mut chunks = std::boxed::Box::pin(file.stream().await.map_err(|e| e.to_string())?);
            let mut read = 0u64;
            while let Some(chunk) = chunks.next().await {
                read += chunk.map_err(|e| e.to_string())?.len() as u64;
            }
            if read != file.size {
                return Err(format!("read {read} of {} bytes", file.size));
            }
            self.uploads += 1;
            self.bytes += read;
        }
        Ok(())
    }
}

fn page(s: &Load) -> Node {
    ui! {
        vstack(
            text(format!("count={}", s.count), id = "count"),
            text(format!("uploads={} bytes={}", s.uploads, s.bytes), id = "uploads"),
            upload(text("Drop a file"), id = "f"),
            button("Upload", on_click = Load::keep(upload_files("f"))),
            button("+1", on_click = Load::add(1)),
        )
    }
}

/// The child: serves the app until its standard input closes.
fn serve(upload_dir: PathBuf) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = stop.send(());
    });
    runtime.block_on(async move {
        let app = App::new()
            .page("/", page)
            .upload_dir(upload_dir)
            .session_idle(SESSION_IDLE);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("an address");
        println!("LISTENING {addr}");
        std::io::stdout().flush().expect("stdout");
        tokio::select! {
            served = axum::serve(listener, app.into_router()) => served.expect("the server runs"),
            _ = stopped => {}
        }
    });
}

// ---------------------------------------------------------------------------------------
// The server process, seen from outside.

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(upload_dir: &Path) -> Server {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut command = Command::new(exe);
        if pinned_mmap_threshold() {
            command.env("MALLOC_MMAP_THRESHOLD_", "131072");
        }
        command.env(CHILD_ENV, upload_dir);
        let (child, addr) = common::spawn_listening(command, PATIENCE);
        Server { child, addr }
    }

    /// A field of the child's `/proc/PID/status` (`VmRSS`, `VmHWM`, `Threads`): the
    /// number, in kB for the memory fields.
    /// A live server always has memory and threads: a missing or zero figure would make
    /// every check pass without measuring anything, so it stops the bench.
    fn status(&self, field: &str) -> u64 {
        match proc_status(self.child.id(), field) {
            Some(value) if value > 0 => value,
            _ => panic!(
                "cannot read {field} of the server (pid {}) from /proc",
                self.child.id()
            ),
        }
    }

    fn rss(&self) -> u64 {
        self.status("VmRSS") * 1024
    }

    /// Closes the child's standard input (it then stops) and waits for it, at most 10 s;
    /// kills it if it is still running.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the server runs with glibc's mmap threshold pinned at its initial 128 KiB.
///
/// By default glibc raises the threshold to the size of each large block freed (up to
/// 32 MiB); after that, the upload path's large buffers (1 MiB and 256 KiB) come from the
/// heap, and once a burst of uploads has grown the heap, fragmentation keeps most of it
/// resident after the buffers are freed. That is memory the allocator holds, not memory
/// ferrex holds, and it hides a real leak behind a plateau. Pinned, freed buffers go back
/// to the kernel and the RSS after the load shows what is still live. Set
/// `FERREX_LOAD_MALLOC=default` (or your own `MALLOC_MMAP_THRESHOLD_`) to run with the
/// allocator as it is: BENCHMARKS.md gives the figures of both.
fn pinned_mmap_threshold() -> bool {
    std::env::var_os("FERREX_LOAD_MALLOC").is_none_or(|v| v != "default")
        && std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none()
}

// ---------------------------------------------------------------------------------------
// The clients.

/// What the clients of one run saw.
#[derive(Default)]
struct Tally {
    events: u64,
    event_rtts: Vec<Duration>,
    uploads: u64,
    upload_bytes: u64,
    upload_rtts: Vec<Duration>,
    errors: u64,
    first_errors: Vec<String>,
    cookies: Vec<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 10 {
            self.first_errors.push(what);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.events += other.events;
        self.event_rtts.extend(other.event_rtts);
        self.uploads += other.uploads;
        self.upload_bytes += other.upload_bytes;
        self.upload_rtts.extend(other.upload_rtts);
        self.errors += other.errors;
        for e in other.first_errors {
            if self.first_errors.len() < 10 {
                self.first_errors.push(e);
            }
        }
        self.cookies.extend(other.cookies);
    }
}

/// Loads the page and returns the new session's cookie.
async fn new_session(http: &reqwest::Client, addr: SocketAddr) -> Result<String, String> {
    let response = http
        .get(format!("http://{addr}/"))
        .send()
        .await
        .map_err(|e| format!("GET /: {e}"))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("GET /: {}", response.status()));
    }
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| "GET / set no cookie".to_owned())
}

/// One WebSocket client: its own session, one `Load.add(1)` at a time until `until`,
/// each reply checked (id, no error, the page showing the new count).
async fn socket_client(addr: SocketAddr, until: Instant) -> Tally {
    let mut tally = Tally::default();
    if let Err(e) = socket_events(addr, until, &mut tally).await {
        tally.error(e);
    }
    tally
}

async fn socket_events(addr: SocketAddr, until: Instant, tally: &mut Tally) -> Result<(), String> {
    let http = reqwest::Client::new();
    let cookie = new_session(&http, addr).await?;
    tally.cookies.push(cookie.clone());
    let mut request = format!("ws://{addr}/_ferrex/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "cookie",
        cookie.parse().map_err(|e| format!("cookie header: {e}"))?,
    );
    let (mut socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| "the WebSocket did not open in time".to_owned())?
        .map_err(|e| format!("WebSocket: {e}"))?;
    let mut n: u64 = 0;
    while Instant::now() < until {
        n += 1;
        let event = json!({"id": n, "page": "/", "h": "Load.add", "args": [1]});
        let sent = Instant::now();
        socket
            .send(Message::Text(event.to_string().into()))
            .await
            .map_err(|e| format!("send: {e}"))?;
        let reply = loop {
            let frame = tokio::time::timeout(PATIENCE, socket.next())
                .await
                .map_err(|_| format!("no reply to event {n} within {PATIENCE:?}"))?
                .ok_or_else(|| "the socket closed".to_owned())?
                .map_err(|e| format!("receive: {e}"))?;
            match frame {
                Message::Text(text) => break text,
                Message::Ping(_) | Message::Pong(_) => continue,
                other => return Err(format!("unexpected frame {other:?}")),
            }
        };
        let rtt = sent.elapsed();
        let reply: Value = serde_json::from_str(reply.as_str()).map_err(|e| e.to_string())?;
        let html = reply["html"].as_str().unwrap_or_default();
        if reply["id"] != json!(n)
            || !reply["error"].is_null()
            || !html.contains(&format!(">count={n}<"))
        {
            tally.error(format!("event {n}: unexpected reply {reply}"));
            break;
        }
        tally.events += 1;
        tally.event_rtts.push(rtt);
    }
    let _ = socket.close(None).await;
    Ok(())
}

/// One uploader: its own session, one 1 MiB file at a time until `until`, each answer
/// checked (200, no error, the page showing the new upload count and bytes).
async fn uploader(addr: SocketAddr, until: Instant, file: axum::body::Bytes) -> Tally {
    let mut tally = Tally::default();
    if let Err(e) = uploads(addr, until, file, &mut tally).await {
        tally.error(e);
    }
    tally
}

async fn uploads(
    addr: SocketAddr,
    until: Instant,
    file: axum::body::Bytes,
    tally: &mut Tally,
) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .map_err(|e| e.to_string())?;
    let cookie = new_session(&http, addr).await?;
    tally.cookies.push(cookie.clone());
    let event = json!({"page": "/", "h": "Load.keep", "args": [{"$upload": "f"}], "zone": "f"});
    let mut k: u64 = 0;
    while Instant::now() < until {
        k += 1;
        let part = reqwest::multipart::Part::stream_with_length(
            reqwest::Body::from(file.clone()),
            file.len() as u64,
        )
        .file_name(format!("load-{k}.bin"))
        .mime_str("application/octet-stream")
        .map_err(|e| e.to_string())?;
        let form = reqwest::multipart::Form::new()
            .text("event", event.to_string())
            .part("file", part);
        let sent = Instant::now();
        let response = http
            .post(format!("http://{addr}/_ferrex/upload"))
            .header("cookie", &cookie)
            .multipart(form)
            .send()
            .await
            .map_err(|e| format!("upload {k}: {e}"))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| format!("upload {k}: {e}"))?;
        let rtt = sent.elapsed();
        let want = format!(">uploads={k} bytes={}<", k * file.len() as u64);
        let html = reply["html"].as_str().unwrap_or_default();
        if status != reqwest::StatusCode::OK || !reply["error"].is_null() || !html.contains(&want) {
            tally.error(format!("upload {k}: {status} {reply}"));
            break;
        }
        tally.uploads += 1;
        tally.upload_bytes += file.len() as u64;
        tally.upload_rtts.push(rtt);
    }
    Ok(())
}

/// Runs `sockets` WebSocket clients and `uploaders` uploaders for `length`.
async fn run_load(
    addr: SocketAddr,
    sockets: usize,
    uploaders: usize,
    length: Duration,
) -> (Tally, Duration) {
    let file = axum::body::Bytes::from(
        (0..FILE_BYTES)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect::<Vec<u8>>(),
    );
    let started = Instant::now();
    let until = started + length;
    let mut tasks = Vec::new();
    for _ in 0..sockets {
        tasks.push(tokio::spawn(socket_client(addr, until)));
    }
    for _ in 0..uploaders {
        tasks.push(tokio::spawn(uploader(addr, until, file.clone())));
    }
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(t) => tally.merge(t),
            Err(e) => tally.error(format!("a client task failed: {e}")),
        }
    }
    (tally, started.elapsed())
}

/// Waits until every session in `cookies` is gone (an event with its cookie gets 403)
/// and the server is back to `threads` threads; returns how long that took.
async fn wait_for_expiry(
    server: &Server,
    cookies: &[String],
    threads: u64,
) -> Result<Duration, String> {
    let started = Instant::now();
    let deadline = started + PATIENCE;
    let http = reqwest::Client::new();
    let event = json!({"page": "/", "h": "Load.add", "args": [1]}).to_string();
    let mut left: Vec<&String> = cookies.iter().collect();
    while !left.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "{} sessions still answer after {PATIENCE:?}",
                left.len()
            ));
        }
        // A probe that finds its session marks it as used: wait a whole idle period (and
        // the sweeper's round) before each look.
        tokio::time::sleep(SESSION_IDLE + Duration::from_secs(1)).await;
        let mut still = Vec::new();
        for cookie in left {
            let status = http
                .post(format!("http://{}/_ferrex/event", server.addr))
                .header("cookie", cookie.as_str())
                .header("content-type", "application/json")
                .body(event.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?
                .status();
            if status != reqwest::StatusCode::FORBIDDEN {
                still.push(cookie);
            }
        }
        left = still;
    }
    // Idle blocking threads (file I/O) leave after tokio's keep-alive (10 s).
    while server.status("Threads") > threads {
        if Instant::now() > started + Duration::from_secs(20) + PATIENCE {
            return Err(format!(
                "the server still has {} threads (idle: {threads})",
                server.status("Threads")
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------------------
// Figures.

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(full: bool, upload_dir: PathBuf) -> Result<(), String> {
    let (sockets, uploaders, length) = if full {
        (64, 16, Duration::from_secs(60))
    } else {
        (8, 2, Duration::from_secs(3))
    };
    println!(
        "load: {} run: {sockets} WebSocket clients + {uploaders} uploaders ({} files) for {} s, \
         server in a child process, session_idle {} s, {} cores",
        if full {
            "full"
        } else {
            "smoke (pass --bench, or use `cargo bench`, for the full run)"
        },
        mib(FILE_BYTES as u64),
        length.as_secs(),
        SESSION_IDLE.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!(
        "  machine load average at start: {}; server allocator: {}",
        load_average(),
        if pinned_mmap_threshold() {
            "glibc, mmap threshold pinned at 128 KiB (MALLOC_MMAP_THRESHOLD_=131072)".to_owned()
        } else {
            format!(
                "glibc, MALLOC_MMAP_THRESHOLD_={}",
                std::env::var("MALLOC_MMAP_THRESHOLD_")
                    .unwrap_or_else(|_| "unset (dynamic)".into())
            )
        }
    );
    let server = Server::start(&upload_dir);
    let idle_threads = server.status("Threads");
    let cold = server.rss();

    // Warm-up, then the baseline once its sessions are gone.
    let (warm, _) = run_load(server.addr, 1, 1, Duration::from_secs(1)).await;
    if warm.errors > 0 {
        return Err(format!("warm-up errors: {:?}", warm.first_errors));
    }
    wait_for_expiry(&server, &warm.cookies, idle_threads).await?;
    let baseline = server.rss();

    // Peak: sampled every 20 ms from another thread.
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak.clone(), sampling.clone(), server.child.id());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(
                    proc_status(pid, "VmRSS").unwrap_or(0) * 1024,
                    Ordering::Relaxed,
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (tally, elapsed) = run_load(server.addr, sockets, uploaders, length).await;
    let peak_threads = server.status("Threads");
    let expiry = wait_for_expiry(&server, &tally.cookies, idle_threads).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let after = server.rss();
    let hwm = server.status("VmHWM") * 1024;
    let peak = peak.load(Ordering::Relaxed);
    let left = names_in(&upload_dir);
    server.stop();

    let mut rtts = tally.event_rtts.clone();
    rtts.sort_unstable();
    let mut upload_rtts = tally.upload_rtts.clone();
    upload_rtts.sort_unstable();
    let secs = elapsed.as_secs_f64();
    println!(
        "  events: {} in {secs:.1} s = {:.0} events/s; round trip p50 {}, p99 {}, max {}",
        tally.events,
        tally.events as f64 / secs,
        ms(percentile(&rtts, 50.0)),
        ms(percentile(&rtts, 99.0)),
        ms(rtts.last().copied().unwrap_or_default()),
    );
    println!(
        "  uploads: {} = {:.1} uploads/s, {:.1} MiB/s; each p50 {}, p99 {}, max {}",
        tally.uploads,
        tally.uploads as f64 / secs,
        tally.upload_bytes as f64 / MIB as f64 / secs,
        ms(percentile(&upload_rtts, 50.0)),
        ms(percentile(&upload_rtts, 99.0)),
        ms(upload_rtts.last().copied().unwrap_or_default()),
    );
    println!("  errors: {}", tally.errors);
    println!(
        "  server RSS: cold {}, baseline {} (after warm-up and expiry), peak {} (sampled every \
         20 ms; VmHWM {}), after expiry {} ({:+.1} MiB, tolerance {})",
        mib(cold),
        mib(baseline),
        mib(peak),
        mib(hwm),
        mib(after),
        (after as f64 - baseline as f64) / MIB as f64,
        mib(RSS_TOLERANCE),
    );
    match &expiry {
        Ok(took) => println!(
            "  {} sessions expired and the server was back to {idle_threads} threads (from \
             {peak_threads} at the end of the load) {:.1} s after the load",
            tally.cookies.len(),
            took.as_secs_f64()
        ),
        Err(e) => println!("  expiry: {e}"),
    }

    if tally.errors > 0 {
        return Err(format!(
            "{} errors, first: {:#?}",
            tally.errors, tally.first_errors
        ));
    }
    expiry?;
    if tally.events == 0 || tally.uploads == 0 {
        return Err("the run made no events or no uploads".into());
    }
    if !left.is_empty() {
        return Err(format!("the upload folder is not empty: {left:?}"));
    }
    if after > baseline + RSS_TOLERANCE {
        return Err(format!(
            "the server's RSS did not return to its baseline: {} after, {} baseline, tolerance {}",
            mib(after),
            mib(baseline),
            mib(RSS_TOLERANCE)
        ));
    }
    println!(
        "OK: 0 errors; RSS back within {} of the baseline",
        mib(RSS_TOLERANCE)
    );
    Ok(())
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        serve(PathBuf::from(dir));
        return;
    }
    let full = full_run();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-bench");
    let upload_dir = base.join(format!("uploads-{}", std::process::id()));
    std::fs::create_dir_all(&upload_dir).expect("cannot create the upload folder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let result = runtime.block_on(run(full, upload_dir.clone()));
    let _ = std::fs::remove_dir_all(&upload_dir);
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

impl Drop for Server {
    /// A bench that stops early (a failed check) does not leave its server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
