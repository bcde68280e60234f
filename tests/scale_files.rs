//! Files of an app that runs as several processes (issue 12, files): two apps share one S3
//! store (SeaweedFS) and one Redis. An upload made through one is listed and served by
//! the other; a generated download made on one is handed out once, by either; with the
//! store down an upload fails cleanly.
//!
//! The two apps run in this test process and share sessions through one in-memory store
//! (as the Redis session store shares them between machines): what this file tests is
//! that no file or download stays behind in the process that received it.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

#[path = "../examples/files.rs"]
#[allow(dead_code)]
mod files;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrex::prelude::*;
use ferrex::{FileStore, MemoryStore, SessionId, SharedSession, StateStore};
use futures_util::StreamExt;
use object_store::ObjectStore;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, COOKIE, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use serde_json::{Value, json};
use support::TestServer;
use support::disk::{listing, names_in, scratch, temp_files};
use support::forms::{upload_event, upload_form};
use support::http::{arrive, page, post_event, post_upload};
use support::process::{AppProcess, Launch};
use support::services::{RedisServer, S3Server};

/// Every process signs upload URLs with the same secret.
const SECRET: [u8; 32] = [7; 32];
/// The prefix the apps keep their files under in the bucket.
const PREFIX: &str = "app/files";

/// One session store for both apps: what Redis is between machines.
#[derive(Clone)]
struct Sessions(Arc<MemoryStore>);

impl StateStore for Sessions {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.0.open(id, idle)
    }
    fn view(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.0.view(id, idle)
    }
    fn create(&self) -> (SessionId, SharedSession) {
        self.0.create()
    }
    fn expire_idle(&self, idle: Duration) -> usize {
        self.0.expire_idle(idle)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A state whose handler streams its download.
#[derive(Default, Serialize, Deserialize)]
struct Streams;

#[event]
impl Streams {
    fn make(&mut self) -> Download {
        let chunks = [Ok(axum::body::Bytes::from_static(b"streamed"))];
        Download::stream(futures_util::stream::iter(chunks), Some(8)).filename("s.bin")
    }
}

/// Two processes of the Files example: each its own upload folder (for temporary files),
/// both the same sessions, S3 store and Redis.
struct Cluster {
    a: TestServer,
    b: TestServer,
    dir_a: tempfile::TempDir,
    dir_b: tempfile::TempDir,
}

async fn cluster(s3: &S3Server, redis: &RedisServer) -> Cluster {
    let sessions = Sessions(Arc::new(MemoryStore::with_max_sessions(1000)));
    let (dir_a, dir_b) = (scratch("files-a-"), scratch("files-b-"));
    let process = |dir: &Path| {
        files::app()
            .state::<Streams>()
            .upload_dir(dir)
            .store(sessions.clone())
            .url_secret(SECRET)
            .file_store(FileStore::object(Arc::new(s3.store()), PREFIX))
            .shared_downloads(&redis.url())
    };
    let a = TestServer::start(process(dir_a.path())).await;
    let b = TestServer::start(process(dir_b.path())).await;
    Cluster { a, b, dir_a, dir_b }
}

/// The names of every object in the bucket, relative to the apps' prefix.
async fn objects(s3: &S3Server) -> Vec<String> {
    s3.objects_under(PREFIX).await
}

/// The Files example's upload of `files` to its drop zone.
fn files_upload(files: &[(&str, &str, &[u8])]) -> reqwest::multipart::Form {
    upload_form(
        upload_event("DownloadState.handle_upload", "files", None),
        files,
    )
}

/// The URL the page links `name` at for this session (signed for it).
fn linked_url(page: &str, name: &str) -> String {
    let bare = upload_url(name);
    let start = page
        .find(&format!("href=\"{bare}?k="))
        .unwrap_or_else(|| panic!("the page links no {bare}?k=…: {page}"))
        + "href=\"".len();
    let end = start + page[start..].find('"').expect("a closing quote");
    page[start..end].replace("&amp;", "&")
}

async fn get(server: &TestServer, path: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET")
}

#[tokio::test]
async fn an_upload_through_one_process_is_listed_and_served_by_the_other() {
    let (s3, redis) = tokio::join!(S3Server::start(), RedisServer::start());
    let apps = cluster(&s3, &redis).await;
    let cookie = arrive(&apps.a).await;
    let report: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();

    let (status, reply) = post_upload(
        &apps.a,
        Some(&cookie),
        None,
        files_upload(&[
            ("report.bin", "application/octet-stream", &report),
            ("notes.txt", "text/plain", b"kept in S3"),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["error"], Value::Null);

    // Kept in the store under the prefix, nothing left on either process's disk.
    assert_eq!(objects(&s3).await, ["notes.txt", "report.bin"]);
    for dir in [apps.dir_a.path(), apps.dir_b.path()] {
        assert_eq!(names_in(dir), Vec::<String>::new(), "{}", dir.display());
    }

    // The other process lists them and serves them, with the headers of today.
    let listed = page(&apps.b, &cookie).await;
    let url = linked_url(&listed, "report.bin");
    let response = get(&apps.b, &url, &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        headers[CONTENT_DISPOSITION],
        "attachment; filename=\"report.bin\""
    );
    assert_eq!(headers[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(response.bytes().await.expect("the body"), report);

    let text = get(&apps.b, &linked_url(&listed, "notes.txt"), &cookie).await;
    assert_eq!(text.headers()[CONTENT_TYPE], "text/plain");
    assert!(
        text.headers().get(CONTENT_DISPOSITION).is_none(),
        "plain text is safe inline"
    );
    assert_eq!(text.text().await.expect("the body"), "kept in S3");

    // One range of bytes.
    let part = reqwest::Client::new()
        .get(apps.b.url(&url))
        .header(COOKIE, &cookie)
        .header(RANGE, "bytes=1000-1009")
        .send()
        .await
        .expect("GET a range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[CONTENT_RANGE], "bytes 1000-1009/200000");
    assert_eq!(part.bytes().await.expect("the range"), report[1000..1010]);
    let past_the_end = reqwest::Client::new()
        .get(apps.b.url(&url))
        .header(COOKIE, &cookie)
        .header(RANGE, "bytes=300000-")
        .send()
        .await
        .expect("GET a range past the end");
    assert_eq!(past_the_end.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past_the_end.headers()[CONTENT_RANGE], "bytes */200000");

    // Still bound to the session: another session, or no tag, finds nothing.
    let stranger = arrive(&apps.b).await;
    assert_eq!(
        get(&apps.b, &url, &stranger).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&apps.a, &upload_url("report.bin"), &cookie)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The same name again is numbered, not overwritten (through the other process).
    let (status, reply) = post_upload(
        &apps.b,
        Some(&cookie),
        None,
        files_upload(&[("notes.txt", "text/plain", b"second")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        objects(&s3).await,
        ["notes (1).txt", "notes.txt", "report.bin"]
    );
}

#[tokio::test]
async fn a_download_made_on_one_process_is_handed_out_once_by_either() {
    let (s3, redis) = tokio::join!(S3Server::start(), RedisServer::start());
    let apps = cluster(&s3, &redis).await;
    let cookie = arrive(&apps.a).await;

    let (status, reply) = post_event(
        &apps.a,
        Some(&cookie),
        None,
        "DownloadState.download_random_data",
        json!([]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let url = reply["actions"][0]["url"]
        .as_str()
        .expect("a download URL")
        .to_owned();
    assert!(url.starts_with("/_ferrex/download/"), "{url}");
    assert_eq!(
        objects(&s3).await.len(),
        1,
        "the payload waits in the store"
    );

    // Another session's fetch finds nothing and does not use the token up.
    let stranger = arrive(&apps.b).await;
    let refused = get(&apps.b, &url, &stranger).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    let fetched = get(&apps.b, &url, &cookie).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"random_numbers.csv\""
    );
    let csv = fetched.text().await.expect("the body");
    let numbers: Vec<u8> = csv
        .split(',')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(numbers.len(), 10, "{csv}");

    // Used up on every process.
    for server in [&apps.b, &apps.a] {
        let again = get(server, &url, &cookie).await;
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
    }
    // Deleted from the store once handed out (in the background, just after).
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !objects(&s3).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the fetched payload stays in the store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_the_object_store_down_an_upload_fails_with_503_and_leaves_no_temporary_file() {
    let (s3, redis) = tokio::join!(S3Server::start(), RedisServer::start());
    let apps = cluster(&s3, &redis).await;
    let cookie = arrive(&apps.a).await;
    drop(s3);

    let big = vec![b'x'; 9 * 1024 * 1024];
    for files in [
        vec![("small.txt", "text/plain", &b"tiny"[..])],
        // Past one part: the multipart put fails, not a single put.
        vec![("big.bin", "application/octet-stream", &big[..])],
    ] {
        let (status, reply) = post_upload(&apps.a, Some(&cookie), None, files_upload(&files)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
        let error = reply["error"].as_str().expect("a sentence");
        assert!(
            error.starts_with("the file store is unavailable: the upload was not kept"),
            "{error}"
        );
        assert_eq!(
            temp_files(apps.dir_a.path()),
            Vec::<std::path::PathBuf>::new()
        );
    }
    // The handler never ran.
    let shown = page(&apps.a, &cookie).await;
    assert!(shown.contains("Nothing uploaded yet."), "{shown}");
    assert!(!shown.contains("upload-status"), "{shown}");
}

#[tokio::test]
async fn a_streamed_download_is_served_by_its_process_and_refused_with_410_by_another() {
    let (s3, redis) = tokio::join!(S3Server::start(), RedisServer::start());
    let apps = cluster(&s3, &redis).await;
    let cookie = arrive(&apps.a).await;
    let make = || post_event(&apps.a, Some(&cookie), None, "Streams.make", json!([]));

    let (status, reply) = make().await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let url = reply["actions"][0]["url"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let elsewhere = get(&apps.b, &url, &cookie).await;
    assert_eq!(elsewhere.status(), StatusCode::GONE);
    let (_, body) = support::http::status_json(elsewhere).await;
    let sentence = body["error"].as_str().expect("a sentence");
    assert!(sentence.contains("session affinity"), "{sentence}");

    // The process that made it still has it.
    let here = get(&apps.a, &url, &cookie).await;
    assert_eq!(here.status(), StatusCode::OK);
    assert_eq!(here.text().await.expect("the body"), "streamed");
    assert_eq!(
        objects(&s3).await,
        Vec::<String>::new(),
        "a stream is not stored"
    );
}

#[tokio::test]
async fn the_files_example_keeps_files_in_s3_when_ferrex_files_url_is_set() {
    let (s3, redis) = tokio::join!(S3Server::start(), RedisServer::start());
    let dir = scratch("files-example-");
    let env = [
        (
            "FERREX_FILES_URL",
            format!("s3://{}/example", S3Server::BUCKET),
        ),
        ("FERREX_REDIS_URL", redis.url()),
        ("AWS_ENDPOINT_URL", s3.endpoint()),
        ("AWS_REGION", S3Server::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", S3Server::ACCESS_KEY_ID.to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            S3Server::SECRET_ACCESS_KEY.to_owned(),
        ),
    ];
    let app = AppProcess::start_launch(
        "files",
        Launch {
            features: "s3,redis".into(),
            env: env.map(|(k, v)| (k.to_owned(), v)).to_vec(),
            dir: Some(dir.path().to_owned()),
        },
    )
    .await;
    let server = TestServer::at(app.addr);
    let cookie = arrive(&server).await;

    let (status, reply) = post_upload(
        &server,
        Some(&cookie),
        None,
        files_upload(&[("from-env.txt", "text/plain", b"no code change")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let in_bucket = |prefix: &'static str| {
        let store = s3.store();
        async move {
            let mut names: Vec<String> = store
                .list(Some(&prefix.into()))
                .map(|meta| meta.expect("a listed object").location.to_string())
                .collect()
                .await;
            names.sort();
            names
        }
    };
    assert_eq!(in_bucket("example").await, ["example/from-env.txt"]);
    let shown = page(&server, &cookie).await;
    let served = get(&server, &linked_url(&shown, "from-env.txt"), &cookie).await;
    assert_eq!(served.text().await.expect("the body"), "no code change");

    // A generated download waits in the store too (Redis from FERREX_REDIS_URL).
    let (status, reply) = post_event(
        &server,
        Some(&cookie),
        None,
        "DownloadState.download_random_data",
        json!([]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let parked = in_bucket("example").await;
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert!(
        parked[0].starts_with("example/.ferrex-download-d"),
        "{parked:?}"
    );
    let url = reply["actions"][0]["url"].as_str().expect("a URL");
    assert_eq!(get(&server, url, &cookie).await.status(), StatusCode::OK);
    assert_eq!(
        get(&server, url, &cookie).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        listing(dir.path()),
        ["uploaded_files"],
        "only the (empty) folder of temporary files is on disk"
    );
}
