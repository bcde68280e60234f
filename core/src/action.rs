//! Client actions: what the browser runtime does when an event fires (run a handler,
//! download, upload, navigate…), as an element carries them in its `data-fx-<event>`
//! attribute and a handler returns them.

use serde::Serialize;
use serde_json::Value;

/// One thing the browser runtime does when an event fires (see `docs/PROTOCOL.md`).
///
/// ```
/// use ferrex_core::action::ClientAction;
/// let a = ClientAction::CancelUpload { id: "files".into() };
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"t":"cancel_upload","id":"files"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientAction {
    /// Run a server handler (`"Counter.add"`) with JSON arguments.
    Event {
        /// `State.method`.
        #[serde(rename = "h")]
        handler: &'static str,
        /// The arguments, in order.
        args: Vec<Value>,
    },
    /// Download a same-origin URL, or bytes carried in the page.
    Download {
        /// The URL to fetch, when the data is not inline.
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The bytes, base64, when they travel with the page.
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        /// The name to save under; `None` keeps the URL's last segment.
        filename: Option<String>,
        /// The media type of inline data.
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    /// Upload the files selected in drop zone `id`, then run handler `h`.
    Upload {
        /// The drop zone's id.
        id: String,
        /// `State.method` receiving the files.
        #[serde(rename = "h")]
        handler: &'static str,
        /// The handler's arguments, with `{"$upload": id}` where the files go.
        args: Vec<Value>,
        /// The handler that receives [`UploadProgress`](crate::upload::UploadProgress), if any.
        progress: Option<&'static str>,
    },
    /// Forget the selection of a drop zone.
    ClearSelectedFiles {
        /// The drop zone's id.
        id: String,
    },
    /// Abort the running upload of a drop zone.
    CancelUpload {
        /// The drop zone's id.
        id: String,
    },
    /// Navigate to another page.
    Redirect {
        /// The path or URL.
        to: String,
    },
}

/// Forgets the files selected in drop zone `id` (a client action, no round trip).
///
/// ```
/// use ferrex_core::prelude::*;
/// let _ = button().child("Clear").on_click(clear_selected_files("files"));
/// ```
pub fn clear_selected_files(id: impl Into<String>) -> ClientAction {
    ClientAction::ClearSelectedFiles { id: id.into() }
}

/// Aborts the running upload of drop zone `id` (a client action, no round trip).
///
/// ```
/// use ferrex_core::prelude::*;
/// let _ = button().child("Cancel").on_click(cancel_upload("files"));
/// ```
pub fn cancel_upload(id: impl Into<String>) -> ClientAction {
    ClientAction::CancelUpload { id: id.into() }
}

/// Navigates to another page (a client action).
///
/// ```
/// use ferrex_core::prelude::*;
/// let _ = button().child("Home").on_click(redirect("/"));
/// ```
pub fn redirect(to: impl Into<String>) -> ClientAction {
    ClientAction::Redirect { to: to.into() }
}
