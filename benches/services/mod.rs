//! The test helpers that start the scale-out services (SeaweedFS, Redis, nginx), shared
//! with the tests: `mod services;` in a bench.
#![allow(dead_code)]

/// How long one wait on a service may take.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
#[path = "../../tests/support/disk.rs"]
pub mod disk;
#[path = "../../tests/support/services.rs"]
pub mod servers;
