//! [`UploadFile`]: a file that has streamed to a temporary file in the upload folder, as a
//! handler receives it, with its disk IO (read, stream, persist), and [`SharedFiles`], the
//! shared store an upload is copied to before its handler runs when the app keeps files
//! there.

use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Deserializer};

/// A file uploaded to the server, waiting in a temporary file in the upload folder.
/// Dropped without being persisted, it is deleted.
///
/// When the app keeps its files in a shared store (an object store, `App::file_store`), the
/// file was also copied there before the handler ran: reading it ([`UploadFile::bytes`],
/// [`UploadFile::stream`]) still reads the local temporary file, and persisting it keeps it
/// in the shared store under the name given, where `upload_url(name)` serves it from every
/// process of the app.
///
/// A file a zone sent straight to the store (`direct = true`) has no local copy: reading
/// it streams it from the store, persisting it works as above, and
/// [`UploadFile::temp_path`] is empty.
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
    /// `None` for a file that only exists in the shared store.
    temp: Option<tempfile::TempPath>,
    upload_dir: PathBuf,
    sha256: Option<[u8; 32]>,
    staged: Option<Staged>,
}

/// The future [`SharedFiles::keep`] returns.
pub type KeepFuture<'a> = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'a>>;

/// A staged object's bytes, as [`SharedFiles::read`] gives them.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// The future [`SharedFiles::read`] returns.
pub type ReadFuture<'a> = Pin<Box<dyn Future<Output = io::Result<ByteStream>> + Send + 'a>>;

/// A store shared by every process of an app, where uploads are copied ("staged") before
/// their handler runs. The server implements it for its object store; a handler never
/// sees it.
pub trait SharedFiles: Send + Sync + std::fmt::Debug {
    /// Moves the staged object `staged` to `dest`, a `/`-separated name under the store's
    /// prefix. Fails with [`io::ErrorKind::AlreadyExists`] if `dest` exists and
    /// `overwrite` is false.
    fn keep<'a>(&'a self, staged: &'a str, dest: &'a str, overwrite: bool) -> KeepFuture<'a>;
    /// Deletes the staged object `staged` (its handler did not keep it), without blocking
    /// the caller.
    fn discard(&self, staged: &str);
    /// The staged object `staged`'s bytes, for a file that has no local copy (one sent
    /// straight to the store). A store that never holds such files need not implement it.
    fn read<'a>(&'a self, staged: &'a str) -> ReadFuture<'a> {
        let _ = staged;
        Box::pin(async {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this file store cannot read a staged file back",
            ))
        })
    }
}

/// The copy of an upload in a [`SharedFiles`] store; deleted when dropped unless kept.
#[derive(Debug)]
struct Staged {
    store: Arc<dyn SharedFiles>,
    key: String,
    kept: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.kept {
            self.store.discard(&self.key);
        }
    }
}

/// Where a persisted upload now lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedFile {
    /// The name under the upload folder (relative path, `/`-separated), for `upload_url`.
    pub name: String,
    /// The full path on disk (with a shared store: the name under the store, as `name`).
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

/// A relative path's last segment: the file's own name.
fn last_segment(relative_path: &str) -> String {
    relative_path
        .rsplit('/')
        .next()
        .unwrap_or(relative_path)
        .to_owned()
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
        UploadFile {
            name: last_segment(&relative_path),
            relative_path,
            content_type,
            size,
            temp: Some(temp),
            upload_dir,
            sha256: None,
            staged: None,
        }
    }

    /// A file that exists only in the shared store `store`, under the staged name
    /// `staged`: one a drop zone sent there straight from the browser (`direct = true`).
    /// Reading it streams it from the store; persisting it keeps it there; dropped without
    /// being persisted, it is deleted from the store.
    pub fn in_shared_store(
        relative_path: String,
        content_type: String,
        size: u64,
        store: Arc<dyn SharedFiles>,
        staged: String,
    ) -> UploadFile {
        UploadFile {
            name: last_segment(&relative_path),
            relative_path,
            content_type,
            size,
            temp: None,
            upload_dir: PathBuf::new(),
            sha256: None,
            staged: Some(Staged {
                store,
                key: staged,
                kept: false,
            }),
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

    /// The same file, also copied to the shared store `store` under the name `staged`:
    /// persisting it then keeps it in that store, and dropping it deletes the copy there
    /// too. The server calls this when the app keeps its files in a shared store.
    pub fn staged_in(mut self, store: Arc<dyn SharedFiles>, staged: String) -> UploadFile {
        self.staged = Some(Staged {
            store,
            key: staged,
            kept: false,
        });
        self
    }

    /// Whether the file is kept in a shared store when persisted (see [`UploadFile`]).
    pub fn is_shared(&self) -> bool {
        self.staged.is_some()
    }

    /// Where the temporary file is; empty for a file sent straight to the shared store,
    /// which has none (see [`UploadFile`]).
    pub fn temp_path(&self) -> &Path {
        self.temp.as_deref().unwrap_or(Path::new(""))
    }

    /// Reads the whole file into memory.
    pub async fn bytes(&self) -> Result<Bytes, UploadError> {
        if self.temp.is_none() {
            use futures_util::TryStreamExt;
            let mut stream = self.stream().await?;
            let mut out = bytes::BytesMut::with_capacity(usize::try_from(self.size).unwrap_or(0));
            while let Some(chunk) = stream.try_next().await.map_err(|source| self.io(source))? {
                out.extend_from_slice(&chunk);
            }
            return Ok(out.freeze());
        }
        tokio::fs::read(self.temp_path())
            .await
            .map(Bytes::from)
            .map_err(|source| self.io(source))
    }

    /// Reads the file in chunks, without holding it in memory (from the shared store for
    /// a file sent straight there).
    pub async fn stream(
        &self,
    ) -> Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static, UploadError> {
        if let (None, Some(staged)) = (&self.temp, &self.staged) {
            return staged
                .store
                .read(&staged.key)
                .await
                .map_err(|source| self.io(source));
        }
        let file = tokio::fs::File::open(self.temp_path())
            .await
            .map_err(|source| self.io(source))?;
        let chunks: ByteStream = Box::pin(read_chunks(file));
        Ok(chunks)
    }

    /// Moves the file to `dest` (atomically when on the same file system). Fails if
    /// `dest` exists unless `overwrite` is true.
    ///
    /// With a shared store (see [`UploadFile`]), `dest` is a relative name under the
    /// store's prefix (`photos/a.png`, served at `upload_url("photos/a.png")` by every
    /// process) and the returned path is that name; an absolute `dest`, or one with `..`,
    /// fails with [`io::ErrorKind::InvalidInput`]. A store that cannot refuse to overwrite
    /// atomically (S3 without a conditional copy) checks first, so two uploads persisted to
    /// the same name at the same instant may both succeed, the later one winning.
    pub async fn persist(
        mut self,
        dest: impl AsRef<Path>,
        overwrite: bool,
    ) -> Result<PathBuf, UploadError> {
        if let Some(mut staged) = self.staged.take() {
            let name = std::mem::take(&mut self.name);
            let key = store_name(dest.as_ref()).map_err(|source| UploadError::Io {
                name: name.clone(),
                source,
            })?;
            return match staged.store.keep(&staged.key, &key, overwrite).await {
                Ok(()) => {
                    staged.kept = true;
                    Ok(PathBuf::from(key))
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(UploadError::Exists(name))
                }
                Err(source) => Err(UploadError::Io { name, source }),
            };
        }
        let dest = dest.as_ref().to_path_buf();
        let Some(temp) = self.temp else {
            return Err(UploadError::Io {
                name: self.name,
                source: io::ErrorKind::NotFound.into(),
            });
        };
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
    ///
    /// With a shared store (see [`UploadFile`]) the file is kept there under that name
    /// instead, and [`PersistedFile::path`] is the same name.
    pub async fn persist_to_upload_dir(self) -> Result<PersistedFile, UploadError> {
        let UploadFile {
            name,
            relative_path,
            temp,
            upload_dir,
            staged,
            ..
        } = self;
        if let Some(mut staged) = staged {
            drop(temp);
            for attempt in 0..1000u32 {
                let candidate = match attempt {
                    0 => relative_path.clone(),
                    n => numbered(&relative_path, n),
                };
                match staged.store.keep(&staged.key, &candidate, false).await {
                    Ok(()) => {
                        staged.kept = true;
                        return Ok(PersistedFile {
                            path: PathBuf::from(&candidate),
                            name: candidate,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(source) => return Err(UploadError::Io { name, source }),
                }
            }
            return Err(UploadError::Exists(relative_path));
        }
        let Some(temp) = temp else {
            return Err(UploadError::Io {
                name,
                source: io::ErrorKind::NotFound.into(),
            });
        };
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

/// `dest` as a `/`-separated name under a shared store: relative, with no `.`/`..`.
fn store_name(dest: &Path) -> io::Result<String> {
    let mut segments = Vec::new();
    for component in dest.components() {
        match component {
            Component::Normal(segment) => segments.push(segment.to_str().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the name is not UTF-8")
            })?),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "`{}` is not a name under the file store: give a relative path without `..`",
                        dest.display()
                    ),
                ));
            }
        }
    }
    if segments.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty name cannot be kept in the file store",
        ));
    }
    Ok(segments.join("/"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_in_a_shared_store_is_relative_and_never_climbs_out() {
        let name = |p: &str| store_name(Path::new(p)).map_err(|e| e.kind());
        assert_eq!(name("photos/a.png"), Ok("photos/a.png".to_owned()));
        assert_eq!(name("./a.png"), Ok("a.png".to_owned()));
        for refused in ["/etc/passwd", "../a.png", "a/../../b", "", "."] {
            assert_eq!(
                name(refused),
                Err(io::ErrorKind::InvalidInput),
                "{refused:?}"
            );
        }
    }
}
