//! Uploads: the `upload` drop zone and its limits, `upload_files(id)` for handlers, the
//! `UploadFile`s a handler receives, and the file-name sanitizer that keeps them contained.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Deserializer, Serialize};

use crate::event::{Arg, ArgFor, ClientAction, EventRef, IntoEvent, bind_upload_zone};
use crate::node::{Element, Node};
use crate::props::{IntoBytes, IntoText, Positional};
use crate::state::State;

// ---------------------------------------------------------------------------------------
// The drop zone.

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
        if self.accept.is_empty() {
            return true;
        }
        let name = name.to_ascii_lowercase();
        let content_type = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.accept.iter().any(|rule| {
            let rule = rule.to_ascii_lowercase();
            if rule.starts_with('.') {
                name.ends_with(&rule)
            } else if let Some(family) = rule.strip_suffix("/*") {
                content_type
                    .split_once('/')
                    .is_some_and(|(top, _)| top == family)
            } else {
                content_type == rule
            }
        })
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
}

/// A keyboard-accessible drop zone over a hidden file input.
///
/// ```
/// use ferrex_core::prelude::*;
/// let zone = upload().id("files").multiple(true).accept([".png", "image/*"]).max_size(1024u32);
/// let html = Node::from(zone.positional(text().child("Drop files here"))).to_html();
/// assert!(html.contains(r#"id="files""#));
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
        let Upload { mut el, id, limits } = self;
        let id = id.unwrap_or_else(|| "default".to_owned());
        for action in el.events_mut() {
            bind_upload_zone(action, &id);
        }
        el.attr("id", id);
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
        // Serialising plain data cannot fail.
        el.attr(
            "data-fx-upload",
            serde_json::to_string(&limits).unwrap_or_default(),
        );
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

impl Node {
    /// The limits of drop zone `zone` on this page, if the page has it. The server reads
    /// them from its own rendering, never from the browser.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let mut page: Node = vstack().child(upload().id("f").max_files(2).multiple(true)).into();
    /// assert_eq!(page.upload_limits("f").unwrap().file_count_limit(), 2);
    /// assert!(page.upload_limits("g").is_none());
    /// ```
    pub fn upload_limits(&mut self, zone: &str) -> Option<UploadLimits> {
        let mut found = None;
        self.for_each_element_mut(&mut |el| {
            if found.is_none()
                && el.get_attr("id") == Some(zone)
                && let Some(json) = el.get_attr("data-fx-upload")
            {
                found = serde_json::from_str(json).ok();
            }
        });
        found
    }

    /// Whether this page sends the files of drop zone `zone` to `handler` (`State.method`):
    /// an `on_drop` of the zone or a button's `State::method(upload_files(zone), …)`. The
    /// server accepts an upload only for such a pair, so a handler cannot be fed through
    /// another zone of the page whose limits are looser.
    ///
    /// ```
    /// use ferrex_core::prelude::*;
    /// let page: Node = vstack().child(upload().id("f")).into();
    /// assert!(!page.clone().uploads_to("f", "Files.handle"));
    /// ```
    pub fn uploads_to(&mut self, zone: &str, handler: &str) -> bool {
        let mut found = false;
        self.for_each_element_mut(&mut |el| {
            found = found
                || el.events_mut().any(|action| {
                    matches!(action, ClientAction::Upload { id, h, .. } if id == zone && *h == handler)
                });
        });
        found
    }
}

/// The list of files chosen in drop zone `id`, with sizes and image previews, kept up to
/// date by the browser.
///
/// ```
/// use ferrex_core::prelude::*;
/// let html = Node::from(selected_files().positional("files")).to_html();
/// assert_eq!(html, r#"<div class="fx-selected-files" data-fx-selected-files="files" aria-live="polite"></div>"#);
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

// ---------------------------------------------------------------------------------------
// Handler arguments.

/// The files of drop zone `id`, as the argument of an upload handler:
/// `on_click = State::handle_upload(upload_files("files"))`.
///
/// ```
/// use ferrex_core::prelude::*;
/// let files = upload_files("files");
/// assert_eq!(files.zone(), "files");
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
    fn into_arg(self) -> Arg {
        Arg::Files {
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

// ---------------------------------------------------------------------------------------
// Uploaded files.

/// A file uploaded to the server, waiting in a temporary file in the upload folder.
/// Dropped without being persisted, it is deleted.
#[derive(Debug)]
pub struct UploadFile {
    /// The sanitized file name (last segment of the path the browser sent).
    pub name: String,
    /// The sanitized relative path (folder uploads keep their folders), `/`-separated.
    pub relative_path: String,
    /// The type the browser declared, or the one the name's extension implies.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    temp: tempfile::TempPath,
    upload_dir: PathBuf,
}

/// Where a persisted upload now lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedFile {
    /// The name under the upload folder (relative path, `/`-separated), for `upload_url`.
    pub name: String,
    /// The full path on disk.
    pub path: PathBuf,
}

/// Why a file operation on an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Reading or moving the file failed.
    #[error("could not store `{name}`: {source}")]
    Io {
        /// The file.
        name: String,
        /// The cause.
        source: io::Error,
    },
    /// The destination exists and overwriting was not asked for.
    #[error("a file named `{0}` already exists")]
    Exists(String),
}

impl UploadFile {
    /// Made by the server once a file has streamed to disk.
    #[doc(hidden)]
    pub fn new(
        relative_path: String,
        content_type: String,
        size: u64,
        temp: tempfile::TempPath,
        upload_dir: PathBuf,
    ) -> UploadFile {
        let name = relative_path
            .rsplit('/')
            .next()
            .unwrap_or(&relative_path)
            .to_owned();
        UploadFile {
            name,
            relative_path,
            content_type,
            size,
            temp,
            upload_dir,
        }
    }

    /// Where the temporary file is.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Reads the whole file into memory.
    pub async fn bytes(&self) -> Result<Bytes, UploadError> {
        tokio::fs::read(&self.temp)
            .await
            .map(Bytes::from)
            .map_err(|source| self.io(source))
    }

    /// Reads the file in chunks, without holding it in memory.
    pub async fn stream(
        &self,
    ) -> Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static, UploadError> {
        let file = tokio::fs::File::open(&self.temp)
            .await
            .map_err(|source| self.io(source))?;
        Ok(read_chunks(file))
    }

    /// Moves the file to `dest` (atomically when on the same file system). Fails if
    /// `dest` exists unless `overwrite` is true.
    pub async fn persist(
        self,
        dest: impl AsRef<Path>,
        overwrite: bool,
    ) -> Result<PathBuf, UploadError> {
        let dest = dest.as_ref().to_path_buf();
        let temp = self.temp;
        let moved = blocking(move || {
            move_into_place(temp, &dest, overwrite).map_err(|(_, e)| e)?;
            Ok(dest)
        })
        .await;
        moved.map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => UploadError::Exists(self.name),
            _ => UploadError::Io {
                name: self.name,
                source,
            },
        })
    }

    /// Keeps the file in the upload folder under its sanitized relative path. When that
    /// name is taken, ` (1)`, ` (2)`, … is added before the extension; nothing is overwritten.
    pub async fn persist_to_upload_dir(self) -> Result<PersistedFile, UploadError> {
        let UploadFile {
            name,
            relative_path,
            temp,
            upload_dir,
            ..
        } = self;
        let base = relative_path.clone();
        let placed = blocking(move || {
            let mut temp = temp;
            for attempt in 0..1000u32 {
                let candidate = match attempt {
                    0 => base.clone(),
                    n => numbered(&base, n),
                };
                let path = upload_dir.join(&candidate);
                match move_into_place(temp, &path, false) {
                    Ok(()) => {
                        return Ok(PersistedFile {
                            name: candidate,
                            path,
                        });
                    }
                    Err((back, e)) if e.kind() == io::ErrorKind::AlreadyExists => temp = back,
                    Err((_, e)) => return Err(e),
                }
            }
            Err(io::ErrorKind::AlreadyExists.into())
        })
        .await;
        placed.map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => UploadError::Exists(relative_path),
            _ => UploadError::Io { name, source },
        })
    }

    fn io(&self, source: io::Error) -> UploadError {
        UploadError::Io {
            name: self.name.clone(),
            source,
        }
    }
}

/// Moves a temporary file to `dest`, creating its folder (blocking). On failure the
/// temporary file is handed back with the error, so the caller may try another name; if
/// the caller drops it, the file is deleted.
fn move_into_place(
    temp: tempfile::TempPath,
    dest: &Path,
    overwrite: bool,
) -> Result<(), (tempfile::TempPath, io::Error)> {
    if let Some(parent) = dest.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        // A file where a folder of the path should be: another name for the file itself
        // would not help, so this is not `AlreadyExists`.
        let e = if e.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("a file is in the way of the folder {}", parent.display()),
            )
        } else {
            e
        };
        return Err((temp, e));
    }
    let moved = if overwrite {
        temp.persist(dest)
    } else {
        temp.persist_noclobber(dest)
    };
    moved.map_err(|e| (e.path, e.error))
}

/// Runs blocking file work off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    // A panicked task dropped its temporary file, which deleted it.
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

fn numbered(path: &str, n: u32) -> String {
    let (dir, file) = match path.rsplit_once('/') {
        Some((dir, file)) => (format!("{dir}/"), file),
        None => (String::new(), path),
    };
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem} ({n}).{ext}"),
        _ => format!("{dir}{file} ({n})"),
    }
}

fn read_chunks(file: tokio::fs::File) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

// The files of one upload request are handed to the handler through serde: the event's
// JSON carries an unguessable token per file and deserialising `UploadFile` takes the file
// with that token from the request's scope. A token from another request, a forged one,
// or one used twice finds nothing and the event fails with "bad arguments".
thread_local! {
    static UPLOAD_SCOPE: RefCell<HashMap<String, UploadFile>> = RefCell::new(HashMap::new());
}

/// Runs `f` (which deserialises handler arguments) with `files` claimable by their tokens.
/// Files `f` did not claim are returned, to be deleted.
#[doc(hidden)]
pub fn with_upload_scope<R>(
    files: HashMap<String, UploadFile>,
    f: impl FnOnce() -> R,
) -> (R, Vec<UploadFile>) {
    UPLOAD_SCOPE.with(|scope| *scope.borrow_mut() = files);
    let result = f();
    let left = UPLOAD_SCOPE.with(|scope| scope.borrow_mut().drain().map(|(_, f)| f).collect());
    (result, left)
}

impl<'de> Deserialize<'de> for UploadFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let token = String::deserialize(deserializer)?;
        UPLOAD_SCOPE
            .with(|scope| scope.borrow_mut().remove(&token))
            .ok_or_else(|| serde::de::Error::custom("no uploaded file for this argument"))
    }
}

/// What a path segment escapes: everything but letters, digits and `-._`.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The URL an uploaded (and persisted) file is served at.
///
/// Made while ferrex renders a page or runs a handler for a session, the URL carries a
/// tag (`?k=…`) that binds it to that session: the server answers it for that session
/// only (unless the app serves uploads publicly, `App::public_uploads`). Made anywhere
/// else, it is the bare path. Add query parameters of your own with `&`, not `?`.
///
/// ```
/// assert_eq!(ferrex_core::upload_url("a b/c.png"), "/_ferrex/uploads/a%20b/c.png");
/// let key = [7u8; 32];
/// let signed = ferrex_core::upload::with_url_key(key, || ferrex_core::upload_url("c.png"));
/// let tag = signed.strip_prefix("/_ferrex/uploads/c.png?k=").unwrap();
/// assert!(ferrex_core::upload::verify_upload_tag(&key, "c.png", tag));
/// assert!(!ferrex_core::upload::verify_upload_tag(&[8u8; 32], "c.png", tag));
/// ```
pub fn upload_url(name: &str) -> String {
    let mut url = String::from("/_ferrex/uploads");
    for segment in name.split('/') {
        url.push('/');
        url.extend(percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT));
    }
    if let Some(key) = URL_KEY.get() {
        url.push_str("?k=");
        url.push_str(&upload_tag(&key, name));
    }
    url
}

// ---------------------------------------------------------------------------------------
// Session-bound upload URLs.

thread_local! {
    static URL_KEY: Cell<Option<[u8; 32]>> = const { Cell::new(None) };
}

/// How many bytes of the HMAC an upload URL carries (128 bits).
const TAG_BYTES: usize = 16;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn keyed_mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    use hmac::Mac;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(message);
    mac
}

/// A key derived from `secret` for one `context` (e.g. a session id): HMAC-SHA256.
#[doc(hidden)]
pub fn derive_key(secret: &[u8], context: &str) -> [u8; 32] {
    use hmac::Mac;
    keyed_mac(secret, context.as_bytes())
        .finalize()
        .into_bytes()
        .into()
}

/// The tag that binds the upload URL of `name` to `key`, as hex.
fn upload_tag(key: &[u8; 32], name: &str) -> String {
    use hmac::Mac;
    let bytes = keyed_mac(key, name.as_bytes()).finalize().into_bytes();
    bytes[..TAG_BYTES]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `tag` (hex, from an upload URL's `k`) binds `name` to `key`; compared in
/// constant time.
#[doc(hidden)]
pub fn verify_upload_tag(key: &[u8; 32], name: &str, tag: &str) -> bool {
    use hmac::Mac;
    if tag.len() != TAG_BYTES * 2 || !tag.is_ascii() {
        return false;
    }
    let Some(bytes) = (0..TAG_BYTES)
        .map(|i| u8::from_str_radix(&tag[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    keyed_mac(key, name.as_bytes())
        .verify_truncated_left(&bytes)
        .is_ok()
}

/// Runs `f` with `key` signing the upload URLs it makes (the server wraps page renders
/// and handlers in it, with the session's key).
#[doc(hidden)]
pub fn with_url_key<R>(key: [u8; 32], f: impl FnOnce() -> R) -> R {
    struct Restore(Option<[u8; 32]>);
    impl Drop for Restore {
        fn drop(&mut self) {
            URL_KEY.set(self.0);
        }
    }
    let _restore = Restore(URL_KEY.replace(Some(key)));
    f()
}

/// `future` with `key` signing the upload URLs it makes, on whichever thread polls it.
#[doc(hidden)]
pub fn url_key_scope<F: std::future::Future>(
    key: [u8; 32],
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| with_url_key(key, || future.as_mut().poll(cx)))
}

// ---------------------------------------------------------------------------------------
// File names.

/// The longest sanitized path segment, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 200;
/// The most folders a relative path keeps.
pub const MAX_DEPTH: usize = 16;

/// Sanitizes one file name from a client: Windows rules (reserved names, `<>:"/\|?*`),
/// control and bidi characters stripped, `.`/`..` refused, at most [`MAX_SEGMENT_BYTES`]
/// bytes (the extension kept), never empty.
///
/// ```
/// use ferrex_core::upload::sanitize_file_name;
/// assert_eq!(sanitize_file_name("../x"), "..x");
/// assert_eq!(sanitize_file_name("a\u{202e}gnp.exe"), "agnp.exe");
/// assert_eq!(sanitize_file_name(".."), "file");
/// assert_eq!(sanitize_file_name("CON"), "file");
/// assert_eq!(sanitize_file_name("con .txt"), "file");
/// ```
pub fn sanitize_file_name(name: &str) -> String {
    let stripped: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c) && *c != '/' && *c != '\\')
        .collect();
    let options = sanitize_filename::Options {
        windows: true,
        truncate: false,
        replacement: "",
    };
    let clean = sanitize_filename::sanitize_with_options(stripped.trim(), options);
    let clean = clean.trim_matches(' ');
    // Cutting a long name can leave it ending in dots or spaces (or only dots), which
    // Windows strips: trim them after the cut too.
    let clean = truncate_keeping_extension(clean, MAX_SEGMENT_BYTES);
    let clean = clean.trim_end_matches(['.', ' ']);
    if clean.is_empty() || is_windows_device(clean) {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// Whether Windows takes this name for a device (`CON`, `nul.txt`, `COM1 .log`): the
/// part before the first dot, trailing spaces ignored, is a reserved name.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = stem.to_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL") {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let digit = chars.next();
    (prefix == "COM" || prefix == "LPT")
        && digit.is_some_and(|d| d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
        && chars.next().is_none()
}

/// Sanitizes a relative path from a client (folder uploads): each segment as
/// [`sanitize_file_name`], empty, `.` and `..` segments dropped, at most [`MAX_DEPTH`]
/// folders. The result joined to any folder stays inside it.
///
/// ```
/// use ferrex_core::upload::sanitize_relative_path;
/// assert_eq!(sanitize_relative_path("photos/../2024/a.png"), "photos/2024/a.png");
/// assert_eq!(sanitize_relative_path("/etc/passwd"), "etc/passwd");
/// assert_eq!(sanitize_relative_path("C:\\x"), "Cx");
/// ```
pub fn sanitize_relative_path(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(sanitize_file_name)
        .collect();
    let keep_from = segments.len().saturating_sub(MAX_DEPTH + 1);
    let joined = segments[keep_from..].join("/");
    if joined.is_empty() {
        "file".to_owned()
    } else {
        joined
    }
}

/// True if `relative` joined to a base folder stays inside it.
///
/// ```
/// assert!(ferrex_core::upload::stays_inside("a/b.png"));
/// assert!(!ferrex_core::upload::stays_inside("../b.png"));
/// ```
pub fn stays_inside(relative: &str) -> bool {
    Path::new(relative)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (name, None),
    };
    let room = max - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(ext) => format!("{}.{ext}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}
