//! Pages and events over HTTP on 127.0.0.1 (issue 7, item 2), servers in this process:
//! - page GETs per second with `wrk -t2 -c32` (a separate process) against a ferrex page
//!   rendered for a session (the request carries its cookie) and, in the same run, against
//!   the limit: a minimal axum handler rendering a maud page of the same size;
//! - events per second and round-trip percentiles for a counter (`Counter.add`), over the
//!   WebSocket and over `POST /_ferrex/event`, with 1 client sending one event at a time
//!   and with 16 clients at once (each its own session, all in this process);
//! - the server-side time of one event: `POST /_ferrex/event` handed to the router in
//!   process (no socket), one at a time, and the time a timing layer on the router saw
//!   during the POST runs above.
//!
//! Run with `cargo bench --bench http`. Needs `wrk` for the page figures (skipped, with a
//! note, when it is missing). Without `--bench` (as `cargo test --all-targets` runs it) it
//! is a smoke run: 1 s of wrk and a few hundred events.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{percentile, verdict};
use ferrex::prelude::*;
use tower::ServiceExt;

/// Rows of the page's list: the rendered document is about 2 KB.
const ROWS: usize = 24;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    count: i64,
}

#[event]
impl Counter {
    fn add(&mut self, by: i64) {
        self.count += by;
    }
}

fn index(s: &Counter) -> Node {
    ui! {
        container(
            vstack(
                heading("Counter", level = 1),
                text(s.count, id = "count"),
                hstack(
                    button("−1", on_click = Counter::add(-1), id = "dec"),
                    button("+1", on_click = Counter::add(1), id = "inc"),
                ),
                list(
                    for i in 0..ROWS {
                        list_item("Row ", i, " of the list")
                    },
                    id = "rows",
                ),
            ),
        )
    }
}

/// The same page with a `key` on each row (in-process figure only): what keyed list items
/// cost.
fn keyed(s: &Counter) -> Node {
    ui! {
        container(
            vstack(
                heading("Counter", level = 1),
                text(s.count, id = "count"),
                hstack(
                    button("−1", on_click = Counter::add(-1), id = "dec"),
                    button("+1", on_click = Counter::add(1), id = "inc"),
                ),
                list(
                    for i in 0..ROWS {
                        list_item("Row ", i, " of the list", key = i.to_string())
                    },
                    id = "rows",
                ),
            ),
        )
    }
}

/// The limit's page: a maud document padded to `size` bytes, rendered per request.
fn maud_page(rows: usize, pad: usize) -> String {
    maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "maud" }
            }
            body {
                main {
                    h1 { "Counter" }
                    p #count { (0) }
                    ul {
                        @for i in 0..rows {
                            li.row { "Row " (i) " of the list" }
                        }
                    }
                    p { (".".repeat(pad)) }
                }
            }
        }
    }
    .into_string()
}

/// Row count and padding that make the maud page exactly `size` bytes (or the nearest
/// larger size when even no rows are too many).
fn maud_shape(size: usize) -> (usize, usize) {
    let mut rows = 0;
    while maud_page(rows + 1, 0).len() <= size {
        rows += 1;
    }
    let pad = size.saturating_sub(maud_page(rows, 0).len());
    (rows, pad)
}

/// Server-side times (µs) of `POST /_ferrex/event` seen by the timing layer.
static POST_TIMES: Mutex<Vec<u32>> = Mutex::new(Vec::new());

async fn time_events(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let timed = request.uri().path() == "/_ferrex/event";
    let started = Instant::now();
    let response = next.run(request).await;
    if timed {
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        POST_TIMES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(micros);
    }
    response
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// This process's CPU time (user + system) so far, from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last `)`): utime is the 12th,
    // stime the 13th, in clock ticks of 1/100 s.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// What one wrk run measured.
struct WrkRun {
    rate: f64,
    /// This process's (the servers') CPU time per request.
    cpu_per_request: Duration,
}

/// `wrk -t2 -c32 -d<secs>s` on `url`, with `script` (a Lua file) if given.
fn wrk(url: &str, secs: u64, script: Option<&Path>) -> Result<WrkRun, String> {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", &format!("-d{secs}s"), "--timeout", "5s"]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let cpu = cpu_time();
    let output = command
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let cpu = cpu_time().saturating_sub(cpu);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() || text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk on {url} reported errors:\n{text}"));
    }
    let rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let requests = (rate * secs as f64).max(1.0);
    Ok(WrkRun {
        rate,
        cpu_per_request: cpu.div_f64(requests),
    })
}

/// A wrk script sending each request with the next of `cookies`, in turn.
fn rotation_script(dir: &Path, cookies: &[String]) -> Result<PathBuf, String> {
    let mut lua = String::from("local requests = {\n");
    for cookie in cookies {
        lua.push_str(&format!(
            "  wrk.format(\"GET\", \"/\", {{ [\"Cookie\"] = \"{cookie}\" }}),\n"
        ));
    }
    lua.push_str(
        "}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  \
         return requests[(n % #requests) + 1]\nend\n",
    );
    let path = dir.join("rotate-sessions.lua");
    std::fs::write(&path, lua).map_err(|e| e.to_string())?;
    Ok(path)
}

/// GET / handed to `router` in process (no socket), one at a time: the median time.
async fn in_process_get(
    router: &axum::Router,
    path: &str,
    cookie: &str,
    count: usize,
) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let request = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let Ok(response) = router.clone().oneshot(request).await;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if status != StatusCode::OK || body.is_empty() {
            return Err(format!("GET {path} in process answered {status}"));
        }
    }
    times.sort();
    Ok(percentile(&times, 50.0))
}

async fn pages(
    router: &axum::Router,
    ferrex: SocketAddr,
    cookie: &str,
    secs: u64,
) -> Result<(), String> {
    let document = reqwest::Client::new()
        .get(format!("http://{ferrex}/"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let size = document.len();
    let (rows, pad) = maud_shape(size);
    let limit_router = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(maud_page(rows, pad)) }),
    );
    let limit = common::serve(limit_router.clone()).await;
    println!(
        "pages: ferrex document {size} bytes, maud document {} bytes",
        maud_page(rows, pad).len()
    );
    let count = if common::full_run() { 20_000 } else { 200 };
    let fx_alone = in_process_get(router, "/", cookie, count).await?;
    let fx_keyed = in_process_get(router, "/keyed", cookie, count).await?;
    let mx_alone = in_process_get(&limit_router, "/", cookie, count).await?;
    println!(
        "  in process (router.oneshot, no socket), GET one at a time, median of {count}: \
         ferrex {} (the same page with a `key` on each row: {}), maud {}",
        micros(fx_alone),
        micros(fx_keyed),
        micros(mx_alone)
    );
    if !common::installed("wrk") {
        println!("  wrk: skipped, `wrk` is not installed (apt-get install wrk)");
        return Ok(());
    }
    // 64 sessions, each request with the next one's cookie (the maud handler ignores it).
    let mut cookies = Vec::new();
    for _ in 0..64 {
        cookies.push(common::session_cookie(ferrex, "/").await);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let one = dir.join("one-session.lua");
    std::fs::write(&one, format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\n"))
        .map_err(|e| e.to_string())?;
    let many = rotation_script(&dir, &cookies)?;
    println!("  wrk -t2 -c32 -d{secs}s, alternating, best of 2 each:");
    let mut ratios = Vec::new();
    for (label, script) in [("1 session", one), ("64 sessions", many)] {
        let (mut fx, mut mx): (Option<WrkRun>, Option<WrkRun>) = (None, None);
        for round in 0..2 {
            for ferrex_turn in [round == 1, round == 0] {
                let url = format!("http://{}/", if ferrex_turn { ferrex } else { limit });
                let script = script.clone();
                let run = tokio::task::spawn_blocking(move || wrk(&url, secs, Some(&script)))
                    .await
                    .map_err(|e| e.to_string())??;
                let best = if ferrex_turn { &mut fx } else { &mut mx };
                if best.as_ref().is_none_or(|b| run.rate > b.rate) {
                    *best = Some(run);
                }
            }
        }
        let (Some(fx), Some(mx)) = (fx, mx) else {
            return Err("no wrk figures".into());
        };
        println!(
            "    {label:<11}: ferrex {:>6.0} req/s ({} CPU/request), maud limit {:>6.0} req/s \
             ({} CPU/request), ratio {:.2}x; load {}",
            fx.rate,
            micros(fx.cpu_per_request),
            mx.rate,
            micros(mx.cpu_per_request),
            fx.rate / mx.rate,
            common::load_average()
        );
        ratios.push(fx.rate / mx.rate);
    }
    if common::full_run() {
        let worst = ratios.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "  target >= 0.6x the limit: {} (worst {worst:.2}x)",
            verdict(worst >= 0.6)
        );
    }
    Ok(())
}

/// The event a client sends, with its id.
#[derive(Clone, Copy)]
enum Channel {
    WebSocket,
    Post,
}

/// One client: its own session, sending an event and awaiting the reply until `until`
/// or `max` events; returns the round-trip times.
async fn client(
    addr: SocketAddr,
    channel: Channel,
    until: Instant,
    max: usize,
) -> Result<Vec<Duration>, String> {
    let cookie = common::session_cookie(addr, "/").await;
    let mut times = Vec::new();
    match channel {
        Channel::WebSocket => {
            times = common::ws_add_events(addr, &cookie, until, max).await?;
        }
        Channel::Post => {
            let http = reqwest::Client::new();
            let url = format!("http://{addr}/_ferrex/event");
            let mut id = 0;
            while times.len() < max && Instant::now() < until {
                id += 1;
                let started = Instant::now();
                let response = http
                    .post(&url)
                    .header(header::COOKIE, &cookie)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(common::add_event(id))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("POST /_ferrex/event: {}", response.status()));
                }
                response.bytes().await.map_err(|e| e.to_string())?;
                times.push(started.elapsed());
            }
        }
    }
    Ok(times)
}

/// What one events run measured.
struct EventsRun {
    count: usize,
    elapsed: f64,
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// `clients` clients at once for `secs`.
async fn events(
    addr: SocketAddr,
    channel: Channel,
    clients: usize,
    secs: f64,
    max: usize,
) -> Result<EventsRun, String> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(addr, channel, until, max)))
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok(EventsRun {
        count: all.len(),
        elapsed,
        rate: all.len() as f64 / elapsed,
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
    })
}

/// `POST /_ferrex/event` handed straight to the router, one at a time: server-side time.
async fn in_process(
    router: axum::Router,
    cookie: &str,
    count: usize,
) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(count);
    for id in 0..count as u64 {
        let request = Request::post("/_ferrex/event")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(common::add_event(id)))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let Ok(response) = router.clone().oneshot(request).await;
        let status = response.status();
        axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("in-process event: {status}"));
        }
    }
    times.sort();
    Ok(times)
}

async fn run() -> Result<(), String> {
    let full = common::full_run();
    // The same app (clones share its sessions) on two ports: as it is for the pages, and
    // with the timing layer for the events.
    let plain = App::new()
        .page("/", index)
        .page("/keyed", keyed)
        .into_router();
    let router = plain.clone().layer(axum::middleware::from_fn(time_events));
    let page_addr = common::serve(plain.clone()).await;
    let addr = common::serve(router.clone()).await;
    let cookie = common::session_cookie(addr, "/").await;

    pages(&plain, page_addr, &cookie, if full { 6 } else { 1 }).await?;

    let (secs, max) = if full { (2.0, usize::MAX) } else { (10.0, 100) };
    println!("events: Counter.add(1), each client its own session");
    let mut best = 0.0f64;
    for channel in [Channel::WebSocket, Channel::Post] {
        for clients in [1, 16] {
            if let Channel::Post = channel {
                POST_TIMES
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
            }
            // Two runs; the better one is printed (other work on the machine only slows).
            let mut run = events(addr, channel, clients, secs, max).await?;
            if full {
                let again = events(addr, channel, clients, secs, max).await?;
                if again.rate > run.rate {
                    run = again;
                }
            }
            println!(
                "  {:<9} {clients:>2} client(s): {:>6} events in {:.2} s = {:>6.0} events/s; \
                 round trip p50 {}, p99 {}; load {}",
                match channel {
                    Channel::WebSocket => "WebSocket",
                    Channel::Post => "POST",
                },
                run.count,
                run.elapsed,
                run.rate,
                micros(run.p50),
                micros(run.p99),
                common::load_average()
            );
            best = best.max(run.rate);
            if let Channel::Post = channel {
                let mut seen: Vec<Duration> = POST_TIMES
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .map(|&us| Duration::from_micros(u64::from(us)))
                    .collect();
                seen.sort();
                println!(
                    "            server-side (timing layer, both runs): p50 {}, p99 {}",
                    micros(percentile(&seen, 50.0)),
                    micros(percentile(&seen, 99.0))
                );
            }
        }
    }
    let count = if full { 20_000 } else { 200 };
    let times = in_process(router, &cookie, count).await?;
    let p50 = percentile(&times, 50.0);
    println!(
        "  in process (router.oneshot, no socket), {count} events one at a time: p50 {}, p99 {}",
        micros(p50),
        micros(percentile(&times, 99.0))
    );
    if full {
        println!(
            "  target >= 30k events/s: {} (best {best:.0}); p50 server-side <= 0.3 ms: {}",
            verdict(best >= 30_000.0),
            verdict(p50 <= Duration::from_micros(300))
        );
    }
    Ok(())
}

fn main() {
    common::header("http");
    common::run_bounded("http", Duration::from_secs(180), async {
        run().await.map(|()| true)
    });
}
