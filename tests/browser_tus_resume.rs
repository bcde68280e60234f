//! A resumable upload in real Chromium: the network is taken away mid-upload and given
//! back; the runtime asks the server what it kept and sends only the rest. DevTools
//! (`Network.emulateNetworkConditions`, through ChromeDriver's `goog/cdp/execute`) throttles
//! the upload so that the cut lands mid-way, and goes offline for the outage; since
//! Chromium's offline mode leaves requests already under way alone, the connections are
//! also cut where a network would cut them, in a TCP relay between browser and server. A
//! layer in front of the app counts the bytes the server receives.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use ferrex::prelude::*;
use futures_util::StreamExt;
use sha2::Digest;
use support::disk::{names_in, scratch};
use support::{Browser, TestServer};

#[derive(Default, Serialize, Deserialize)]
struct Resume {
    /// `name:size:sha256-hex` of every file received.
    got: Vec<String>,
    /// The last progress report, `loaded/total`.
    progress: String,
}

#[event]
impl Resume {
    async fn take(&mut self, files: Vec<UploadFile>) -> Result<(), UploadError> {
        for file in files {
            let hex: String = file
                .sha256()
                .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
                .unwrap_or_default();
            self.got.push(format!("{}:{}:{hex}", file.name, file.size));
            file.persist_to_upload_dir().await?;
        }
        Ok(())
    }

    fn progress(&mut self, progress: UploadProgress) {
        self.progress = format!("{}/{}", progress.loaded, progress.total);
    }
}

fn page(s: &Resume) -> Node {
    ui! {
        vstack(
            upload(text("Drop here"), id = "u"),
            button("Send", id = "send",
                   on_click = Resume::take(upload_files("u", on_upload_progress = Resume::progress))),
            text({ &s.progress }, id = "progress"),
            list(
                for item in &s.got {
                    list_item(item, key = item)
                },
                id = "got",
            ),
        )
    }
}

/// What the server has read of tus `PATCH` bodies, and how many `PATCH`es came.
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    patches: AtomicU64,
}

/// Counts the bytes of `PATCH` bodies as the server reads them.
fn counting_patches(router: axum::Router, received: Arc<Received>) -> axum::Router {
    router.layer(axum::middleware::map_request(
        move |request: axum::extract::Request| {
            let received = received.clone();
            async move {
                if request.method() != axum::http::Method::PATCH {
                    return request;
                }
                received.patches.fetch_add(1, Ordering::SeqCst);
                let (parts, body) = request.into_parts();
                let counted = body.into_data_stream().then(move |chunk| {
                    let received = received.clone();
                    async move {
                        if let Ok(bytes) = &chunk {
                            received
                                .bytes
                                .fetch_add(bytes.len() as u64, Ordering::SeqCst);
                        }
                        chunk
                    }
                });
                axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(counted))
            }
        },
    ))
}

/// A TCP relay to `server` on a port of its own, whose connections [`Relay::cut`] severs.
struct Relay {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(server: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("the relay's address");
        let cut = tokio::sync::watch::Sender::new(0u64);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut browser_side, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server_side) = tokio::net::TcpStream::connect(server).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut browser_side, &mut server_side) => {}
                        _ = cut.changed() => {}
                    }
                    // Dropped here: both connections close, mid-request or not.
                });
            }
        });
        Relay { addr, cut, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Closes every connection open through the relay.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A DevTools command, run by ChromeDriver (`POST /session/<id>/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.0, "params": self.1 });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Takes the network away (`offline`) or gives it back, uploads throttled to `upload` bytes
/// a second (-1: not throttled).
async fn network(browser: &Browser, offline: bool, upload: i64) {
    browser
        .client()
        .issue_cmd(Cdp(
            "Network.emulateNetworkConditions",
            serde_json::json!({
                "offline": offline, "latency": 0,
                "downloadThroughput": -1, "uploadThroughput": upload,
            }),
        ))
        .await
        .unwrap_or_else(|e| panic!("DevTools refused the network conditions: {e}"));
}

/// The browser's upload rate, in bytes a second.
const RATE: i64 = 2 * 1024 * 1024;

#[tokio::test]
async fn an_upload_cut_off_by_the_network_resumes_from_the_servers_offset() {
    let tmp = scratch("browser-tus-");
    let uploads = tmp.path().join("uploads");
    let received = Arc::new(Received::default());
    let size: u64 = 8 * 1024 * 1024;
    let router = counting_patches(
        App::new()
            .page("/", page)
            .upload_dir(&uploads)
            .upload_sha256(true)
            .into_router(),
        received.clone(),
    );
    let server = TestServer::start_router(router).await;
    let relay = Relay::start(server.addr).await;
    let mut browser = Browser::start().await;
    browser.set_wait_timeout(Duration::from_secs(60));
    let file = tmp.path().join("big.bin");
    let bytes: Vec<u8> = (0..size as usize)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add((i >> 13) as u8))
        .collect();
    std::fs::write(&file, &bytes).expect("write the file");
    browser.open(&relay.url("/")).await;
    browser
        .client()
        .issue_cmd(Cdp("Network.enable", serde_json::json!({})))
        .await
        .expect("Network.enable");
    network(&browser, false, RATE).await;

    browser.choose_files("u", &[&file]).await;
    browser
        .wait_for_js("window.ferrex.selected('u').length === 1")
        .await;
    browser.click("#send").await;
    let started = std::time::Instant::now();

    // Around half-way, the network goes away, then comes back.
    support::wait_until("half of the file to arrive", || {
        received.bytes.load(Ordering::SeqCst) >= size / 2
    })
    .await;
    let at_half = started.elapsed();
    network(&browser, true, RATE).await;
    relay.cut();
    let at_cut = received.bytes.load(Ordering::SeqCst);
    println!("half after {at_half:?}; {at_cut} bytes when offline");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    network(&browser, false, RATE).await;

    browser
        .wait_for_js("document.querySelectorAll('#got li').length === 1")
        .await;
    let got = browser
        .js("return document.querySelector('#got li').textContent;")
        .await;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, format!("big.bin:{size}:{hex}"));
    assert_eq!(names_in(&uploads), ["big.bin"]);
    assert!(
        std::fs::read(uploads.join("big.bin")).expect("on disk") == bytes,
        "the file arrived intact"
    );
    let total = received.bytes.load(Ordering::SeqCst);
    let patches = received.patches.load(Ordering::SeqCst);
    println!(
        "cut at {at_cut} of {size} bytes; {total} bytes received in {patches} PATCH requests ({:.3}x)",
        total as f64 / size as f64
    );
    assert!(at_cut < size, "the cut came before the end");
    assert!(patches >= 2, "the upload was resumed ({patches} PATCH)");
    assert!(
        total as f64 <= 1.1 * size as f64,
        "{total} bytes received for a {size}-byte file"
    );
    // The progress report ends at the whole file.
    browser
        .wait_for_js(&format!(
            "document.getElementById('progress').textContent === '{size}/{size}'"
        ))
        .await;
}
