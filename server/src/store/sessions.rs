//! [`RedisSessions`]: the [`StateStore`] that keeps sessions in Redis, so several ferrex
//! processes serve them and any process may die without losing an answered event.
//!
//! Each process keeps copies of the sessions it served (a [`MemoryStore`] as a cache) and
//! Redis holds the truth: an event takes the session's lease and brings the copy up to date
//! in one round trip ([`RedisStore::acquire_and_load`], sending the states only when another
//! process wrote since), runs, and writes the state it changed with the render revision in
//! a fenced commit — before its reply goes out. While a session's events keep coming to one
//! process, that process keeps the lease between them ([`RedisSessions::lease_hold`]): its
//! copy is known current, so the next event costs only its commit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OnceCell};

use super::redis::{
    AfterCommit, Commit, Lease, Loaded, RedisStore, RedisStoreConfig, RedisStoreError, SessionWrite,
};
use crate::memory_store::MemoryStore;
use crate::session::{
    EventClaim, REV_FIELD, Session, SessionId, SharedSession, StateStore, StoreError, StoreFuture,
};

/// Sessions kept in Redis and shared by every process that uses the same Redis (and key
/// prefix). Set it with `App::redis("redis://…")`, or the `FERREX_REDIS_URL` environment
/// variable.
///
/// - **Events** of one session run one at a time across all processes: each holds the
///   session's lease, renewed while a long handler runs; the write is refused if another
///   process took the session meanwhile (the event then fails and nothing is overwritten).
///   An event costs two Redis round trips (acquire and load, commit) — one while the
///   session's events keep coming to this process, which then keeps the lease between
///   them for up to [`RedisSessions::lease_hold`].
/// - **Page loads** take no lease: a new session is made known to Redis in one round trip
///   (the socket the page opens may reach another process); a known one is brought up to
///   date in one (the states travel only when they changed).
/// - **Redis away**: events and page loads answer 503 and change nothing; they work again
///   as soon as Redis is back (the connection comes back by itself).
/// - **The URL secret** (`upload_url`) is made once in Redis (`ferrex:secret`) and shared,
///   unless the app sets its own with `App::url_secret`.
///
/// ```no_run
/// let app = ferrex_server::App::new().redis("redis://127.0.0.1:6379");
/// # drop(app);
/// ```
pub struct RedisSessions {
    url: String,
    config: RedisStoreConfig,
    local: MemoryStore,
    redis: OnceCell<RedisStore>,
    secret: OnceLock<[u8; 32]>,
    /// How long a lease is kept after an event ([`RedisSessions::lease_hold`]).
    hold: Duration,
    leases: Arc<Leases>,
    /// The tasks that renew the leases of long events and give kept leases back once
    /// idle, stopped with the store.
    tasks: OnceLock<[tokio::task::AbortHandle; 2]>,
}

/// How long a process keeps a session's lease after an event, by default: a few
/// milliseconds, so a client sending its next event as soon as the reply arrives (on the
/// same machine or a near one) finds the lease here, while another process wanting the
/// session waits little.
pub const DEFAULT_LEASE_HOLD: Duration = Duration::from_millis(5);

/// What an event holds between [`StateStore::begin`] and [`StateStore::commit`].
struct Held {
    store: RedisStore,
    lease: Lease,
    /// Where the lease is renewed while the handler runs; it stops when the claim is
    /// dropped.
    leases: Arc<Leases>,
    running: u64,
    committed: bool,
    /// Whether to keep the lease after the commit, for the session's next event.
    keep: bool,
    /// When the lease was last made a full length (the acquire or a commit that renewed
    /// it) was sent.
    renewed: Instant,
    /// When the session's idle expiry was last refreshed from here (the acquire or a
    /// commit that refreshed it) was sent.
    idle_refreshed: Instant,
}

/// The leases this process holds: those of events running now, renewed while their
/// handler runs (one task for all, rather than a timer per event), and those kept between
/// events, each given back when it falls due.
struct Leases {
    running: Mutex<Running>,
    kept: Mutex<Kept>,
    /// Wakes the giver when the first lease is kept after none was.
    wake: Notify,
}

#[derive(Default)]
struct Running {
    events: HashMap<u64, RunningLease>,
    started: u64,
}

struct RunningLease {
    lease: Lease,
    /// When the lease was last made a full length (the acquire, the commit that kept it,
    /// a renewal) was sent; `None` once a renewal found it gone.
    renewed: Option<Instant>,
}

#[derive(Default)]
struct Kept {
    leases: HashMap<SessionId, KeptLease>,
    /// Session, keep number, due time: in keeping order, which is due order since every
    /// lease is held for the same time. An entry whose lease was taken back by an event
    /// (or kept again since, under a newer number) is skipped.
    due: VecDeque<(SessionId, u64, Instant)>,
    kept: u64,
}

struct KeptLease {
    lease: Lease,
    /// The session's write count after the commit that kept the lease: while the lease is
    /// held nobody else writes, so a copy at this count is current.
    rev: u64,
    /// When the commit that renewed the lease to a full length was sent: the lease lasts
    /// at least until this plus [`RedisStoreConfig::lease`] unless the process stalled.
    renewed: Instant,
    /// When the session's idle expiry was last refreshed from here.
    idle_refreshed: Instant,
    number: u64,
}

/// When the commit that kept a lease was sent, and when the lease and the session's idle
/// expiry were last refreshed (that commit, or an earlier call).
struct KeptTimes {
    committed: Instant,
    renewed: Instant,
    idle_refreshed: Instant,
}

/// A commit renews a kept lease only once this part of [`RedisStoreConfig::lease`] has
/// passed since it was last renewed (a kept lease is used for at most half a lease after
/// that): the steady state's commits skip the lease's `PEXPIRE` most of the time.
const LEASE_RENEW_DIVISOR: u32 = 4;

/// A commit refreshes the session's idle expiry only once this part of
/// [`RedisStoreConfig::idle`] has passed since this process last refreshed it, saving two
/// `PEXPIRE`s per event: a session then expires between 15/16 and all of the idle time
/// after its last event, never later.
const IDLE_REFRESH_DIVISOR: u32 = 16;

/// A lock on plain data, which a panic while it was held leaves usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Leases {
    /// Counts an event's lease as running from now on; returns its number.
    fn start(&self, lease: Lease, renewed: Instant) -> u64 {
        let mut running = lock(&self.running);
        running.started += 1;
        let number = running.started;
        let renewed = Some(renewed);
        running
            .events
            .insert(number, RunningLease { lease, renewed });
        number
    }

    fn finish(&self, number: u64) {
        lock(&self.running).events.remove(&number);
    }

    /// The running leases last made full longer than `age` ago.
    fn running_since(&self, now: Instant, age: Duration) -> Vec<(u64, Lease)> {
        lock(&self.running)
            .events
            .iter()
            .filter(|(_, event)| {
                event
                    .renewed
                    .is_some_and(|at| now.saturating_duration_since(at) >= age)
            })
            .map(|(number, event)| (*number, event.lease.clone()))
            .collect()
    }

    fn renewed(&self, number: u64, renewed: Option<Instant>) {
        if let Some(event) = lock(&self.running).events.get_mut(&number) {
            event.renewed = renewed;
        }
    }

    /// Keeps `lease` for the session's next event; it falls due `hold` after `committed`.
    fn keep(&self, lease: Lease, rev: u64, times: KeptTimes, hold: Duration) {
        let mut kept = lock(&self.kept);
        kept.kept += 1;
        let number = kept.kept;
        let sid = lease.session().clone();
        let was_idle = kept.due.is_empty();
        kept.due
            .push_back((sid.clone(), number, times.committed + hold));
        kept.leases.insert(
            sid,
            KeptLease {
                lease,
                rev,
                renewed: times.renewed,
                idle_refreshed: times.idle_refreshed,
                number,
            },
        );
        drop(kept);
        if was_idle {
            self.wake.notify_one();
        }
    }

    /// The kept lease of `sid`, now the caller's (the giver will not give it back).
    fn take(&self, sid: &SessionId) -> Option<KeptLease> {
        lock(&self.kept).leases.remove(sid)
    }

    /// The leases due by `now`, taken out, and when the next one falls due.
    fn take_due(&self, now: Instant) -> (Vec<Lease>, Option<Instant>) {
        let mut kept = lock(&self.kept);
        let mut due = Vec::new();
        while let Some((_, _, at)) = kept.due.front()
            && *at <= now
        {
            let Some((sid, number, _)) = kept.due.pop_front() else {
                break;
            };
            if kept.leases.get(&sid).is_some_and(|k| k.number == number)
                && let Some(idle) = kept.leases.remove(&sid)
            {
                due.push(idle.lease);
            }
        }
        let next = kept.due.front().map(|(_, _, at)| *at);
        (due, next)
    }
}

/// Gives kept leases back once their session had no event for the hold time, so that
/// another process wanting the session gets it without waiting for the lease to run out.
/// Off the events' path: an event never waits for this.
async fn give_back_idle(leases: Arc<Leases>, store: RedisStore) {
    loop {
        let (due, next) = leases.take_due(Instant::now());
        let releases = due.iter().map(|lease| store.release(lease));
        for outcome in futures_util::future::join_all(releases).await {
            // The lease then runs out by itself; the fence keeps every write safe.
            if let Err(error) = outcome {
                tracing::debug!(%error, "giving an idle session lease back failed");
            }
        }
        match next {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => leases.wake.notified().await,
        }
    }
}

/// Renews the lease of every event whose handler has run for a third of a lease since the
/// lease was last made full, so no handler loses its session by taking long. One task for
/// all events: a short event (the usual) costs no timer and no Redis command.
async fn renew_long_events(leases: Arc<Leases>, store: RedisStore, lease: Duration) {
    // Checked every sixth of a lease, a running lease is renewed before half of it is gone.
    let every = (lease / 6).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(every).await;
        let now = Instant::now();
        let long = leases.running_since(now, lease / 3);
        let renewals = long.iter().map(|(_, lease)| store.renew(lease));
        let outcomes = futures_util::future::join_all(renewals).await;
        for ((number, _), outcome) in long.iter().zip(outcomes) {
            match outcome {
                Ok(held) => leases.renewed(*number, held.then_some(now)),
                // Tried again at the next check; the lease may outlive a Redis hiccup.
                Err(error) => tracing::warn!(%error, "renewing a session lease failed"),
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // An event that failed before its commit (bad arguments, a dropped request) gives
        // the session back at once rather than when the lease runs out.
        self.leases.finish(self.running);
        if self.committed {
            return;
        }
        let (store, lease) = (self.store.clone(), self.lease.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = store.release(&lease).await;
            });
        }
    }
}

impl RedisSessions {
    /// Sessions in the Redis at `url` (`redis://host:port/db`), idle for at most `idle`,
    /// with copies of at most `max_local` of them kept in this process. Nothing is
    /// connected until the first request that needs Redis.
    pub fn new(url: &str, idle: Duration, max_local: usize) -> RedisSessions {
        RedisSessions::with_config(
            url,
            RedisStoreConfig {
                idle,
                ..RedisStoreConfig::default()
            },
            max_local,
        )
    }

    /// Like [`RedisSessions::new`], with every setting of the Redis store given.
    pub fn with_config(url: &str, config: RedisStoreConfig, max_local: usize) -> RedisSessions {
        RedisSessions {
            url: url.to_owned(),
            config,
            local: MemoryStore::with_max_sessions(max_local),
            redis: OnceCell::new(),
            secret: OnceLock::new(),
            hold: DEFAULT_LEASE_HOLD,
            leases: Arc::new(Leases {
                running: Mutex::new(Running::default()),
                kept: Mutex::new(Kept::default()),
                wake: Notify::new(),
            }),
            tasks: OnceLock::new(),
        }
    }

    /// How long this process keeps a session's lease after an event while no other event
    /// of the session comes (default [`DEFAULT_LEASE_HOLD`], 5 ms); `Duration::ZERO`
    /// gives it back with every event's commit.
    ///
    /// A lease is kept only once a session's events come one after another to this
    /// process (an event within the hold time of the last one, with no other process
    /// having written the session in between), so a session that moves between processes
    /// at every event — behind a round-robin balancer — or gets an event now and then
    /// costs two round trips per event, as with no hold. While it is kept, each further
    /// event costs one: its fenced commit, which also keeps the lease renewed. The cost:
    /// another process that gets an event of the session meanwhile waits for it, for at
    /// most the hold time (or until the holder's next commit, which gives the lease back
    /// when asked). Behind a balancer with session affinity, a longer hold (the clients' round
    /// trip, e.g. 100 ms) makes most events cost one round trip. A kept lease is used for
    /// at most half of [`RedisStoreConfig::lease`] after its last renewal, so a hold
    /// longer than that acts as that.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let sessions = ferrex_server::store::RedisSessions::new(
    ///     "redis://127.0.0.1:6379",
    ///     Duration::from_secs(3600),
    ///     100_000,
    /// )
    /// .lease_hold(Duration::from_millis(20));
    /// # drop(sessions);
    /// ```
    pub fn lease_hold(mut self, hold: Duration) -> RedisSessions {
        self.hold = hold;
        self
    }

    /// Whether a lease is kept for an event that follows one committed at `last`.
    fn soon_after(&self, last: Option<Instant>) -> bool {
        !self.hold.is_zero() && last.is_some_and(|at| at.elapsed() < self.hold)
    }

    /// The connection, made on first use together with the shared URL secret; a failed
    /// try is tried again by the next request.
    async fn redis(&self) -> Result<&RedisStore, StoreError> {
        self.redis
            .get_or_try_init(|| async {
                let store = RedisStore::connect(&self.url, self.config.clone()).await?;
                let secret = store.shared_secret().await?;
                let _ = self.secret.set(secret);
                let renewer =
                    renew_long_events(self.leases.clone(), store.clone(), self.config.lease);
                let giver = give_back_idle(self.leases.clone(), store.clone());
                let _ = self.tasks.set([
                    tokio::spawn(renewer).abort_handle(),
                    tokio::spawn(giver).abort_handle(),
                ]);
                tracing::info!("sessions are kept in Redis");
                Ok::<_, RedisStoreError>(store)
            })
            .await
            .map_err(unavailable)
    }
}

impl Drop for RedisSessions {
    fn drop(&mut self) {
        // Leases still kept run out by themselves.
        for task in self.tasks.get().into_iter().flatten() {
            task.abort();
        }
    }
}

fn unavailable(error: RedisStoreError) -> StoreError {
    match error {
        RedisStoreError::NoSuchSession => StoreError::NoSession,
        RedisStoreError::Busy(_) => StoreError::Busy,
        other => {
            tracing::warn!(error = %other, "the Redis session store failed");
            StoreError::Unavailable(other.to_string())
        }
    }
}

/// Brings `session` up to what Redis holds.
fn apply(session: &mut Session, loaded: Loaded) {
    match loaded {
        Loaded::Unchanged { rev } => session.stored = Some(rev),
        Loaded::Record(record) => session.load_saved(record.fields, record.rev),
    }
    session.replicated = true;
}

impl StateStore for RedisSessions {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.local.open(id, idle)
    }

    fn view(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.local.view(id, idle)
    }

    fn create(&self) -> (SessionId, SharedSession) {
        let (id, session) = self.local.create();
        // Nothing else holds a session this new.
        if let Ok(mut fresh) = session.try_lock() {
            fresh.replicated = true;
            fresh.stored = Some(0);
        }
        (id, session)
    }

    fn expire_idle(&self, idle: Duration) -> usize {
        self.local.expire_idle(idle)
    }

    /// The sessions this process keeps a copy of.
    fn len(&self) -> usize {
        self.local.len()
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn find<'a>(
        &'a self,
        id: &'a SessionId,
        _idle: Duration,
    ) -> StoreFuture<'a, Option<SharedSession>> {
        Box::pin(async move {
            let redis = self.redis().await?;
            let Some(loaded) = redis.load_changed(id, None).await.map_err(unavailable)? else {
                return Ok(None);
            };
            let session = self.local.adopt(id, true);
            let mut copy = session.lock().await;
            // Another request may have adopted the copy and run events on it since the
            // record was read: an older record never replaces a newer copy.
            let newer = match &loaded {
                Loaded::Unchanged { rev } => copy.stored.is_none_or(|stored| stored < *rev),
                Loaded::Record(record) => copy.stored.is_none_or(|stored| stored < record.rev),
            };
            if newer {
                apply(&mut copy, loaded);
            }
            drop(copy);
            Ok(Some(session))
        })
    }

    fn publish<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let redis = self.redis().await?;
            redis.register(id).await.map_err(unavailable)
        })
    }

    fn refresh<'a>(&'a self, id: &'a SessionId, session: &'a mut Session) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let redis = self.redis().await?;
            match redis
                .load_changed(id, session.stored)
                .await
                .map_err(unavailable)?
            {
                Some(loaded) => {
                    apply(session, loaded);
                    Ok(())
                }
                None => Err(StoreError::NoSession),
            }
        })
    }

    fn begin<'a>(
        &'a self,
        id: &'a SessionId,
        session: &'a mut Session,
    ) -> StoreFuture<'a, EventClaim> {
        Box::pin(async move {
            let redis = self.redis().await?;
            let kept = self.leases.take(id);
            // A lease kept since this process's last commit means no other process wrote
            // since: a copy at that commit's count is current (one at another count was
            // loaded or changed meanwhile, and is brought up to date). Should the lease
            // have run out all the same (the process stalled) and another process
            // written, the commit is refused and the copy reloaded — the fence, not this
            // clock, keeps the state right.
            let (lease, renewed, idle_refreshed, keep) = match kept {
                Some(kept)
                    if session.stored == Some(kept.rev)
                        && kept.renewed.elapsed() < self.config.lease / 2 =>
                {
                    (kept.lease, kept.renewed, kept.idle_refreshed, true)
                }
                stale => {
                    if let Some(stale) = stale {
                        let _ = redis.release(&stale.lease).await;
                    }
                    let sent = Instant::now();
                    let (lease, loaded) = redis
                        .acquire_and_load(id, session.stored)
                        .await
                        .map_err(unavailable)?;
                    // Keep the lease only for a session whose events come here one after
                    // another: not when another process wrote it since the last one.
                    let current = matches!(loaded, Loaded::Unchanged { .. });
                    apply(session, loaded);
                    // The acquire made both the lease and the idle expiry full.
                    (
                        lease,
                        sent,
                        sent,
                        current && self.soon_after(session.committed_at),
                    )
                }
            };
            // From here until the commit answers, this copy may hold changes Redis does
            // not: should the event fail or be dropped half-way, the next use reloads.
            session.stored = None;
            let running = self.leases.start(lease.clone(), renewed);
            Ok(EventClaim::new(Held {
                store: redis.clone(),
                lease,
                leases: self.leases.clone(),
                running,
                committed: false,
                keep,
                renewed,
                idle_refreshed,
            }))
        })
    }

    fn commit<'a>(
        &'a self,
        claim: EventClaim,
        session: &'a mut Session,
        changed: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Some(mut held) = claim.take::<Held>() else {
                return Err(StoreError::Unavailable(
                    "an event was committed without being begun".into(),
                ));
            };
            let mut write = SessionWrite::new().set(REV_FIELD, session.rev.to_string());
            if let Some(bytes) = session.saved_bytes(changed) {
                write = write.set(changed, bytes);
            }
            let sent = Instant::now();
            let refresh_idle = sent.saturating_duration_since(held.idle_refreshed)
                >= self.config.idle / IDLE_REFRESH_DIVISOR;
            if !refresh_idle {
                write = write.leave_idle_expiry();
            }
            let then = if !held.keep {
                AfterCommit::Release
            } else if sent.saturating_duration_since(held.renewed)
                < self.config.lease / LEASE_RENEW_DIVISOR
            {
                AfterCommit::KeepUnrenewed
            } else {
                AfterCommit::Keep
            };
            let outcome = held.store.commit(&held.lease, &write, then).await;
            // Applied or refused, the script gave the lease back, kept it as asked, or
            // another process has it; only a commit that may not have arrived leaves one
            // to give back.
            held.committed = outcome.is_ok();
            match outcome.map_err(unavailable)? {
                Commit::Applied {
                    rev,
                    lease_held,
                    asked,
                } => {
                    session.stored = Some(rev);
                    // Asked for by another process: the next event here gives it back
                    // with its commit rather than keep it again.
                    session.committed_at = (!asked).then_some(sent);
                    if lease_held {
                        let times = KeptTimes {
                            committed: sent,
                            renewed: if then == AfterCommit::Keep {
                                sent
                            } else {
                                held.renewed
                            },
                            // A write that added a field refreshed it as well; counting
                            // it from the older refresh only refreshes it sooner.
                            idle_refreshed: if refresh_idle {
                                sent
                            } else {
                                held.idle_refreshed
                            },
                        };
                        self.leases.keep(held.lease.clone(), rev, times, self.hold);
                    }
                    Ok(())
                }
                Commit::Stale => {
                    tracing::warn!(
                        session = ?held.lease.session(),
                        "an event's write was refused: another process took the session meanwhile"
                    );
                    Err(StoreError::Stale)
                }
            }
        })
    }

    fn url_secret(&self) -> Option<&[u8; 32]> {
        self.secret.get()
    }
}
