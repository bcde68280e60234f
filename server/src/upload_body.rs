//! An upload's body on its way to the multipart parser: bounded as a whole, chunked or
//! not, with the preamble and each part's head bounded and handed over in one piece.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::BoxError;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use memchr::memmem::Finder;

/// The most bytes of the preamble (what precedes the first boundary) and of one part's
/// head (from the end of its boundary to the blank line that ends its headers). A
/// browser's part head is a few hundred bytes; a folder upload's deepest path, percent-
/// encoded in both `filename` and `filename*`, stays well under this.
pub(crate) const MAX_PART_HEAD: usize = 64 * 1024;

/// The preamble or a part's head ran past [`MAX_PART_HEAD`].
#[derive(Debug, thiserror::Error)]
#[error("a part's headers (or the text before the first part) are longer than {} KiB", MAX_PART_HEAD / 1024)]
pub(crate) struct PartHeadTooLong;

/// Where the scan is in the multipart body. It follows multer's reading exactly (the
/// first `--boundary` anywhere, then `\r\n--boundary` after each part's content), so the
/// parser never holds more of a head than this stream let through.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Section {
    /// Before the first `--boundary`.
    Preamble,
    /// Just after a boundary, having seen this many `-`: `--` ends the body, anything else
    /// starts a part's head.
    AfterBoundary(u8),
    /// The rest of the boundary line, up to its `\r\n`.
    BoundaryLine,
    /// A part's headers, up to the blank line (`\r\n\r\n`) that ends them.
    Headers,
    /// A part's content, up to the next `\r\n--boundary`.
    Content,
    /// After the closing boundary: nothing more is parsed.
    Epilogue,
}

impl Section {
    /// Whether bytes of this section are held back until it is complete, so the parser
    /// finds its end in one scan instead of rescanning a growing buffer per chunk.
    fn held(self) -> bool {
        matches!(
            self,
            Section::Preamble
                | Section::AfterBoundary(_)
                | Section::BoundaryLine
                | Section::Headers
        )
    }
}

/// The chunks of a multipart body, checked as they pass: fails with [`PartHeadTooLong`]
/// as soon as the preamble or a part's head passes [`MAX_PART_HEAD`], and holds back each
/// of those (at most that many bytes) until it is complete. Content passes through as it
/// arrives. Each byte is looked at once (a SIMD substring search per chunk).
pub(crate) struct PartHeads<S> {
    inner: S,
    first: Finder<'static>,
    delimiter: Finder<'static>,
    section: Section,
    /// Bytes of the current preamble or head so far.
    head_len: usize,
    /// The last bytes of the current section, where a pattern cut by a chunk edge begins.
    tail: Vec<u8>,
    /// Chunks held back until the current head is complete.
    held: BytesMut,
    done: bool,
}

impl<S> PartHeads<S> {
    /// Checks `inner`, a multipart body with this `boundary`.
    pub(crate) fn new(inner: S, boundary: &str) -> PartHeads<S> {
        PartHeads {
            inner,
            first: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            delimiter: Finder::new(format!("\r\n--{boundary}").as_bytes()).into_owned(),
            section: Section::Preamble,
            head_len: 0,
            tail: Vec::new(),
            held: BytesMut::new(),
            done: false,
        }
    }

    /// Follows the sections through one chunk.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), PartHeadTooLong> {
        while !data.is_empty() {
            let pattern: &Finder<'static> = match self.section {
                Section::Epilogue => return Ok(()),
                Section::AfterBoundary(dashes) => {
                    if data[0] == b'-' {
                        data = &data[1..];
                        self.count(1)?;
                        self.section = match dashes {
                            0 => Section::AfterBoundary(1),
                            _ => Section::Epilogue,
                        };
                    } else {
                        self.section = Section::BoundaryLine;
                    }
                    continue;
                }
                Section::Preamble => &self.first,
                Section::BoundaryLine => &CRLF,
                Section::Headers => &CRLF_CRLF,
                Section::Content => &self.delimiter,
            };
            let found = find(&mut self.tail, pattern, data);
            let used = found.unwrap_or(data.len());
            if self.section != Section::Content {
                self.count(used)?;
            }
            let Some(end) = found else {
                return Ok(());
            };
            data = &data[end..];
            self.tail.clear();
            self.section = match self.section {
                Section::BoundaryLine => Section::Headers,
                Section::Headers => {
                    self.head_len = 0;
                    Section::Content
                }
                _ => {
                    self.head_len = 0;
                    Section::AfterBoundary(0)
                }
            };
        }
        Ok(())
    }

    fn count(&mut self, bytes: usize) -> Result<(), PartHeadTooLong> {
        self.head_len += bytes;
        if self.head_len > MAX_PART_HEAD {
            return Err(PartHeadTooLong);
        }
        Ok(())
    }
}

static CRLF: std::sync::LazyLock<Finder<'static>> =
    std::sync::LazyLock::new(|| Finder::new(b"\r\n"));
static CRLF_CRLF: std::sync::LazyLock<Finder<'static>> =
    std::sync::LazyLock::new(|| Finder::new(b"\r\n\r\n"));

/// Where the first match of `pattern` ends in `data`, counting one that began in `tail`
/// (the last bytes before `data`); without one, `tail` becomes the last bytes of the
/// section, as many as a cut match could have begun in.
fn find(tail: &mut Vec<u8>, pattern: &Finder<'_>, data: &[u8]) -> Option<usize> {
    let n = pattern.needle().len();
    if !tail.is_empty() {
        // A match of `n` bytes cannot fit in `data[..n - 1]`: any match here begins in
        // `tail`, before any match in `data` alone.
        let mut joint = tail.clone();
        joint.extend_from_slice(&data[..data.len().min(n - 1)]);
        if let Some(at) = pattern.find(&joint) {
            return Some(at + n - tail.len());
        }
    }
    if let Some(at) = pattern.find(data) {
        return Some(at + n);
    }
    let keep = n.saturating_sub(1);
    if data.len() >= keep {
        tail.clear();
        tail.extend_from_slice(&data[data.len() - keep..]);
    } else {
        tail.extend_from_slice(data);
        let excess = tail.len().saturating_sub(keep);
        tail.drain(..excess);
    }
    None
}

impl<S, E> Stream for PartHeads<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let chunk = match std::task::ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(chunk)) => chunk,
                Some(Err(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
                None => {
                    this.done = true;
                    if this.held.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(this.held.split().freeze())));
                }
            };
            if let Err(err) = this.scan(&chunk) {
                this.done = true;
                return Poll::Ready(Some(Err(err.into())));
            }
            if this.section.held() {
                this.held.extend_from_slice(&chunk);
            } else if this.held.is_empty() {
                return Poll::Ready(Some(Ok(chunk)));
            } else {
                this.held.extend_from_slice(&chunk);
                return Poll::Ready(Some(Ok(this.held.split().freeze())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// What `body`, cut into `size`-byte chunks, comes out as: the chunks, or the error.
    async fn pass(body: &[u8], size: usize) -> Result<Vec<Bytes>, String> {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut stream = PartHeads::new(futures_util::stream::iter(chunks), "XyZ");
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(item.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    fn body(head: &str, content: &str) -> String {
        format!(
            "pre\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"{head}\r\n\r\n{content}\r\n--XyZ--\r\n"
        )
    }

    #[tokio::test]
    async fn a_body_passes_unchanged_however_it_is_cut() {
        let whole = body("", "some \r\n--XyZa content \r\n-- ");
        for size in [1, 2, 3, 5, 7, 64, 4096] {
            let out = pass(whole.as_bytes(), size).await.expect("passes");
            assert_eq!(out.concat(), whole.as_bytes(), "cut every {size} bytes");
        }
    }

    #[tokio::test]
    async fn a_head_is_handed_over_whole() {
        let whole = body("; filename=\"x\"", "content");
        let out = pass(whole.as_bytes(), 1).await.expect("passes");
        let head_end = whole.find("\r\n\r\n").expect("a head") + 4;
        assert!(
            out[0].len() >= head_end,
            "the first chunk holds the preamble and the head: {:?}",
            out[0]
        );
    }

    #[tokio::test]
    async fn a_long_head_or_preamble_fails_however_it_is_cut() {
        let long = "a".repeat(MAX_PART_HEAD);
        let cases = [
            body(&format!("; x=\"{long}\""), "c"),
            format!("{long}\r\n--XyZ\r\n\r\n\r\nc\r\n--XyZ--"),
            // A head that never ends.
            format!("--XyZ\r\nA: b\r\n{long}"),
        ];
        for case in &cases {
            for size in [1000, 65536, 1 << 20] {
                let err = pass(case.as_bytes(), size).await.expect_err("refused");
                assert!(err.contains("longer than 64 KiB"), "{err}");
            }
        }
        // Long content is fine.
        assert!(pass(body("", &long).as_bytes(), 999).await.is_ok());
        let two_parts = format!("--XyZ\r\n\r\n\r\n{long}\r\n--XyZ\r\nA: b\r\n\r\nc\r\n--XyZ--");
        assert!(pass(two_parts.as_bytes(), 1000).await.is_ok());
    }
}
