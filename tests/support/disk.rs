//! Scratch folders under `CARGO_TARGET_TMPDIR` and what a test finds in them.

use std::path::{Path, PathBuf};

/// A fresh, empty folder `CARGO_TARGET_TMPDIR/<prefix>XXXXXX` (removed when dropped).
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", base.display()));
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("cannot create a folder in {}: {e}", base.display()))
}

/// Every entry under `dir` (files and folders, temporary upload files included; links are
/// listed, not followed), relative to `dir` and sorted; empty if `dir` does not exist.
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(base)
                    .expect("inside the folder")
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The names of the entries directly in `dir` (temporary upload files included), sorted;
/// empty if `dir` does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The temporary files of uploads in progress anywhere under `dir` (the server streams an
/// upload into `.ferrex-upload-…` until its handler is done with it).
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    listing(dir)
        .into_iter()
        .map(|relative| dir.join(relative))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(".ferrex-upload-"))
        })
        .collect()
}

/// A scratch folder for an upload test: `local/` holds the files a client (the browser's
/// picker, a drag from the desktop) sends, `uploads/` is the server's upload folder (not
/// created: the server makes it). Removed when dropped.
pub struct UploadScratch {
    dir: tempfile::TempDir,
}

impl UploadScratch {
    /// A fresh `CARGO_TARGET_TMPDIR/<prefix>XXXXXX` with an empty `local/`.
    pub fn new(prefix: &str) -> UploadScratch {
        let dir = scratch(prefix);
        std::fs::create_dir(dir.path().join("local")).expect("local folder");
        UploadScratch { dir }
    }

    /// The server's upload folder.
    pub fn uploads(&self) -> PathBuf {
        self.dir.path().join("uploads")
    }

    /// `local/<relative>`, whether or not it exists.
    pub fn local(&self, relative: &str) -> PathBuf {
        self.dir.path().join("local").join(relative)
    }

    /// Writes `local/<relative>` (creating its folders); returns its absolute path.
    pub fn file(&self, relative: &str, bytes: &[u8]) -> PathBuf {
        let path = self.local(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("cannot create a local folder");
        }
        std::fs::write(&path, bytes).expect("cannot write a local file");
        path
    }

    /// A local file of `len` bytes that takes no disk space; returns its absolute path.
    pub fn sparse(&self, name: &str, len: u64) -> PathBuf {
        let path = self.local(name);
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(len))
            .expect("cannot make a sparse file");
        path
    }

    /// The folder `<name>` beside `local/` (created if missing), e.g. an app's assets.
    pub fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        path
    }
}

/// `len` bytes that are not all alike, so a mix-up shows; each 2 KiB block (up to 512 KiB)
/// differs from the others, so a block written out of place shows too.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}
