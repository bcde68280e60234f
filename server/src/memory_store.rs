//! `MemoryStore`: sessions in this process's memory, the default store — capped, with
//! never-used sessions pushed out first, every step O(log n).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use crate::session::{SessionId, SharedSession, StateStore};

/// Sessions in this process's memory, at most a fixed number of them
/// ([`MemoryStore::with_max_sessions`]; 100,000 by default).
///
/// Past the cap, a new session pushes out the least recently seen session that was never
/// used (only a page load), so a flood of cookie-less page loads replaces only sessions of
/// its own kind; a used session is pushed out only when every kept session is used, the
/// one idle longest first. Every operation is a hash lookup and a B-tree update under the
/// lock: O(log n), whatever the number of sessions.
///
/// ```
/// use std::time::Duration;
/// use ferrex_server::{MemoryStore, StateStore};
///
/// let store = MemoryStore::with_max_sessions(2);
/// let (worker, _) = store.create();
/// assert!(store.open(&worker, Duration::from_secs(60)).is_some()); // an event: used
/// for _ in 0..10 {
///     store.create(); // page loads that never come back
/// }
/// assert_eq!(store.len(), 2);
/// assert!(store.open(&worker, Duration::from_secs(60)).is_some());
/// ```
pub struct MemoryStore {
    sessions: StdMutex<Sessions>,
    max_sessions: usize,
}

/// What the store's lock guards.
#[derive(Default)]
struct Sessions {
    map: HashMap<SessionId, Entry>,
    /// Sessions never used, least recently seen first, by [`Entry::stamp`].
    unused: BTreeMap<u64, SessionId>,
    /// Used sessions, least recently used first.
    used: BTreeMap<u64, SessionId>,
    /// The next stamp: stamps grow with time, so both lists are also in idle order.
    clock: u64,
}

struct Entry {
    session: SharedSession,
    last: Instant,
    stamp: u64,
    used: bool,
}

impl Sessions {
    /// Keeps a new session `id` (used or not), first pushing out others while `max` are
    /// kept.
    fn insert(&mut self, id: SessionId, used: bool, max: usize) -> SharedSession {
        while self.map.len() >= max && self.evict_one() {}
        let stamp = self.clock;
        self.clock += 1;
        self.list(used).insert(stamp, id.clone());
        let session = SharedSession::default();
        let entry = Entry {
            session: session.clone(),
            last: Instant::now(),
            stamp,
            used,
        };
        self.map.insert(id, entry);
        session
    }

    fn list(&mut self, used: bool) -> &mut BTreeMap<u64, SessionId> {
        if used {
            &mut self.used
        } else {
            &mut self.unused
        }
    }

    /// Marks `id` as seen now (and used, if `used`); returns its session, or `None` if it
    /// does not exist or was idle for `idle` and nothing holds it.
    fn touch(&mut self, id: &SessionId, idle: Duration, used: bool) -> Option<SharedSession> {
        let entry = self.map.get(id)?;
        let (stamp, was_used) = (entry.stamp, entry.used);
        if entry.last.elapsed() >= idle && Arc::strong_count(&entry.session) == 1 {
            self.remove(id);
            return None;
        }
        let now = self.clock;
        self.clock += 1;
        self.list(was_used).remove(&stamp);
        let used = used || was_used;
        self.list(used).insert(now, id.clone());
        let entry = self.map.get_mut(id)?;
        entry.stamp = now;
        entry.used = used;
        entry.last = Instant::now();
        Some(entry.session.clone())
    }

    fn remove(&mut self, id: &SessionId) {
        if let Some(entry) = self.map.remove(id) {
            self.list(entry.used).remove(&entry.stamp);
        }
    }

    /// Pushes out one session to make room: the least recently seen unused one, else the
    /// used one idle longest. `false` if there is none.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .unused
            .first_key_value()
            .or_else(|| self.used.first_key_value())
            .map(|(_, id)| id.clone());
        victim.map(|id| self.remove(&id)).is_some()
    }

    /// Drops the sessions of `list` idle for `idle` that nothing holds: walks from the
    /// idlest and stops at the first one seen within `idle`.
    fn expire(&mut self, used: bool, idle: Duration) -> usize {
        let list = if used { &self.used } else { &self.unused };
        let stale: Vec<SessionId> = list
            .values()
            .map_while(|id| {
                let entry = self.map.get(id)?;
                (entry.last.elapsed() >= idle).then_some((id, entry))
            })
            // A session in use (an event running) is never dropped under it.
            .filter(|(_, entry)| Arc::strong_count(&entry.session) == 1)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &stale {
            self.remove(id);
        }
        stale.len()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_max_sessions(crate::Settings::default().max_sessions)
    }
}

impl MemoryStore {
    /// A store that keeps at most `max_sessions` sessions (at least one).
    pub fn with_max_sessions(max_sessions: usize) -> MemoryStore {
        MemoryStore {
            sessions: StdMutex::new(Sessions::default()),
            max_sessions: max_sessions.max(1),
        }
    }

    /// A copy of session `id`, which exists elsewhere (a shared store's), kept here as a
    /// session seen now; `used` as for [`StateStore::open`].
    // Used by the shared stores (the `redis` feature).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn adopt(&self, id: &SessionId, used: bool) -> SharedSession {
        let mut sessions = self.lock();
        if let Some(session) = sessions.touch(id, Duration::MAX, used) {
            return session;
        }
        sessions.insert(id.clone(), used, self.max_sessions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // Every operation updates the map and its list together before anything that can
        // panic, so a poisoned lock is still consistent.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StateStore for MemoryStore {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.lock().touch(id, idle, true)
    }

    fn view(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.lock().touch(id, idle, false)
    }

    fn create(&self) -> (SessionId, SharedSession) {
        let id = SessionId::random();
        let session = self.lock().insert(id.clone(), false, self.max_sessions);
        (id, session)
    }

    fn expire_idle(&self, idle: Duration) -> usize {
        let mut sessions = self.lock();
        sessions.expire(false, idle) + sessions.expire(true, idle)
    }

    fn len(&self) -> usize {
        self.lock().map.len()
    }
}
