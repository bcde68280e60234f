//! [`UploadFile`]: a file that has streamed to a temporary file in the upload folder, as a
//! handler receives it, with its disk IO (read, stream, persist).

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Deserializer};

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
    sha256: Option<[u8; 32]>,
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
    /// A file that has streamed to `temp` in the upload folder `upload_dir`: what the
    /// server hands a handler, and what a test of a handler can make itself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let temp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
    /// std::fs::write(temp.path(), b"hello").unwrap();
    /// let file = ferrex_core::UploadFile::new(
    ///     "notes/a.txt".into(), "text/plain".into(), 5, temp.into_temp_path(), dir.path().into(),
    /// );
    /// assert_eq!(file.name, "a.txt");
    /// assert_eq!(file.persist_to_upload_dir().await.unwrap().name, "notes/a.txt");
    /// # }
    /// ```
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
            sha256: None,
        }
    }

    /// The file with its SHA-256 digest, computed from the bytes as they were written.
    pub fn with_sha256(mut self, digest: [u8; 32]) -> UploadFile {
        self.sha256 = Some(digest);
        self
    }

    /// The file's SHA-256 digest, when the app asked for it (`App::upload_sha256(true)`):
    /// the server then computes it while the bytes stream to disk (no second read). `None`
    /// otherwise, and for a file made with [`UploadFile::new`] alone.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let temp = tempfile::NamedTempFile::new_in(dir.path()).unwrap().into_temp_path();
    /// let file = ferrex_core::UploadFile::new("a.txt".into(), "text/plain".into(), 0, temp, dir.path().into());
    /// assert_eq!(file.sha256(), None);
    /// let hex: String = file.with_sha256([0xab; 32]).sha256().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    /// assert!(hex.starts_with("abab"));
    /// ```
    pub fn sha256(&self) -> Option<[u8; 32]> {
        self.sha256
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

/// An `UploadFile` is never decoded from JSON: the files of an upload reach a handler's
/// `Vec<UploadFile>` argument from the event's input (see
/// [`EventInput`](crate::context::EventInput)). This impl exists so that `Vec<UploadFile>`
/// can stand where handler arguments are decoded; used on JSON, it is an error, which makes
/// a client that sends anything for the files of a plain event get "bad arguments".
impl<'de> Deserialize<'de> for UploadFile {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "uploaded files arrive with an upload, not in an event's JSON",
        ))
    }
}
