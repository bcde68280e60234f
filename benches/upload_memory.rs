//! Uploads (issue 7, item 3): 1 MiB, 100 MiB and 1 GiB posted with `curl -F` (a separate
//! process, so its buffers do not count) to a ferrex app in this process whose handler
//! takes the ordinary `Vec<UploadFile>` and persists each file, and, in the same run, to
//! the limit: a minimal axum handler that streams the same multipart body to disk through
//! a 1 MiB `BufWriter` and does nothing else. Prints throughput (request body / curl's
//! `time_total`, the best of several alternating rounds) and this process's resident
//! memory growth (sampled every 2 ms, and the kernel's VmHWM).
//!
//! Run with `cargo bench --bench upload_memory`. Needs `curl`. Exits non-zero when a
//! 1 GiB ferrex upload grows the process by 32 MiB or more, or a transfer fails.
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 1 MiB and
//! 8 MiB, one round.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Multipart;
use axum::routing::post;
use common::{MIB, Sampler, Transfer, curl_async, mib, verdict};
use ferrex::prelude::*;
use tokio::io::AsyncWriteExt;

/// One curl run's bound.
const MAX_SECONDS: u64 = 60;
/// Most a 1 GiB ferrex upload may grow the process.
const GROWTH_LIMIT: u64 = 32 * MIB;

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

/// The limit: every field of the multipart body streamed to a file, then the file removed.
async fn raw_upload(dir: PathBuf, mut multipart: Multipart) -> Result<String, String> {
    let mut total = 0u64;
    let mut n = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        n += 1;
        let path = dir.join(format!("raw-{n}.bin"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
            total += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        out.flush().await.map_err(|e| e.to_string())?;
        drop(out);
        let _ = tokio::fs::remove_file(&path).await;
    }
    Ok(total.to_string())
}

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Raw,
    Ferrex,
}

struct Target {
    url: String,
    cookie: String,
    uploads: PathBuf,
}

/// One upload; returns what curl saw and the process's memory growth.
async fn one(
    server: Server,
    targets: &(Target, Target),
    source: &Path,
) -> Result<(Transfer, u64), String> {
    let target = match server {
        Server::Raw => &targets.0,
        Server::Ferrex => &targets.1,
    };
    let event = r#"event={"page":"/","h":"Sink.keep","args":[{"$upload":"f"}],"zone":"f"}"#;
    let args = vec![
        "-H".into(),
        format!("Cookie: {}", target.cookie),
        "-H".into(),
        "Expect:".into(),
        "--form-string".into(),
        event.into(),
        "-F".into(),
        format!("file=@{};type=application/octet-stream", source.display()),
        target.url.clone(),
    ];
    let sampler = Sampler::start();
    let transfer = curl_async(args, MAX_SECONDS).await?;
    let (before, peak) = sampler.stop();
    if transfer.status != 200 {
        return Err(format!("{}: HTTP {}", target.url, transfer.status));
    }
    if server == Server::Ferrex {
        let name = source.file_name().unwrap_or_default();
        let stored = target.uploads.join(name);
        let len = std::fs::metadata(&stored).map(|m| m.len()).unwrap_or(0);
        let want = std::fs::metadata(source).map(|m| m.len()).unwrap_or(1);
        if len != want {
            return Err(format!("the persisted file has {len} bytes, not {want}"));
        }
        let _ = std::fs::remove_file(&stored);
    }
    Ok((transfer, peak.saturating_sub(before)))
}

fn rate(t: &Transfer) -> f64 {
    t.uploaded as f64 / MIB as f64 / t.seconds.max(1e-9)
}

async fn run(base: PathBuf, sizes: Vec<(u64, usize)>) -> Result<bool, String> {
    let uploads = base.join("uploads");
    let raw_dir = base.join("raw");
    let _ = std::fs::remove_dir_all(&uploads);
    std::fs::create_dir_all(&raw_dir).map_err(|e| e.to_string())?;

    let app = App::new().page("/", page).upload_dir(&uploads);
    let ferrex_addr = common::serve(app.into_router()).await;
    let raw_router = axum::Router::new()
        .route(
            "/upload",
            post(move |multipart: Multipart| raw_upload(raw_dir.clone(), multipart)),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let raw_addr = common::serve(raw_router).await;
    let cookie = common::session_cookie(ferrex_addr, "/").await;
    let targets = (
        Target {
            url: format!("http://{raw_addr}/upload"),
            cookie: String::new(),
            uploads: PathBuf::new(),
        },
        Target {
            url: format!("http://{ferrex_addr}/_ferrex/upload"),
            cookie,
            uploads: uploads.clone(),
        },
    );

    let mut ok = true;
    println!(
        "{:>9} | {:>13} {:>8} | {:>13} {:>8} | {:>6} | load",
        "size", "axum MiB/s", "growth", "ferrex MiB/s", "growth", "ratio"
    );
    for (size, rounds) in sizes {
        let source = common::source_file(&base, size);
        // One unmeasured round each: the first large transfer of a series touches fresh memory.
        one(Server::Raw, &targets, &source).await?;
        one(Server::Ferrex, &targets, &source).await?;
        let (mut raw_rates, mut fx_rates) = (Vec::new(), Vec::new());
        let (mut raw_growth, mut fx_growth) = (0u64, 0u64);
        for round in 0..rounds {
            // Alternate which goes first.
            let order = if round % 2 == 0 {
                [Server::Raw, Server::Ferrex]
            } else {
                [Server::Ferrex, Server::Raw]
            };
            for server in order {
                let (transfer, growth) = one(server, &targets, &source).await?;
                match server {
                    Server::Raw => {
                        raw_rates.push(rate(&transfer));
                        raw_growth = raw_growth.max(growth);
                    }
                    Server::Ferrex => {
                        fx_rates.push(rate(&transfer));
                        fx_growth = fx_growth.max(growth);
                    }
                }
            }
        }
        let raw = common::best(&raw_rates);
        let fx = common::best(&fx_rates);
        println!(
            "{:>9} | {:>13.0} {:>8} | {:>13.0} {:>8} | {:>5.2}x | {}",
            mib(size),
            raw,
            format!("+{:.1}", raw_growth as f64 / MIB as f64),
            fx,
            format!("+{:.1}", fx_growth as f64 / MIB as f64),
            fx / raw,
            common::load_average()
        );
        if size >= 1 << 30 {
            println!(
                "  target ferrex >= 0.8x the limit at 1 GiB: {} ({:.2}x); growth < {}: {} ({})",
                verdict(fx >= 0.8 * raw),
                fx / raw,
                mib(GROWTH_LIMIT),
                verdict(fx_growth < GROWTH_LIMIT),
                mib(fx_growth)
            );
            ok &= fx_growth < GROWTH_LIMIT;
        }
    }
    println!("(best of the measured rounds; growth = the largest peak RSS growth of a round)");
    let _ = std::fs::remove_dir_all(&uploads);
    Ok(ok)
}

fn main() {
    common::header("upload_memory");
    common::require("upload_memory", "curl");
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upload-bench");
    std::fs::create_dir_all(&base).expect("cannot create the bench folder");
    let sizes = if common::full_run() {
        vec![(MIB, 15), (100 * MIB, 5), (1 << 30, 5)]
    } else {
        vec![(MIB, 1), (8 * MIB, 1)]
    };
    common::run_bounded("upload_memory", Duration::from_secs(240), run(base, sizes));
}
