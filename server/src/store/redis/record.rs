//! What a session holds in Redis, what one commit writes, and how it went.

use std::collections::BTreeMap;

/// A session's stored fields and the counters that come with them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// The fence of the latest acquire (0: never acquired, or expired).
    pub fence: u64,
    /// How many writes were applied (0: nothing stored yet).
    pub rev: u64,
    /// The fields written so far, by name.
    pub fields: BTreeMap<String, Vec<u8>>,
}

/// What [`RedisStore::acquire_and_load`](super::RedisStore::acquire_and_load) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// The stored `rev` is the one the caller has cached: its copy is current.
    Unchanged {
        /// The stored revision.
        rev: u64,
    },
    /// The stored record (empty fields and `rev` 0 for a session never written).
    Record(SessionRecord),
}

/// The fields one [`RedisStore::commit`](super::RedisStore::commit) changes; fields it does
/// not name keep their value.
///
/// ```
/// use ferrex_server::store::redis::SessionWrite;
/// let write = SessionWrite::new().set("Counter", b"{\"count\":1}".to_vec()).remove("Old");
/// assert!(!write.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionWrite {
    pub(super) set: Vec<(String, Vec<u8>)>,
    pub(super) remove: Vec<String>,
    /// Leave the idle expiry as it is (see [`SessionWrite::leave_idle_expiry`]).
    pub(super) leave_idle: bool,
}

impl SessionWrite {
    /// A write that changes nothing (committing it still refreshes the idle expiry).
    pub fn new() -> SessionWrite {
        SessionWrite::default()
    }

    /// Leaves the idle expiry of the session's keys where the last refresh put it, for a caller
    /// that refreshed it a small part of [`RedisStoreConfig::idle`](super::RedisStoreConfig::idle)
    /// ago: Redis then runs two commands fewer. The session still expires once idle for
    /// [`RedisStoreConfig::idle`](super::RedisStoreConfig::idle) after that refresh. A write that
    /// adds a field (which may make the `state` key) refreshes the expiry all the same, so no key
    /// is ever left without one.
    pub fn leave_idle_expiry(mut self) -> SessionWrite {
        self.leave_idle = true;
        self
    }

    /// Stores `value` under `field`. Names starting with `#` are the store's own: a commit naming
    /// one is refused ([`RedisStoreError::ReservedField`](super::RedisStoreError::ReservedField)).
    pub fn set(mut self, field: impl Into<String>, value: impl Into<Vec<u8>>) -> SessionWrite {
        self.set.push((field.into(), value.into()));
        self
    }

    /// Deletes `field`.
    pub fn remove(mut self, field: impl Into<String>) -> SessionWrite {
        self.remove.push(field.into());
        self
    }

    /// Whether it names no field.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// What [`RedisStore::commit`](super::RedisStore::commit) does with the lease once the write is
/// applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCommit {
    /// Give it up: the next event of this session may run on any process.
    Release,
    /// Keep it, renewed to a full lease, so this process runs the session's next event
    /// without acquiring it again — unless another process asked for the session while it
    /// was held (`asked` in [`Commit::Applied`]): then it is given back all the same.
    Keep,
    /// Keep it as [`AfterCommit::Keep`] does, but without renewing it or checking that it is still
    /// there (`lease_held` in [`Commit::Applied`] then says it is): for a lease the caller renewed
    /// a small part of [`RedisStoreConfig::lease`](super::RedisStoreConfig::lease) ago. One Redis
    /// command fewer; should the lease have run out all the same, the fence still refuses this
    /// holder's writes once another process acquired the session.
    KeepUnrenewed,
}

/// The outcome of a [`RedisStore::commit`](super::RedisStore::commit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The write was applied.
    Applied {
        /// The session's revision after this write.
        rev: u64,
        /// Whether the caller still holds the lease (asked to keep it, it had not expired,
        /// and no other process asked for it).
        lease_held: bool,
        /// Whether another process asked for the session while this lease was held (an
        /// acquire found it busy): the lease was given back, whatever `then` said.
        asked: bool,
    },
    /// Refused: another process acquired the session after this lease was taken, so this
    /// write would overwrite newer state. Nothing was changed.
    Stale,
}
