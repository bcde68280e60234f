//! ferrex-server: turns an `App` (pages, states, settings) into an axum `Router` — sessions,
//! events over WebSocket and HTTP, downloads, streaming uploads, static assets and the
//! embedded browser runtime.

mod app;
mod assets;
mod downloads;
mod error;
mod events;
mod page;
mod session;
mod uploads;

pub use app::{App, Settings};
pub use assets::RUNTIME_JS;
pub use error::ServerError;
pub use events::{EventMessage, Reply};
pub use page::{PageFn, Registry};
pub use session::{COOKIE_NAME, MemoryStore, Session, SessionId, SharedSession, StateStore};
