//! ferrex-macros: `ui!` and `#[event]`.
