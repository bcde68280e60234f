//! Large static files over real HTTP on 127.0.0.1: a whole file of several MiB (which the
//! server sends with its read-ahead body) arrives byte for byte, with the same headers,
//! validators and answers to `Range`, `If-None-Match`, `HEAD` and `/_ferrex/file` as a
//! small one, from a folder whose name needs percent-encoding; a file that changes size
//! between requests is served at its new size.

#[allow(unused_imports)] // `support::Browser` is for the browser tests
mod support;

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use reqwest::StatusCode;
use reqwest::header;
use support::TestServer;

/// Several read-ahead chunks and a partial last one.
const SIZE: usize = 5 * 1024 * 1024 + 12_345;

/// Bytes that differ at every offset (a shifted or repeated chunk would not match).
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn assets(content: &[u8]) -> tempfile::TempDir {
    let dir = support::disk::scratch("static-files-");
    std::fs::create_dir_all(dir.path().join("big files")).expect("create a folder");
    std::fs::write(dir.path().join("big files/data.bin"), content).expect("write an asset");
    dir
}

const URL: &str = "/big%20files/data.bin";

#[tokio::test]
async fn a_large_file_arrives_whole_with_its_headers() {
    let bytes = content(SIZE, 7);
    let dir = assets(&bytes);
    let server = TestServer::start(counter::app().assets_dir(dir.path())).await;
    let http = reqwest::Client::new();

    let full = http.get(server.url(URL)).send().await.expect("GET");
    assert_eq!(full.status(), StatusCode::OK);
    let headers = full.headers().clone();
    assert_eq!(headers[header::CONTENT_LENGTH], SIZE.to_string().as_str());
    assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::LAST_MODIFIED), "{headers:?}");
    let etag = headers
        .get(header::ETAG)
        .expect("an ETag")
        .to_str()
        .expect("ASCII")
        .to_owned();
    let body = full.bytes().await.expect("the body");
    assert_eq!(body.len(), SIZE);
    assert!(body == bytes, "the body differs from the file");

    let head = http.head(server.url(URL)).send().await.expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        SIZE.to_string().as_str()
    );
    assert!(head.bytes().await.expect("no body").is_empty());

    let start = 3 * 1024 * 1024 - 5;
    let part = http
        .get(server.url(URL))
        .header(header::RANGE, format!("bytes={start}-{}", start + 99))
        .send()
        .await
        .expect("GET a range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[header::ETAG], etag.as_str());
    assert_eq!(
        part.bytes().await.expect("the range").as_ref(),
        &bytes[start..start + 100]
    );

    let unchanged = http
        .get(server.url(URL))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET if-none-match");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert!(unchanged.bytes().await.expect("no body").is_empty());

    let forced = http
        .get(server.url("/_ferrex/file?url=/big%2520files/data.bin&filename=copy.bin"))
        .send()
        .await
        .expect("GET /_ferrex/file");
    assert_eq!(forced.status(), StatusCode::OK);
    assert!(
        forced.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ASCII")
            .contains("copy.bin")
    );
    assert!(forced.bytes().await.expect("the body") == bytes);
}

#[tokio::test]
async fn a_file_that_changes_size_is_served_at_its_new_size() {
    let dir = assets(&content(SIZE, 1));
    let server = TestServer::start(counter::app().assets_dir(dir.path())).await;
    let http = reqwest::Client::new();
    let first = http.get(server.url(URL)).send().await.expect("GET");
    assert_eq!(first.bytes().await.expect("the body").len(), SIZE);

    let shorter = content(SIZE - 1_000_000, 2);
    std::fs::write(dir.path().join("big files/data.bin"), &shorter).expect("rewrite");
    let second = http.get(server.url(URL)).send().await.expect("GET");
    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.bytes().await.expect("the body") == shorter);
}
