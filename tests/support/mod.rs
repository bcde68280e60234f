//! Shared helpers for ferrex's integration tests.
//!
//! Include from a test file with `mod support;`. Each test binary compiles its
//! own copy of this module and may use only part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub mod browser;

pub use browser::Browser;
pub mod server;
pub use server::TestServer;

pub mod disk;
pub mod forms;
pub mod http;
pub mod process;
pub mod raw_http;
pub mod run_log;
pub mod services;
pub mod upload_log;
pub mod ws;

/// How long any single wait on the server may take before it counts as a hang.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `condition` every 10 ms until it holds, panicking with `what` after [`PATIENCE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
