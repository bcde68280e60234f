//! Downloads: [`Download`], the file a handler hands to the browser (its payload in
//! `payload`), the `data:` URI decoder (`data_uri`), and the `download(url = …, filename = …)`
//! client action with its typestate builder (`builder`).

mod builder;
mod data_uri;
mod payload;

#[doc(hidden)]
pub use builder::{AsDownloadData, DataProbe, ViaData, ViaJson};
pub use builder::{DownloadBuilder, HasSource, NoSource, SourceSet, SourceUnset, download};
pub use data_uri::{DataUriError, decode_data_uri, url_file_name};
pub use payload::{ByteStream, Download, DownloadBody, DownloadData};
