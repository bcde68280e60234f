//! The lease: the right to run a session's events, and the keeper that renews it while a
//! long handler runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::session::SessionId;

/// The right to run one session's events, held by one process at a time.
///
/// Obtained from [`RedisStore::acquire`](super::RedisStore::acquire) or
/// [`RedisStore::acquire_and_load`](super::RedisStore::acquire_and_load); pass it back to
/// [`RedisStore::commit`](super::RedisStore::commit),
/// [`RedisStore::renew`](super::RedisStore::renew) and
/// [`RedisStore::release`](super::RedisStore::release).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub(super) fence: u64,
    /// Shared by the lease's copies (the running event's, the kept one's): cloning a
    /// lease is one reference count.
    pub(super) held: Arc<HeldLease>,
}

#[derive(Debug)]
pub(super) struct HeldLease {
    pub(super) sid: SessionId,
    pub(super) token: String,
    /// The session's keys, formatted once at the acquire for every call the lease makes
    /// (a kept lease commits many events).
    pub(super) keys: SessionKeys,
    /// The session's revision as of this holder's last applied write (or its acquire):
    /// the next write stores this + 1. [`REV_IN_DOUBT`] once a commit failed without an
    /// answer, which may or may not have been applied.
    pub(super) rev: AtomicU64,
}

/// A lease's revision after a commit that may or may not have been applied.
pub(super) const REV_IN_DOUBT: u64 = u64::MAX;

impl PartialEq for HeldLease {
    fn eq(&self, other: &HeldLease) -> bool {
        self.sid == other.sid && self.token == other.token && self.keys == other.keys
    }
}

impl Eq for HeldLease {}

/// A session's keys under its hash tag.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SessionKeys {
    pub(super) lease: String,
    pub(super) meta: String,
    pub(super) state: String,
}

impl Lease {
    /// The session this lease is for.
    pub fn session(&self) -> &SessionId {
        &self.held.sid
    }

    /// This holder's random token (never shared with clients).
    pub fn token(&self) -> &str {
        &self.held.token
    }

    /// The fencing number: every acquire of this session gets a larger one than the last.
    pub fn fence(&self) -> u64 {
        self.fence
    }
}

/// Keeps a lease renewed in the background; stops when dropped (see
/// [`RedisStore::keep_alive`](super::RedisStore::keep_alive)).
pub struct LeaseKeeper {
    pub(super) lost: Arc<AtomicBool>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    /// Whether a renewal found the lease gone: the handler's write will be refused if
    /// another process took the session since.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}
