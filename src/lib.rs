//! # ferrex
//!
//! A full-stack web UI framework: write pages inline with [`ui!`], keep per-user state on
//! the server, attach handlers with [`#[event]`](macro@event), and serve it all from one
//! binary. No JavaScript build, no node.
//!
//! ```
//! use ferrex::prelude::*;
//!
//! #[state]
//! #[derive(Default)]
//! struct Counter { count: i64 }
//!
//! #[event]
//! impl Counter {
//!     fn add(&mut self, by: i64) { self.count += by; }
//!     fn reset(&mut self) { self.count = 0; }
//! }
//!
//! fn index(s: &Counter) -> Node {
//!     ui! {
//!         vstack(
//!             heading("Counter"),
//!             text(s.count),
//!             hstack(
//!                 button("+1", on_click = Counter::add(1)),
//!                 button("Reset", on_click = Counter::reset, variant = Variant::Outline),
//!             ),
//!         )
//!     }
//! }
//!
//! let html = index(&Counter { count: 3 }).to_html();
//! assert!(html.contains("<p class=\"fx-text\">3</p>"));
//! ```
//!
//! ## The `ui!` grammar
//!
//! ```text
//! node   := NAME "(" [arg ("," arg)*] ")"      a component call
//!         | LITERAL                             text (strings, numbers)
//!         | "{" expr "}"                        any `impl Into<Node>`
//!         | "if" expr "{" nodes "}" ["else" …]  plain Rust control flow
//!         | "for" pat "in" expr "{" nodes "}"
//!         | expr                                any other Rust expression
//! arg    := node                                positional: a child (or the icon's name, …)
//!         | NAME "=" value                      a prop
//! value  := NAME "(" … NAME "=" … ")"           a call with named args: download(url = …)
//!         | State::method ["(" value,* ")"]     a typed handler reference
//!         | "(" value "," value,* ")"           several actions, run in order
//!         | expr                                any Rust expression
//! ```
//!
//! An event prop takes one action or a tuple of them, handlers and client actions mixed:
//! `on_click = (Form::save, clear_selected_files("files"))`.
//!
//! `ui!` writes the page's HTML as it goes, into one buffer: a call's props are applied
//! (their expressions run) before its children are written, wherever they stand in the
//! call; `if` and `for` run where they stand among the children.
//!
//! Mistakes are compile errors at the token you wrote: an unknown prop, a wrong prop type,
//! `download()` without a source, a handler with the wrong arguments, a missing asset.

pub use ferrex_core::{
    self as core, Action, ClientAction, Download, EventError, FileProgress, HandlerError,
    IntoActions, Node, PageManifest, PersistedFile, RejectCode, RejectedFile, State, UploadError,
    UploadFile, UploadProgress, components, context, download, event as events, icons, manifest,
    node, path_safety, props, upload,
};
pub use ferrex_macros::{assets_dir, event, main, state, ui};

/// The serde that [`#[state]`](macro@state) derives through, so an app needs no serde
/// dependency of its own; derive other types that travel as JSON with
/// `#[serde(crate = "ferrex::serde")]`.
pub use serde;

/// The image crate whose `RgbImage`, `RgbaImage` and `DynamicImage` a
/// [`Download::data`] encodes as PNG, re-exported so an app draws them with the same
/// version.
pub use image;

/// The icon names `ui!` checks `icon("…")` against (a test compares them with [`icons::ICON_NAMES`]).
#[doc(hidden)]
pub use ferrex_macros::__icon_names;
/// Stores shared by several ferrex processes (the `redis` feature).
#[cfg(feature = "redis")]
pub use ferrex_server::store;
pub use ferrex_server::{
    App, EventMessage, MemoryStore, PageFn, Reply, ServerError, Session, SessionId, Settings,
    StateStore,
};
/// Where finished uploads and generated downloads are kept (the local folder, or an object
/// store with the `object-store` / `s3` features).
pub use ferrex_server::{FILES_URL_ENV, FileStore, FileStoreError, SharedSession};

/// Everything a page module needs: `use ferrex::prelude::*;`.
pub mod prelude {
    pub use ferrex_core::prelude::*;
    pub use ferrex_macros::{event, state, ui};
    pub use ferrex_server::App;
}

#[doc(hidden)]
pub mod __private {
    pub use ferrex_core::__private::*;
    pub use ferrex_server::run_main;
}

/// The user guide, one module per chapter (the same text as `docs/guide/` in the
/// repository). Every example in it is compiled and run as a doc test.
pub mod guide {
    #![doc = include_str!("../docs/guide/README.md")]

    #[doc = include_str!("../docs/guide/01-getting-started.md")]
    pub mod getting_started {}
    #[doc = include_str!("../docs/guide/02-pages-and-ui.md")]
    pub mod pages_and_ui {}
    #[doc = include_str!("../docs/guide/03-components.md")]
    pub mod components {}
    #[doc = include_str!("../docs/guide/04-state-and-events.md")]
    pub mod state_and_events {}
    #[doc = include_str!("../docs/guide/05-downloads.md")]
    pub mod downloads {}
    #[doc = include_str!("../docs/guide/06-uploads.md")]
    pub mod uploads {}
    #[doc = include_str!("../docs/guide/07-styling.md")]
    pub mod styling {}
    #[doc = include_str!("../docs/guide/08-testing.md")]
    pub mod testing {}
    #[doc = include_str!("../docs/guide/09-deployment.md")]
    pub mod deployment {}
}
