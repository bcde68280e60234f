//! What a handler does with an [`UploadFile`] beyond `persist_to_upload_dir`, over real
//! HTTP: `persist(dest, overwrite)` to a folder of its choosing, and `stream()`, read in
//! chunks in the handler or handed back to the browser as a download. Each test checks
//! the bytes where they land and that no temporary file is left in the upload folder.

#[allow(unused_imports)] // the browser half of the helpers is unused here
mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrex::prelude::*;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Client, StatusCode};
use serde_json::json;
use support::TestServer;
use support::disk::{listing, pattern, scratch, temp_files};
use support::forms::upload_form;
use support::http::{session_client, status_json, upload_response};

// ---------------------------------------------------------------------------------------
// A state whose handlers persist and stream what they get.

/// One file as `Io::read_in_chunks` read it.
struct Read {
    tag: u64,
    /// The length of each chunk, in order.
    chunks: Vec<usize>,
    bytes: Vec<u8>,
}

/// Every file `Io::read_in_chunks` read.
static READS: Mutex<Vec<Read>> = Mutex::new(Vec::new());

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

#[derive(Default, Serialize, Deserialize)]
struct Io {
    /// Where each file was persisted, as `persist` answered.
    kept: Vec<String>,
}

#[event]
impl Io {
    /// Moves every file to `folder/<relative path>`.
    async fn persist_into(
        &mut self,
        files: Vec<UploadFile>,
        folder: String,
        overwrite: bool,
    ) -> Result<(), UploadError> {
        for file in files {
            let dest = Path::new(&folder).join(&file.relative_path);
            let kept = file.persist(dest, overwrite).await?;
            self.kept.push(kept.display().to_string());
        }
        Ok(())
    }

    /// Reads every file through `stream()`, recording the chunks under `tag`.
    async fn read_in_chunks(
        &mut self,
        files: Vec<UploadFile>,
        tag: u64,
    ) -> Result<(), UploadError> {
        for file in files {
            let mut stream = std::pin::pin!(file.stream().await?);
            let mut sizes = Vec::new();
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|source| UploadError::Io {
                    name: file.name.clone(),
                    source,
                })?;
                sizes.push(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            READS.lock().expect("the read log is poisoned").push(Read {
                tag,
                chunks: sizes,
                bytes,
            });
        }
        Ok(())
    }

    /// Sends the (first) file straight back as a download, streamed from its temporary
    /// file: the handler ends (and the temporary file's name is removed) before the
    /// browser fetches it.
    async fn echo(&mut self, files: Vec<UploadFile>) -> Result<Option<Download>, UploadError> {
        let Some(file) = files.into_iter().next() else {
            return Ok(None);
        };
        let stream = file.stream().await?;
        Ok(Some(
            Download::stream(stream, Some(file.size)).filename(format!("echo-{}", file.name)),
        ))
    }
}

fn io_page(s: &Io) -> Node {
    ui! {
        vstack(
            upload(text("Files"), id = "z", multiple = true),
            // Binds the handlers to the zone; the tests send their own arguments.
            button("Persist", on_click = Io::persist_into(upload_files("z"), "", false)),
            button("Read", on_click = Io::read_in_chunks(upload_files("z"), 0)),
            button("Echo", on_click = Io::echo(upload_files("z"))),
            text(s.kept.len(), id = "kept"),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// A scratch folder with the server's upload folder and a `kept/` folder for `persist`.
struct Setup {
    tmp: tempfile::TempDir,
    server: TestServer,
    client: Client,
}

impl Setup {
    async fn new() -> Setup {
        let tmp = scratch("upload-io-");
        let server = TestServer::start(
            App::new()
                .page("/", io_page)
                .upload_dir(tmp.path().join("uploads")),
        )
        .await;
        let client = session_client(&server).await;
        Setup {
            tmp,
            server,
            client,
        }
    }

    fn uploads(&self) -> PathBuf {
        self.tmp.path().join("uploads")
    }

    fn kept(&self) -> PathBuf {
        self.tmp.path().join("kept")
    }

    /// Uploads `files` through zone `z` to handler `h` called with `args` after the files.
    async fn upload(
        &self,
        h: &str,
        args: serde_json::Value,
        files: &[(&str, &[u8])],
    ) -> reqwest::Response {
        let mut all = vec![json!({ "$upload": "z" })];
        all.extend(args.as_array().cloned().unwrap_or_default());
        let event = json!({ "page": "/", "h": h, "args": all, "zone": "z" }).to_string();
        let files: Vec<(&str, &str, &[u8])> = files
            .iter()
            .map(|(name, bytes)| (*name, "application/octet-stream", *bytes))
            .collect();
        upload_response(
            &self.client,
            &self.server,
            None,
            None,
            upload_form(event, &files),
        )
        .await
    }

    /// Asserts no upload left a temporary file behind.
    fn assert_no_temp_files(&self) {
        assert_eq!(
            temp_files(&self.uploads()),
            Vec::<PathBuf>::new(),
            "temporary files left in the upload folder"
        );
    }
}

// ---------------------------------------------------------------------------------------
// persist(dest, overwrite).

#[tokio::test]
async fn persist_moves_each_file_to_its_destination_creating_folders() {
    let setup = Setup::new().await;
    let kept = setup.kept();
    let report = pattern(300_000, 1);
    let response = setup
        .upload(
            "Io.persist_into",
            json!([kept.display().to_string(), false]),
            &[
                ("report.pdf", &report),
                ("album/2024/cover.png", b"png bytes"),
            ],
        )
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    assert_eq!(
        listing(&kept),
        ["album", "album/2024", "album/2024/cover.png", "report.pdf"]
    );
    assert_eq!(
        std::fs::read(kept.join("report.pdf")).expect("kept"),
        report
    );
    assert_eq!(
        std::fs::read(kept.join("album/2024/cover.png")).expect("kept"),
        b"png bytes"
    );
    // Moved, not copied: nothing of them is left in the upload folder.
    assert_eq!(listing(&setup.uploads()), Vec::<String>::new());
}

#[tokio::test]
async fn persist_keeps_an_existing_file_unless_told_to_overwrite() {
    let setup = Setup::new().await;
    let kept = setup.kept();
    std::fs::create_dir_all(&kept).expect("the kept folder");
    std::fs::write(kept.join("notes.txt"), b"the old notes").expect("an existing file");
    let folder = kept.display().to_string();

    let response = setup
        .upload(
            "Io.persist_into",
            json!([folder, false]),
            &[("notes.txt", b"new notes")],
        )
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(
        reply["error"], "a file named `notes.txt` already exists",
        "{reply}"
    );
    assert_eq!(
        std::fs::read(kept.join("notes.txt")).expect("kept"),
        b"the old notes"
    );
    setup.assert_no_temp_files();

    let response = setup
        .upload(
            "Io.persist_into",
            json!([folder, true]),
            &[("notes.txt", b"new notes")],
        )
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        std::fs::read(kept.join("notes.txt")).expect("kept"),
        b"new notes"
    );
    assert_eq!(listing(&kept), ["notes.txt"]);
    setup.assert_no_temp_files();
}

// ---------------------------------------------------------------------------------------
// stream().

#[tokio::test]
async fn stream_reads_a_file_whole_in_order_and_in_pieces() {
    let setup = Setup::new().await;
    let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    // Over a megabyte, not a multiple of any power-of-two chunk size.
    let big = pattern(1_300_001, 7);
    let response = setup
        .upload(
            "Io.read_in_chunks",
            json!([tag]),
            &[("big.bin", &big), ("empty.bin", b""), ("small.txt", b"hi")],
        )
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    let reads: Vec<(Vec<usize>, Vec<u8>)> = READS
        .lock()
        .expect("the read log is poisoned")
        .iter()
        .filter(|read| read.tag == tag)
        .map(|read| (read.chunks.clone(), read.bytes.clone()))
        .collect();
    assert_eq!(reads.len(), 3, "one read per file");
    let (sizes, bytes) = &reads[0];
    assert!(bytes == &big, "the big file's bytes, in order");
    // Not held in memory whole: several chunks, each a fraction of the file.
    assert!(sizes.len() > 1, "one chunk for {} bytes", big.len());
    assert!(
        sizes.iter().all(|&n| n > 0 && n < big.len() / 2),
        "chunk sizes {sizes:?}"
    );
    assert_eq!(
        reads[1],
        (vec![], vec![]),
        "an empty file is an empty stream"
    );
    assert_eq!(reads[2].1, b"hi");
    // Reading does not keep: the files are gone with the handler.
    assert_eq!(listing(&setup.uploads()), Vec::<String>::new());
}

#[tokio::test]
async fn an_upload_streamed_back_as_a_download_arrives_whole() {
    let setup = Setup::new().await;
    let content = pattern(2_000_000, 3);
    let response = setup
        .upload("Io.echo", json!([]), &[("capture.bin", &content)])
        .await;
    let (status, reply) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let actions = reply["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{reply}");
    let url = actions[0]["url"].as_str().expect("a download URL");
    assert!(url.starts_with("/_ferrex/download/"), "{url}");
    // The handler is over: its upload's temporary file is already gone by name.
    setup.assert_no_temp_files();

    let fetched = setup
        .client
        .get(setup.server.url(url))
        .send()
        .await
        .expect("GET the download");
    assert_eq!(fetched.status(), StatusCode::OK);
    let header = |name| {
        fetched
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(CONTENT_DISPOSITION).as_deref(),
        Some("attachment; filename=\"echo-capture.bin\"")
    );
    assert_eq!(header(CONTENT_LENGTH), Some(content.len().to_string()));
    assert_eq!(
        header(CONTENT_TYPE).as_deref(),
        Some("application/octet-stream")
    );
    let body = fetched.bytes().await.expect("the body");
    assert!(body.as_ref() == content.as_slice(), "the bytes sent back");
    assert_eq!(listing(&setup.uploads()), Vec::<String>::new());
}
