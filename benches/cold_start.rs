//! Cold start (issue 7, item 5): from spawning the files example to its first `200` for
//! `GET /`, against the same for a minimal axum server (this binary started with
//! `--serve-minimal`) in the same run. The client is this process: a plain TCP connect
//! retried until the port opens, then one HTTP/1.1 request, so no client start-up is in
//! the figure.
//!
//! Run with `cargo build --release --example files && cargo bench --bench cold_start`
//! (`scripts/bench.sh` does both): it times the example binary built beside this one,
//! `target/release/examples/files`. Without `--bench` (as `cargo test --all-targets`
//! runs it, which also builds the debug example) it is a smoke run of 3 starts.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one start may take before the run fails.
const START_LIMIT: Duration = Duration::from_secs(10);

/// `target/<profile>/examples/files`, beside this bench's `target/<profile>/deps/`.
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir.join("examples").join("files");
    path.is_file().then_some(path)
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// One `GET /`; the status code, or `None` when the port is not open yet.
fn get(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Spawns `program` serving on a fresh port and returns the time to its first 200.
fn start(program: &PathBuf, args: &[&str], cwd: &PathBuf) -> Result<Duration, String> {
    let addr = free_port()?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env("FERREX_ADDR", addr.to_string())
        .env("RUST_LOG", "warn")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let outcome = loop {
        match get(addr) {
            Some(200) => break Ok(started.elapsed()),
            Some(status) => break Err(format!("{}: GET / answered {status}", program.display())),
            None if started.elapsed() > START_LIMIT => {
                break Err(format!(
                    "{} did not answer within {START_LIMIT:?}",
                    program.display()
                ));
            }
            None => {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("{} exited: {status}", program.display()));
                }
                std::thread::yield_now();
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    format!(
        "median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    )
}

/// The minimal server: one plain route, on `FERREX_ADDR`.
fn serve_minimal() {
    let addr = std::env::var("FERREX_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .expect("bind FERREX_ADDR");
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let _ = axum::serve(listener, router).await;
    });
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve-minimal") {
        serve_minimal();
        return;
    }
    common::header("cold_start");
    let full = common::full_run();
    let Some(example) = example_binary() else {
        let message = "the files example is not built beside this bench: run \
                       `cargo build --release --example files` first (scripts/bench.sh does)";
        if full {
            eprintln!("cold_start: {message}");
            std::process::exit(1);
        }
        println!("cold_start: skipped, {message}");
        return;
    };
    let cwd = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cold-start");
    if let Err(e) = std::fs::create_dir_all(&cwd) {
        eprintln!("cold_start: {e}");
        std::process::exit(1);
    }
    let myself = std::env::current_exe().unwrap_or_default();
    let runs = if full { 30 } else { 3 };
    let (mut ferrex, mut minimal) = (Vec::new(), Vec::new());
    // One unmeasured start each (the binaries come into the page cache), then alternate.
    let mut run = |measure: bool| -> Result<(), String> {
        let a = start(&example, &[], &cwd)?;
        let b = start(&myself, &["--serve-minimal"], &cwd)?;
        if measure {
            ferrex.push(a);
            minimal.push(b);
        }
        Ok(())
    };
    let outcome = run(false).and_then(|()| (0..runs).try_for_each(|_| run(true)));
    if let Err(e) = outcome {
        eprintln!("cold_start: {e}");
        std::process::exit(1);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "  files example ({}): spawn → first 200 for GET /: {}",
        example.display(),
        summary(&mut ferrex)
    );
    println!(
        "  minimal axum (this binary, --serve-minimal): {}",
        summary(&mut minimal)
    );
    println!("  load {}", common::load_average());
    if full {
        println!(
            "  target <= 20 ms: {}",
            common::verdict(median(&mut ferrex) <= Duration::from_millis(20))
        );
    }
}
