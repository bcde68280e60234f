//! The event WebSockets each session has open: at most a set number, a new one closing the
//! session's oldest, so one session (one cookie) cannot hold an unbounded number of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::session::SessionId;

type OpenBySession = HashMap<SessionId, Vec<(u64, Arc<Notify>)>>;

/// The open event sockets, by session.
#[derive(Default)]
pub(crate) struct SessionSockets {
    open: Arc<Mutex<OpenBySession>>,
    next_id: AtomicU64,
}

impl SessionSockets {
    /// Registers a new socket of `session`, closing the session's oldest ones past `most`.
    /// The socket stays registered until the returned ticket is dropped.
    pub(crate) fn open(&self, session: &SessionId, most: usize) -> SocketTicket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        let mut open = lock(&self.open);
        let sockets = open.entry(session.clone()).or_default();
        sockets.push((id, close.clone()));
        let excess = sockets.len().saturating_sub(most.max(1));
        for (_, older) in sockets.drain(..excess) {
            // Stores the wake-up if that socket's task is busy with an event.
            older.notify_one();
        }
        drop(open);
        SocketTicket {
            id,
            session: session.clone(),
            close,
            open: self.open.clone(),
        }
    }

    /// How many sockets `session` has open.
    #[cfg(test)]
    fn count(&self, session: &SessionId) -> usize {
        lock(&self.open).get(session).map_or(0, Vec::len)
    }
}

/// One open socket's place among its session's sockets.
pub(crate) struct SocketTicket {
    id: u64,
    session: SessionId,
    close: Arc<Notify>,
    open: Arc<Mutex<OpenBySession>>,
}

impl SocketTicket {
    /// A fraction in [0, 1), different for sockets opened one after another: where in its
    /// ping interval a socket pings, so that sockets opened together do not all ping at
    /// once.
    pub(crate) fn phase(&self) -> f64 {
        // Fibonacci hashing spreads consecutive ids evenly.
        (self.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Resolves when a newer socket of the session has taken this one's place.
    pub(crate) async fn superseded(&self) {
        self.close.notified().await;
    }
}

impl Drop for SocketTicket {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(sockets) = open.get_mut(&self.session) {
            sockets.retain(|(id, _)| *id != self.id);
            if sockets.is_empty() {
                open.remove(&self.session);
            }
        }
    }
}

fn lock(open: &Mutex<OpenBySession>) -> MutexGuard<'_, OpenBySession> {
    // Every change leaves the map whole: a panic elsewhere cannot break it.
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_past_its_most_sockets_closes_its_oldest() {
        let sockets = SessionSockets::default();
        let session = SessionId::random();
        let first = sockets.open(&session, 2);
        let _second = sockets.open(&session, 2);
        let _third = sockets.open(&session, 2);
        assert_eq!(sockets.count(&session), 2);
        // The oldest was told to close (the wake-up was stored).
        tokio::time::timeout(std::time::Duration::from_secs(1), first.superseded())
            .await
            .expect("the oldest socket is told to close");
        drop(first);
        assert_eq!(sockets.count(&session), 2, "the oldest had already left");
        let other = SessionId::random();
        let _theirs = sockets.open(&other, 2);
        assert_eq!(sockets.count(&other), 1, "sessions are counted apart");
    }
}
