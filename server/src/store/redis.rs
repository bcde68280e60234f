//! Sessions in Redis: a lease with a fencing counter decides which process runs a session's
//! event, and every write is an atomic compare-and-set on that lease, so a stale process
//! can never overwrite newer state.
//!
//! # An event, step by step
//!
//! ```no_run
//! use ferrex_server::SessionId;
//! use ferrex_server::store::redis::{
//!     AfterCommit, Commit, RedisStore, RedisStoreConfig, SessionWrite,
//! };
//!
//! # async fn event(sid: SessionId) -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379", RedisStoreConfig::default()).await?;
//! // One round trip: the lease, and the session's fields.
//! let (lease, loaded) = store.acquire_and_load(&sid, None).await?;
//! // Renews the lease while the handler runs, however long it takes.
//! let keeper = store.keep_alive(&lease);
//! // … run the handler on the states in `loaded` …
//! drop(keeper);
//! // One round trip: the write, only if no other process took the session meanwhile, and
//! // the lease given back.
//! let write = SessionWrite::new().set("Counter", br#"{"count":2}"#.to_vec());
//! match store.commit(&lease, &write, AfterCommit::Release).await? {
//!     Commit::Applied { .. } => { /* answer the browser */ }
//!     Commit::Stale => { /* newer state exists: the event was not applied */ }
//! }
//! # Ok(()) }
//! ```
//!
//! # Keys
//!
//! A session's keys share the hash tag `{sid}`, so they live in one Redis Cluster slot and
//! one Lua script may touch them all:
//!
//! | key | type | holds | expiry |
//! |---|---|---|---|
//! | `ferrex:{sid}:lease` | string | the holder's random token | the lease ([`RedisStoreConfig::lease`]) |
//! | `ferrex:{sid}:meta` | hash | `fence` (incremented on every acquire), `owner` (the last acquirer's token), `wanted` (an acquire found the lease taken) | idle ([`RedisStoreConfig::idle`]) |
//! | `ferrex:{sid}:state` | hash | the session's fields (e.g. one per state type), opaque bytes, and `#rev` (how many writes were applied) | idle |
//! | `ferrex:once:KEY` | string | a one-time value ([`RedisStore::put_once`]) | its own |
//!
//! # Why a write cannot be stale
//!
//! Acquiring bumps `fence` and records the acquirer's token as `owner`, in the same script
//! as `SET NX PX` of the lease. A write applies only if `owner` is still the writer's token:
//! once any other process has acquired the session, the earlier holder's writes are refused,
//! whether its lease expired while it was paused, slow or cut off. A holder whose lease
//! expired while nobody else acquired may still write: nothing newer exists to overwrite.
//! The revision travels with the write: the holder knows it (it read it when it acquired,
//! and only it has written since), so a commit is two commands inside its script, the
//! owner check and one `HSET` of the fields and `#rev`. Only [`RedisStore::create`] makes keys; the other calls refuse a session id that Redis
//! does not know ([`RedisStoreError::NoSuchSession`]), so ids a client makes up cost
//! nothing. The token is 128 random bits, so this holds even after the session's keys expired and
//! the fence counter restarted. Correctness rests on the scripts alone, never on clocks
//! agreeing, pub/sub or keyspace events; the lease's expiry only bounds how long a dead
//! process keeps others waiting.
//!
//! # Round trips per event
//!
//! Every operation is one `EVALSHA` (one round trip; the script is loaded once per Redis
//! server on first use):
//!
//! | step | call | round trips |
//! |---|---|---|
//! | lease + state (the state's bytes only if they changed since the caller's cached `rev`) | [`RedisStore::acquire_and_load`] | 1 |
//! | write + release | [`RedisStore::commit`] with [`AfterCommit::Release`] | 1 |
//! | write, keep the lease for the next queued event | [`RedisStore::commit`] with [`AfterCommit::Keep`] (or [`AfterCommit::KeepUnrenewed`]) | 1 |
//!
//! So an event costs two round trips when its process does not hold the session's lease,
//! and one when it kept the lease from the session's previous event ([`AfterCommit::Keep`]):
//! a burst of `n` events costs `n + 1`, plus a [`RedisStore::release`] if the lease is
//! given back without a write. An acquire that finds the lease taken marks the session
//! `wanted`, and the holder's next commit gives the lease back even when asked to keep it
//! (`asked` in [`Commit::Applied`]), so a process keeping a lease never keeps others out for
//! longer than its next event. A long handler adds one [`RedisStore::renew`] per third of
//! the lease ([`LeaseKeeper`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Script, Value};

use crate::session::SessionId;

/// Settings of a [`RedisStore`]; every one has a documented default.
#[derive(Clone, Debug)]
pub struct RedisStoreConfig {
    /// The first part of every key (default `ferrex`): several apps can share one Redis.
    pub prefix: String,
    /// How long a lease lasts unless renewed (default 5 s): the longest a process that died
    /// holding a session keeps other processes waiting for it.
    pub lease: Duration,
    /// How long a session's keys live after their last use (default 24 h): idle expiry.
    pub idle: Duration,
    /// How long [`RedisStore::acquire`] waits for a busy session before giving up
    /// (default 10 s).
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
    /// A commit through a lease whose previous commit failed without an answer (it may or
    /// may not have been applied): acquire the session again to learn what is stored.
    #[error(
        "an earlier write through this lease may or may not have been applied; acquire the session again"
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

/// The right to run one session's events, held by one process at a time.
///
/// Obtained from [`RedisStore::acquire`] or [`RedisStore::acquire_and_load`]; pass it back to
/// [`RedisStore::commit`], [`RedisStore::renew`] and [`RedisStore::release`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    fence: u64,
    /// Shared by the lease's copies (the running event's, the kept one's): cloning a
    /// lease is one reference count.
    held: Arc<HeldLease>,
}

#[derive(Debug)]
struct HeldLease {
    sid: SessionId,
    token: String,
    /// The session's keys, formatted once at the acquire for every call the lease makes
    /// (a kept lease commits many events).
    keys: SessionKeys,
    /// The session's revision as of this holder's last applied write (or its acquire):
    /// the next write stores this + 1. [`REV_IN_DOUBT`] once a commit failed without an
    /// answer, which may or may not have been applied.
    rev: AtomicU64,
}

/// A lease's revision after a commit that may or may not have been applied.
const REV_IN_DOUBT: u64 = u64::MAX;

impl PartialEq for HeldLease {
    fn eq(&self, other: &HeldLease) -> bool {
        self.sid == other.sid && self.token == other.token && self.keys == other.keys
    }
}

impl Eq for HeldLease {}

/// A session's keys under its hash tag.
#[derive(Debug, PartialEq, Eq)]
struct SessionKeys {
    lease: String,
    meta: String,
    state: String,
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

/// What [`RedisStore::acquire_and_load`] found.
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

/// The fields one [`RedisStore::commit`] changes; fields it does not name keep their value.
///
/// ```
/// use ferrex_server::store::redis::SessionWrite;
/// let write = SessionWrite::new().set("Counter", b"{\"count\":1}".to_vec()).remove("Old");
/// assert!(!write.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionWrite {
    set: Vec<(String, Vec<u8>)>,
    remove: Vec<String>,
    /// Leave the idle expiry as it is (see [`SessionWrite::leave_idle_expiry`]).
    leave_idle: bool,
}

impl SessionWrite {
    /// A write that changes nothing (committing it still refreshes the idle expiry).
    pub fn new() -> SessionWrite {
        SessionWrite::default()
    }

    /// Leaves the idle expiry of the session's keys where the last refresh put it, for a
    /// caller that refreshed it a small part of [`RedisStoreConfig::idle`] ago: Redis
    /// then runs two commands fewer. The session still expires once idle for
    /// [`RedisStoreConfig::idle`] after that refresh. A write that adds a field (which may
    /// make the `state` key) refreshes the expiry all the same, so no key is ever left
    /// without one.
    pub fn leave_idle_expiry(mut self) -> SessionWrite {
        self.leave_idle = true;
        self
    }

    /// Stores `value` under `field`. Names starting with `#` are the store's own: a commit
    /// naming one is refused ([`RedisStoreError::ReservedField`]).
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

/// What [`RedisStore::commit`] does with the lease once the write is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCommit {
    /// Give it up: the next event of this session may run on any process.
    Release,
    /// Keep it, renewed to a full lease, so this process runs the session's next event
    /// without acquiring it again — unless another process asked for the session while it
    /// was held (`asked` in [`Commit::Applied`]): then it is given back all the same.
    Keep,
    /// Keep it as [`AfterCommit::Keep`] does, but without renewing it or checking that it is
    /// still there (`lease_held` in [`Commit::Applied`] then says it is): for a lease the
    /// caller renewed a small part of [`RedisStoreConfig::lease`] ago. One Redis command
    /// fewer; should the lease have run out all the same, the fence still refuses this
    /// holder's writes once another process acquired the session.
    KeepUnrenewed,
}

/// The outcome of a [`RedisStore::commit`].
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

/// A Redis connection (reconnecting by itself) and the scripts the store runs on it.
///
/// Cloning is cheap and shares the connection: Redis commands from many tasks are
/// pipelined on it.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    config: Arc<RedisStoreConfig>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    acquire: Script,
    commit: Script,
    renew: Script,
    release: Script,
    load: Script,
    register: Script,
    load_changed: Script,
}

/// `EVALSHA` of `script` with `keys`, built straight into one command (redis-rs's
/// `ScriptInvocation` copies every key and argument twice on the way); the caller adds
/// the arguments and runs it with [`RedisStore::run`].
fn evalsha(script: &Script, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len());
    for key in keys {
        cmd.arg(*key);
    }
    cmd
}

/// `KEYS`: lease, meta, state. `ARGV`: token, lease ms, idle ms, load (0/1), cached rev,
/// create (0/1), ask (0/1). Answers `{2}` for a session that does not exist when not
/// creating (and creates nothing), `{0, lease pttl}` when busy (having marked the session
/// `wanted` when asking, so a holder keeping the lease gives it back at its next commit),
/// else `{1, fence, rev}` (rev as a string) plus the state's `HGETALL` when asked to load and
/// the rev differs from the cached one. A new holder starts with no `wanted` mark: whoever still waits
/// marks it again at its next try.
const ACQUIRE_LUA: &str = r"
if ARGV[6] == '0' and redis.call('EXISTS', KEYS[2]) == 0 then
  return {2}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[7] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'wanted', '1')
  end
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('HINCRBY', KEYS[2], 'fence', '1')
redis.call('HSET', KEYS[2], 'owner', ARGV[1])
redis.call('HDEL', KEYS[2], 'wanted')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
local rev = redis.call('HGET', KEYS[3], '#rev') or '0'
if ARGV[4] == '0' or ARGV[5] == rev then
  return {1, fence, rev}
end
return {1, fence, rev, redis.call('HGETALL', KEYS[3])}
";

/// `KEYS`: lease, meta, state. `ARGV`: token, idle ms, refresh the idle expiry (1) or
/// leave it (0), release (1) or keep (0), renew a kept lease (1) or not (0), lease ms,
/// number of field/value pairs set (`#rev` and the new revision the last of them), then
/// the pairs, then the fields to delete.
/// Answers `{0}` when the caller is no longer the owner, else `{1, lease held, asked}`:
/// a lease another process asked for (`wanted`) is given back even when keeping was asked.
/// A write that adds a field refreshes the idle expiry even when asked to leave it: the
/// `state` key it may have made must expire too. The lease is not read: while the caller
/// is the owner, no other process acquired since, so the lease key, if it still exists,
/// is the caller's (only an acquire writes it, and an acquire makes its token the owner).
/// Kept without renewing, it is taken to be there still: the caller renewed it a small
/// part of a lease ago (and should the process have stalled since, its next commit is
/// fenced all the same). Every number passed to `redis.call` is a
/// string: Lua would format a number with `%.17g` on each call; the revision comes from
/// the caller for the same reason (no arithmetic in Lua).
const COMMIT_LUA: &str = r"
local meta = redis.call('HMGET', KEYS[2], 'owner', 'wanted')
if meta[1] ~= ARGV[1] then
  return {0}
end
local set_end = 7 + 2 * tonumber(ARGV[7])
local added = redis.call('HSET', KEYS[3], unpack(ARGV, 8, set_end))
if #ARGV > set_end then
  redis.call('HDEL', KEYS[3], unpack(ARGV, set_end + 1, #ARGV))
end
if ARGV[3] == '1' or added > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
local asked = 0
if meta[2] then
  redis.call('HDEL', KEYS[2], 'wanted')
  asked = 1
end
local held = 0
if ARGV[4] == '1' or asked == 1 then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '1' then
  held = redis.call('PEXPIRE', KEYS[1], ARGV[6])
else
  held = 1
end
return {1, held, asked}
";

/// `KEYS`: lease. `ARGV`: token, lease ms. Extends the lease only for its holder.
const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// `KEYS`: lease. `ARGV`: token. Deletes the lease only for its holder.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// `KEYS`: meta, state. Answers `{fence, HGETALL state}` read at one instant.
const LOAD_LUA: &str = r"
return {tonumber(redis.call('HGET', KEYS[1], 'fence') or '0'), redis.call('HGETALL', KEYS[2])}
";

/// `KEYS`: meta. `ARGV`: idle ms. Makes the session's record (fence 0) unless it exists,
/// and refreshes its idle expiry.
const REGISTER_LUA: &str = r"
redis.call('HSETNX', KEYS[1], 'fence', '0')
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
";

/// `KEYS`: meta, state. `ARGV`: cached rev. Answers `{0}` for a session that does not
/// exist, `{1, rev}` (rev as a string) when the rev is the cached one, else
/// `{1, rev, HGETALL state}`.
const LOAD_CHANGED_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0}
end
local rev = redis.call('HGET', KEYS[2], '#rev') or '0'
if ARGV[1] == rev then
  return {1, rev}
end
return {1, rev, redis.call('HGETALL', KEYS[2])}
";

/// What one acquire asks for besides the lease.
#[derive(Clone, Copy, Default)]
struct Attempt {
    /// Return the record (unless `cached_rev` is current).
    load: bool,
    cached_rev: Option<u64>,
    /// Start the session if it does not exist (else answer that it does not).
    create: bool,
    /// Mark a busy session `wanted`, so a holder keeping its lease between events gives it
    /// back at its next commit instead of at the end of its hold.
    ask: bool,
}

/// The first wait between two tries of a busy lease; it doubles up to [`MAX_BACKOFF`].
/// Short, since the usual holder is a process keeping the lease for a few milliseconds
/// after its last event (`RedisSessions::lease_hold`).
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
/// The longest wait between two tries of a busy lease.
const MAX_BACKOFF: Duration = Duration::from_millis(64);

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://…` with TLS if the `redis` crate
    /// was built with it).
    ///
    /// Fails if Redis cannot be reached now; later outages make single calls fail with
    /// [`RedisStoreError::Redis`] while the connection keeps trying to come back.
    pub async fn connect(
        url: &str,
        config: RedisStoreConfig,
    ) -> Result<RedisStore, RedisStoreError> {
        let client = redis::Client::open(url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.response_timeout))
            .set_connection_timeout(Some(config.response_timeout));
        let conn = ConnectionManager::new_with_config(client, manager_config).await?;
        Ok(RedisStore {
            conn,
            config: Arc::new(config),
            scripts: Arc::new(Scripts {
                acquire: Script::new(ACQUIRE_LUA),
                commit: Script::new(COMMIT_LUA),
                renew: Script::new(RENEW_LUA),
                release: Script::new(RELEASE_LUA),
                load: Script::new(LOAD_LUA),
                register: Script::new(REGISTER_LUA),
                load_changed: Script::new(LOAD_CHANGED_LUA),
            }),
        })
    }

    /// The settings this store runs with.
    pub fn config(&self) -> &RedisStoreConfig {
        &self.config
    }

    /// The key of one of a session's parts (`lease`, `meta`, `state`), under its hash tag.
    pub fn session_key(&self, sid: &SessionId, part: &str) -> String {
        format!("{}:{{{}}}:{part}", self.config.prefix, sid.as_str())
    }

    fn session_keys(&self, sid: &SessionId) -> SessionKeys {
        SessionKeys {
            lease: self.session_key(sid, "lease"),
            meta: self.session_key(sid, "meta"),
            state: self.session_key(sid, "state"),
        }
    }

    /// Runs `cmd`, an [`evalsha`] of `script`, loading the script first when this Redis
    /// does not know it (the first call, or a Redis that restarted empty).
    async fn run(&self, script: &Script, cmd: &Cmd) -> Result<Value, RedisStoreError> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                script.prepare_invoke().load_async(&mut conn).await?;
                Ok(cmd.query_async(&mut conn).await?)
            }
            outcome => Ok(outcome?),
        }
    }

    /// Starts a session under `sid` and takes its lease: the only call that creates keys,
    /// so ids a client makes up never cost Redis memory. An id in use (by a session that
    /// did not expire) is waited for like [`RedisStore::acquire`]; callers pass fresh
    /// random ids.
    pub async fn create(&self, sid: &SessionId) -> Result<Lease, RedisStoreError> {
        let attempt = Attempt {
            load: false,
            cached_rev: None,
            create: true,
            ask: true,
        };
        self.acquire_waiting(sid, attempt)
            .await
            .map(|(lease, _)| lease)
    }

    /// Takes the lease of an existing session, waiting with backoff while another process
    /// holds it, for at most [`RedisStoreConfig::acquire_wait`].
    /// [`RedisStoreError::NoSuchSession`] if it never existed or expired.
    pub async fn acquire(&self, sid: &SessionId) -> Result<Lease, RedisStoreError> {
        let attempt = Attempt {
            ask: true,
            ..Attempt::default()
        };
        self.acquire_waiting(sid, attempt)
            .await
            .map(|(lease, _)| lease)
    }

    /// Takes the lease of an existing session once, without waiting: `None` if another
    /// process holds it (and the holder is not asked to give it back).
    pub async fn try_acquire(&self, sid: &SessionId) -> Result<Option<Lease>, RedisStoreError> {
        Ok(self
            .acquire_once(sid, Attempt::default())
            .await?
            .ok()
            .map(|(lease, _)| lease))
    }

    /// Takes the session's lease (waiting as [`RedisStore::acquire`] does) and reads its
    /// record in the same round trip. When `cached_rev` is the stored revision the bytes
    /// are not sent again and [`Loaded::Unchanged`] says the caller's copy is current.
    pub async fn acquire_and_load(
        &self,
        sid: &SessionId,
        cached_rev: Option<u64>,
    ) -> Result<(Lease, Loaded), RedisStoreError> {
        let attempt = Attempt {
            load: true,
            cached_rev,
            create: false,
            ask: true,
        };
        let (lease, loaded) = self.acquire_waiting(sid, attempt).await?;
        let loaded = loaded.ok_or(RedisStoreError::UnexpectedReply("acquire without a load"))?;
        Ok((lease, loaded))
    }

    async fn acquire_waiting(
        &self,
        sid: &SessionId,
        attempt: Attempt,
    ) -> Result<(Lease, Option<Loaded>), RedisStoreError> {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.acquire_once(sid, attempt).await? {
                Ok(acquired) => return Ok(acquired),
                Err(lease_left) => {
                    let waited = started.elapsed();
                    if waited >= self.config.acquire_wait {
                        return Err(RedisStoreError::Busy(self.config.acquire_wait));
                    }
                    // Never sleep past the lease's end (it may be freed by expiry) nor
                    // past the caller's patience.
                    let pause = backoff
                        .min(lease_left.max(Duration::from_millis(1)))
                        .min(self.config.acquire_wait - waited);
                    tokio::time::sleep(pause).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One try: the lease (and the record when loading), or how long the current lease
    /// has left.
    async fn acquire_once(
        &self,
        sid: &SessionId,
        attempt: Attempt,
    ) -> Result<Result<(Lease, Option<Loaded>), Duration>, RedisStoreError> {
        let flag = |on: bool| if on { "1" } else { "0" };
        let token = random_token();
        let keys = self.session_keys(sid);
        let mut cmd = evalsha(
            &self.scripts.acquire,
            &[&keys.lease, &keys.meta, &keys.state],
        );
        cmd.arg(&token)
            .arg(millis(self.config.lease))
            .arg(millis(self.config.idle))
            .arg(flag(attempt.load))
            .arg(
                attempt
                    .cached_rev
                    .map(|rev| rev.to_string())
                    .unwrap_or_default(),
            )
            .arg(flag(attempt.create))
            .arg(flag(attempt.ask));
        let reply = self.run(&self.scripts.acquire, &cmd).await?;
        let items = array(reply, "acquire")?;
        match int_at(&items, 0, "acquire")? {
            0 => {
                let left = int_at(&items, 1, "acquire")?;
                return Ok(Err(Duration::from_millis(left.max(0).unsigned_abs())));
            }
            2 => return Err(RedisStoreError::NoSuchSession),
            _ => {}
        }
        let fence = int_at(&items, 1, "acquire")?.unsigned_abs();
        let rev = rev_at(&items, 2, "acquire")?;
        let lease = Lease {
            fence,
            held: Arc::new(HeldLease {
                sid: sid.clone(),
                token,
                keys,
                rev: AtomicU64::new(rev),
            }),
        };
        let loaded = match (attempt.load, items.into_iter().nth(3)) {
            (false, _) => None,
            (true, None) => Some(Loaded::Unchanged { rev }),
            (true, Some(fields)) => {
                let (fields, _) = field_map(fields)?;
                Some(Loaded::Record(SessionRecord { fence, rev, fields }))
            }
        };
        Ok(Ok((lease, loaded)))
    }

    /// Applies `write` to the session's record if `lease` is still the latest acquire
    /// ([`Commit::Stale`] otherwise, changing nothing), refreshes the idle expiry (unless
    /// the write leaves it, [`SessionWrite::leave_idle_expiry`]), and releases or keeps the
    /// lease as `then` says (keeping renews it to a full [`RedisStoreConfig::lease`], or not
    /// with [`AfterCommit::KeepUnrenewed`], unless another process asked for the session
    /// since the last commit: then it is given back) — all in one atomic script.
    pub async fn commit(
        &self,
        lease: &Lease,
        write: &SessionWrite,
        then: AfterCommit,
    ) -> Result<Commit, RedisStoreError> {
        if let Some((field, _)) = write.set.iter().find(|(field, _)| field.starts_with('#')) {
            return Err(RedisStoreError::ReservedField(field.clone()));
        }
        if let Some(field) = write.remove.iter().find(|field| field.starts_with('#')) {
            return Err(RedisStoreError::ReservedField(field.clone()));
        }
        let held = &lease.held;
        let rev = held.rev.load(Ordering::Acquire);
        if rev == REV_IN_DOUBT {
            return Err(RedisStoreError::InDoubt);
        }
        let rev = rev + 1;
        let keys = &held.keys;
        let flag = |on: bool| if on { "1" } else { "0" };
        let mut cmd = evalsha(
            &self.scripts.commit,
            &[&keys.lease, &keys.meta, &keys.state],
        );
        cmd.arg(lease.token())
            .arg(millis(self.config.idle))
            .arg(flag(!write.leave_idle))
            .arg(flag(then == AfterCommit::Release))
            .arg(flag(then == AfterCommit::Keep))
            .arg(millis(self.config.lease))
            .arg(write.set.len() + 1);
        for (field, value) in &write.set {
            cmd.arg(field).arg(value.as_slice());
        }
        cmd.arg(REV).arg(rev);
        for field in &write.remove {
            cmd.arg(field);
        }
        let reply = match self.run(&self.scripts.commit, &cmd).await {
            Ok(reply) => reply,
            Err(error) => {
                // Sent, perhaps applied, unanswered: this lease no longer knows the revision.
                held.rev.store(REV_IN_DOUBT, Ordering::Release);
                return Err(error);
            }
        };
        let items = array(reply, "commit")?;
        if int_at(&items, 0, "commit")? == 0 {
            return Ok(Commit::Stale);
        }
        held.rev.store(rev, Ordering::Release);
        Ok(Commit::Applied {
            rev,
            lease_held: int_at(&items, 1, "commit")? == 1,
            asked: int_at(&items, 2, "commit")? == 1,
        })
    }

    /// Extends `lease` to a full [`RedisStoreConfig::lease`] from now; `false` if it is no
    /// longer held (it expired, or was released).
    pub async fn renew(&self, lease: &Lease) -> Result<bool, RedisStoreError> {
        let mut cmd = evalsha(&self.scripts.renew, &[&lease.held.keys.lease]);
        cmd.arg(lease.token()).arg(millis(self.config.lease));
        let renewed = self.run(&self.scripts.renew, &cmd).await?;
        Ok(renewed == Value::Int(1))
    }

    /// Gives `lease` up without writing; `false` if it was no longer held.
    pub async fn release(&self, lease: &Lease) -> Result<bool, RedisStoreError> {
        let mut cmd = evalsha(&self.scripts.release, &[&lease.held.keys.lease]);
        cmd.arg(lease.token());
        let released = self.run(&self.scripts.release, &cmd).await?;
        Ok(released == Value::Int(1))
    }

    /// Reads a session's record without taking its lease (one round trip).
    pub async fn load(&self, sid: &SessionId) -> Result<SessionRecord, RedisStoreError> {
        let keys = self.session_keys(sid);
        let cmd = evalsha(&self.scripts.load, &[&keys.meta, &keys.state]);
        let reply = self.run(&self.scripts.load, &cmd).await?;
        let mut items = array(reply, "load")?;
        let fence = int_at(&items, 0, "load")?.unsigned_abs();
        let fields = items
            .pop()
            .ok_or(RedisStoreError::UnexpectedReply("load without fields"))?;
        let (fields, rev) = field_map(fields)?;
        Ok(SessionRecord { fence, rev, fields })
    }

    /// Makes an empty record for `sid` without taking its lease (one round trip), so that
    /// every process knows the session from now on; a session that exists is only kept
    /// from expiring. Only a caller that made `sid` itself, fresh and random, calls it.
    pub async fn register(&self, sid: &SessionId) -> Result<(), RedisStoreError> {
        let mut cmd = evalsha(&self.scripts.register, &[&self.session_key(sid, "meta")]);
        cmd.arg(millis(self.config.idle));
        self.run(&self.scripts.register, &cmd).await?;
        Ok(())
    }

    /// Reads a session's record without taking its lease (one round trip), sending the
    /// fields only when the stored revision is not `cached_rev`. `None` if the session
    /// does not exist.
    pub async fn load_changed(
        &self,
        sid: &SessionId,
        cached_rev: Option<u64>,
    ) -> Result<Option<Loaded>, RedisStoreError> {
        let keys = self.session_keys(sid);
        let mut cmd = evalsha(&self.scripts.load_changed, &[&keys.meta, &keys.state]);
        cmd.arg(cached_rev.map(|rev| rev.to_string()).unwrap_or_default());
        let reply = self.run(&self.scripts.load_changed, &cmd).await?;
        let mut items = array(reply, "load_changed")?;
        if int_at(&items, 0, "load_changed")? == 0 {
            return Ok(None);
        }
        let rev = rev_at(&items, 1, "load_changed")?;
        if items.len() < 3 {
            return Ok(Some(Loaded::Unchanged { rev }));
        }
        let fields = items.pop().ok_or(RedisStoreError::UnexpectedReply(
            "load_changed without fields",
        ))?;
        Ok(Some(Loaded::Record(SessionRecord {
            fence: 0,
            rev,
            fields: field_map(fields)?.0,
        })))
    }

    /// The secret every process using this Redis (and prefix) signs session-bound URLs
    /// with: made by the first process to ask (`SET NX`), read by the others, in one
    /// round trip. It never expires.
    pub async fn shared_secret(&self) -> Result<[u8; 32], RedisStoreError> {
        let mine = random_token() + &random_token();
        let earlier: Option<String> = redis::cmd("SET")
            .arg(format!("{}:secret", self.config.prefix))
            .arg(&mine)
            .arg("NX")
            .arg("GET")
            .query_async(&mut self.conn.clone())
            .await?;
        let hex = earlier.unwrap_or(mine);
        let mut secret = [0u8; 32];
        if hex.len() != 64 {
            return Err(RedisStoreError::UnexpectedReply(
                "a URL secret of the wrong length",
            ));
        }
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = hex
                .get(2 * i..2 * i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(RedisStoreError::UnexpectedReply(
                    "a URL secret that is not hex",
                ))?;
        }
        Ok(secret)
    }

    /// Renews `lease` every third of [`RedisStoreConfig::lease`] until the returned keeper
    /// is dropped, so a handler that runs longer than a lease keeps its session.
    pub fn keep_alive(&self, lease: &Lease) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let store = self.clone();
        let lease = lease.clone();
        let flag = lost.clone();
        let every = (self.config.lease / 3).max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.renew(&lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A failed renewal is retried at the next tick; the lease may still
                    // outlive a short Redis hiccup.
                    Err(error) => tracing::warn!(%error, "renewing a session lease failed"),
                }
            }
        });
        LeaseKeeper { lost, task }
    }

    /// Stores a value that [`RedisStore::take_once`] hands out exactly once, for at most
    /// `ttl`. `false` (and nothing stored) if `key` is already in use.
    pub async fn put_once(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, RedisStoreError> {
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.once_key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(stored.is_some())
    }

    /// Takes the value stored under `key` by [`RedisStore::put_once`] and deletes it in the
    /// same command (`GETDEL`): of all processes asking, exactly one gets it.
    pub async fn take_once(&self, key: &str) -> Result<Option<Vec<u8>>, RedisStoreError> {
        Ok(redis::cmd("GETDEL")
            .arg(self.once_key(key))
            .query_async(&mut self.conn.clone())
            .await?)
    }

    fn once_key(&self, key: &str) -> String {
        format!("{}:once:{key}", self.config.prefix)
    }
}

/// Keeps a lease renewed in the background; stops when dropped (see
/// [`RedisStore::keep_alive`]).
pub struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
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

/// 128 random bits as hex: a lease token no other acquire will ever share.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not something a web server can go on without.
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whole milliseconds, at least 1 (Redis refuses a 0 expiry).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn array(reply: Value, what: &'static str) -> Result<Vec<Value>, RedisStoreError> {
    match reply {
        Value::Array(items) => Ok(items),
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

fn int_at(items: &[Value], index: usize, what: &'static str) -> Result<i64, RedisStoreError> {
    match items.get(index) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

/// The field of the `state` hash holding the session's revision.
const REV: &str = "#rev";

/// A revision a script answered as a string (it never does arithmetic on it).
fn rev_at(items: &[Value], index: usize, what: &'static str) -> Result<u64, RedisStoreError> {
    match items.get(index) {
        Some(Value::BulkString(digits)) => std::str::from_utf8(digits)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(RedisStoreError::UnexpectedReply(what)),
        _ => Err(RedisStoreError::UnexpectedReply(what)),
    }
}

/// An `HGETALL` reply of the `state` hash (a flat array of name, value, … or a map under
/// RESP3) as its fields and its revision (0 when it has none yet).
fn field_map(reply: Value) -> Result<(BTreeMap<String, Vec<u8>>, u64), RedisStoreError> {
    let pairs: Vec<(Value, Value)> = match reply {
        Value::Array(flat) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return Err(RedisStoreError::UnexpectedReply("fields")),
    };
    let mut fields = BTreeMap::new();
    let mut rev = 0;
    for (name, value) in pairs {
        let (Value::BulkString(name), Value::BulkString(value)) = (name, value) else {
            return Err(RedisStoreError::UnexpectedReply("fields"));
        };
        let name = String::from_utf8(name)
            .map_err(|_| RedisStoreError::UnexpectedReply("a field name that is not UTF-8"))?;
        if name == REV {
            rev = std::str::from_utf8(&value)
                .ok()
                .and_then(|digits| digits.parse().ok())
                .ok_or(RedisStoreError::UnexpectedReply(
                    "a revision that is not a number",
                ))?;
        } else {
            fields.insert(name, value);
        }
    }
    Ok((fields, rev))
}
