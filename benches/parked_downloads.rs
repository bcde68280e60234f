//! Parked downloads (issue 15, item 4): the round trip of one download event (`POST
//! /_ferrex/event` whose handler returns 1 KiB of `Download::data`, fetched right after)
//! with nothing parked, then with tens of thousands of payloads parked unfetched by other
//! sessions. Parking must cost the same whatever waits (running totals, O(log n)).
//!
//! Run with `cargo bench --bench parked_downloads`. Without `--bench` (as `cargo test
//! --all-targets` runs it) it is a smoke run with a few hundred of each.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{full_run, header, percentile, run_bounded, serve, session_cookie};
use ferrex::prelude::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[derive(Default, Serialize, Deserialize)]
struct Parker {}

#[event]
impl Parker {
    /// `len` bytes held until fetched.
    fn payload(&mut self, len: usize) -> Download {
        Download::data(vec![7u8; len]).filename("p.bin")
    }
}

fn page(_: &Parker) -> Node {
    ui! { text("parked_downloads bench") }
}

/// Runs `Parker.payload(len)` for `cookie` and returns the download URL.
async fn park(client: &reqwest::Client, addr: SocketAddr, cookie: &str, len: usize) -> String {
    let reply: Value = client
        .post(format!("http://{addr}/_ferrex/event"))
        .header("Cookie", cookie)
        .json(&json!({ "page": "/", "h": "Parker.payload", "args": [len] }))
        .send()
        .await
        .expect("POST /_ferrex/event")
        .json()
        .await
        .expect("a JSON reply");
    reply["actions"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a download URL in {reply}"))
        .to_owned()
}

/// `events` download events of one session, each fetched: their round trips, sorted.
async fn measure(addr: SocketAddr, events: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let cookie = session_cookie(addr, "/").await;
    let mut times = Vec::with_capacity(events);
    for _ in 0..events {
        let start = Instant::now();
        let url = park(&client, addr, &cookie, 1024).await;
        times.push(start.elapsed());
        let fetched = client
            .get(format!("http://{addr}{url}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .expect("GET the download");
        assert!(fetched.status().is_success(), "{}", fetched.status());
        fetched.bytes().await.expect("the payload");
    }
    times.sort();
    times
}

/// Parks `sessions` × `each` 1 KiB payloads that nobody fetches, 8 events at a time.
async fn fill(addr: SocketAddr, sessions: usize, each: usize) {
    let client = reqwest::Client::new();
    let mut cookies = Vec::new();
    for _ in 0..sessions {
        cookies.push(session_cookie(addr, "/").await);
    }
    futures_util::stream::iter((0..sessions * each).map(|i| cookies[i % sessions].clone()))
        .map(|cookie| {
            let client = client.clone();
            async move { park(&client, addr, &cookie, 1024).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

fn report(label: &str, times: &[Duration]) {
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!(
        "{label:<34} p50 {:>7.3} ms  p99 {:>7.3} ms  mean {:>7.3} ms  ({} events)",
        percentile(times, 50.0).as_secs_f64() * 1e3,
        percentile(times, 99.0).as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        times.len()
    );
}

fn main() {
    header("parked_downloads");
    let (sessions, each, events) = if full_run() {
        (200, 250, 2000)
    } else {
        (10, 20, 50)
    };
    run_bounded("parked_downloads", Duration::from_secs(600), async move {
        let app = || App::new().page("/", page);
        let addr = serve(app().into_router()).await;
        report("nothing parked", &measure(addr, events).await);

        let addr = serve(app().into_router()).await;
        let start = Instant::now();
        fill(addr, sessions, each).await;
        println!(
            "parked {} payloads for {sessions} sessions in {:.1} s",
            sessions * each,
            start.elapsed().as_secs_f64()
        );
        report(
            &format!("{} parked by others", sessions * each),
            &measure(addr, events).await,
        );
        Ok(true)
    });
}
