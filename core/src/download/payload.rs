//! The file a handler returns: [`Download`] with its source (a URL, bytes, a stream), its
//! name and type, and [`DownloadData`], bytes that know what they are.

use std::fmt;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;

use super::data_uri::{decode_data_uri, url_file_name};

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
    pub(super) source: Source,
    pub(super) filename: Option<String>,
    pub(super) content_type: Option<String>,
}

pub(super) enum Source {
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

    /// Overrides the media type of generated data (`data`, `json`, `stream`): the
    /// `Content-Type` its download is served with. A `Download::url` is served with the
    /// type its URL answers with.
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
