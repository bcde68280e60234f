//! `download(url = …, filename = …)`: the typestate builder `ui!` expands to, which
//! turns into a client action (or a handler's [`Download`]).

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Serialize;

use super::payload::{Download, DownloadData, Source};
use crate::action::ClientAction;
use crate::event::IntoEvent;
use crate::props::IntoText;
use crate::state::{Action, HandlerResult, IntoActions};

/// Starts a download action; give it exactly one source, `url` or `data`.
///
/// ```
/// use ferrex::prelude::*;
///
/// fn page(csv: &str) -> Node {
///     ui! {
///         hstack(
///             // Bytes carried in the page, saved under this name: no round trip.
///             button("Export", on_click = download(data = csv.to_owned(), filename = "table.csv")),
///             // Any same-origin URL, always as a download, under the name given.
///             button("Manual", on_click = download(url = "/_ferrex/style.css", filename = "manual.css")),
///         )
///     }
/// }
/// let html = page("a,b\n1,2\n").to_html();
/// assert!(html.contains("table.csv") && html.contains("manual.css"));
/// ```
///
/// Without `ui!`, the same action is a builder:
/// `download().url("/report.pdf").filename("report.pdf")`. A handler that makes the file
/// returns a [`Download`](crate::Download) instead.
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
