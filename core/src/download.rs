//! Downloads: the `download(url = …, filename = …)` client action with its typestate
//! builder, and `Download`, the file a handler hands to the browser.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;

use crate::event::{ClientAction, IntoEvent};
use crate::props::IntoText;
use crate::state::{Action, HandlerResult, IntoActions};

/// A stream of bytes for a download too large for memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// A file for the browser to download, returned by a handler.
///
/// ```
/// use ferrex_core::Download;
/// let d = Download::data("1,2,3").filename("numbers.csv");
/// assert_eq!(d.content_type(), "text/csv");
/// assert_eq!(d.suggested_filename(), "numbers.csv");
/// ```
pub struct Download {
    source: Source,
    filename: Option<String>,
    content_type: Option<String>,
}

enum Source {
    Url(String),
    Data(DownloadData),
    Stream {
        stream: ByteStream,
        len: Option<u64>,
    },
}

/// Bytes to download, with what they are.
///
/// Made from `&str`/`String` (text), `Vec<u8>`/`&[u8]`/`Bytes`, a `data:` URI string,
/// an `image::DynamicImage` (PNG), or any `Serialize` value through [`Download::json`].
#[derive(Clone)]
pub struct DownloadData {
    kind: DataKind,
}

#[derive(Clone)]
enum DataKind {
    Text(String),
    Bytes(Bytes),
    Typed { bytes: Bytes, media_type: String },
    Image(Box<image::DynamicImage>),
    Json(Bytes),
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("filename", &self.suggested_filename())
            .field("content_type", &self.content_type())
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Downloads data produced on the server: text, bytes, a `data:` URI, or an image.
    ///
    /// A string starting with `data:` is decoded (base64 or percent-encoded) and keeps its
    /// media type.
    ///
    /// ```
    /// use ferrex_core::Download;
    /// let d = Download::data("data:text/csv;base64,MSwy");
    /// assert_eq!(d.content_type(), "text/csv");
    /// ```
    pub fn data(data: impl Into<DownloadData>) -> Download {
        Download {
            source: Source::Data(data.into()),
            filename: None,
            content_type: None,
        }
    }

    /// Downloads any `Serialize` value as pretty JSON (`application/json`).
    ///
    /// ```
    /// use ferrex_core::Download;
    /// let d = Download::json(&vec!["a", "b"]).filename("items.json");
    /// assert_eq!(d.content_type(), "application/json");
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Download {
        Download::data(DownloadData::json(value))
    }

    /// Downloads a same-origin URL, saved as an attachment under `filename`.
    ///
    /// ```
    /// use ferrex_core::Download;
    /// assert_eq!(Download::url("/files/report.pdf").suggested_filename(), "report.pdf");
    /// ```
    pub fn url(url: impl Into<String>) -> Download {
        Download {
            source: Source::Url(url.into()),
            filename: None,
            content_type: None,
        }
    }

    /// Downloads a stream of bytes that is never held in memory whole. `len`, when known,
    /// becomes the `Content-Length` so the browser can show progress.
    ///
    /// ```
    /// use ferrex_core::Download;
    /// use futures_util::stream;
    /// let chunks = stream::iter([Ok(bytes::Bytes::from_static(b"ab"))]);
    /// let d = Download::stream(chunks, Some(2)).filename("big.bin");
    /// assert_eq!(d.content_type(), "application/octet-stream");
    /// ```
    pub fn stream(
        stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
        len: Option<u64>,
    ) -> Download {
        Download {
            source: Source::Stream {
                stream: Box::pin(stream),
                len,
            },
            filename: None,
            content_type: None,
        }
    }

    /// The name the browser saves the file under.
    ///
    /// ```
    /// # use ferrex_core::Download;
    /// assert_eq!(Download::data("x").filename("a.txt").suggested_filename(), "a.txt");
    /// ```
    pub fn filename(mut self, filename: impl Into<String>) -> Download {
        self.filename = Some(filename.into());
        self
    }

    /// Overrides the media type.
    ///
    /// ```
    /// # use ferrex_core::Download;
    /// let d = Download::data(vec![1u8, 2]).content_type_override("application/x-thing");
    /// assert_eq!(d.content_type(), "application/x-thing");
    /// ```
    pub fn content_type_override(mut self, media_type: impl Into<String>) -> Download {
        self.content_type = Some(media_type.into());
        self
    }

    /// The file name: the one given, else the URL's last segment, else `download`
    /// with an extension that fits the data.
    pub fn suggested_filename(&self) -> String {
        if let Some(name) = &self.filename {
            return name.clone();
        }
        match &self.source {
            Source::Url(url) => url_file_name(url).to_owned(),
            Source::Data(data) => match &data.kind {
                DataKind::Text(_) => "download.txt".into(),
                DataKind::Image(_) => "image.png".into(),
                DataKind::Json(_) => "data.json".into(),
                DataKind::Typed { media_type, .. } => {
                    match mime_guess::get_mime_extensions_str(media_type).and_then(|e| e.first()) {
                        Some(ext) => format!("download.{ext}"),
                        None => "download".into(),
                    }
                }
                DataKind::Bytes(_) => "download".into(),
            },
            Source::Stream { .. } => "download".into(),
        }
    }

    /// The media type: the override, else what the data says, else the file name's
    /// extension, else text for strings and `application/octet-stream` for bytes.
    pub fn content_type(&self) -> String {
        if let Some(ct) = &self.content_type {
            return ct.clone();
        }
        let by_name = || {
            self.filename
                .as_deref()
                .and_then(|n| mime_guess::from_path(n).first_raw())
        };
        match &self.source {
            Source::Data(data) => match &data.kind {
                DataKind::Text(_) => by_name().unwrap_or("text/plain; charset=utf-8").to_owned(),
                DataKind::Image(_) => "image/png".into(),
                DataKind::Json(_) => "application/json".into(),
                DataKind::Typed { media_type, .. } => media_type.clone(),
                DataKind::Bytes(_) => by_name().unwrap_or("application/octet-stream").into(),
            },
            Source::Url(url) => mime_guess::from_path(url)
                .first_raw()
                .unwrap_or("application/octet-stream")
                .into(),
            Source::Stream { .. } => by_name().unwrap_or("application/octet-stream").into(),
        }
    }

    /// What the server must do with this download.
    pub fn into_body(self) -> DownloadBody {
        match self.source {
            Source::Url(url) => DownloadBody::Url(url),
            Source::Data(data) => DownloadBody::Data(data),
            Source::Stream { stream, len } => DownloadBody::Stream { stream, len },
        }
    }
}

/// The body of a [`Download`], for the server.
pub enum DownloadBody {
    /// A same-origin URL to answer as an attachment.
    Url(String),
    /// Bytes (an image is encoded by [`DownloadData::into_bytes`]).
    Data(DownloadData),
    /// A stream and its length if known.
    Stream {
        /// The chunks.
        stream: ByteStream,
        /// The total length, if known.
        len: Option<u64>,
    },
}

impl DownloadData {
    /// Any `Serialize` value as pretty JSON.
    ///
    /// ```
    /// let d = ferrex_core::download::DownloadData::json(&[1, 2]);
    /// assert_eq!(d.into_bytes().unwrap(), "[\n  1,\n  2\n]");
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> DownloadData {
        // Serialising to a Vec only fails for values JSON cannot express (non-string map
        // keys); the file then says so rather than the handler panicking.
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_else(|e| {
            format!("{{\"error\": \"this value cannot be written as JSON: {e}\"}}").into_bytes()
        });
        DownloadData {
            kind: DataKind::Json(bytes.into()),
        }
    }

    /// The bytes to send. Encoding an image is CPU work: call this off the async
    /// worker threads (`spawn_blocking`) when the data may be an image.
    ///
    /// ```
    /// let d = ferrex_core::download::DownloadData::from("hi");
    /// assert_eq!(d.into_bytes().unwrap(), "hi");
    /// ```
    pub fn into_bytes(self) -> Result<Bytes, image::ImageError> {
        Ok(match self.kind {
            DataKind::Text(s) => Bytes::from(s),
            DataKind::Bytes(b) | DataKind::Json(b) => b,
            DataKind::Typed { bytes, .. } => bytes,
            DataKind::Image(img) => {
                let mut out = io::Cursor::new(Vec::new());
                img.write_to(&mut out, image::ImageFormat::Png)?;
                Bytes::from(out.into_inner())
            }
        })
    }

    /// About how many bytes the data takes in memory.
    pub fn len_hint(&self) -> u64 {
        match &self.kind {
            DataKind::Text(s) => s.len() as u64,
            DataKind::Bytes(b) | DataKind::Json(b) | DataKind::Typed { bytes: b, .. } => {
                b.len() as u64
            }
            DataKind::Image(img) => u64::from(img.width()) * u64::from(img.height()) * 4,
        }
    }

    /// True when producing the bytes is CPU work (an image to encode).
    pub fn is_image(&self) -> bool {
        matches!(self.kind, DataKind::Image(_))
    }

    fn from_text(text: String) -> DownloadData {
        if text.starts_with("data:") {
            match decode_data_uri(&text) {
                Ok((media_type, bytes)) => {
                    return DownloadData {
                        kind: DataKind::Typed {
                            bytes: bytes.into(),
                            media_type,
                        },
                    };
                }
                // Text that merely starts with "data:" but is no valid URI is text.
                Err(_) => {
                    return DownloadData {
                        kind: DataKind::Text(text),
                    };
                }
            }
        }
        DownloadData {
            kind: DataKind::Text(text),
        }
    }
}

impl From<&str> for DownloadData {
    fn from(text: &str) -> DownloadData {
        DownloadData::from_text(text.to_owned())
    }
}
impl From<String> for DownloadData {
    fn from(text: String) -> DownloadData {
        DownloadData::from_text(text)
    }
}
impl From<&String> for DownloadData {
    fn from(text: &String) -> DownloadData {
        DownloadData::from_text(text.clone())
    }
}
impl From<Vec<u8>> for DownloadData {
    fn from(bytes: Vec<u8>) -> DownloadData {
        DownloadData {
            kind: DataKind::Bytes(bytes.into()),
        }
    }
}
impl From<&[u8]> for DownloadData {
    fn from(bytes: &[u8]) -> DownloadData {
        DownloadData {
            kind: DataKind::Bytes(Bytes::copy_from_slice(bytes)),
        }
    }
}
impl From<Bytes> for DownloadData {
    fn from(bytes: Bytes) -> DownloadData {
        DownloadData {
            kind: DataKind::Bytes(bytes),
        }
    }
}
impl From<image::DynamicImage> for DownloadData {
    fn from(img: image::DynamicImage) -> DownloadData {
        DownloadData {
            kind: DataKind::Image(Box::new(img)),
        }
    }
}
impl From<image::RgbaImage> for DownloadData {
    fn from(img: image::RgbaImage) -> DownloadData {
        image::DynamicImage::ImageRgba8(img).into()
    }
}
impl From<image::RgbImage> for DownloadData {
    fn from(img: image::RgbImage) -> DownloadData {
        image::DynamicImage::ImageRgb8(img).into()
    }
}

/// Why a `data:` URI could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataUriError {
    /// It does not start with `data:`.
    #[error("a data URI starts with `data:`")]
    NotDataUri,
    /// No comma between the header and the data.
    #[error("a data URI needs a `,` between its media type and its data")]
    MissingComma,
    /// The base64 part is not valid base64.
    #[error("the data URI's base64 data is invalid: {0}")]
    BadBase64(String),
    /// A `%` escape is not two hex digits.
    #[error("the data URI has an invalid percent escape")]
    BadPercentEscape,
}

/// Decodes a `data:` URI (RFC 2397) into its media type and bytes.
///
/// ```
/// use ferrex_core::download::decode_data_uri;
/// assert_eq!(decode_data_uri("data:,a%20b").unwrap(), ("text/plain;charset=US-ASCII".to_owned(), b"a b".to_vec()));
/// assert_eq!(decode_data_uri("data:image/png;base64,AAE=").unwrap(), ("image/png".to_owned(), vec![0, 1]));
/// assert!(decode_data_uri("data:text/plain;base64,@@").is_err());
/// ```
pub fn decode_data_uri(uri: &str) -> Result<(String, Vec<u8>), DataUriError> {
    let rest = uri
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &uri[5..])
        .ok_or(DataUriError::NotDataUri)?;
    let (header, data) = rest.split_once(',').ok_or(DataUriError::MissingComma)?;
    let (media_type, is_base64) = match header.rsplit_once(';') {
        Some((mt, flag)) if flag.trim().eq_ignore_ascii_case("base64") => (mt, true),
        _ => (header, false),
    };
    let media_type = match media_type.trim() {
        "" => "text/plain;charset=US-ASCII".to_owned(),
        mt if mt.starts_with(';') => format!("text/plain{mt}"),
        mt => mt.to_owned(),
    };
    let raw = percent_decode(data)?;
    let bytes = if is_base64 {
        let cleaned: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        BASE64
            .decode(&cleaned)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&cleaned))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&cleaned))
            .map_err(|e| DataUriError::BadBase64(e.to_string()))?
    } else {
        raw
    };
    Ok((media_type, bytes))
}

fn percent_decode(data: &str) -> Result<Vec<u8>, DataUriError> {
    let bytes = data.as_bytes();
    // percent-encoding's decoder passes invalid escapes through; a data URI with one is
    // malformed, so check first and then let the crate decode.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(DataUriError::BadPercentEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(percent_encoding::percent_decode(bytes).collect())
}

/// The last path segment of a URL, without query or fragment (`download` if empty).
///
/// ```
/// assert_eq!(ferrex_core::download::url_file_name("/a/b.png?x=1#y"), "b.png");
/// assert_eq!(ferrex_core::download::url_file_name("/"), "download");
/// ```
pub fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name,
        _ => "download",
    }
}

// ---------------------------------------------------------------------------------------
// `download(url = …, filename = …)`: the typestate builder `ui!` expands to.

/// Starts a download action; give it exactly one source, `url` or `data`.
///
/// ```
/// use ferrex_core::prelude::*;
/// let click = download().url("/banner.png").filename("logo.png");
/// let node: Node = button().child("Download").on_click(click).into();
/// assert!(node.to_html().contains("logo.png"));
/// ```
pub fn download() -> DownloadBuilder<NoSource> {
    DownloadBuilder {
        url: None,
        data: None,
        filename: None,
        state: PhantomData,
    }
}

/// The `download(…)` action being built. `S` records whether a source was given.
pub struct DownloadBuilder<S> {
    url: Option<String>,
    data: Option<DownloadData>,
    filename: Option<String>,
    state: PhantomData<S>,
}

/// Typestate: no source yet.
pub struct NoSource;
/// Typestate: `url` or `data` given.
pub struct HasSource;

/// Holds while `download(…)` has no source yet.
#[diagnostic::on_unimplemented(
    message = "`download` takes either `url` or `data`, not both",
    label = "a second source for this download",
    note = "keep `url = …` to download a file the server has, or `data = …` for data made on the page"
)]
pub trait SourceUnset {}
#[diagnostic::do_not_recommend]
impl SourceUnset for NoSource {}

/// Holds once `download(…)` has its source.
#[diagnostic::on_unimplemented(
    message = "`download` needs a source: add `url = …` or `data = …`",
    label = "this download has no source",
    note = "for example `download(url = \"/report.pdf\")` or `download(data = self.csv, filename = \"data.csv\")`"
)]
pub trait SourceSet {}
#[diagnostic::do_not_recommend]
impl SourceSet for HasSource {}

// The bounds sit on the methods, not the impl: a second source then finds the method and
// fails its bound, which reports `SourceUnset`'s message instead of "method not found".
impl<S> DownloadBuilder<S> {
    /// Downloads a same-origin URL (an asset, an uploaded file, a page).
    pub fn url(self, url: impl IntoText) -> DownloadBuilder<HasSource>
    where
        S: SourceUnset,
    {
        DownloadBuilder {
            url: Some(url.into_text().into_owned()),
            data: None,
            filename: self.filename,
            state: PhantomData,
        }
    }

    /// Downloads data carried in the page (text, bytes, a `data:` URI, an image, JSON).
    pub fn data(self, data: impl Into<DownloadData>) -> DownloadBuilder<HasSource>
    where
        S: SourceUnset,
    {
        DownloadBuilder {
            url: None,
            data: Some(data.into()),
            filename: self.filename,
            state: PhantomData,
        }
    }
}

impl<S> DownloadBuilder<S> {
    /// The name to save the file under (default: the URL's last segment).
    pub fn filename(mut self, filename: impl IntoText) -> Self {
        self.filename = Some(filename.into_text().into_owned());
        self
    }

    /// Closes `download(…)` in `ui!`: a download without a source is reported here, at the
    /// `download` the user wrote, rather than deep inside the event prop it is given to.
    #[doc(hidden)]
    pub fn finish(self) -> DownloadBuilder<HasSource>
    where
        S: SourceSet,
    {
        DownloadBuilder {
            url: self.url,
            data: self.data,
            filename: self.filename,
            state: PhantomData,
        }
    }
}

impl<S: SourceSet> DownloadBuilder<S> {
    fn into_download(self) -> Download {
        let source = match (self.url, self.data) {
            (Some(url), _) => Source::Url(url),
            (None, Some(data)) => Source::Data(data),
            // The typestate guarantees a source; an empty text download is the harmless
            // answer should that ever not hold.
            (None, None) => Source::Data(DownloadData::from("")),
        };
        Download {
            source,
            filename: self.filename,
            content_type: None,
        }
    }
}

impl<S: SourceSet> From<DownloadBuilder<S>> for Download {
    fn from(b: DownloadBuilder<S>) -> Download {
        b.into_download()
    }
}

impl<S: SourceSet> IntoActions for DownloadBuilder<S> {
    fn into_actions(self) -> HandlerResult {
        Ok(vec![Action::Download(self.into_download())])
    }
}

impl<S: SourceSet> IntoEvent for DownloadBuilder<S> {
    fn into_client_actions(self) -> Vec<ClientAction> {
        let download = self.into_download();
        let filename = download.filename.clone();
        let content_type = download.content_type();
        let action = match download.source {
            Source::Url(url) => ClientAction::Download {
                url: Some(url),
                data: None,
                filename,
                content_type: None,
            },
            Source::Data(data) => {
                let name = Some(
                    filename.unwrap_or_else(|| Download::data(data.clone()).suggested_filename()),
                );
                let bytes = data.into_bytes().unwrap_or_default();
                ClientAction::Download {
                    url: None,
                    data: Some(BASE64.encode(&bytes)),
                    filename: name,
                    content_type: Some(content_type),
                }
            }
            Source::Stream { .. } => ClientAction::Download {
                url: None,
                data: Some(String::new()),
                filename,
                content_type: None,
            },
        };
        vec![action]
    }
}

// `ui!` writes `download(data = x)`: strings, bytes and images are sent as they are; any
// other `Serialize` value becomes JSON. The choice is made by method resolution on the
// concrete type (the `Data` impl is found one autoref earlier than the `Json` one).

/// Wraps a `data = …` value inside `ui!`.
#[doc(hidden)]
pub struct DataProbe<'a, T: ?Sized>(pub &'a T);

/// Types `download(data = …)` sends as they are.
#[doc(hidden)]
pub trait AsDownloadData {
    fn as_download_data(&self) -> DownloadData;
}
impl AsDownloadData for str {
    fn as_download_data(&self) -> DownloadData {
        self.into()
    }
}
impl AsDownloadData for String {
    fn as_download_data(&self) -> DownloadData {
        self.as_str().into()
    }
}
impl AsDownloadData for [u8] {
    fn as_download_data(&self) -> DownloadData {
        self.into()
    }
}
impl AsDownloadData for Vec<u8> {
    fn as_download_data(&self) -> DownloadData {
        self.as_slice().into()
    }
}
impl AsDownloadData for Bytes {
    fn as_download_data(&self) -> DownloadData {
        self.clone().into()
    }
}
impl AsDownloadData for image::DynamicImage {
    fn as_download_data(&self) -> DownloadData {
        self.clone().into()
    }
}
impl AsDownloadData for DownloadData {
    fn as_download_data(&self) -> DownloadData {
        self.clone()
    }
}
impl<T: AsDownloadData + ?Sized> AsDownloadData for &T {
    fn as_download_data(&self) -> DownloadData {
        (**self).as_download_data()
    }
}

#[doc(hidden)]
pub trait ViaData {
    fn download_data(&self) -> DownloadData;
}
impl<T: AsDownloadData + ?Sized> ViaData for DataProbe<'_, T> {
    fn download_data(&self) -> DownloadData {
        self.0.as_download_data()
    }
}

#[doc(hidden)]
pub trait ViaJson {
    fn download_data(&self) -> DownloadData;
}
impl<T: Serialize + ?Sized> ViaJson for &DataProbe<'_, T> {
    fn download_data(&self) -> DownloadData {
        DownloadData::json(self.0)
    }
}
