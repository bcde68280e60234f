//! HTTP/1.1 written by hand over TCP, so every byte a test sends (and does not send) is
//! its own.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
