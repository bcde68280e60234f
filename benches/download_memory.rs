//! Memory and speed of large downloads (issue 4): a 1 GiB `Download::stream` made in
//! 256 KiB chunks (nothing on disk) and a 100 MiB `Download::data`, each fetched over
//! real HTTP on 127.0.0.1 from a ferrex app running in this process.
//!
//! Run with `cargo bench --bench download_memory`. It prints throughput and the
//! process's resident memory (VmRSS) before, at its peak and after each download, and
//! exits with an error when the stream made the process grow by 64 MiB or more. The
//! client counts the bytes as they arrive and never buffers the body, so the growth is
//! the server's (plus the client's small socket buffers). Each phase is bounded (50 s).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it, unoptimised) it is a smoke
//! run of the same code: a 64 MiB stream and 8 MiB of data, the same bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use ferrex::prelude::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;
const CHUNK: usize = 256 * 1024;
/// The most the process may grow while streaming 1 GiB.
const STREAM_GROWTH_LIMIT: u64 = 64 * MIB;
/// The most time one phase may take.
const PHASE_LIMIT: Duration = Duration::from_secs(50);

/// The byte every position of chunk `i` holds.
fn fill(i: u64) -> u8 {
    (i % 251) as u8
}

#[derive(Default, Serialize, Deserialize)]
struct Big {}

#[event]
impl Big {
    /// `bytes` (a multiple of 256 KiB) made chunk by chunk as the client reads.
    fn stream(&mut self, bytes: u64) -> Download {
        let chunks = bytes / CHUNK as u64;
        let body = futures_util::stream::iter(0..chunks)
            .map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![fill(i); CHUNK])));
        Download::stream(body, Some(bytes)).filename("big.bin")
    }

    /// `bytes` held in memory until fetched.
    fn data(&mut self, bytes: usize) -> Download {
        Download::data(vec![7u8; bytes]).filename("data.bin")
    }
}

fn page(_: &Big) -> Node {
    ui! { text("download_memory bench") }
}

/// A line of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn rss() -> u64 {
    status_kib("VmRSS:").unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux: `5` into `clear_refs`); false if refused.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Samples VmRSS every 2 ms on its own thread and keeps the highest value.
struct Sampler {
    running: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start() -> Sampler {
        let running = Arc::new(AtomicBool::new(true));
        let peak = Arc::new(AtomicU64::new(rss()));
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
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns the peak seen.
    fn stop(mut self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed).max(rss())
    }
}

/// What one phase measured.
struct Phase {
    bytes: u64,
    elapsed: Duration,
    before: u64,
    peak: u64,
    after: u64,
}

impl Phase {
    fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }

    fn print(&self, title: &str) {
        let secs = self.elapsed.as_secs_f64();
        println!("{title}");
        println!(
            "  {} bytes in {secs:.2} s = {:.0} MiB/s",
            self.bytes,
            self.bytes as f64 / MIB as f64 / secs
        );
        println!(
            "  RSS before {}, peak {} (+{}), after {}",
            mib(self.before),
            mib(self.peak),
            mib(self.growth()),
            mib(self.after)
        );
    }
}

/// Runs handler `h`, fetches its download as a stream and returns what it measured.
/// `check` sees each chunk with the offset it starts at.
async fn phase(
    client: &reqwest::Client,
    base: &str,
    h: &str,
    arg: u64,
    mut check: impl FnMut(u64, &[u8]),
) -> Result<Phase, String> {
    let hwm_reset = reset_hwm();
    let before = rss();
    let sampler = Sampler::start();
    let start = Instant::now();
    let reply: Value = client
        .post(format!("{base}/_ferrex/event"))
        .json(&json!({"page": "/", "h": h, "args": [arg]}))
        .send()
        .await
        .map_err(|e| format!("{h}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{h}: {e}"))?;
    let url = reply["actions"][0]["url"]
        .as_str()
        .ok_or_else(|| format!("{h} gave no download URL: {reply}"))?
        .to_owned();
    let response = client
        .get(format!("{base}{url}"))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let mut body = response.bytes_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading {url}: {e}"))?;
        check(bytes, &chunk);
        bytes += chunk.len() as u64;
    }
    let elapsed = start.elapsed();
    let mut peak = sampler.stop();
    if hwm_reset && let Some(hwm) = status_kib("VmHWM:") {
        peak = peak.max(hwm);
    }
    Ok(Phase {
        bytes,
        elapsed,
        before,
        peak,
        after: rss(),
    })
}

/// How much each phase moves.
struct Sizes {
    stream: u64,
    data: u64,
}

async fn run(sizes: Sizes) -> Result<(), String> {
    let (stream_bytes, data_bytes) = (sizes.stream, sizes.data);
    let app = App::new().page("/", page);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_router()).await;
    });
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .get(format!("{base}/"))
        .send()
        .await
        .map_err(|e| format!("GET /: {e}"))?;

    let mut wrong = None;
    let stream = tokio::time::timeout(
        PHASE_LIMIT,
        phase(
            &client,
            &base,
            "Big.stream",
            stream_bytes,
            |offset, chunk| {
                // Spot-check the content: the first and last byte of each received piece.
                for (at, byte) in [
                    (offset, chunk.first()),
                    (offset + chunk.len() as u64 - 1, chunk.last()),
                ] {
                    if let Some(&b) = byte
                        && b != fill(at / CHUNK as u64)
                        && wrong.is_none()
                    {
                        wrong = Some(at);
                    }
                }
            },
        ),
    )
    .await
    .map_err(|_| format!("the stream took longer than {PHASE_LIMIT:?}"))??;
    stream.print(&format!(
        "{} Download::stream (256 KiB chunks, made as read) over HTTP",
        mib(stream_bytes)
    ));
    if let Some(at) = wrong {
        return Err(format!("the stream's byte at offset {at} is wrong"));
    }
    if stream.bytes != stream_bytes {
        return Err(format!(
            "the stream delivered {} bytes, not {stream_bytes}",
            stream.bytes
        ));
    }

    let data = tokio::time::timeout(
        PHASE_LIMIT,
        phase(&client, &base, "Big.data", data_bytes, |_, _| {}),
    )
    .await
    .map_err(|_| format!("the data download took longer than {PHASE_LIMIT:?}"))??;
    data.print(&format!(
        "{} Download::data over HTTP (held in memory until fetched)",
        mib(data_bytes)
    ));
    if data.bytes != data_bytes {
        return Err(format!("the data delivered {} bytes", data.bytes));
    }

    if stream.growth() >= STREAM_GROWTH_LIMIT {
        return Err(format!(
            "streaming {} grew the process by {}, over the {} bound",
            mib(stream_bytes),
            mib(stream.growth()),
            mib(STREAM_GROWTH_LIMIT)
        ));
    }
    println!(
        "OK: streaming {} grew the process by {} (bound {})",
        mib(stream_bytes),
        mib(stream.growth()),
        mib(STREAM_GROWTH_LIMIT)
    );
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs it without, in a
    // debug build: then a smaller smoke run.
    let sizes = if std::env::args().any(|a| a == "--bench") {
        Sizes {
            stream: 1 << 30,
            data: 100 * MIB,
        }
    } else {
        println!("download_memory: smoke run (pass --bench, or use `cargo bench`, for 1 GiB)");
        Sizes {
            stream: 64 * MIB,
            data: 8 * MIB,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(run(sizes)) {
        eprintln!("download_memory: {e}");
        std::process::exit(1);
    }
}
