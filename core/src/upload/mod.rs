//! Uploads: the drop zone and its limits (`zone`), what handlers name and receive besides
//! the files (`args`), the uploaded files themselves with their disk IO (`file`), and the
//! session-bound URLs they are served at (`url`). File names are made safe by
//! [`crate::path_safety`].

mod args;
mod file;
mod url;
mod writer;
mod zone;

pub use args::{FileProgress, RejectCode, RejectedFile, UploadFiles, UploadProgress, upload_files};
pub use file::{ByteStream, ReadFuture};
pub use file::{KeepFuture, PersistedFile, SharedFiles, UploadError, UploadFile};
pub use url::upload_url;
pub use writer::{UploadTarget, UploadWriter};
pub use zone::{Capture, IntoAccept, SelectedFiles, Upload, UploadLimits, selected_files, upload};
