//! Sessions: an unguessable id in an `HttpOnly; SameSite=Lax` cookie, the states one
//! browser session owns, and the `StateStore` that keeps them (in memory by default).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use ferrex_core::context::SessionScope;
use ferrex_core::state::AnyState;
use ferrex_core::{PageManifest, State};
use tokio::sync::Mutex;

/// The cookie that carries the session id.
pub const COOKIE_NAME: &str = "ferrex_session";

/// A session id: 128 bits from the operating system's random source, as 32 hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// States a shared store loaded, by name, as JSON: each is decoded when first used, so
    /// an event pays only for the states it touches.
    saved: HashMap<String, Vec<u8>>,
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
    /// For a session a shared store keeps: the store's write count this copy reflects, or
    /// `None` when this copy may be behind (never loaded, or an event here failed).
    // Used by the shared stores (the `redis` feature).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) stored: Option<u64>,
    /// For a session a shared store keeps: when this process last wrote one of its events
    /// there, while it looks like events keep coming here (`None` once another process
    /// asked for the session): a second event soon after the first is what tells a store
    /// holding leases between events that keeping this one is worth it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) committed_at: Option<std::time::Instant>,
    /// Whether a shared store keeps the session: then only events advance [`Session::rev`]
    /// (a page load shows the current one), since a page load on one process is never
    /// written where the next event, on another, would see it.
    pub(crate) replicated: bool,
}

/// The field under which a shared store keeps a session's render revision, beside its
/// states (no Rust type is named this).
// Used by the shared stores (the `redis` feature).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) const REV_FIELD: &str = "~rev";

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

    /// Records a page load's render of `page` and returns its revision: a page load shows
    /// nothing yet, so it always gets the HTML.
    pub(crate) fn record_page_load(
        &mut self,
        page: &str,
        html: &str,
        manifest: PageManifest,
    ) -> u64 {
        if self.replicated {
            let rev = self.rev;
            self.record_at(page, html, manifest, rev);
            rev
        } else {
            self.record_render(page, html, manifest, Some(0)).0
        }
    }

    /// Keeps `page`'s record at revision `rev` without counting a render.
    fn record_at(&mut self, page: &str, html: &str, manifest: PageManifest, rev: u64) {
        let fingerprint = fingerprint(html);
        let events = self.events;
        match self.pages.get_mut(page) {
            Some(record) if record.fingerprint == fingerprint => {
                record.manifest = manifest;
                record.events = events;
            }
            _ => {
                self.pages.insert(
                    page.to_owned(),
                    PageRecord {
                        fingerprint,
                        first_sent: rev,
                        manifest,
                        events,
                    },
                );
            }
        }
    }

    /// Replaces the session's states with those a shared store saved (`fields`, by state
    /// name, and its render revision under [`REV_FIELD`]) at write count `stored`. What
    /// this process remembered of its pages is forgotten: another process may have sent
    /// other HTML since.
    // Used by the shared stores (the `redis` feature).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn load_saved(&mut self, mut fields: BTreeMap<String, Vec<u8>>, stored: u64) {
        self.rev = fields
            .remove(REV_FIELD)
            .and_then(|rev| std::str::from_utf8(&rev).ok()?.parse().ok())
            .unwrap_or(0);
        self.states.clear();
        self.pages.clear();
        self.saved = fields.into_iter().collect();
        self.stored = Some(stored);
    }

    /// The state named `name` as JSON, as a shared store saves it: `None` if the session
    /// never had one.
    // Used by the shared stores (the `redis` feature).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn saved_bytes(&self, name: &str) -> Option<Vec<u8>> {
        match self.states.get(name) {
            Some(state) => Some(state.to_json_bytes()),
            None => self.saved.get(name).cloned(),
        }
    }

    /// The session's `S`, created with `Default` if it has none yet.
    pub fn state<S: State>(&mut self) -> &S {
        self.ensure::<S>();
        self.get::<S>()
    }

    /// Makes sure the session has an `S`.
    pub fn ensure<S: State>(&mut self) {
        self.erased(S::NAME, || Box::new(S::default()));
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
        create: impl FnOnce() -> Box<dyn AnyState>,
    ) -> &mut Box<dyn AnyState> {
        let saved = &mut self.saved;
        self.states
            .entry(name)
            .or_insert_with(|| restore(saved, name, create))
    }

    /// The session's states as JSON, by name.
    pub fn to_json(&self) -> serde_json::Value {
        let saved = self.saved.iter().map(|(name, bytes)| {
            let value = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
            (name.clone(), value)
        });
        self.states
            .iter()
            .map(|(name, s)| ((*name).to_owned(), s.to_json()))
            .chain(saved)
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// The state named `name` as a store saved it (taken out of `saved`), or a new one from
/// `create`.
fn restore(
    saved: &mut HashMap<String, Vec<u8>>,
    name: &str,
    create: impl FnOnce() -> Box<dyn AnyState>,
) -> Box<dyn AnyState> {
    let mut state = create();
    if let Some(bytes) = saved.remove(name)
        && let Err(error) = state.replace_from_json(&bytes)
    {
        // A state type changed since the session was saved: it starts over rather than
        // failing every request of the session.
        tracing::warn!(state = name, %error, "a saved state no longer decodes; it starts from Default");
    }
    state
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

/// What a [`StateStore`]'s calls to a store outside the process return.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store that keeps sessions outside the process could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or failed the command; nothing was changed.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// The session does not exist (never made, or expired) in the store.
    #[error("the session does not exist or expired")]
    NoSession,
    /// Another process held the session for longer than the store waits.
    #[error("the session is in use by another process")]
    Busy,
    /// Another process took the session while this event ran, so its write was refused
    /// and the newer state stands.
    #[error("another process took the session while the event ran")]
    Stale,
}

/// The right to change one session, from [`StateStore::begin`] until
/// [`StateStore::commit`]; what it holds is the store's own (for a shared store, its lease).
/// Dropped without a commit, it gives the right up.
#[derive(Default)]
pub struct EventClaim(Option<Box<dyn std::any::Any + Send + Sync>>);

impl EventClaim {
    /// A claim carrying a store's own value.
    pub fn new(held: impl std::any::Any + Send + Sync) -> EventClaim {
        EventClaim(Some(Box::new(held)))
    }

    /// The store's own value, if it is a `T`.
    pub fn take<T: std::any::Any>(self) -> Option<T> {
        self.0?.downcast::<T>().ok().map(|held| *held)
    }
}

/// Where sessions live. The default, [`MemoryStore`](crate::memory_store::MemoryStore),
/// keeps them in this process; a shared store (`store::redis::RedisSessions`, the `redis`
/// feature) keeps them where every process of the app finds them, with this process's
/// copies as a cache.
///
/// A store tells two kinds of session apart: one that only loaded a page (made by
/// [`StateStore::create`], seen again through [`StateStore::view`]) and one that is used —
/// opened by an event, a socket or an upload through [`StateStore::open`]. Every
/// cookie-less page load makes a session, so a store must be able to drop unused ones
/// first (or not keep them at all) without touching the sessions people work in.
///
/// The synchronous calls are about this process's copies. The asynchronous ones
/// (defaults: nothing to do) are how a shared store keeps those copies right:
/// an event runs as [`StateStore::begin`] (exclusive across processes, the copy brought up
/// to date) → the handler and the render → [`StateStore::commit`] (written before the reply
/// goes out), with the session's lock held throughout; a page load runs
/// [`StateStore::refresh`] without taking the session.
pub trait StateStore: Send + Sync + 'static {
    /// The session with this id, if it exists and was used within `idle`, for a request
    /// that uses it (an event, a socket, an upload); marks it as used now. A session idle
    /// for longer is gone even before [`StateStore::expire_idle`] drops it.
    fn open(&self, id: &SessionId, idle: Duration) -> Option<SharedSession>;
    /// Like [`StateStore::open`] for a page load, which shows the session but does not
    /// count as using it. By default the same as `open`.
    fn view(&self, id: &SessionId, idle: Duration) -> Option<SharedSession> {
        self.open(id, idle)
    }
    /// A new, empty session, not used yet.
    fn create(&self) -> (SessionId, SharedSession);
    /// Drops sessions unused for longer than `idle`; returns how many.
    fn expire_idle(&self, idle: Duration) -> usize;
    /// How many sessions exist.
    fn len(&self) -> usize;
    /// Whether no session exists.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether other processes share this store's sessions.
    fn is_shared(&self) -> bool {
        false
    }
    /// A session this process has no copy of but the store has (made by another process),
    /// now copied here; `None` if there is no such session.
    fn find<'a>(
        &'a self,
        id: &'a SessionId,
        idle: Duration,
    ) -> StoreFuture<'a, Option<SharedSession>> {
        let _ = (id, idle);
        Box::pin(std::future::ready(Ok(None)))
    }
    /// Makes a session [`StateStore::create`] just made known to the other processes,
    /// before its cookie goes out.
    fn publish<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        let _ = id;
        Box::pin(std::future::ready(Ok(())))
    }
    /// Brings this process's copy of a session up to date for a page load, without
    /// taking the session. [`StoreError::NoSession`] if it is gone.
    fn refresh<'a>(&'a self, id: &'a SessionId, session: &'a mut Session) -> StoreFuture<'a, ()> {
        let _ = (id, session);
        Box::pin(std::future::ready(Ok(())))
    }
    /// Takes the right to change a session for one event (across every process sharing
    /// the store) and brings this process's copy up to date.
    fn begin<'a>(
        &'a self,
        id: &'a SessionId,
        session: &'a mut Session,
    ) -> StoreFuture<'a, EventClaim> {
        let _ = (id, session);
        Box::pin(std::future::ready(Ok(EventClaim::default())))
    }
    /// Writes what the event changed (the state named `changed` and the render revision)
    /// and gives the right up. [`StoreError::Stale`] if another process took the session
    /// meanwhile: nothing is written, and the copy here is reloaded before its next use.
    fn commit<'a>(
        &'a self,
        claim: EventClaim,
        session: &'a mut Session,
        changed: &'a str,
    ) -> StoreFuture<'a, ()> {
        let _ = (claim, session, changed);
        Box::pin(std::future::ready(Ok(())))
    }
    /// The secret every process sharing the store signs session-bound URLs with, once the
    /// store has agreed on it; `None` for a store of this process alone.
    fn url_secret(&self) -> Option<&[u8; 32]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::MemoryStore;

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

    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct Tally {
        n: i64,
    }

    impl State for Tally {
        const NAME: &'static str = "Tally";
        const HANDLERS: &'static [&'static str] = &[];
        type Events = ();
        fn dispatch<'a>(
            &'a mut self,
            method: &str,
            _: ferrex_core::context::EventInput,
        ) -> Result<ferrex_core::state::HandlerFuture<'a>, ferrex_core::EventError> {
            Err(ferrex_core::EventError::UnknownHandler(method.into()))
        }
    }

    fn saved(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn saved_states_come_back_on_first_use_with_their_revision() {
        let mut session = Session::default();
        session.load_saved(saved(&[("Tally", r#"{"n":7}"#), (REV_FIELD, "12")]), 3);
        assert_eq!((session.rev, session.stored), (12, Some(3)));
        assert_eq!(
            session.saved_bytes("Tally").as_deref(),
            Some(&br#"{"n":7}"#[..])
        );
        assert_eq!(session.state::<Tally>().n, 7);
        assert_eq!(session.saved_bytes("Nothing"), None);
        // A saved state that no longer decodes starts over instead of failing the session.
        session.load_saved(saved(&[("Tally", "not json")]), 4);
        assert_eq!((session.state::<Tally>().n, session.rev), (0, 0));
    }

    #[test]
    fn a_replicated_session_counts_revisions_only_for_events_and_forgets_pages_on_reload() {
        let mut session = Session {
            replicated: true,
            rev: 5,
            ..Session::default()
        };
        assert_eq!(
            session.record_page_load("/", "<p>0</p>", PageManifest::default()),
            5
        );
        assert_eq!(
            session.record_page_load("/", "<p>0</p>", PageManifest::default()),
            5
        );
        assert!(session.current_manifest("/").is_some());
        let (rev, _) = session.record_render("/", "<p>1</p>", PageManifest::default(), Some(5));
        assert_eq!(
            rev, 6,
            "an event's reply is newer than any page loaded before it"
        );
        session.load_saved(saved(&[(REV_FIELD, "9")]), 2);
        assert!(
            session.current_manifest("/").is_none(),
            "another process may have sent other HTML"
        );
        // A session of this process alone counts page loads too, as before.
        let mut local = Session::default();
        assert_eq!(
            local.record_page_load("/", "<p>0</p>", PageManifest::default()),
            1
        );
        assert_eq!(
            local.record_page_load("/", "<p>0</p>", PageManifest::default()),
            2
        );
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
    fn a_flood_of_new_sessions_replaces_only_unused_ones() {
        let store = MemoryStore::with_max_sessions(3);
        let hour = Duration::from_secs(3600);
        let (worker, _) = store.create();
        assert!(store.open(&worker, hour).is_some());
        let (reader, _) = store.create();
        for _ in 0..1000 {
            store.create();
            assert!(store.len() <= 3);
        }
        assert!(
            store.open(&worker, hour).is_some(),
            "the used session stays"
        );
        assert!(
            store.view(&reader, hour).is_none(),
            "a page load alone does not protect a session"
        );
        // A page load of a used session keeps it used.
        assert!(store.view(&worker, hour).is_some());
        store.create();
        store.create();
        assert!(store.view(&worker, hour).is_some());
    }

    #[test]
    fn when_every_session_is_used_the_idlest_goes() {
        let store = MemoryStore::with_max_sessions(2);
        let hour = Duration::from_secs(3600);
        let (a, _) = store.create();
        let (b, _) = store.create();
        assert!(store.open(&a, hour).is_some());
        assert!(store.open(&b, hour).is_some());
        assert!(store.open(&a, hour).is_some(), "a is now the more recent");
        store.create();
        assert_eq!(store.len(), 2);
        assert!(store.open(&a, hour).is_some());
        assert!(store.open(&b, hour).is_none());
    }

    #[test]
    fn expiry_drops_idle_sessions_of_both_kinds_and_keeps_fresh_ones() {
        let store = MemoryStore::with_max_sessions(100);
        let (used, _) = store.create();
        assert!(store.open(&used, Duration::from_secs(60)).is_some());
        store.create();
        std::thread::sleep(Duration::from_millis(30));
        let (recent, _) = store.create();
        assert_eq!(store.expire_idle(Duration::from_millis(20)), 2);
        assert_eq!(store.len(), 1);
        assert!(store.view(&recent, Duration::from_secs(60)).is_some());
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
