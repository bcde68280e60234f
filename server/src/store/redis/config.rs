//! A [`RedisStore`](super::RedisStore)'s settings, and what can go wrong talking to it.

use std::time::Duration;

/// Settings of a [`RedisStore`](super::RedisStore); every one has a documented default.
#[derive(Clone, Debug)]
pub struct RedisStoreConfig {
    /// The first part of every key (default `ferrex`): several apps can share one Redis.
    pub prefix: String,
    /// How long a lease lasts unless renewed (default 5 s): the longest a process that died
    /// holding a session keeps other processes waiting for it.
    pub lease: Duration,
    /// How long a session's keys live after their last use (default 24 h): idle expiry.
    pub idle: Duration,
    /// How long [`RedisStore::acquire`](super::RedisStore::acquire) waits for a busy session before
    /// giving up (default 10 s).
    pub acquire_wait: Duration,
    /// How long one Redis command may take before it fails (default 5 s).
    pub response_timeout: Duration,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        RedisStoreConfig {
            prefix: "ferrex".to_owned(),
            lease: Duration::from_secs(5),
            idle: Duration::from_secs(24 * 60 * 60),
            acquire_wait: Duration::from_secs(10),
            response_timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong talking to the Redis store.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    /// Redis could not be reached or refused the command.
    #[error("the Redis session store is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// The session never existed in this store, or expired after being idle.
    #[error("the session does not exist or expired")]
    NoSuchSession,
    /// Another process held the session for the whole wait.
    #[error("the session is in use by another process and was not released within {0:?}")]
    Busy(Duration),
    /// A commit through a lease with another commit on its way, or whose previous commit
    /// came back without an answer (it may or may not have been applied): acquire the
    /// session again to learn what is stored.
    #[error(
        "another write through this lease is on its way or may or may not have been applied; acquire the session again"
    )]
    InDoubt,
    /// A write names a field the store keeps for itself (a name starting with `#`).
    #[error("the field name {0:?} is reserved by the session store (names starting with `#`)")]
    ReservedField(String),
    /// A script answered in a shape this code does not know (a different script under the
    /// same name, or a Redis that is not Redis).
    #[error("the Redis session store answered unexpectedly: {0}")]
    UnexpectedReply(&'static str),
}
