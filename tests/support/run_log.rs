//! A log of handler runs, keyed by a tag each test draws for itself: a handler given
//! `tag` calls [`ran`], and the test counts its own runs with [`runs`], however many
//! tests share the binary's handlers at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The tags of every handler run so far.
static RUNS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A tag no other test in this binary uses.
pub fn new_tag() -> u64 {
    NEXT_TAG.fetch_add(1, Ordering::Relaxed)
}

/// Records a run of a handler given `tag`.
pub fn ran(tag: u64) {
    RUNS.lock().expect("the run log is poisoned").push(tag);
}

/// How many handler runs carried `tag`.
pub fn runs(tag: u64) -> usize {
    RUNS.lock()
        .expect("the run log is poisoned")
        .iter()
        .filter(|t| **t == tag)
        .count()
}
