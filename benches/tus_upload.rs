//! Resumable uploads (issue 14): one ferrex app in this process, a 1 GiB file sent (a) as
//! today's single multipart request (`curl -F`) and (b) over tus (create, one `PATCH` sent
//! by `curl -T`, finish), alternating, each timed from the first request to the handler's
//! answer, with this process's resident memory growth; (c) the single request again to a
//! second app with `upload_sha256(true)`, for what `UploadFile::sha256` costs (it is off by
//! default); then a 200 MiB tus upload whose
//! connection is cut at ~50% and resumed from the offset the server reports (`HEAD`): the
//! bytes sent in total and the time to finish.
//!
//! Run with `cargo bench --bench tus_upload`. Needs `curl`. Exits non-zero when a 1 GiB
//! tus upload grows the process by 32 MiB or more, or a transfer fails. Without `--bench`
//! it is a smoke run (8 MiB, 2 MiB cut at half).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{MIB, Sampler, curl_async, mib, verdict};
use ferrex::prelude::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// One curl run's bound.
const MAX_SECONDS: u64 = 120;
/// Most a 1 GiB tus upload may grow the process.
const GROWTH_LIMIT: u64 = 32 * MIB;

#[derive(Default, Serialize, Deserialize)]
struct Sink {
    saved: u64,
}

#[event]
impl Sink {
    async fn keep(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        for file in files {
            let saved = file.persist_to_upload_dir().await?;
            let _ = tokio::fs::remove_file(saved.path).await;
            self.saved += 1;
        }
        Ok(())
    }
}

fn page(s: &Sink) -> Node {
    ui! {
        vstack(
            upload(text("Drop a file"), id = "f"),
            button("Upload", on_click = Sink::keep(upload_files("f"))),
            text(s.saved, id = "saved"),
        )
    }
}

struct Target {
    addr: SocketAddr,
    cookie: String,
    /// Bytes of `PATCH` bodies the server has read.
    received: Arc<AtomicU64>,
    http: reqwest::Client,
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Target {
    async fn create(&self, size: u64) -> Result<String, String> {
        let metadata = format!(
            "page {},zone {},handler {},filename {}",
            b64("/"),
            b64("f"),
            b64("Sink.keep"),
            b64("big.bin")
        );
        let response = self
            .http
            .post(format!("http://{}/_ferrex/tus", self.addr))
            .header("Cookie", &self.cookie)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", size)
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 201 {
            return Err(format!("create: HTTP {}", response.status()));
        }
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| "create: no Location".into())
    }

    async fn offset(&self, location: &str) -> Result<u64, String> {
        let response = self
            .http
            .head(format!("http://{}{location}", self.addr))
            .header("Cookie", &self.cookie)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("HEAD: HTTP {}", response.status()))
    }

    async fn finish(&self, location: &str) -> Result<(), String> {
        let response = self
            .http
            .post(format!("http://{}/_ferrex/upload/finish", self.addr))
            .header("Cookie", &self.cookie)
            .json(&serde_json::json!({
                "page": "/", "h": "Sink.keep", "zone": "f",
                "args": [{"$upload": "f"}], "uploads": [location],
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 200 {
            return Err(format!("finish: HTTP {}", response.status()));
        }
        Ok(())
    }

    /// Today's single request; returns the seconds it took.
    async fn multipart(&self, source: &Path) -> Result<f64, String> {
        let started = Instant::now();
        let event = r#"event={"page":"/","h":"Sink.keep","args":[{"$upload":"f"}],"zone":"f"}"#;
        let transfer = curl_async(
            vec![
                "-H".into(),
                format!("Cookie: {}", self.cookie),
                "-H".into(),
                "Expect:".into(),
                "--form-string".into(),
                event.into(),
                "-F".into(),
                format!("file=@{};type=application/octet-stream", source.display()),
                format!("http://{}/_ferrex/upload", self.addr),
            ],
            MAX_SECONDS,
        )
        .await?;
        if transfer.status != 200 {
            return Err(format!("multipart: HTTP {}", transfer.status));
        }
        Ok(started.elapsed().as_secs_f64())
    }

    /// The resumable path: create, one `PATCH` of the whole file, finish.
    async fn tus(&self, source: &Path, size: u64) -> Result<f64, String> {
        let started = Instant::now();
        let location = self.create(size).await?;
        let transfer = curl_async(
            vec![
                "-X".into(),
                "PATCH".into(),
                "-H".into(),
                format!("Cookie: {}", self.cookie),
                "-H".into(),
                "Expect:".into(),
                "-H".into(),
                "Tus-Resumable: 1.0.0".into(),
                "-H".into(),
                "Upload-Offset: 0".into(),
                "-H".into(),
                "Content-Type: application/offset+octet-stream".into(),
                "-T".into(),
                source.display().to_string(),
                format!("http://{}{location}", self.addr),
            ],
            MAX_SECONDS,
        )
        .await?;
        if transfer.status != 204 {
            return Err(format!("PATCH: HTTP {}", transfer.status));
        }
        self.finish(&location).await?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Sends `source` from `from` on in one `PATCH` over a raw connection; with `cut_at`,
    /// the connection is dropped after that many body bytes. Returns the bytes written.
    async fn raw_patch(
        &self,
        location: &str,
        source: &Path,
        from: u64,
        size: u64,
        cut_at: Option<u64>,
    ) -> Result<u64, String> {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let head = format!(
            "PATCH {location} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nTus-Resumable: 1.0.0\r\n\
             Upload-Offset: {from}\r\nContent-Type: application/offset+octet-stream\r\n\
             Content-Length: {}\r\n\r\n",
            self.addr,
            self.cookie,
            size - from
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut file = tokio::fs::File::open(source)
            .await
            .map_err(|e| e.to_string())?;
        file.seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| e.to_string())?;
        let limit = cut_at.unwrap_or(size - from);
        let mut sent = 0u64;
        let mut buf = vec![0u8; MIB as usize];
        while sent < limit {
            let want = (limit - sent).min(buf.len() as u64) as usize;
            let n = file
                .read(&mut buf[..want])
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            stream
                .write_all(&buf[..n])
                .await
                .map_err(|e| e.to_string())?;
            sent += n as u64;
        }
        if cut_at.is_some() {
            // The network goes: the connection closes mid-body.
            drop(stream);
            return Ok(sent);
        }
        let mut answer = [0u8; 12];
        stream
            .read_exact(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        if &answer[9..12] != b"204" {
            return Err(format!(
                "resumed PATCH: {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        Ok(sent)
    }

    /// A tus upload cut at half and resumed: (bytes sent, bytes the server read, seconds
    /// from the start to the handler's answer, seconds from the reconnection to it).
    async fn resumed(&self, source: &Path, size: u64) -> Result<(u64, u64, f64, f64), String> {
        let before = self.received.load(Ordering::SeqCst);
        let started = Instant::now();
        let location = self.create(size).await?;
        let mut sent = self
            .raw_patch(&location, source, 0, size, Some(size / 2))
            .await?;
        // The server keeps what it read once it sees the connection gone.
        let mut offset = self.offset(&location).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.offset(&location).await?;
            if now == offset && now > 0 {
                break;
            }
            offset = now;
        }
        let reconnected = Instant::now();
        sent += self
            .raw_patch(&location, source, offset, size, None)
            .await?;
        self.finish(&location).await?;
        let received = self.received.load(Ordering::SeqCst) - before;
        Ok((
            sent,
            received,
            started.elapsed().as_secs_f64(),
            reconnected.elapsed().as_secs_f64(),
        ))
    }
}

/// Counts the bytes of `PATCH` bodies the server reads.
fn counting(router: axum::Router, received: Arc<AtomicU64>) -> axum::Router {
    router.layer(axum::middleware::map_request(
        move |request: axum::extract::Request| {
            let received = received.clone();
            async move {
                if request.method() != axum::http::Method::PATCH {
                    return request;
                }
                let (parts, body) = request.into_parts();
                let counted = body.into_data_stream().inspect(move |chunk| {
                    if let Ok(bytes) = chunk {
                        received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                });
                axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(counted))
            }
        },
    ))
}

async fn run(base: PathBuf, size: u64, rounds: usize, resume_size: u64) -> Result<bool, String> {
    let uploads = base.join("tus-uploads");
    let _ = std::fs::remove_dir_all(&uploads);
    let received = Arc::new(AtomicU64::new(0));
    let app = App::new().page("/", page).upload_dir(&uploads);
    let addr = common::serve(counting(app.into_router(), received.clone())).await;
    let target = Target {
        addr,
        cookie: common::session_cookie(addr, "/").await,
        received,
        http: reqwest::Client::new(),
    };
    let hashed_uploads = base.join("hashed-uploads");
    let hashed_app = App::new()
        .page("/", page)
        .upload_dir(&hashed_uploads)
        .upload_sha256(true);
    let hashed_addr = common::serve(hashed_app.into_router()).await;
    let hashed = Target {
        addr: hashed_addr,
        cookie: common::session_cookie(hashed_addr, "/").await,
        received: Arc::new(AtomicU64::new(0)),
        http: reqwest::Client::new(),
    };

    let source = common::source_file(&base, size);
    // One unmeasured round each: the first large transfer touches fresh memory.
    target.multipart(&source).await?;
    target.tus(&source, size).await?;
    hashed.multipart(&source).await?;
    let (mut single, mut resumable, mut with_sha) = (Vec::new(), Vec::new(), Vec::new());
    let mut growth = 0u64;
    for round in 0..rounds {
        for tus in [round % 2 == 0, round % 2 != 0] {
            if tus {
                let sampler = Sampler::start();
                let seconds = target.tus(&source, size).await?;
                let (before, peak) = sampler.stop();
                growth = growth.max(peak.saturating_sub(before));
                resumable.push(size as f64 / MIB as f64 / seconds);
            } else {
                let seconds = target.multipart(&source).await?;
                single.push(size as f64 / MIB as f64 / seconds);
            }
        }
        let seconds = hashed.multipart(&source).await?;
        with_sha.push(size as f64 / MIB as f64 / seconds);
    }
    let with_sha = common::best(&with_sha);
    let (single, resumable) = (common::best(&single), common::best(&resumable));
    println!(
        "{:>9} | single request {:>6.0} MiB/s | tus {:>6.0} MiB/s (growth +{:.1} MiB) | {:.2}x | load {}",
        mib(size),
        single,
        resumable,
        growth as f64 / MIB as f64,
        resumable / single,
        common::load_average()
    );
    println!(
        "{:>9} | single request with SHA-256 {:>6.0} MiB/s ({:.2}x of the single request without it)",
        mib(size),
        with_sha,
        with_sha / single
    );
    println!(
        "  target tus >= 0.9x the single request: {} ({:.2}x); growth < {}: {} ({})",
        verdict(resumable >= 0.9 * single),
        resumable / single,
        mib(GROWTH_LIMIT),
        verdict(growth < GROWTH_LIMIT),
        mib(growth)
    );

    let source = common::source_file(&base, resume_size);
    let (sent, read, total, after) = target.resumed(&source, resume_size).await?;
    println!(
        "{:>9} cut at 50%: {} sent in total ({:.3}x the file), {} read by the server; \
         finished {:.2} s after the start, {:.2} s after reconnecting",
        mib(resume_size),
        mib(sent),
        sent as f64 / resume_size as f64,
        mib(read),
        total,
        after
    );
    println!("(best of {rounds} rounds each; growth = the largest peak RSS growth of a tus round)");
    let _ = std::fs::remove_dir_all(&uploads);
    let _ = std::fs::remove_dir_all(&hashed_uploads);
    Ok(growth < GROWTH_LIMIT)
}

fn main() {
    common::header("tus_upload");
    common::require("tus_upload", "curl");
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upload-bench");
    std::fs::create_dir_all(&base).expect("cannot create the bench folder");
    let (size, rounds, resume) = if common::full_run() {
        (1 << 30, 3, 200 * MIB)
    } else {
        (8 * MIB, 1, 2 * MIB)
    };
    common::run_bounded(
        "tus_upload",
        Duration::from_secs(300),
        run(base, size, rounds, resume),
    );
}
