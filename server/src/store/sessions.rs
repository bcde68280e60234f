//! [`RedisSessions`]: the [`StateStore`] that keeps sessions in Redis, so several ferrex
//! processes serve them and any process may die without losing an answered event.
//!
//! Each process keeps copies of the sessions it served (a [`MemoryStore`] as a cache) and
//! Redis holds the truth: an event takes the session's lease and brings the copy up to date
//! in one round trip ([`RedisStore::acquire_and_load`], sending the states only when another
//! process wrote since), runs, and writes the state it changed with the render revision in
//! a fenced commit that also gives the lease back — before its reply goes out.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::redis::{
    AfterCommit, Commit, Lease, LeaseKeeper, Loaded, RedisStore, RedisStoreConfig, RedisStoreError,
    SessionWrite,
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
///   Two Redis round trips per event.
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
}

/// What an event holds between [`StateStore::begin`] and [`StateStore::commit`].
struct Held {
    store: RedisStore,
    lease: Lease,
    /// Renews the lease while the handler runs; stops when the claim is dropped.
    _keeper: LeaseKeeper,
    committed: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        // An event that failed before its commit (bad arguments, a dropped request) gives
        // the session back at once rather than when the lease runs out.
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
        }
    }

    /// The connection, made on first use together with the shared URL secret; a failed
    /// try is tried again by the next request.
    async fn redis(&self) -> Result<&RedisStore, StoreError> {
        self.redis
            .get_or_try_init(|| async {
                let store = RedisStore::connect(&self.url, self.config.clone()).await?;
                let secret = store.shared_secret().await?;
                let _ = self.secret.set(secret);
                tracing::info!("sessions are kept in Redis");
                Ok::<_, RedisStoreError>(store)
            })
            .await
            .map_err(unavailable)
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
            apply(&mut copy, loaded);
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
            let (lease, loaded) = redis
                .acquire_and_load(id, session.stored)
                .await
                .map_err(unavailable)?;
            apply(session, loaded);
            // From here until the commit answers, this copy may hold changes Redis does
            // not: should the event fail or be dropped half-way, the next use reloads.
            session.stored = None;
            let keeper = redis.keep_alive(&lease);
            Ok(EventClaim::new(Held {
                store: redis.clone(),
                lease,
                _keeper: keeper,
                committed: false,
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
            let outcome = held
                .store
                .commit(&held.lease, &write, AfterCommit::Release)
                .await;
            // Applied or refused, the script gave the lease back (or another process has
            // it); only a commit that may not have arrived leaves one to give back.
            held.committed = outcome.is_ok();
            match outcome.map_err(unavailable)? {
                Commit::Applied { rev, .. } => {
                    session.stored = Some(rev);
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
