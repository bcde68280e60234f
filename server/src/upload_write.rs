//! Writing an upload's bytes to its file as they arrive, shared by the multipart endpoint
//! (`uploads`) and the resumable one (`tus`): batched vectored writes on a blocking thread,
//! with the file's SHA-256 (and a tus chunk's checksum) computed on the same thread from
//! the same bytes, so nothing is read twice.

use ferrex_core::upload::UploadWriter;
use sha1::Digest;

use crate::ServerError;

/// Bytes gathered before they are written out together.
const WRITE_BATCH: usize = 1024 * 1024;

/// The digests that see every byte written, in order.
pub(crate) struct Taps {
    /// The whole file's SHA-256 ([`ferrex_core::UploadFile::sha256`]), unless the app
    /// turned it off (`App::upload_sha256`).
    pub(crate) file: Option<sha2::Sha256>,
    /// The checksum a tus `PATCH` declared for its own bytes (`Upload-Checksum`).
    pub(crate) chunk: Option<ChunkDigest>,
    /// The app's writer (`App::upload_writer`), if it plugged one.
    pub(crate) app: Option<Box<dyn UploadWriter>>,
}

impl Taps {
    /// A fresh SHA-256 (if `sha256`), no chunk checksum and no app writer.
    pub(crate) fn new(sha256: bool) -> Taps {
        Taps {
            file: sha256.then(sha2::Sha256::new),
            chunk: None,
            app: None,
        }
    }

    fn update(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            file.update(bytes);
        }
        if let Some(chunk) = &mut self.chunk {
            chunk.update(bytes);
        }
        match &mut self.app {
            Some(app) => app.write(bytes).map_err(refusal),
            None => Ok(()),
        }
    }
}

/// A checksum algorithm of the tus checksum extension, running.
#[derive(Clone)]
pub(crate) enum ChunkDigest {
    /// `sha1`, the one every tus server must support.
    Sha1(sha1::Sha1),
    /// `sha256`.
    Sha256(sha2::Sha256),
}

impl ChunkDigest {
    /// The digest for a tus algorithm name, if ferrex supports it.
    pub(crate) fn for_algorithm(name: &str) -> Option<ChunkDigest> {
        match name {
            "sha1" => Some(ChunkDigest::Sha1(sha1::Sha1::new())),
            "sha256" => Some(ChunkDigest::Sha256(sha2::Sha256::new())),
            _ => None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkDigest::Sha1(d) => d.update(bytes),
            ChunkDigest::Sha256(d) => d.update(bytes),
        }
    }

    /// The digest of everything seen.
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            ChunkDigest::Sha1(d) => d.finalize().to_vec(),
            ChunkDigest::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

/// Writes a file's chunks as they arrive without copying them: the chunks (reference
/// counted, as the request body hands them over) are gathered up to [`WRITE_BATCH`] bytes
/// and written with vectored writes on a blocking thread while the next batch arrives; the
/// same thread feeds them to the [`Taps`]. A buffered writer over `tokio::fs::File` copies
/// every byte twice on the way (into the writer's buffer, then into the file's own), a
/// large part of an upload's CPU time.
pub(crate) struct ChunkWriter {
    /// The file and the taps, when no write is running.
    idle: Option<(std::fs::File, Taps)>,
    /// The running write, which hands the file and the taps back.
    running: Option<Running>,
    batch: Vec<bytes::Bytes>,
    batched: usize,
}

type Running = tokio::task::JoinHandle<(std::fs::File, Taps, std::io::Result<()>)>;

impl ChunkWriter {
    /// Writes at the file's current position.
    pub(crate) fn new(file: std::fs::File, taps: Taps) -> ChunkWriter {
        ChunkWriter {
            idle: Some((file, taps)),
            running: None,
            batch: Vec::new(),
            batched: 0,
        }
    }

    /// Takes a chunk; it is written once a batch is full or at [`ChunkWriter::finish`].
    pub(crate) async fn push(&mut self, chunk: bytes::Bytes) -> std::io::Result<()> {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= WRITE_BATCH {
            self.write_batch().await?;
        }
        Ok(())
    }

    /// Starts writing the gathered chunks, once the previous write has finished.
    async fn write_batch(&mut self) -> std::io::Result<()> {
        let (mut file, mut taps) = match self.idle.take() {
            Some(idle) => idle,
            None => self.wait().await?,
        };
        let batch = std::mem::take(&mut self.batch);
        self.batched = 0;
        self.running = Some(tokio::task::spawn_blocking(move || {
            let written = batch
                .iter()
                .try_for_each(|chunk| taps.update(chunk))
                .and_then(|()| write_chunks(&mut file, &batch));
            (file, taps, written)
        }));
        Ok(())
    }

    /// Waits for the running write and takes the file back.
    async fn wait(&mut self) -> std::io::Result<(std::fs::File, Taps)> {
        let running = self
            .running
            .take()
            .ok_or_else(|| std::io::Error::other("the upload's file is gone"))?;
        let (file, taps, written) = running.await.map_err(std::io::Error::other)?;
        written.map(|()| (file, taps))
    }

    /// Writes what is left, waits until all of it is written, and hands back the file
    /// and the taps that saw every byte.
    pub(crate) async fn finish(mut self) -> std::io::Result<(std::fs::File, Taps)> {
        if !self.batch.is_empty() {
            self.write_batch().await?;
        }
        match self.idle.take() {
            Some(idle) => Ok(idle),
            None => self.wait().await,
        }
    }
}

/// Writes all of `chunks` with as few system calls as the kernel allows.
fn write_chunks(file: &mut std::fs::File, chunks: &[bytes::Bytes]) -> std::io::Result<()> {
    use std::io::{IoSlice, Write};
    /// The most buffers one `writev` takes on Linux (`IOV_MAX`).
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let upto = rest.len().min(MAX_SLICES);
        match file.write_vectored(&rest[..upto]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file with the digest of its bytes, if they were hashed.
pub(crate) fn with_digest(
    file: ferrex_core::UploadFile,
    hasher: Option<sha2::Sha256>,
) -> ferrex_core::UploadFile {
    match hasher {
        Some(hasher) => file.with_sha256(hasher.finalize().into()),
        None => file,
    }
}

/// An app writer's error, told apart from the server's own IO errors.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refusal(err: std::io::Error) -> std::io::Error {
    std::io::Error::other(Refused(err.to_string()))
}

/// Whether an error of writing a file is the app's writer refusing it.
pub(crate) fn is_refusal(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

/// What a client is told when writing `file` failed: the app's writer refused it (422,
/// with its reason), or the server could not store it (500).
pub(crate) fn write_error(err: std::io::Error, file: &str) -> ServerError {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Refused>())
    {
        Some(Refused(reason)) => ServerError::UploadRejected {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            file: file.to_owned(),
            reason: reason.clone(),
        },
        None => ServerError::Storage(err.to_string()),
    }
}

/// Tells the app's writer, if any, that all bytes have arrived (on a blocking thread).
pub(crate) async fn close_writer(
    writer: Option<Box<dyn UploadWriter>>,
    file: &str,
) -> Result<(), ServerError> {
    let Some(mut writer) = writer else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || writer.close().map_err(refusal))
        .await
        .map_err(|e| ServerError::Storage(e.to_string()))?
        .map_err(|e| write_error(e, file))
}

/// Gives the app's writer bytes `[from, from + len)` of the file at `path`, read back:
/// for tus chunks it may only see once they are verified and kept.
pub(crate) async fn replay(
    writer: Box<dyn UploadWriter>,
    path: std::path::PathBuf,
    from: u64,
    len: u64,
) -> (Box<dyn UploadWriter>, std::io::Result<()>) {
    let outcome = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        let fed = (|| {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(from))?;
            let mut left = len;
            let mut buf = vec![0u8; WRITE_BATCH];
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                file.read_exact(&mut buf[..want])?;
                writer.write(&buf[..want]).map_err(refusal)?;
                left -= want as u64;
            }
            Ok(())
        })();
        (writer, fed)
    })
    .await;
    match outcome {
        Ok(done) => done,
        // The task panicked with the writer: nothing to hand back but a refusal.
        Err(e) => (
            Box::new(Gone) as Box<dyn UploadWriter>,
            Err(refusal(std::io::Error::other(e.to_string()))),
        ),
    }
}

/// Stands for a writer lost to a panic: it refuses everything.
struct Gone;

impl UploadWriter for Gone {
    fn write(&mut self, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("the upload's writer failed"))
    }
}
