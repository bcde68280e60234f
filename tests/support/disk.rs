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
