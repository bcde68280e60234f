//! [`UploadWriter`]: what an app plugs in to see each uploaded file's bytes as they
//! arrive (to hash, scan or forward them), besides the temporary file the handler gets.

/// Sees one uploaded file's bytes as they arrive, in order, on a blocking thread (so it
/// may do blocking IO). The server still writes the file to its temporary file, as without
/// a writer, and hands the handler the same [`UploadFile`](crate::UploadFile); an error
/// from the writer refuses the file instead (answered with 422 and the error's text, the
/// file removed, the handler not called).
///
/// Plugged with `App::upload_writer`, which makes one writer per file:
///
/// ```
/// use ferrex_core::upload::{UploadTarget, UploadWriter};
///
/// /// Refuses files that contain `EICAR`.
/// struct Scanner { tail: Vec<u8> }
///
/// impl UploadWriter for Scanner {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
///         // Keep a few bytes across calls: the marker may straddle two chunks.
///         self.tail.extend_from_slice(bytes);
///         if self.tail.windows(5).any(|w| w == b"EICAR") {
///             return Err(std::io::Error::other("the file looks infected"));
///         }
///         let keep = self.tail.len().saturating_sub(4);
///         self.tail.drain(..keep);
///         Ok(())
///     }
/// }
///
/// let make = |_: &UploadTarget<'_>| Scanner { tail: Vec::new() };
/// let mut writer = make(&UploadTarget { zone: "files", name: "a.txt", content_type: "text/plain", size: None });
/// assert!(writer.write(b"hello EI").is_ok());
/// assert!(writer.write(b"CAR").is_err());
/// ```
pub trait UploadWriter: Send + 'static {
    /// The next bytes of the file. Over tus, a chunk that carries a checksum or has no
    /// declared length is given once it is verified and kept (read back from the
    /// temporary file); other bytes as they are written.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;

    /// All bytes have arrived, before the handler runs.
    fn close(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The file a writer is made for.
#[derive(Debug, Clone, Copy)]
pub struct UploadTarget<'a> {
    /// The drop zone's id.
    pub zone: &'a str,
    /// The sanitized relative path.
    pub name: &'a str,
    /// The declared (or guessed) type.
    pub content_type: &'a str,
    /// The declared size, when known before the bytes (tus `Upload-Length`).
    pub size: Option<u64>,
}
