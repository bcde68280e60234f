//! What an upload handler is given besides its files: `upload_files(id)` to name the drop
//! zone a handler takes, [`UploadProgress`] and [`RejectedFile`].

use serde::{Deserialize, Serialize};

use crate::event::{ArgFor, EventRef, HandlerArg};
use crate::state::State;

use super::UploadFile;

/// The files of drop zone `id`, as the argument of an upload handler:
/// `on_click = State::handle_upload(upload_files("files"))`.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Inbox {
///     received: usize,
///     progress: f64,
/// }
///
/// #[event]
/// impl Inbox {
///     async fn handle(&mut self, files: Vec<UploadFile>, folder: String) {
///         self.received += files.len();
///         let _ = folder;
///     }
///     fn follow(&mut self, progress: UploadProgress) {
///         self.progress = progress.fraction;
///     }
/// }
///
/// fn page(_: &Inbox) -> Node {
///     ui! {
///         vstack(
///             upload(text("Drop files"), id = "files", multiple = true),
///             // The files of zone "files", then a bound argument of the handler's own.
///             button("Upload", on_click = Inbox::handle(
///                 upload_files("files", on_upload_progress = Inbox::follow),
///                 "inbox".to_owned(),
///             )),
///         )
///     }
/// }
/// assert!(page(&Inbox::default()).to_html().contains("Inbox.handle"));
/// ```
pub fn upload_files(id: impl Into<String>) -> UploadFiles {
    UploadFiles {
        zone: id.into(),
        progress: None,
    }
}

/// See [`upload_files`].
pub struct UploadFiles {
    zone: String,
    progress: Option<&'static str>,
}

impl UploadFiles {
    /// The drop zone's id.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// A handler taking [`UploadProgress`] that follows the upload (about ten times a
    /// second, and always once at the end).
    pub fn on_upload_progress<S: State>(mut self, handler: EventRef<S>) -> Self {
        self.progress = Some(handler.handler());
        self
    }
}

impl ArgFor<Vec<UploadFile>> for UploadFiles {
    fn into_arg(self) -> HandlerArg {
        HandlerArg::Files {
            zone: Some(self.zone),
            progress: self.progress,
        }
    }
}

/// How far an upload has come.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UploadProgress {
    /// Bytes sent so far.
    pub loaded: u64,
    /// Bytes in all.
    pub total: u64,
    /// `loaded / total`, from 0 to 1.
    pub fraction: f64,
}

/// A file the drop zone refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// `too large`, `too small`, `type not accepted` or `too many files`.
    pub reason: String,
}
