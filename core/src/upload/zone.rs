//! The drop zone: the `upload` component with its limits ([`UploadLimits`]), checked in
//! the browser and again by the server, and `selected_files`, the list of chosen files.

use serde::{Deserialize, Serialize};

use crate::event::{IntoEvent, bind_upload_zone};
use crate::node::{Element, Node};
use crate::props::{IntoBytes, IntoText, Positional};

/// The limits of a drop zone, checked in the browser and again on the server while the
/// files stream in.
///
/// ```
/// use ferrex_core::upload::UploadLimits;
/// let l = UploadLimits { max_size: Some(10), ..UploadLimits::default() };
/// assert_eq!(l.check_size("a.txt", 11), Err("too large".into()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadLimits {
    /// More than one file may be chosen.
    pub multiple: bool,
    /// Accepted MIME types (`image/png`, `image/*`) and extensions (`.csv`); empty = all.
    pub accept: Vec<String>,
    /// At most this many files.
    pub max_files: Option<u64>,
    /// Each file at most this many bytes.
    pub max_size: Option<u64>,
    /// Each file at least this many bytes.
    pub min_size: Option<u64>,
    /// The zone takes no files.
    pub disabled: bool,
    /// Clicking does not open the file picker.
    pub no_click: bool,
    /// Dropping files does nothing.
    pub no_drag: bool,
    /// Enter and Space do not open the file picker.
    pub no_keyboard: bool,
    /// Files go from the browser straight to the app's S3 file store (presigned POSTs),
    /// not through the server; without an S3 store they go through the server as usual.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
}

impl UploadLimits {
    /// The most files one upload may carry.
    pub fn file_count_limit(&self) -> u64 {
        match (self.multiple, self.max_files) {
            (false, _) => 1,
            (true, Some(n)) => n,
            (true, None) => u64::MAX,
        }
    }

    /// Whether a file of this name and declared type is accepted.
    ///
    /// ```
    /// use ferrex_core::upload::UploadLimits;
    /// let l = UploadLimits { accept: vec![".png".into(), "text/*".into()], ..Default::default() };
    /// assert!(l.accepts("A.PNG", "application/octet-stream"));
    /// assert!(l.accepts("notes", "text/plain"));
    /// assert!(!l.accepts("x.exe", "application/x-msdownload"));
    /// ```
    pub fn accepts(&self, name: &str, content_type: &str) -> bool {
        ferrex_wire::accepts(&self.accept, name, content_type)
    }

    /// Checks a file's size against `min_size`/`max_size`; `Err` names the reason.
    pub fn check_size(&self, _name: &str, size: u64) -> Result<(), String> {
        if self.max_size.is_some_and(|max| size > max) {
            return Err("too large".into());
        }
        if self.min_size.is_some_and(|min| size < min) {
            return Err("too small".into());
        }
        Ok(())
    }
}

/// A drop zone: click, drop or press Enter to choose files. See [`upload`].
#[derive(Debug, Clone)]
#[must_use = "a component does nothing until it is placed on a page"]
pub struct Upload {
    el: Element,
    id: Option<String>,
    limits: UploadLimits,
    /// The picker chooses a folder, whose files keep their paths inside it.
    directory: bool,
    /// Phones open this camera instead of the file picker.
    capture: Option<Capture>,
}

/// Which camera a phone opens for a drop zone's picker (`capture = Capture::Environment`);
/// desktop browsers ignore it and show the file picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// The camera facing the user (a selfie).
    User,
    /// The camera facing away from the user.
    Environment,
}

impl Capture {
    fn as_str(self) -> &'static str {
        match self {
            Capture::User => "user",
            Capture::Environment => "environment",
        }
    }
}

/// A keyboard-accessible drop zone over a hidden file input: click, drop, paste, or press
/// Enter or Space on it to choose files. Its limits are checked in the browser and again by
/// the server while the files stream in.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[state]
/// #[derive(Default)]
/// struct Photos {
///     names: Vec<String>,
/// }
///
/// #[event]
/// impl Photos {
///     // A bare handler on `on_drop` uploads the files as soon as they are chosen.
///     async fn keep(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
///         for file in files {
///             self.names.push(file.persist_to_upload_dir().await?.name);
///         }
///         Ok(())
///     }
/// }
///
/// fn page(s: &Photos) -> Node {
///     ui! {
///         vstack(
///             upload(
///                 text("Drop photos here"),
///                 id = "photos",
///                 multiple = true,
///                 accept = [".png", "image/*"],
///                 max_size = 10_000_000u32,
///                 on_drop = Photos::keep,
///             ),
///             text(s.names.join(", ")),
///         )
///     }
/// }
///
/// let html = page(&Photos::default()).to_html();
/// assert!(html.contains(r#"id="photos""#));
/// assert!(html.contains(r#"accept=".png,image/*""#));
/// ```
pub fn upload() -> Upload {
    let mut el = Element::new("div", "fx-upload");
    el.attr("role", "button");
    el.attr("tabindex", "0");
    Upload {
        el,
        id: None,
        limits: UploadLimits::default(),
        directory: false,
        capture: None,
    }
}

/// What `accept` takes: one rule or a list of them (`".png"`, `"image/*"`).
/// In `ui!`, literal rules are checked at compile time.
pub trait IntoAccept {
    /// The rules.
    fn into_accept(self) -> Vec<String>;
}
impl IntoAccept for &str {
    fn into_accept(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}
impl<const N: usize> IntoAccept for [&str; N] {
    fn into_accept(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}
impl IntoAccept for &[&str] {
    fn into_accept(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}
impl IntoAccept for Vec<String> {
    fn into_accept(self) -> Vec<String> {
        self
    }
}

impl<C: Into<Node>> Positional<C> for Upload {
    fn positional(mut self, child: C) -> Self {
        self.el.push(child);
        self
    }
}

impl Upload {
    /// The zone's id, which `upload_files`, `selected_files` and `cancel_upload` name.
    pub fn id(mut self, id: impl IntoText) -> Self {
        self.id = Some(id.into_text().into_owned());
        self
    }
    /// Allow choosing several files.
    pub fn multiple(mut self, multiple: bool) -> Self {
        self.limits.multiple = multiple;
        self
    }
    /// Accepted MIME types and extensions.
    pub fn accept(mut self, accept: impl IntoAccept) -> Self {
        self.limits.accept = accept.into_accept();
        self
    }
    /// At most this many files.
    pub fn max_files(mut self, max: u32) -> Self {
        self.limits.max_files = Some(u64::from(max));
        self
    }
    /// Each file at most this many bytes.
    pub fn max_size(mut self, bytes: impl IntoBytes) -> Self {
        self.limits.max_size = Some(bytes.into_bytes());
        self
    }
    /// Each file at least this many bytes.
    pub fn min_size(mut self, bytes: impl IntoBytes) -> Self {
        self.limits.min_size = Some(bytes.into_bytes());
        self
    }
    /// Takes no files while true.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.limits.disabled = disabled;
        self
    }
    /// Clicking does not open the file picker.
    pub fn no_click(mut self, no_click: bool) -> Self {
        self.limits.no_click = no_click;
        self
    }
    /// Dropping files does nothing.
    pub fn no_drag(mut self, no_drag: bool) -> Self {
        self.limits.no_drag = no_drag;
        self
    }
    /// Enter and Space do not open the file picker.
    pub fn no_keyboard(mut self, no_keyboard: bool) -> Self {
        self.limits.no_keyboard = no_keyboard;
        self
    }
    /// The picker chooses a whole folder; each file keeps its path inside it
    /// (`photos/2024/a.jpg`), made safe on the server as dropped folders are.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let html = Node::from(upload().id("f").directory(true)).to_html();
    /// assert!(html.contains("webkitdirectory"));
    /// ```
    pub fn directory(mut self, directory: bool) -> Self {
        self.directory = directory;
        self
    }
    /// Sends the files from the browser straight to the app's S3 file store (presigned
    /// POST requests, like LiveView's external uploads), the server never carrying their
    /// bytes: it checks each file's declared name, size and type against the zone first,
    /// the store enforces the signed size and type, and the handler gets the same
    /// `UploadFile`s, kept in the store. Without an S3 file store (`App::files`,
    /// `FERREX_FILES_URL`) the files go through the server as for any zone, and the server
    /// logs a warning once. The bucket must allow the app's origin (CORS,
    /// `docs/DEPLOY.md`).
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let html = Node::from(upload().id("f").direct(true)).to_html();
    /// assert!(html.contains(r#"&quot;direct&quot;:true"#));
    /// ```
    pub fn direct(mut self, direct: bool) -> Self {
        self.limits.direct = direct;
        self
    }
    /// On phones, opens a camera instead of the file picker.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let html = Node::from(upload().id("f").capture(Capture::Environment)).to_html();
    /// assert!(html.contains(r#"capture="environment""#));
    /// ```
    pub fn capture(mut self, camera: Capture) -> Self {
        self.capture = Some(camera);
        self
    }
    /// Runs when files are dropped or chosen; a bare `State::method` uploads them at once
    /// to a handler taking `Vec<UploadFile>`.
    pub fn on_drop(mut self, handler: impl IntoEvent) -> Self {
        self.el.on("drop", handler.into_client_actions());
        self
    }
    /// Runs with the files the zone refused (`Vec<RejectedFile>`); without it, each refusal
    /// is shown as a toast.
    pub fn on_drop_rejected(mut self, handler: impl IntoEvent) -> Self {
        self.el.on("drop-rejected", handler.into_client_actions());
        self
    }
    // `class`, `style`, `key`, `title`, `aria_label` (default: "Upload files"), `attr`.
    crate::components::element_props!();

    fn into_node(self) -> Node {
        let Upload {
            mut el,
            id,
            limits,
            directory,
            capture,
        } = self;
        let id = id.unwrap_or_else(|| "default".to_owned());
        for action in el.events_mut() {
            bind_upload_zone(action, &id);
        }
        el.attr("id", id.clone());
        if el.get_attr("aria-label").is_none() {
            el.attr("aria-label", "Upload files");
        }
        if limits.disabled {
            el.attr("aria-disabled", "true");
        }
        let mut input = Element::void("input", "fx-upload-input");
        input.attr("type", "file");
        input.flag("hidden", true);
        input.attr("tabindex", "-1");
        input.flag("multiple", limits.multiple);
        if !limits.accept.is_empty() {
            input.attr("accept", limits.accept.join(","));
        }
        // Every current browser reads the prefixed name; `directory` is the standard one.
        input.flag("webkitdirectory", directory);
        input.flag("directory", directory);
        if let Some(camera) = capture {
            input.attr("capture", camera.as_str());
        }
        // The browser reads the limits from the attribute; the server reads them, typed,
        // from the page manifest (`Element::set_drop_zone`). Serialising plain data cannot
        // fail.
        el.attr(
            "data-fx-upload",
            serde_json::to_string(&limits).unwrap_or_default(),
        );
        el.set_drop_zone(id, limits);
        let children = el.children().to_vec();
        el.clear_children();
        el.push(input);
        el.push(Node::Fragment(children));
        el.into()
    }
}

impl From<Upload> for Node {
    fn from(u: Upload) -> Node {
        u.into_node()
    }
}

/// The list of files chosen in drop zone `id`, with sizes and image previews, kept up to
/// date by the browser.
///
/// ```
/// use ferrex::prelude::*;
///
/// fn page() -> Node {
///     ui! {
///         vstack(
///             upload(text("Choose files"), id = "files", multiple = true),
///             selected_files("files"),
///             button("Clear", on_click = clear_selected_files("files")),
///         )
///     }
/// }
/// let html = page().to_html();
/// assert!(html.contains(r#"<div class="fx-selected-files" data-fx-selected-files="files" aria-live="polite"></div>"#));
/// ```
pub fn selected_files() -> SelectedFiles {
    SelectedFiles { id: String::new() }
}

/// See [`selected_files`].
#[derive(Debug, Clone)]
pub struct SelectedFiles {
    id: String,
}

impl Positional<&str> for SelectedFiles {
    fn positional(mut self, id: &str) -> Self {
        id.clone_into(&mut self.id);
        self
    }
}

impl SelectedFiles {
    /// The drop zone whose selection to show.
    pub fn id(mut self, id: impl IntoText) -> Self {
        self.id = id.into_text().into_owned();
        self
    }
}

impl From<SelectedFiles> for Node {
    fn from(s: SelectedFiles) -> Node {
        let mut el = Element::new("div", "fx-selected-files");
        el.attr("data-fx-selected-files", s.id);
        el.attr("aria-live", "polite");
        el.into()
    }
}
