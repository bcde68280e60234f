//! What the HTTP benches share: the full/smoke switch, this process's resident memory
//! (sampled, and the kernel's high-water mark), test files, `curl` runs, and serving a
//! router on 127.0.0.1.
//!
//! Not every bench uses every helper.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const MIB: u64 = 1 << 20;

/// True under `cargo bench` (which passes `--bench`); `cargo test --all-targets` runs the
/// same binary without it, unoptimised, and then a bench does a small smoke run.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Whether `tool` can be run (`tool --version` works).
pub fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// In a smoke run, skips the bench (exit 0, with a note) when `tool` is missing; a full
/// run goes on and fails where it needs it.
pub fn require(bench: &str, tool: &str) {
    if !full_run() && !installed(tool) {
        println!("{bench}: smoke run skipped, `{tool}` is not installed");
        std::process::exit(0);
    }
}

/// The machine's 1-minute load average, to print beside the figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Prints the bench's title, mode and the load it starts under.
pub fn header(name: &str) {
    println!(
        "{name}: {} run, {} cores, load average {} at start",
        if full_run() { "full" } else { "smoke" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
}

/// A field of `/proc/PID/status` (`VmRSS`, `VmHWM`, `Threads`): its number, in kB for the
/// memory fields.
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// A memory field of this process's status (`VmRSS`, `VmHWM`) in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    proc_status(std::process::id(), field).map(|kib| kib * 1024)
}

pub fn rss() -> u64 {
    status_bytes("VmRSS").unwrap_or(0)
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Samples this process's VmRSS every 2 ms and reads the kernel's high-water mark
/// (reset at start when the kernel allows it) at the end.
pub struct Sampler {
    running: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    hwm_reset: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    pub before: u64,
}

impl Sampler {
    pub fn start() -> Sampler {
        // Linux: `5` into clear_refs resets VmHWM to the current RSS.
        let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = rss();
        let running = Arc::new(AtomicBool::new(true));
        let peak = Arc::new(AtomicU64::new(before));
        let thread = {
            let (running, peak) = (running.clone(), peak.clone());
            std::thread::spawn(move || {
                while running.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Sampler {
            running,
            peak,
            hwm_reset,
            thread: Some(thread),
            before,
        }
    }

    /// Stops sampling; returns `(before, peak)`.
    pub fn stop(mut self) -> (u64, u64) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut peak = self.peak.load(Ordering::Relaxed).max(rss());
        if self.hwm_reset
            && let Some(hwm) = status_bytes("VmHWM")
        {
            peak = peak.max(hwm);
        }
        (self.before, peak)
    }
}

/// A file of `size` pseudo-random bytes in `dir`, written once and reused by later runs.
pub fn source_file(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join(format!("source-{size}.bin"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return path;
    }
    let started = Instant::now();
    let partial = dir.join(format!(".partial-{size}.bin"));
    let file = std::fs::File::create(&partial).expect("cannot create a source file");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ size;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])
            .expect("cannot write a source file");
        left -= n as u64;
    }
    out.flush().expect("cannot write a source file");
    drop(out);
    std::fs::rename(&partial, &path).expect("cannot rename a source file");
    println!(
        "  (generated {} in {:.1?})",
        path.display(),
        started.elapsed()
    );
    path
}

/// What `curl -w` reported about one transfer.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    pub status: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    /// curl's `time_total`: from its first connect to the last byte (its own start-up is
    /// not included).
    pub seconds: f64,
}

/// Runs `curl` with `args` (the body goes to /dev/null) and a time bound.
pub fn curl(args: &[String], max_seconds: u64) -> Result<Transfer, String> {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", &max_seconds.to_string()])
        .args(["-o", "/dev/null"])
        .args([
            "-w",
            "%{http_code} %{size_upload} %{size_download} %{time_total}",
        ])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run curl (is it installed?): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let mut next = || parts.next().unwrap_or("0");
    let status = next().parse().unwrap_or(0);
    let uploaded = next().parse::<f64>().unwrap_or(0.0) as u64;
    let downloaded = next().parse::<f64>().unwrap_or(0.0) as u64;
    let seconds = next().parse().unwrap_or(0.0);
    if !output.status.success() {
        return Err(format!(
            "curl failed ({}): {text} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(Transfer {
        status,
        uploaded,
        downloaded,
        seconds,
    })
}

/// [`curl`] on a blocking thread, so the in-process server keeps both worker threads.
pub async fn curl_async(args: Vec<String>, max_seconds: u64) -> Result<Transfer, String> {
    tokio::task::spawn_blocking(move || curl(&args, max_seconds))
        .await
        .map_err(|e| e.to_string())?
}

/// Serves `router` on a fresh port of 127.0.0.1 for the rest of the process.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Opens a session on a ferrex app (GET `path`) and returns its `Cookie` header value.
pub async fn session_cookie(addr: SocketAddr, path: &str) -> String {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("GET a page");
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// Starts a server child process (this bench binary run again, told so by `command`'s
/// environment), with piped stdin (closing it stops the child) and stdout; waits up to
/// `patience` for its first line, `LISTENING <addr>`, and returns the child and the address.
pub fn spawn_listening(
    mut command: std::process::Command,
    patience: Duration,
) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    use std::process::Stdio;

    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start the server process");
    let stdout = child.stdout.take().expect("the child's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(patience)
        .expect("the server process did not say where it listens");
    let addr = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
    (child, addr)
}

/// The event the counter benches send: `Counter.add(1)`, answered with reply `id`.
pub fn add_event(id: u64) -> String {
    format!(r#"{{"id":{id},"page":"/","h":"Counter.add","args":[1]}}"#)
}

/// One client over the event WebSocket with the session of `cookie`: one `Counter.add` at a
/// time, each reply checked, until `until` or `max` events; the round-trip times.
pub async fn ws_add_events(
    addr: SocketAddr,
    cookie: &str,
    until: Instant,
    max: usize,
) -> Result<Vec<Duration>, String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let mut request = format!("ws://{addr}/_ferrex/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        reqwest::header::COOKIE,
        cookie.parse().map_err(|_| "a cookie header".to_owned())?,
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("WebSocket: {e}"))?;
    let mut times = Vec::new();
    let mut id = 0;
    while times.len() < max && Instant::now() < until {
        id += 1;
        let started = Instant::now();
        socket
            .send(Message::Text(add_event(id).into()))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(reply))) => {
                    let value: serde_json::Value = serde_json::from_str(&reply)
                        .map_err(|e| format!("a reply that is not JSON: {e}"))?;
                    if value["id"] != id || !value["error"].is_null() {
                        return Err(format!("event {id} failed: {reply}"));
                    }
                    break;
                }
                Some(Ok(_)) => continue,
                other => return Err(format!("the WebSocket ended: {other:?}")),
            }
        }
        times.push(started.elapsed());
    }
    let _ = socket.close(None).await;
    Ok(times)
}

/// The median of some figures (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The largest of some figures: for throughput on a shared machine, where other work
/// only ever slows a round down, the best round is the steadiest figure.
pub fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// A percentile (0–100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The names of the entries directly in `dir`; empty if it cannot be read.
pub fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `met` / `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Runs a bench's `run` on a multi-threaded Tokio runtime, bounded to `limit`, and exits
/// with 1 (after printing why, prefixed by the bench's `name`) if it failed or found a
/// memory bound exceeded (`Ok(false)`).
pub fn run_bounded<F>(name: &str, limit: Duration, run: F)
where
    F: std::future::Future<Output = Result<bool, String>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let outcome = runtime.block_on(async {
        tokio::time::timeout(limit, run)
            .await
            .unwrap_or_else(|_| Err(format!("the bench took longer than {} s", limit.as_secs())))
    });
    match outcome {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("{name}: a memory bound was exceeded");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}
