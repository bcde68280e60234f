//! What an upload handler is given besides its files: `upload_files(id)` to name the drop
//! zone a handler takes, [`UploadProgress`] (with each file's [`FileProgress`]) and
//! [`RejectedFile`] (with its [`RejectCode`]).

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

/// How far an upload has come: the whole batch, and each file of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadProgress {
    /// Bytes sent so far, all files together.
    pub loaded: u64,
    /// Bytes in all (a file removed from the batch while it runs leaves the total).
    pub total: u64,
    /// `loaded / total`, from 0 to 1.
    pub fraction: f64,
    /// Each file of the batch, in the order they are sent.
    #[serde(default)]
    pub files: Vec<FileProgress>,
}

/// How far one file of an upload has come (see [`UploadProgress::files`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// The file's name (its path inside a dropped or chosen folder).
    pub name: String,
    /// Bytes of it sent so far.
    pub loaded: u64,
    /// Its size in bytes.
    pub total: u64,
}

/// A file the drop zone refused, and why. The browser shows `message` beside the file in
/// the zone's `selected_files` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// What rule it broke.
    pub code: RejectCode,
    /// `too large`, `too small`, `type not accepted`, `too many files`, `refused` or
    /// `failed` (the words of [`RejectCode`]).
    pub reason: String,
    /// The sentence the user reads: the name, the reason and the limit it broke (for
    /// `too_large`: "photo.png: too large (3.2 MB; the limit is 2.0 MB)"), or the server's
    /// own sentence for a file it refused.
    pub message: String,
}

/// Why a file was refused: one of the zone's rules, checked in the browser before any byte
/// is sent, or the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Larger than the zone's `max_size`.
    TooLarge,
    /// Smaller than the zone's `min_size`.
    TooSmall,
    /// Not a type or extension in the zone's `accept`.
    NotAccepted,
    /// Past the zone's `max_files` (or a second file of a zone without `multiple`).
    TooMany,
    /// The server refused it (its own checks of the same rules, a bound, an app's
    /// [`UploadWriter`](crate::upload::UploadWriter)); `message` is the server's sentence.
    Refused,
    /// The server could not be reached for it, after retrying; uploading again retries.
    Failed,
}
