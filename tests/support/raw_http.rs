//! HTTP/1.1 written by hand over TCP, so every byte a test sends (and does not send) is
//! its own.

use std::fmt::Display;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request head written header by header, in the order given; nothing is added or
/// corrected, so a test can send exactly what a browser never would.
pub struct RawRequest(String);

impl RawRequest {
    /// `METHOD target HTTP/1.1` with `Host: host`. `target` goes out as written: `..`
    /// and `%2e%2e` segments reach the server, where an HTTP client would resolve them.
    pub fn new(method: &str, target: &str, host: impl Display) -> RawRequest {
        RawRequest(format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n"))
    }

    /// A `GET` of `target`.
    pub fn get(target: &str, host: impl Display) -> RawRequest {
        RawRequest::new("GET", target, host)
    }

    /// A `POST` to `target`.
    pub fn post(target: &str, host: impl Display) -> RawRequest {
        RawRequest::new("POST", target, host)
    }

    /// Adds `name: value`.
    pub fn header(mut self, name: &str, value: impl Display) -> RawRequest {
        self.0.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    /// The head as sent, ended by its blank line; a body, whole or only its start, follows
    /// it on the wire.
    pub fn head(self) -> String {
        self.0 + "\r\n"
    }
}

/// The start of a multipart upload body: the `event` field, then the head of one `file`
/// part named `file_name` (`application/octet-stream`), whose bytes come next.
pub fn upload_body_start(boundary: &str, event: &str, file_name: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{event}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
}

/// What closes a multipart body after the last part's bytes.
pub fn upload_body_end(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// What an upload declares in its head when a test means to send only part of it.
pub const LARGE_UPLOAD_LENGTH: u64 = 100_000_000;

/// Starts an upload of one file named `file_name` that declares [`LARGE_UPLOAD_LENGTH`]
/// bytes, sends the event field and `sent` of the file, and returns the connection still
/// open: for tests of what the server does while an upload hangs, or when it drops.
#[allow(dead_code)]
pub async fn start_large_upload(
    addr: SocketAddr,
    cookie: &str,
    event: &str,
    file_name: &str,
    sent: &[u8],
) -> TcpStream {
    let boundary = "ferrexLargeUpload";
    let head = RawRequest::post("/_ferrex/upload", addr)
        .header("Cookie", cookie)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("Content-Length", LARGE_UPLOAD_LENGTH)
        .head()
        + &upload_body_start(boundary, event, file_name);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(sent).await.expect("send part of the file");
    stream.flush().await.expect("flush");
    stream
}

/// Sends `request` whole on a new connection and reads the answer (see [`read_answer`]).
pub async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    patience: Duration,
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send the request");
    read_answer(&mut stream, patience).await
}

/// Reads one HTTP/1.1 answer: up to the end of its `Content-Length` body, or to the end of
/// the connection (a read error, as when a server answers early and resets the rest of a
/// body, ends it too). Returns the status, the head as sent and the body; panics if the
/// whole of it takes longer than `patience`.
pub async fn read_answer(stream: &mut TcpStream, patience: Duration) -> (u16, String, Vec<u8>) {
    let read = async {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = head_end(&bytes) {
                let length = content_length(&String::from_utf8_lossy(&bytes[..end]));
                if length.is_some_and(|n| bytes.len() >= end + 4 + n) {
                    return bytes;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return bytes,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let bytes = tokio::time::timeout(patience, read)
        .await
        .expect("the server answers in time");
    let end = head_end(&bytes).unwrap_or_else(|| panic!("no complete answer: {bytes:?}"));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    (status, head, bytes[end + 4..].to_vec())
}

/// Where the head ends (the offset of its blank line).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The `Content-Length` of a head, if it has one.
fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
}
