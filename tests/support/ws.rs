//! The event WebSocket from a test's side: requests with hand-picked headers, refused
//! upgrades and bounded waits for replies.

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use super::{PATIENCE, TestServer};

/// An open WebSocket to the server.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket handshake request.
pub type Request = tungstenite::handshake::client::Request;

/// A request for the event socket, `/_ferrex/ws`, with these extra headers.
pub fn ws_request(server: &TestServer, headers: &[(&'static str, &str)]) -> Request {
    ws_request_at(server, "/_ferrex/ws", headers)
}

/// A WebSocket request to `path` on the server with these extra headers.
pub fn ws_request_at(server: &TestServer, path: &str, headers: &[(&'static str, &str)]) -> Request {
    let mut request = format!("ws://{}{path}", server.addr)
        .into_client_request()
        .expect("a WebSocket request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("a header value"));
    }
    request
}

/// Opens the event socket sending `cookie` (a `Cookie` header value).
pub async fn open_socket(server: &TestServer, cookie: &str) -> Socket {
    tokio_tungstenite::connect_async(ws_request(server, &[("cookie", cookie)]))
        .await
        .expect("the WebSocket opens")
        .0
}

/// The status a refused upgrade answered with; panics if the upgrade went through.
pub async fn refused_upgrade(request: Request) -> StatusCode {
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("the WebSocket upgrade was accepted"),
        Err(tungstenite::Error::Http(response)) => {
            StatusCode::from_u16(response.status().as_u16()).expect("a status")
        }
        Err(other) => panic!("the upgrade failed without an HTTP answer: {other}"),
    }
}

/// The next text message on a socket, as JSON, passing over pings and pongs; panics on
/// any other frame, or if none comes within [`PATIENCE`] or the socket closes.
pub async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a reply in time")
            .expect("the socket is open")
            .expect("a readable message");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(&text).expect("a JSON reply");
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next reply on a socket (see [`next_json`]), which must have a reply's shape.
pub async fn next_reply<S>(socket: &mut S) -> ferrex::Reply
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    serde_json::from_value(next_json(socket).await).expect("a reply-shaped message")
}
