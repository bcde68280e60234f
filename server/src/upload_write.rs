//! Writing an upload's bytes to its file as they arrive, shared by the multipart endpoint
//! (`uploads`) and the resumable one (`tus`): batched vectored writes on a blocking thread,
//! with the file's SHA-256 (and a tus chunk's checksum) computed on the same thread from
//! the same bytes, so nothing is read twice.

use sha1::Digest;

/// Bytes gathered before they are written out together.
const WRITE_BATCH: usize = 1024 * 1024;

/// The digests that see every byte written, in order.
pub(crate) struct Taps {
    /// The whole file's SHA-256 ([`ferrex_core::UploadFile::sha256`]).
    pub(crate) file: sha2::Sha256,
    /// The checksum a tus `PATCH` declared for its own bytes (`Upload-Checksum`).
    pub(crate) chunk: Option<ChunkDigest>,
}

impl Taps {
    /// A fresh SHA-256 and no chunk checksum.
    pub(crate) fn new() -> Taps {
        Taps {
            file: sha2::Sha256::new(),
            chunk: None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.file.update(bytes);
        if let Some(chunk) = &mut self.chunk {
            chunk.update(bytes);
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
            for chunk in &batch {
                taps.update(chunk);
            }
            let written = write_chunks(&mut file, &batch);
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

/// A SHA-256 state's digest as the bytes [`ferrex_core::UploadFile::with_sha256`] takes.
pub(crate) fn sha256_of(hasher: sha2::Sha256) -> [u8; 32] {
    hasher.finalize().into()
}
