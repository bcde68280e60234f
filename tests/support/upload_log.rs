//! A state whose upload handlers record every file they receive under the tag the test
//! bound them with ([`calls`]), and a page of drop zones with and without limits
//! ([`limits_page`]): what the raw-HTTP and tus upload tests send their files to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrex::prelude::*;

/// One file as the handler saw it, and where `persist_to_upload_dir` put it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub name: String,
    pub relative_path: String,
    pub content_type: String,
    pub size: u64,
    pub bytes: Vec<u8>,
    /// `UploadFile::sha256` (`None` unless the app hashes uploads).
    pub sha256: Option<[u8; 32]>,
    /// The name `persist_to_upload_dir` saved it under (empty for `Up::peek`).
    pub saved: String,
}

/// Every call of an upload handler: its bound argument (a per-test tag) and what it saw of
/// its files (`T`).
pub struct CallLog<T> {
    calls: Mutex<Vec<(u64, Vec<T>)>>,
}

impl<T: Clone> CallLog<T> {
    /// An empty log, for a `static`.
    pub const fn new() -> CallLog<T> {
        CallLog {
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Notes one call with `tag`.
    pub fn record(&self, tag: u64, files: Vec<T>) {
        self.calls
            .lock()
            .expect("the call log is poisoned")
            .push((tag, files));
    }

    /// The calls made with `tag`, in order.
    pub fn calls(&self, tag: u64) -> Vec<Vec<T>> {
        self.calls
            .lock()
            .expect("the call log is poisoned")
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, files)| files.clone())
            .collect()
    }
}

/// Every call of an `Up` handler.
static CALLS: CallLog<Received> = CallLog::new();

/// Tags for tests; those below 1000 are kept for tests that bind their own (the page's
/// buttons bind 1 to 6).
static NEXT_TAG: AtomicU64 = AtomicU64::new(1000);

/// A tag no other test in this binary uses.
pub fn new_tag() -> u64 {
    NEXT_TAG.fetch_add(1, Ordering::Relaxed)
}

/// The calls of an `Up` handler made with `tag`, in order.
pub fn calls(tag: u64) -> Vec<Vec<Received>> {
    CALLS.calls(tag)
}

fn record(tag: u64, files: Vec<Received>) {
    CALLS.record(tag, files);
}

/// The state of [`limits_page`]: how many files its handlers kept.
#[derive(Default, Serialize, Deserialize)]
pub struct Up {
    received: u64,
}

#[event]
impl Up {
    /// Records the files and keeps them in the upload folder.
    pub async fn handle(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        let mut seen = Vec::new();
        for file in files {
            let bytes = file.bytes().await?.to_vec();
            let name = file.name.clone();
            let relative_path = file.relative_path.clone();
            let content_type = file.content_type.clone();
            let size = file.size;
            let sha256 = file.sha256();
            let saved = file.persist_to_upload_dir().await?;
            seen.push(Received {
                name,
                relative_path,
                content_type,
                size,
                bytes,
                sha256,
                saved: saved.name,
            });
        }
        self.received += seen.len() as u64;
        record(tag, seen);
        Ok(())
    }

    /// Looks at the files and keeps none.
    pub async fn peek(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        let mut seen = Vec::new();
        for file in &files {
            assert!(
                file.temp_path().exists(),
                "the temp file exists during the handler"
            );
            seen.push(Received {
                name: file.name.clone(),
                relative_path: file.relative_path.clone(),
                content_type: file.content_type.clone(),
                size: file.size,
                bytes: file.bytes().await?.to_vec(),
                sha256: file.sha256(),
                saved: String::new(),
            });
        }
        record(tag, seen);
        Ok(())
    }

    /// Bound to zone `z` only.
    pub async fn strict(&mut self, files: Vec<UploadFile>, tag: u64) -> Result<(), UploadError> {
        self.handle(files, tag).await
    }
}

/// Zones: `z` with every limit, `any` without limits, `one` taking a single file, `off`
/// disabled. `Up.handle` uploads all four, `Up.peek` only `any`, `Up.strict` only `z`.
pub fn limits_page(s: &Up) -> Node {
    ui! {
        vstack(
            text(s.received, id = "received"),
            upload(
                text("Limited"),
                id = "z",
                multiple = true,
                max_files = 2,
                max_size = 1000u32,
                min_size = 1u32,
                accept = [".txt", "image/*"],
            ),
            upload(text("Anything"), id = "any", multiple = true),
            upload(text("One file"), id = "one"),
            upload(text("Off"), id = "off", disabled = true),
            button("Send", on_click = Up::handle(upload_files("z"), 1)),
            button("Send any", on_click = Up::handle(upload_files("any"), 2)),
            button("Send one", on_click = Up::handle(upload_files("one"), 3)),
            button("Send strictly", on_click = Up::strict(upload_files("z"), 4)),
            button("Peek", on_click = Up::peek(upload_files("any"), 5)),
            button("Send off", on_click = Up::handle(upload_files("off"), 6)),
        )
    }
}
