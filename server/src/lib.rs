//! ferrex-server: turns an `App` (pages, states, settings) into an axum `Router` — sessions,
//! events over WebSocket and HTTP, downloads, streaming uploads, static assets and the
//! embedded browser runtime.
//!
//! Modules, from the router down: `app` (the builder and its routes) uses the request
//! handlers (`render`, `events`, `uploads`, `downloads`, `assets`); they use `guards`
//! (extractors), `app_state`, `session`, `signing`, `page` and `error`; `uploads` reads
//! its body through `upload_body`. No module imports one above it.

mod app;
mod app_state;
mod assets;
mod downloads;
mod error;
mod events;
mod files;
mod guards;
mod page;
mod parked;
mod presence;
mod render;
mod session;
mod settings;
mod signing;
#[cfg(feature = "redis")]
pub mod store;
mod upload_body;
mod uploads;

use ferrex_wire as wire;

pub use app::App;
pub use assets::RUNTIME_JS;
pub use error::ServerError;
pub use events::{EventMessage, Reply};
pub use files::{FILES_URL_ENV, FileStore, FileStoreError};
pub use page::{PageFn, Registry};
pub use session::{COOKIE_NAME, MemoryStore, Session, SessionId, SharedSession, StateStore};
pub use settings::Settings;
