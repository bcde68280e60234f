//! Payloads a handler returned (`Download`), parked behind one-time, session-bound tokens
//! until the browser fetches them: the budgets that bound them, per session and for the
//! process, with running totals; with a shared file store and Redis, `Download::data`
//! payloads parked in the store and their tokens in Redis, so any process hands them out
//! once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use ferrex_core::Download;
use ferrex_core::download::DownloadBody;

use crate::files::ObjectFiles;
use crate::session::SessionId;

/// Payloads waiting to be fetched, each by the one session it was made for.
///
/// Two budgets bound them: one per session (a session flooding downloads it never fetches
/// drops only its own oldest) and one for the whole process (past it, the oldest payload of
/// the session holding the most goes). Every count is a running total and every choice a
/// B-tree lookup, so parking, fetching and expiring cost O(log n) under the lock whatever
/// is waiting.
pub(crate) struct DownloadSlots {
    parking: Mutex<Parking>,
    max_bytes: u64,
    max_session_bytes: u64,
    ttl: Duration,
    /// Where payloads go when several processes must be able to hand them out.
    shared: Option<SharedParking>,
}

/// What the lock guards.
#[derive(Default)]
struct Parking {
    slots: HashMap<String, Slot>,
    /// Every slot's token in the order it was parked, which is the order it expires in.
    order: BTreeMap<u64, String>,
    holders: HashMap<SessionId, Holder>,
    /// The holders by what they hold, largest last; among equals, the one whose oldest
    /// payload is oldest goes first.
    by_charge: BTreeSet<(u64, Reverse<u64>, SessionId)>,
    /// The sum of every slot's charge.
    total: u64,
    next_seq: u64,
    /// Payloads dropped unfetched for a budget since the last sweep, and their charge.
    evicted: (u64, u64),
    /// Payloads in the file store whose slots were dropped unfetched, to delete there.
    stored_dropped: Vec<String>,
}

/// What one session has parked.
struct Holder {
    charge: u64,
    seqs: BTreeSet<u64>,
}

impl Holder {
    fn key(&self, session: &SessionId) -> (u64, Reverse<u64>, SessionId) {
        let oldest = self.seqs.first().copied().unwrap_or(u64::MAX);
        (self.charge, Reverse(oldest), session.clone())
    }
}

pub(crate) struct Slot {
    session: SessionId,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) body: SlotBody,
    /// The payload's size plus the slot's own bookkeeping, counted against the budgets.
    charge: u64,
    seq: u64,
    created: Instant,
}

/// What a slot holds.
pub(crate) enum SlotBody {
    /// The payload itself, in this process.
    Held(DownloadBody),
    /// A payload put in the shared file store under this name (its one-time token is in
    /// Redis); the slot keeps it counted against this process's budgets until it expires.
    Stored {
        /// The payload's name in the store.
        name: String,
        /// Its length.
        len: u64,
    },
}

/// The memory one parked slot costs besides its payload and its strings: the `Slot` and
/// its entries in the token map, the expiry order and its session's list, plus an
/// allowance for the maps' per-entry slack (control bytes, half-full B-tree nodes).
const SLOT_OVERHEAD: u64 =
    (size_of::<(String, Slot)>() + size_of::<(u64, String)>() + size_of::<u64>() + 64) as u64;

/// What a slot is charged: its payload, [`SLOT_OVERHEAD`], and the strings it keeps (the
/// token twice, the session id, the name and the type).
fn charge(
    payload: u64,
    token: &str,
    session: &SessionId,
    filename: &str,
    content_type: &str,
) -> u64 {
    let strings = 2 * token.len() + session.as_str().len() + filename.len() + content_type.len();
    payload + SLOT_OVERHEAD + strings as u64
}

/// Where the browser fetches a download.
pub(crate) enum Parked {
    /// A same-origin URL, fetched through `/_ferrex/file`.
    Url(String),
    /// A one-time token URL.
    Token(String),
}

impl Parking {
    fn insert(&mut self, token: String, session: &SessionId, mut slot: Slot) {
        let seq = self.next_seq;
        self.next_seq += 1;
        slot.seq = seq;
        let holder = self.holders.entry(session.clone()).or_insert(Holder {
            charge: 0,
            seqs: BTreeSet::new(),
        });
        self.by_charge.remove(&holder.key(session));
        holder.charge += slot.charge;
        holder.seqs.insert(seq);
        self.by_charge.insert(holder.key(session));
        self.total += slot.charge;
        self.order.insert(seq, token.clone());
        self.slots.insert(token, slot);
    }

    /// Removes a slot that was dropped unfetched (a budget, its time-to-live): a payload in
    /// the file store is deleted there too.
    fn drop_unfetched(&mut self, token: &str) -> Option<Slot> {
        let slot = self.remove(token)?;
        if let SlotBody::Stored { name, .. } = &slot.body {
            self.stored_dropped.push(name.clone());
        }
        Some(slot)
    }

    fn remove(&mut self, token: &str) -> Option<Slot> {
        let slot = self.slots.remove(token)?;
        self.order.remove(&slot.seq);
        self.total -= slot.charge;
        if let Some(holder) = self.holders.get_mut(&slot.session) {
            self.by_charge.remove(&holder.key(&slot.session));
            holder.charge -= slot.charge;
            holder.seqs.remove(&slot.seq);
            if holder.seqs.is_empty() {
                self.holders.remove(&slot.session);
            } else {
                self.by_charge.insert(holder.key(&slot.session));
            }
        }
        Some(slot)
    }

    /// Drops `session`'s oldest payload unfetched.
    fn evict_oldest_of(&mut self, session: &SessionId) {
        let token = self
            .holders
            .get(session)
            .and_then(|holder| holder.seqs.first())
            .and_then(|seq| self.order.get(seq))
            .cloned();
        if let Some(slot) = token.and_then(|token| self.drop_unfetched(&token)) {
            self.evicted.0 += 1;
            self.evicted.1 += slot.charge;
        }
    }

    /// The session whose oldest payload goes when the process holds too much: the largest
    /// holder, unless all it holds is the payload being parked (`newest`).
    fn largest_holder(&self, newest: u64) -> Option<SessionId> {
        self.by_charge
            .iter()
            .rev()
            .find(|(_, Reverse(oldest), _)| *oldest != newest)
            .map(|(_, _, session)| session.clone())
    }

    fn charge_of(&self, session: &SessionId) -> u64 {
        self.holders.get(session).map_or(0, |holder| holder.charge)
    }
}

impl DownloadSlots {
    pub(crate) fn new(max_bytes: u64, max_session_bytes: u64, ttl: Duration) -> DownloadSlots {
        DownloadSlots {
            parking: Mutex::new(Parking::default()),
            max_bytes,
            max_session_bytes: max_session_bytes.min(max_bytes),
            ttl,
            shared: None,
        }
    }

    /// Parks `Download::data` payloads in `shared` from now on.
    pub(crate) fn shared(mut self, shared: Option<SharedParking>) -> DownloadSlots {
        self.shared = shared;
        self
    }

    /// Whether tokens may have been made by another process of the app.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Deletes from the file store the payloads whose slots were dropped unfetched.
    fn delete_dropped(&self) {
        let dropped = std::mem::take(&mut self.lock().stored_dropped);
        if let Some(shared) = &self.shared {
            for name in dropped {
                shared.files.delete_later(&name);
            }
        }
    }

    /// Parks a download for `session` (see [`DownloadSlots::park`]); with a shared file
    /// store and Redis, a `Download::data` payload goes to the store and its token to
    /// Redis, so any process of the app can hand it out once.
    pub(crate) async fn park_anywhere(
        &self,
        session: &SessionId,
        download: Download,
    ) -> Result<Parked, String> {
        let Some(shared) = &self.shared else {
            return self.park(session, download);
        };
        let filename = download.suggested_filename();
        let content_type = download.content_type();
        let data = match download.into_body() {
            DownloadBody::Data(data) => data,
            body => return self.park_body(session, filename, content_type, body),
        };
        let token = format!("{SHARED_MARK}{}", SessionId::random().as_str());
        let estimate = charge(data.len_hint(), &token, session, &filename, &content_type);
        self.fits_one_session(estimate, &filename)?;
        let bytes = encode(data).await?;
        let name = format!("{}{token}", crate::files::PARKED_PREFIX);
        let len = bytes.len() as u64;
        shared
            .files
            .put_parked(&name, bytes)
            .await
            .map_err(|e| format!("`{filename}` could not be kept for download: {e}"))?;
        let record = serde_json::json!({ "f": filename, "t": content_type, "n": name });
        if let Err(e) = shared
            .put_token(&once_key(session, &token), record.to_string(), self.ttl)
            .await
        {
            shared.files.delete_later(&name);
            return Err(format!("`{filename}` could not be kept for download: {e}"));
        }
        let charge = charge(len, &token, session, &filename, &content_type);
        let slot = Slot {
            session: session.clone(),
            filename,
            content_type,
            body: SlotBody::Stored { name, len },
            charge,
            seq: 0,
            created: Instant::now(),
        };
        self.insert_within_budgets(token.clone(), session, slot);
        Ok(Parked::Token(format!(
            "{}{token}",
            crate::wire::DOWNLOAD_PREFIX
        )))
    }

    /// Takes a payload parked in the shared store by any process, once of all processes:
    /// its name, type, store name and length. `None` if it was taken, expired, or is not
    /// `session`'s (the key names the session, so another session's fetch burns nothing).
    pub(crate) async fn take_shared(
        &self,
        token: &str,
        session: Option<&SessionId>,
    ) -> Result<Option<SharedPayload>, String> {
        let (Some(shared), Some(session)) = (&self.shared, session) else {
            return Ok(None);
        };
        if !token.starts_with(SHARED_MARK) {
            return Ok(None);
        }
        // This process's own slot stops counting against its budgets now.
        {
            let mut parking = self.lock();
            if parking
                .slots
                .get(token)
                .is_some_and(|slot| &slot.session == session)
            {
                parking.remove(token);
            }
        }
        let Some(record) = shared.take_token(&once_key(session, token)).await? else {
            return Ok(None);
        };
        let record: serde_json::Value = serde_json::from_slice(&record)
            .map_err(|e| format!("a download's record is unreadable: {e}"))?;
        let text = |key: &str| record.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        match (text("f"), text("t"), text("n")) {
            (Some(filename), Some(content_type), Some(name)) => Ok(Some(SharedPayload {
                filename,
                content_type,
                name,
                files: shared.files.clone(),
            })),
            _ => Err("a download's record is incomplete".into()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Parking> {
        // Every operation leaves the totals consistent before it can panic (arithmetic on
        // counts that were added before), so a poisoned lock is still usable.
        self.parking
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parks a download for `session` and returns where the browser fetches it, or why it
    /// cannot: a payload larger than a session's whole budget would only be dropped
    /// unfetched.
    pub(crate) fn park(&self, session: &SessionId, download: Download) -> Result<Parked, String> {
        let filename = download.suggested_filename();
        let content_type = download.content_type();
        self.park_body(session, filename, content_type, download.into_body())
    }

    fn park_body(
        &self,
        session: &SessionId,
        filename: String,
        content_type: String,
        body: DownloadBody,
    ) -> Result<Parked, String> {
        if let DownloadBody::Url(url) = body {
            return Ok(Parked::Url(url));
        }
        // A stream is served by this process only: its mark lets another process say so.
        let mark = match (&body, self.is_shared()) {
            (DownloadBody::Stream { .. }, true) => STREAM_MARK,
            _ => "",
        };
        let token = format!("{mark}{}", SessionId::random().as_str());
        let charge = charge(
            estimated_size(&body),
            &token,
            session,
            &filename,
            &content_type,
        );
        self.fits_one_session(charge, &filename)?;
        let slot = Slot {
            session: session.clone(),
            filename,
            content_type,
            body: SlotBody::Held(body),
            charge,
            seq: 0,
            created: Instant::now(),
        };
        self.insert_within_budgets(token.clone(), session, slot);
        Ok(Parked::Token(format!(
            "{}{token}",
            crate::wire::DOWNLOAD_PREFIX
        )))
    }

    /// Refuses a payload larger than a session's whole budget: it would only be dropped
    /// unfetched.
    fn fits_one_session(&self, charge: u64, filename: &str) -> Result<(), String> {
        if charge > self.max_session_bytes {
            let setting = if self.max_session_bytes < self.max_bytes {
                "App::max_pending_download_bytes_per_session"
            } else {
                "App::max_pending_download_bytes"
            };
            return Err(format!(
                "`{filename}` ({charge} bytes with its bookkeeping) is larger than the {} bytes \
                 the server holds for one session's downloads: return it with \
                 `Download::stream`, or raise `{setting}`",
                self.max_session_bytes
            ));
        }
        Ok(())
    }

    /// Parks `slot` and drops the oldest payloads of whoever holds too much.
    fn insert_within_budgets(&self, token: String, session: &SessionId, slot: Slot) {
        let mut parking = self.lock();
        parking.insert(token.clone(), session, slot);
        let newest = parking.next_seq - 1;
        // The new payload fits the budgets on its own, so neither loop drops it.
        while parking.charge_of(session) > self.max_session_bytes {
            parking.evict_oldest_of(session);
        }
        while parking.total > self.max_bytes {
            let Some(largest) = parking.largest_holder(newest) else {
                break;
            };
            parking.evict_oldest_of(&largest);
        }
        drop(parking);
        self.delete_dropped();
    }

    /// Drops payloads older than the time-to-live, oldest first (O(log n) each), and logs
    /// one line for everything dropped since the last sweep.
    pub(crate) fn expire(&self) {
        let mut parking = self.lock();
        let (mut expired, mut expired_bytes) = (0u64, 0u64);
        while let Some(token) = parking
            .order
            .first_key_value()
            .map(|(_, token)| token.clone())
        {
            let stale = parking
                .slots
                .get(&token)
                .is_none_or(|slot| slot.created.elapsed() >= self.ttl);
            if !stale {
                break;
            }
            if let Some(slot) = parking.drop_unfetched(&token) {
                expired += 1;
                expired_bytes += slot.charge;
            }
        }
        let (evicted, evicted_bytes) = std::mem::take(&mut parking.evicted);
        let (waiting, waiting_bytes) = (parking.slots.len(), parking.total);
        drop(parking);
        self.delete_dropped();
        if evicted > 0 {
            tracing::warn!(
                evicted,
                evicted_bytes,
                expired,
                expired_bytes,
                waiting,
                waiting_bytes,
                "generated downloads were dropped unfetched: a download budget was full"
            );
        } else if expired > 0 {
            tracing::debug!(
                expired,
                expired_bytes,
                waiting,
                waiting_bytes,
                "generated downloads expired unfetched"
            );
        }
    }

    /// How many payloads wait and what they are charged in all.
    #[cfg(test)]
    fn held(&self) -> (usize, u64) {
        let parking = self.lock();
        (parking.slots.len(), parking.total)
    }

    /// Takes the payload for `token` if `session` owns it.
    pub(crate) fn take(&self, token: &str, session: Option<&SessionId>) -> Option<Slot> {
        let mut parking = self.lock();
        let slot = parking.slots.get(token)?;
        if !self.fetchable(slot, session) {
            return None;
        }
        parking.remove(token)
    }

    /// The name, type and length (when known without encoding) of the payload for `token`
    /// if `session` owns it, leaving it in place.
    pub(crate) fn peek(
        &self,
        token: &str,
        session: Option<&SessionId>,
    ) -> Option<(String, String, Option<u64>)> {
        let parking = self.lock();
        let slot = parking
            .slots
            .get(token)
            .filter(|s| self.fetchable(s, session))?;
        let len = match &slot.body {
            SlotBody::Held(DownloadBody::Data(data)) if !data.is_image() => Some(data.len_hint()),
            SlotBody::Held(DownloadBody::Stream { len, .. }) => *len,
            SlotBody::Stored { len, .. } => Some(*len),
            _ => None,
        };
        Some((slot.filename.clone(), slot.content_type.clone(), len))
    }

    fn fetchable(&self, slot: &Slot, session: Option<&SessionId>) -> bool {
        Some(&slot.session) == session && slot.created.elapsed() < self.ttl
    }
}

/// The first character of a token whose payload is in the shared file store.
pub(crate) const SHARED_MARK: &str = "d";
/// The first character of a token whose payload is a stream, when the app runs as several
/// processes: only the process that made it can serve it.
pub(crate) const STREAM_MARK: &str = "s";

/// A payload taken from the shared store by [`DownloadSlots::take_shared`].
pub(crate) struct SharedPayload {
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) name: String,
    pub(crate) files: Arc<ObjectFiles>,
}

/// The one-time key of a shared payload: the session is part of it, so a token fetched
/// with another session's cookie finds nothing and leaves the payload in place.
fn once_key(session: &SessionId, token: &str) -> String {
    format!("download:{}:{token}", session.as_str())
}

/// A payload's bytes, an image encoded off the async threads.
async fn encode(data: ferrex_core::download::DownloadData) -> Result<bytes::Bytes, String> {
    if data.is_image() {
        tokio::task::spawn_blocking(move || data.into_bytes())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("image encoding failed: {e}"))
    } else {
        data.into_bytes().map_err(|e| e.to_string())
    }
}

/// The sharing of parked payloads an app runs with: with an object store and a Redis URL
/// (given in code, else `FERREX_REDIS_URL`), `Download::data` payloads go to the store and
/// their tokens to Redis; otherwise payloads wait in the memory of the process that made
/// them.
pub(crate) fn sharing(
    files: &crate::files::FileStore,
    redis_url: Option<String>,
) -> Option<SharedParking> {
    let objects = files.objects()?;
    #[cfg(feature = "redis")]
    {
        let url = redis_url.or_else(|| {
            std::env::var("FERREX_REDIS_URL")
                .ok()
                .filter(|url| !url.trim().is_empty())
        });
        match url {
            Some(url) => Some(SharedParking::new(objects.clone(), url.trim().to_owned())),
            None => {
                tracing::info!(
                    "generated downloads wait in this process's memory: set FERREX_REDIS_URL \
                     so that any process of the app can hand them out"
                );
                None
            }
        }
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (objects, redis_url);
        None
    }
}

/// The shared file store and the Redis that holds one-time tokens.
pub(crate) struct SharedParking {
    files: Arc<ObjectFiles>,
    #[cfg(feature = "redis")]
    redis_url: String,
    #[cfg(feature = "redis")]
    redis: tokio::sync::OnceCell<crate::store::redis::RedisStore>,
}

impl SharedParking {
    /// Payloads in `files`, tokens in the Redis at `redis_url`, connected on first use (so
    /// an app starts while Redis is still coming up).
    #[cfg(feature = "redis")]
    pub(crate) fn new(files: Arc<ObjectFiles>, redis_url: String) -> SharedParking {
        SharedParking {
            files,
            redis_url,
            redis: tokio::sync::OnceCell::new(),
        }
    }

    #[cfg(feature = "redis")]
    async fn redis(&self) -> Result<&crate::store::redis::RedisStore, String> {
        use crate::store::redis::{RedisStore, RedisStoreConfig};
        self.redis
            .get_or_try_init(|| RedisStore::connect(&self.redis_url, RedisStoreConfig::default()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn put_token(&self, key: &str, record: String, ttl: Duration) -> Result<(), String> {
        #[cfg(feature = "redis")]
        {
            let stored = self
                .redis()
                .await?
                .put_once(key, record.as_bytes(), ttl)
                .await
                .map_err(|e| e.to_string())?;
            if stored {
                Ok(())
            } else {
                Err("its token is already in use".into())
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (key, record, ttl);
            Err("sharing downloads needs the `redis` feature".into())
        }
    }

    async fn take_token(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        #[cfg(feature = "redis")]
        {
            self.redis()
                .await?
                .take_once(key)
                .await
                .map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = key;
            Ok(None)
        }
    }
}

fn estimated_size(body: &DownloadBody) -> u64 {
    match body {
        DownloadBody::Data(data) => data.len_hint(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(len: usize, name: &str) -> Download {
        Download::data(vec![7u8; len]).filename(name)
    }

    #[test]
    fn the_running_total_is_the_sum_of_what_waits() {
        let slots = DownloadSlots::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let (alice, bob) = (SessionId::random(), SessionId::random());
        let mut tokens = Vec::new();
        for i in 0..10 {
            let who = if i % 2 == 0 { &alice } else { &bob };
            let Ok(Parked::Token(url)) = slots.park(who, payload(100 * i, "p.bin")) else {
                panic!("parked");
            };
            let token = url.rsplit('/').next().map(str::to_owned);
            tokens.push((who.clone(), token.unwrap_or_default()));
        }
        let sum = |slots: &DownloadSlots| {
            let parking = slots.lock();
            let by_slot: u64 = parking.slots.values().map(|s| s.charge).sum();
            let by_holder: u64 = parking.holders.values().map(|h| h.charge).sum();
            assert_eq!(by_slot, by_holder);
            assert_eq!(parking.by_charge.len(), parking.holders.len());
            assert_eq!(parking.order.len(), parking.slots.len());
            by_slot
        };
        assert_eq!(slots.held().1, sum(&slots));
        for (who, token) in tokens.iter().step_by(3) {
            assert!(slots.take(token, Some(who)).is_some());
        }
        assert_eq!(slots.held(), (6, sum(&slots)));
        for (who, token) in &tokens {
            slots.take(token, Some(who));
        }
        assert_eq!(slots.held(), (0, 0));
        assert!(slots.lock().holders.is_empty());
    }

    #[test]
    fn the_global_cap_takes_from_the_largest_holder_never_the_new_payload() {
        let one = charge(
            1000,
            &"0".repeat(32),
            &SessionId::random(),
            "p.bin",
            "application/octet-stream",
        );
        let slots = DownloadSlots::new(3 * one, 3 * one, Duration::from_secs(60));
        let (big, small) = (SessionId::random(), SessionId::random());
        assert!(slots.park(&small, payload(500, "p.bin")).is_ok());
        assert!(slots.park(&big, payload(1000, "p.bin")).is_ok());
        assert!(slots.park(&big, payload(1000, "p.bin")).is_ok());
        // Past the cap: `big` holds the most and loses its oldest, though `small`'s is older.
        assert!(slots.park(&small, payload(500, "p.bin")).is_ok());
        let parking = slots.lock();
        assert_eq!(parking.holders[&small].seqs.len(), 2);
        assert_eq!(parking.holders[&big].seqs.len(), 1);
        assert!(parking.total <= 3 * one);
    }
}
