//! Shared helpers for ferrex's integration tests.
//!
//! Include from a test file with `mod support;`. Each test binary compiles its
//! own copy of this module and may use only part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

pub mod browser;

pub use browser::Browser;
pub mod server;
pub use server::TestServer;
