//! ferrex-core.
