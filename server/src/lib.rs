//! ferrex-server: turns an `App` (pages, states, settings) into an axum `Router` — sessions,
//! events over WebSocket and HTTP, downloads, streaming uploads, static assets and the
//! embedded browser runtime.
//!
//! Modules, from the router down: `app` (the builder and its routes) uses the request
//! handlers (`render`, `events`, `uploads`, `tus`, `downloads`, `assets`); they use `guards`
//! (extractors), `app_state`, `session`, `signing`, `page` and `error`; `uploads` reads
//! its body through `upload_body`; `tus` (resumable uploads) uses `uploads`' zone checks;
//! both write through `upload_write`. `App::serve` binds through `listen` (address,
//! friendly bind errors, the start-up line) and logs requests through `request_log`. No
//! module imports one above it.

mod app;
mod app_state;
mod assets;
mod connections;
mod direct;
mod downloads;
mod error;
mod events;
mod files;
mod guards;
mod listen;
mod memory_store;
mod page;
mod parked;
mod presence;
mod render;
mod request_log;
mod request_target;
mod session;
mod settings;
mod signing;
mod sockets;
#[cfg(feature = "redis")]
pub mod store;
mod tus;
mod upload_body;
mod upload_write;
mod uploads;

use ferrex_wire as wire;

pub use app::App;
#[doc(hidden)]
pub use app::run_main;
pub use assets::RUNTIME_JS;
pub use error::ServerError;
pub use events::{EventMessage, Reply};
pub use files::{FILES_URL_ENV, FileStore, FileStoreError};
pub use memory_store::MemoryStore;
pub use page::{PageFn, Registry};
pub use session::{
    COOKIE_NAME, EventClaim, Session, SessionId, SharedSession, StateStore, StoreError, StoreFuture,
};
pub use settings::Settings;
