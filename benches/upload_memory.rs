//! Memory of a 1 GiB upload: a ferrex app runs in this process with a handler taking
//! `Vec<UploadFile>` that persists the file; `curl` (a separate process, so its buffers do
//! not count) posts a 1 GiB file generated in `CARGO_TARGET_TMPDIR`. Prints the throughput
//! and this process's RSS before, at its peak (sampled, and the kernel's `VmHWM` after a
//! reset) and after.
//!
//! Run with `cargo bench --bench upload_memory`. Needs `curl` on `PATH`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrex::prelude::*;

const SIZE: u64 = 1024 * 1024 * 1024;
/// The whole upload must finish within this (curl's `--max-time`).
const MAX_SECONDS: u64 = 85;

#[derive(Default, Serialize, Deserialize)]
struct Sink {
    saved: Vec<String>,
}

#[event]
impl Sink {
    async fn keep(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        for file in files {
            let saved = file.persist_to_upload_dir().await?;
            self.saved.push(saved.name);
        }
        Ok(())
    }
}

fn page(s: &Sink) -> Node {
    ui! {
        vstack(
            upload(text("Drop a file"), id = "f"),
            button("Upload", on_click = Sink::keep(upload_files("f"))),
            text(s.saved.len(), id = "saved"),
        )
    }
}

/// A kB figure from `/proc/self/status` (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Writes (once) a 1 GiB file of pseudo-random bytes.
fn source_file(dir: &Path) -> PathBuf {
    let path = dir.join("source-1GiB.bin");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == SIZE) {
        return path;
    }
    let started = Instant::now();
    let file = std::fs::File::create(&path).expect("cannot create the source file");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..SIZE / chunk.len() as u64 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&chunk).expect("cannot write the source file");
    }
    out.flush().expect("cannot write the source file");
    println!("generated {} in {:.1?}", path.display(), started.elapsed());
    path
}

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upload-bench");
    std::fs::create_dir_all(&base).expect("cannot create the bench folder");
    let source = source_file(&base);
    let uploads = base.join("uploads");
    let _ = std::fs::remove_dir_all(&uploads);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(run(source, uploads));
}

async fn run(source: PathBuf, uploads: PathBuf) {
    let app = App::new().page("/", page).upload_dir(&uploads);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        axum::serve(listener, app.into_router())
            .await
            .expect("the server runs");
    });

    // A session: load the page once and keep its cookie.
    let page = reqwest::get(format!("http://{addr}/"))
        .await
        .expect("GET /");
    let cookie = page
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    drop(page);

    let rss_before = status_kb("VmRSS");
    // Reset the kernel's high-water mark so VmHWM covers the upload only.
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(status_kb("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let event = r#"event={"page":"/","h":"Sink.keep","args":[{"$upload":"f"}],"zone":"f"}"#;
    let url = format!("http://{addr}/_ferrex/upload");
    let file_arg = format!("file=@{};type=application/octet-stream", source.display());
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", &MAX_SECONDS.to_string()])
            .args(["-o", "/dev/null", "-w", "%{http_code} %{size_upload}"])
            .args(["-H", &format!("Cookie: {cookie}"), "-H", "Expect:"])
            .args(["--form-string", event, "-F", &file_arg, &url])
            .output()
    })
    .await
    .expect("the curl task")
    .expect("cannot run curl (is it installed?)");
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler");

    let hwm = status_kb("VmHWM");
    let rss_after = status_kb("VmRSS");
    let written = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && written.starts_with("200 "),
        "the upload failed: {written} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent: u64 = written
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let stored = uploads.join("source-1GiB.bin");
    let stored_len = std::fs::metadata(&stored).map(|m| m.len()).unwrap_or(0);
    assert_eq!(stored_len, SIZE, "the persisted file has the whole upload");
    let leftovers: Vec<_> = std::fs::read_dir(&uploads)
        .expect("the upload folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with(".ferrex-upload-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let _ = std::fs::remove_file(&stored);

    let secs = elapsed.as_secs_f64();
    println!("upload_memory: 1 GiB through POST /_ferrex/upload (curl → in-process ferrex)");
    println!(
        "  request body {:.1} MiB in {secs:.2} s = {:.0} MiB/s",
        sent as f64 / 1048576.0,
        sent as f64 / 1048576.0 / secs
    );
    let peak_sampled = peak.load(Ordering::Relaxed);
    println!(
        "  RSS before {:.1} MiB, peak {:.1} MiB (sampled every 10 ms), VmHWM {:.1} MiB{}, after {:.1} MiB",
        mib(rss_before),
        mib(peak_sampled),
        mib(hwm),
        if hwm_reset {
            " (reset before the upload)"
        } else {
            " (whole run: reset refused)"
        },
        mib(rss_after)
    );
    println!(
        "  growth at peak: {:+.1} MiB for a {:.0} MiB upload",
        mib(peak_sampled.max(hwm)) - mib(rss_before),
        SIZE as f64 / 1048576.0
    );
}
