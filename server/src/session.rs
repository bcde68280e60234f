//! Sessions: an unguessable id in an `HttpOnly; SameSite=Lax` cookie, the states one
//! browser session owns, and the `StateStore` that keeps them (in memory by default).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ferrex_core::context::SessionScope;
use ferrex_core::state::AnyState;
use ferrex_core::{PageManifest, State};
use tokio::sync::Mutex;

/// The cookie that carries the session id.
pub const COOKIE_NAME: &str = "ferrex_session";

/// A session id: 128 bits from the operating system's random source, as 32 hex digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random id.
    ///
    /// ```
    /// let a = ferrex_server::SessionId::random();
    /// assert_eq!(a.as_str().len(), 32);
    /// assert_ne!(a, ferrex_server::SessionId::random());
    /// ```
    pub fn random() -> SessionId {
        let mut bytes = [0u8; 16];
        // The OS random source failing is not something a web server can go on without.
        getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
        SessionId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Parses an id a client sent: exactly 32 lower-case hex digits.
    ///
    /// ```
    /// use ferrex_server::SessionId;
    /// assert!(SessionId::parse("0123456789abcdef0123456789abcdef").is_some());
    /// assert!(SessionId::parse("../etc").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<SessionId> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| SessionId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id from a request's `Cookie` header, if present and well-formed.
    pub fn from_headers(headers: &HeaderMap) -> Option<SessionId> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .and_then(|(_, value)| SessionId::parse(value.trim()))
    }

    /// The `Set-Cookie` value for this id.
    pub fn cookie(&self, path: &str) -> String {
        format!(
            "{COOKIE_NAME}={}; Path={path}; HttpOnly; SameSite=Lax",
            self.0
        )
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log a whole id: it is a credential.
        write!(f, "SessionId({}…)", &self.0[..6])
    }
}

/// The states of one browser session, created on first use.
#[derive(Default)]
pub struct Session {
    states: HashMap<&'static str, Box<dyn AnyState>>,
    /// What the session last rendered of each page.
    pages: HashMap<String, PageRecord>,
    /// How many times any page of this session was rendered: the revision a page or a
    /// reply carries, so the browser never lets an older render replace a newer one that
    /// reached it first over another channel (the upload request and the WebSocket).
    pub(crate) rev: u64,
    /// How many events have been dispatched to the session's states: a page's manifest
    /// is current while no event has run since it was rendered.
    events: u64,
    /// The scope its renders and handlers run in (upload URLs signed with its key), made
    /// on first use.
    pub(crate) scope: Option<SessionScope>,
}

/// What a session last rendered of one page.
struct PageRecord {
    /// A hash of the HTML, to skip re-renders a client already shows.
    fingerprint: u64,
    /// The revision that HTML was first sent with.
    first_sent: u64,
    /// The page's drop zones and uploads.
    manifest: PageManifest,
    /// [`Session::events`] when it was rendered.
    events: u64,
}

impl Session {
    /// Counts one more render and returns its revision.
    pub(crate) fn next_rev(&mut self) -> u64 {
        self.rev += 1;
        self.rev
    }

    /// Counts an event about to change the session's states.
    pub(crate) fn note_event(&mut self) {
        self.events += 1;
    }

    /// The manifest of `page` as last rendered, if no event has run since: what an upload
    /// checks its drop zone against without rendering the page again.
    pub(crate) fn current_manifest(&self, page: &str) -> Option<&PageManifest> {
        self.pages
            .get(page)
            .filter(|record| record.events == self.events)
            .map(|record| &record.manifest)
    }

    /// Records a render of `page` and returns its revision, and whether a client that
    /// shows revision `shown` needs its HTML. Unchanged HTML is left out only when the
    /// client already shows it: `shown` is no older than when this HTML was first sent (a
    /// reply that never arrived, or went to another tab of the session, is made up for).
    /// `None` stands for a client that shows whatever was sent last.
    pub(crate) fn record_render(
        &mut self,
        page: &str,
        html: &str,
        manifest: PageManifest,
        shown: Option<u64>,
    ) -> (u64, bool) {
        let rev = self.next_rev();
        let fingerprint = fingerprint(html);
        let events = self.events;
        if let Some(record) = self.pages.get_mut(page)
            && record.fingerprint == fingerprint
        {
            record.manifest = manifest;
            record.events = events;
            return (rev, shown.is_some_and(|shown| shown < record.first_sent));
        }
        let record = PageRecord {
            fingerprint,
            first_sent: rev,
            manifest,
            events,
        };
        // Overwritten in place: a page key is allocated once per session, not per event.
        match self.pages.get_mut(page) {
            Some(slot) => *slot = record,
            None => {
                self.pages.insert(page.to_owned(), record);
            }
        }
        (rev, true)
    }

    /// The session's `S`, created with `Default` if it has none yet.
    pub fn state<S: State>(&mut self) -> &S {
        self.ensure::<S>();
        self.get::<S>()
    }

    /// Makes sure the session has an `S`.
    pub fn ensure<S: State>(&mut self) {
        self.states
            .entry(S::NAME)
            .or_insert_with(|| Box::new(S::default()));
    }

    /// The session's `S`; panics if [`Session::ensure`] was not called first.
    pub fn get<S: State>(&self) -> &S {
        self.states
            .get(S::NAME)
            .and_then(|s| s.as_any().downcast_ref::<S>())
            .expect("ensure::<S>() is called before get::<S>()")
    }

    /// The state named `name` (creating it with `create` if missing), type-erased.
    pub(crate) fn erased(
        &mut self,
        name: &'static str,
        create: fn() -> Box<dyn AnyState>,
    ) -> &mut Box<dyn AnyState> {
        self.states.entry(name).or_insert_with(create)
    }

    /// The session's states as JSON, by name.
    pub fn to_json(&self) -> serde_json::Value {
        self.states
            .iter()
            .map(|(name, s)| ((*name).to_owned(), s.to_json()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A fingerprint of a render, to tell whether a page changed: FxHash (rustc-hash), made for
/// speed rather than SipHash's resistance to crafted input; this is change detection for a
/// session's own page.
fn fingerprint(html: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(html.as_bytes());
    hasher.finish()
}

/// A session as the store hands it out: locked for the duration of one event, which is
/// what makes one session's events run one at a time, in arrival order.
pub type SharedSession = Arc<Mutex<Session>>;

/// Where sessions live. The default, [`MemoryStore`], keeps them in this process.
pub trait StateStore: Send + Sync + 'static {
    /// The session with this id, if it exists and was used within `idle`; marks it as
    /// used now. A session idle for longer is gone even before [`StateStore::expire_idle`]
    /// drops it.
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession>;
    /// A new, empty session.
    fn create(&self) -> (SessionId, SharedSession);
    /// Drops sessions unused for longer than `idle`; returns how many.
    fn expire_idle(&self, idle: Duration) -> usize;
    /// How many sessions exist.
    fn len(&self) -> usize;
    /// Whether no session exists.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sessions in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    sessions: StdMutex<HashMap<SessionId, (SharedSession, Instant)>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, (SharedSession, Instant)>> {
        // A panic while holding this lock cannot leave the map inconsistent (every
        // operation is a single insert/remove/get), so a poisoned lock is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StateStore for MemoryStore {
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        let mut map = self.lock();
        let entry = map.get_mut(id)?;
        if entry.1.elapsed() >= idle && Arc::strong_count(&entry.0) == 1 {
            map.remove(id);
            return None;
        }
        entry.1 = Instant::now();
        Some(entry.0.clone())
    }

    fn create(&self) -> (SessionId, SharedSession) {
        let id = SessionId::random();
        let session = SharedSession::default();
        self.lock()
            .insert(id.clone(), (session.clone(), Instant::now()));
        (id, session)
    }

    fn expire_idle(&self, idle: Duration) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, (session, last)| {
            // A session in use (an event running) is never dropped under it.
            last.elapsed() < idle || Arc::strong_count(session) > 1
        });
        before - map.len()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_idle_past_the_limit_does_not_open_even_before_a_sweep() {
        let store = MemoryStore::default();
        let (id, _) = store.create();
        assert!(store.open(&id, Duration::from_secs(60)).is_some());
        std::thread::sleep(Duration::from_millis(20));
        assert!(store.open(&id, Duration::from_millis(10)).is_none());
        assert_eq!(store.len(), 0, "the stale session is dropped, not kept");
        assert!(store.open(&id, Duration::from_secs(60)).is_none());
    }

    #[test]
    fn unchanged_html_is_sent_only_to_a_client_that_lacks_it() {
        let mut session = Session::default();
        let (first, send) =
            session.record_render("/", "<p>0</p>", PageManifest::default(), Some(0));
        assert!(send, "a page load always gets the HTML");
        let (changed, send) =
            session.record_render("/", "<p>1</p>", PageManifest::default(), Some(first));
        assert!(send && changed > first);
        // The same HTML again: not for a client showing it, nor one that says nothing…
        assert!(
            !session
                .record_render("/", "<p>1</p>", PageManifest::default(), Some(changed))
                .1
        );
        assert!(
            !session
                .record_render("/", "<p>1</p>", PageManifest::default(), None)
                .1
        );
        // …but for one still showing the page before the change.
        assert!(
            session
                .record_render("/", "<p>1</p>", PageManifest::default(), Some(first))
                .1
        );
        // Pages are kept apart.
        assert!(
            session
                .record_render("/other", "<p>1</p>", PageManifest::default(), None)
                .1
        );
    }

    #[test]
    fn a_session_in_use_is_not_dropped_under_its_event() {
        let store = MemoryStore::default();
        let (id, held) = store.create();
        std::thread::sleep(Duration::from_millis(20));
        let again = store.open(&id, Duration::from_millis(10));
        assert!(again.is_some_and(|s| Arc::ptr_eq(&s, &held)));
    }
}
