//! ferrex.
pub use ferrex_core as core;
