//! Downloads (issue 7, item 4), fetched with `curl` (a separate process) from a ferrex app
//! running in this process:
//! - a 100 MiB `Download::data` (held in memory until fetched): the handler's event, the
//!   fetch, and the process's memory growth against the payload;
//! - a 1 GiB `Download::stream` made in 256 KiB chunks as it is read (nothing on disk):
//!   throughput and memory growth, which must stay flat;
//! - a 1 GiB static asset from the app's assets folder, against tower-http's `ServeDir`
//!   with its default settings serving the same file in the same run (the best of
//!   alternating rounds).
//!
//! Run with `cargo bench --bench download_memory`. Needs `curl`. Exits non-zero when the
//! stream grows the process by 64 MiB or more, the data download by more than its payload
//! plus 64 MiB, or a transfer fails. Without `--bench` (as `cargo test --all-targets`
//! runs it) it is a smoke run: 64 MiB stream, 8 MiB data, a 16 MiB asset, one round.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use common::{MIB, Sampler, Transfer, curl_async, mib, verdict};
use ferrex::prelude::*;
use futures_util::StreamExt;

const CHUNK: usize = 256 * 1024;
/// One curl run's bound.
const MAX_SECONDS: u64 = 50;

#[derive(Default, Serialize, Deserialize)]
struct Big {}

#[event]
impl Big {
    /// `bytes` (a multiple of 256 KiB) made chunk by chunk as the client reads.
    fn stream(&mut self, bytes: u64) -> Download {
        let chunks = bytes / CHUNK as u64;
        let body = futures_util::stream::iter(0..chunks)
            .map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![(i % 251) as u8; CHUNK])));
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

struct Ferrex {
    base: String,
    cookie: String,
    client: reqwest::Client,
}

impl Ferrex {
    /// Runs handler `h` with `arg` and returns the download URL it answered and how long
    /// the event took.
    async fn event(&self, h: &str, arg: u64) -> Result<(String, Duration), String> {
        let started = Instant::now();
        let reply: serde_json::Value = self
            .client
            .post(format!("{}/_ferrex/event", self.base))
            .header("Cookie", &self.cookie)
            .json(&serde_json::json!({"page": "/", "h": h, "args": [arg]}))
            .send()
            .await
            .map_err(|e| format!("{h}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{h}: {e}"))?;
        let took = started.elapsed();
        let url = reply["actions"][0]["url"]
            .as_str()
            .ok_or_else(|| format!("{h} gave no download URL: {reply}"))?;
        Ok((format!("{}{url}", self.base), took))
    }

    async fn fetch(&self, url: String) -> Result<Transfer, String> {
        let t = curl_async(
            vec!["-H".into(), format!("Cookie: {}", self.cookie), url],
            MAX_SECONDS,
        )
        .await?;
        if t.status == 200 {
            Ok(t)
        } else {
            Err(format!("download: HTTP {}", t.status))
        }
    }
}

fn rate(t: &Transfer) -> f64 {
    t.downloaded as f64 / MIB as f64 / t.seconds.max(1e-9)
}

struct Sizes {
    stream: u64,
    data: u64,
    asset: u64,
    rounds: usize,
}

async fn run(sizes: Sizes) -> Result<bool, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("download-bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The asset folder holds only the one file, served under its name by both servers.
    let asset = common::source_file(&dir, sizes.asset);
    let asset_name = asset
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();

    let app = App::new().page("/", page).assets_dir(&dir);
    let addr = common::serve(app.into_router()).await;
    let serve_dir = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(&dir));
    let plain_addr = common::serve(serve_dir).await;
    let ferrex = Ferrex {
        base: format!("http://{addr}"),
        cookie: common::session_cookie(addr, "/").await,
        client: reqwest::Client::new(),
    };
    let mut ok = true;

    // 1. Download::data.
    let mut fetches = Vec::new();
    let mut events = Vec::new();
    let mut growth = 0;
    for _ in 0..sizes.rounds {
        let sampler = Sampler::start();
        let (url, event) = ferrex.event("Big.data", sizes.data).await?;
        let t = ferrex.fetch(url).await?;
        let (before, peak) = sampler.stop();
        if t.downloaded != sizes.data {
            return Err(format!("the data download had {} bytes", t.downloaded));
        }
        fetches.push(t.seconds);
        events.push(event.as_secs_f64());
        growth = peak.saturating_sub(before).max(growth);
    }
    let fetch = common::median(&mut fetches);
    let event = common::median(&mut events);
    println!(
        "Download::data {}: event (handler fills the Vec) {:.1} ms, fetch {:.3} s ({:.0} MiB/s), \
         together {:.3} s; growth at peak +{} (payload {}); load {}",
        mib(sizes.data),
        event * 1e3,
        fetch,
        sizes.data as f64 / MIB as f64 / fetch,
        event + fetch,
        mib(growth),
        mib(sizes.data),
        common::load_average()
    );
    if common::full_run() {
        println!(
            "  target fetch <= 0.2 s: {}; growth <= payload + 32 MiB: {}",
            verdict(fetch <= 0.2),
            verdict(growth <= sizes.data + 32 * MIB)
        );
    }
    ok &= growth <= sizes.data + 64 * MIB;

    // 2. Download::stream.
    let sampler = Sampler::start();
    let (url, _) = ferrex.event("Big.stream", sizes.stream).await?;
    let t = ferrex.fetch(url).await?;
    let (before, peak) = sampler.stop();
    if t.downloaded != sizes.stream {
        return Err(format!("the stream delivered {} bytes", t.downloaded));
    }
    let growth = peak.saturating_sub(before);
    println!(
        "Download::stream {} (256 KiB chunks made as read): {:.2} s, {:.0} MiB/s; \
         RSS before {}, growth at peak +{}; load {}",
        mib(sizes.stream),
        t.seconds,
        rate(&t),
        mib(before),
        mib(growth),
        common::load_average()
    );
    ok &= growth < 64 * MIB;

    // 3. A static asset, ferrex against ServeDir's defaults.
    let ferrex_url = format!("{}/{asset_name}", ferrex.base);
    let plain_url = format!("http://{plain_addr}/{asset_name}");
    let get = |url: &str| {
        let url = url.to_owned();
        async move {
            let t = curl_async(vec![url.clone()], MAX_SECONDS).await?;
            if t.status != 200 || t.downloaded != sizes.asset {
                return Err(format!("{url}: HTTP {}, {} bytes", t.status, t.downloaded));
            }
            Ok::<_, String>(t)
        }
    };
    // Unmeasured first rounds: the file comes into the page cache.
    get(&plain_url).await?;
    get(&ferrex_url).await?;
    let (mut fx_rates, mut plain_rates, mut fx_growth) = (Vec::new(), Vec::new(), 0);
    for round in 0..sizes.rounds {
        let ferrex_first = round % 2 == 1;
        for is_ferrex in [ferrex_first, !ferrex_first] {
            if is_ferrex {
                let sampler = Sampler::start();
                let t = get(&ferrex_url).await?;
                let (before, peak) = sampler.stop();
                fx_growth = peak.saturating_sub(before).max(fx_growth);
                fx_rates.push(rate(&t));
            } else {
                plain_rates.push(rate(&get(&plain_url).await?));
            }
        }
    }
    let fx = common::best(&fx_rates);
    let plain = common::best(&plain_rates);
    println!(
        "static {}: ferrex {:.0} MiB/s ({:.2} s, growth +{}), ServeDir defaults {:.0} MiB/s, \
         ratio {:.2}x; load {}",
        mib(sizes.asset),
        fx,
        sizes.asset as f64 / MIB as f64 / fx,
        mib(fx_growth),
        plain,
        fx / plain,
        common::load_average()
    );
    if common::full_run() {
        println!("  target >= 1.5x ServeDir: {}", verdict(fx >= 1.5 * plain));
    }
    Ok(ok)
}

fn main() {
    common::header("download_memory");
    common::require("download_memory", "curl");
    let sizes = if common::full_run() {
        Sizes {
            stream: 1 << 30,
            data: 100 * MIB,
            asset: 1 << 30,
            rounds: 5,
        }
    } else {
        Sizes {
            stream: 64 * MIB,
            data: 8 * MIB,
            asset: 16 * MIB,
            rounds: 1,
        }
    };
    common::run_bounded("download_memory", Duration::from_secs(240), run(sizes));
}
