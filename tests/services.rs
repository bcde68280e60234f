//! The real services the scale-out tests stand on (Redis, an S3 server, nginx) start on
//! their own ports and do their job.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::net::SocketAddr;

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use redis::AsyncCommands;
use support::TestServer;
use support::services::{Proxy, RedisServer, S3Server};

#[tokio::test]
async fn redis_server_stores_and_returns_a_value_and_comes_back_empty_after_a_restart() {
    let mut server = RedisServer::start().await;
    let client = redis::Client::open(server.url()).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let () = conn.set("greeting", "hello").await.expect("SET");
    let got: String = conn.get("greeting").await.expect("GET");
    assert_eq!(got, "hello");
    assert_eq!(server.command(&["GET", "greeting"]), "hello");

    server.stop();
    assert!(
        std::net::TcpStream::connect(server.addr()).is_err(),
        "a stopped Redis refuses connections"
    );
    server.start_again().await;
    assert_eq!(
        server.command(&["GET", "greeting"]),
        "$-1",
        "nothing persisted"
    );
}

#[tokio::test]
async fn s3_server_puts_lists_and_gets_an_object_with_signed_requests() {
    let server = S3Server::start().await;
    let store = server.store();
    let path = ObjectPath::from("uploads/report.txt");
    store
        .put(&path, PutPayload::from_static(b"quarterly numbers"))
        .await
        .expect("PUT an object");

    let listed: Vec<String> = store
        .list(Some(&ObjectPath::from("uploads")))
        .map(|meta| meta.expect("a listed object").location.to_string())
        .collect()
        .await;
    assert_eq!(listed, ["uploads/report.txt"]);

    let body = store
        .get(&path)
        .await
        .expect("GET the object")
        .bytes()
        .await
        .expect("its bytes");
    assert_eq!(&body[..], b"quarterly numbers");

    let anonymous = reqwest::get(format!(
        "{}/{}/uploads/report.txt",
        server.endpoint(),
        S3Server::BUCKET
    ))
    .await
    .expect("an unsigned GET gets an answer");
    assert_eq!(
        anonymous.status(),
        reqwest::StatusCode::FORBIDDEN,
        "the server requires signed requests, as a deployed S3 does"
    );
}

/// A backend that answers every request with its name.
async fn named_backend(name: &'static str) -> TestServer {
    TestServer::start_router(axum::Router::new().fallback(move || async move { name })).await
}

#[tokio::test]
async fn round_robin_proxy_sends_consecutive_requests_to_each_backend_in_turn() {
    let a = named_backend("a").await;
    let b = named_backend("b").await;
    let backends: [SocketAddr; 2] = [a.addr, b.addr];
    let proxy = Proxy::round_robin(&backends).await;

    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for _ in 0..4 {
        let answer = client
            .get(proxy.url("/whoami"))
            .send()
            .await
            .expect("a request through nginx")
            .text()
            .await
            .expect("its body");
        answers.push(answer);
    }
    for pair in answers.chunks(2) {
        let mut pair = pair.to_vec();
        pair.sort();
        assert_eq!(pair, ["a", "b"], "answers in order: {answers:?}");
    }
}

#[tokio::test]
async fn round_robin_proxy_carries_websockets_to_each_backend() {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use futures_util::SinkExt;

    async fn ws_backend(name: &'static str) -> TestServer {
        let router = axum::Router::new().route(
            "/ws",
            axum::routing::get(move |upgrade: WebSocketUpgrade| async move {
                upgrade.on_upgrade(move |mut socket| async move {
                    // Answers each message with the backend's name and the message.
                    while let Some(Ok(Message::Text(text))) = socket.recv().await {
                        let reply = format!("{name}:{}", text.as_str());
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        );
        TestServer::start_router(router).await
    }

    let a = ws_backend("a").await;
    let b = ws_backend("b").await;
    let proxy = Proxy::round_robin(&[a.addr, b.addr]).await;

    let mut names = Vec::new();
    for _ in 0..2 {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", proxy.addr()))
            .await
            .expect("a WebSocket upgrade through nginx");
        socket
            .send(tokio_tungstenite::tungstenite::Message::text("ping"))
            .await
            .expect("send through the proxy");
        let reply = socket
            .next()
            .await
            .expect("a reply")
            .expect("a frame")
            .into_text()
            .expect("text");
        let (name, echoed) = reply.split_once(':').expect("name:message");
        assert_eq!(echoed, "ping");
        names.push(name.to_owned());
    }
    names.sort();
    assert_eq!(names, ["a", "b"], "one socket to each backend");
}
