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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Script, Value};

use crate::session::SessionId;

mod config;
mod lease;
mod record;
mod reply;
mod scripts;

pub use config::{RedisStoreConfig, RedisStoreError};
use lease::{HeldLease, REV_IN_DOUBT, SessionKeys};
pub use lease::{Lease, LeaseKeeper};
pub use record::{AfterCommit, Commit, Loaded, SessionRecord, SessionWrite};
use reply::{REV, array, field_map, int_at, rev_at};
use scripts::{
    ACQUIRE_LUA, COMMIT_LUA, LOAD_CHANGED_LUA, LOAD_LUA, REGISTER_LUA, RELEASE_LUA, RENEW_LUA,
    Scripts, evalsha,
};

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
    ///
    /// One commit at a time per lease: while one is on its way, another through the same
    /// lease (or a copy of it) is refused with [`RedisStoreError::InDoubt`], and so is every
    /// commit after one that did not come back with an answer (it failed, or its future
    /// was dropped): it may or may not have been applied, so the lease no longer knows the
    /// session's revision. Acquire the session again.
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
        // In doubt from here until an answer says otherwise: a second commit meanwhile, or
        // any after this one is dropped or fails unanswered, cannot reuse the revision.
        let current = held.rev.load(Ordering::Acquire);
        if current == REV_IN_DOUBT
            || held
                .rev
                .compare_exchange(current, REV_IN_DOUBT, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Err(RedisStoreError::InDoubt);
        }
        let rev = current + 1;
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
        let items = array(self.run(&self.scripts.commit, &cmd).await?, "commit")?;
        if int_at(&items, 0, "commit")? == 0 {
            // Nothing was written; the lease is another process's now anyway.
            held.rev.store(current, Ordering::Release);
            return Ok(Commit::Stale);
        }
        let applied = Commit::Applied {
            rev,
            lease_held: int_at(&items, 1, "commit")? == 1,
            asked: int_at(&items, 2, "commit")? == 1,
        };
        held.rev.store(rev, Ordering::Release);
        Ok(applied)
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
