//! The connection table: every open connection (from accept on, TLS
//! handshake included) with what it is doing, so that the cap can shed the
//! connection that has waited longest without work instead of refusing a
//! fresh one, and so that each connection knows when it has been idle too long.
//!
//! A connection is *busy* while one of its requests has its whole body read
//! and is being reviewed; it is never shed then. Otherwise it is *idle* (no
//! request open: handshaking, waiting for the first request or between
//! requests) or *stalled* (a request open whose body is still arriving).
//! At the cap, the oldest idle connection is shed first, then the oldest
//! stalled one; a new connection is refused only when every one is busy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a new socket may stay silent before it is the first one shed.
const SILENT_GRACE: Duration = Duration::from_millis(250);

/// What one connection is doing, shared by its task, its requests and the table.
#[derive(Debug)]
pub struct Activity {
    id: u64,
    epoch: Instant,
    /// Requests whose service call has started and not yet answered.
    open: AtomicUsize,
    /// Requests whose body is read and which are being reviewed.
    busy: AtomicUsize,
    /// Milliseconds after `epoch` at which `open` last fell to zero (or the
    /// connection was accepted).
    idle_since_ms: AtomicU64,
    /// Set when the server drains: HTTP/1.1 answers carry `Connection: close`.
    draining: AtomicBool,
    /// Whether the connection speaks HTTP/1.1 (set after the handshake).
    http1: AtomicBool,
    /// Whether the client has sent a byte yet (a socket that never does is
    /// shed before any other).
    heard: AtomicBool,
    /// Woken to close the connection at once.
    pub(crate) shed: Notify,
    /// Woken when `open` falls to zero, so the idle timer restarts.
    pub(crate) went_idle: Notify,
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Counts a request from its service call until the guard is dropped.
    pub fn open_request(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenGuard(self.clone())
    }

    /// Marks the connection busy (body read, review running) until the guard is dropped.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    /// Requests open now.
    pub fn open_requests(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Since when the connection has had no request open, if it has none.
    pub fn idle_since(&self) -> Option<Instant> {
        if self.open_requests() > 0 {
            return None;
        }
        let ms = self.idle_since_ms.load(Ordering::Acquire);
        Some(self.epoch + Duration::from_millis(ms))
    }

    /// Whether answers should close the connection (the server is draining, HTTP/1.1).
    pub fn close_after_answer(&self) -> bool {
        self.draining.load(Ordering::Acquire) && self.http1.load(Ordering::Acquire)
    }

    pub(crate) fn set_http1(&self, yes: bool) {
        self.http1.store(yes, Ordering::Release);
    }

    /// Notes that the client has sent something.
    pub(crate) fn heard(&self) {
        if !self.heard.load(Ordering::Relaxed) {
            self.heard.store(true, Ordering::Release);
        }
    }

    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

/// Holds a request open; see [`Activity::open_request`].
pub struct OpenGuard(Arc<Activity>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms.store(a.now_ms(), Ordering::Release);
        if a.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.went_idle.notify_one();
        }
    }
}

/// Holds a connection busy; see [`Activity::busy`].
pub struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections and the cap on their number.
#[derive(Debug)]
pub struct Table {
    max: usize,
    epoch: Instant,
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Activity>>>,
}

/// A connection's place in the table; dropping it removes the connection.
pub struct Entry {
    table: Arc<Table>,
    /// The connection's activity.
    pub activity: Arc<Activity>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.table.lock().remove(&self.activity.id);
    }
}

/// What the table did with a new connection.
pub enum Admit {
    /// Admitted, within the cap.
    Admitted(Entry),
    /// Admitted; to make room, another connection was told to close.
    Shed(Entry),
    /// Refused: every open connection is busy.
    Refused,
}

impl Table {
    /// A table for at most `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Table> {
        Arc::new(Table {
            max: max.max(1),
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every open connection's activity (to tell them all to drain).
    pub fn all(&self) -> Vec<Arc<Activity>> {
        self.lock().values().cloned().collect()
    }

    /// Admits a new connection, shedding the oldest idle (then stalled)
    /// connection when the table is full.
    pub fn admit(self: &Arc<Self>) -> Admit {
        let mut conns = self.lock();
        let mut shed = false;
        if conns.len() >= self.max {
            // A socket silent since it connected a while ago, else the
            // oldest idle connection, else the oldest stalled one; never a
            // busy one. (A fresh socket is not yet heard: the grace keeps a
            // real client's new connection from going first.)
            let now = self.epoch.elapsed().as_millis() as u64;
            let silent_before = now.saturating_sub(SILENT_GRACE.as_millis() as u64);
            let victim = conns
                .values()
                .filter(|a| a.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|a| {
                    let since = a.idle_since_ms.load(Ordering::Acquire);
                    let silent = !a.heard.load(Ordering::Acquire) && since < silent_before;
                    (!silent, a.open.load(Ordering::Acquire) > 0, since)
                })
                .cloned();
            match victim {
                Some(v) => {
                    tracing::debug!(
                        idle_ms = now.saturating_sub(v.idle_since_ms.load(Ordering::Acquire)),
                        heard = v.heard.load(Ordering::Acquire),
                        open = v.open.load(Ordering::Acquire),
                        "connection cap reached: shedding the longest idle connection"
                    );
                    conns.remove(&v.id);
                    v.shed.notify_one();
                    shed = true;
                }
                None => return Admit::Refused,
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            id,
            epoch: self.epoch,
            open: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            draining: AtomicBool::new(false),
            http1: AtomicBool::new(true),
            heard: AtomicBool::new(false),
            shed: Notify::new(),
            went_idle: Notify::new(),
        });
        conns.insert(id, activity.clone());
        let entry = Entry {
            table: self.clone(),
            activity,
        };
        if shed {
            Admit::Shed(entry)
        } else {
            Admit::Admitted(entry)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(a: Admit) -> Entry {
        match a {
            Admit::Admitted(e) | Admit::Shed(e) => e,
            Admit::Refused => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn full_table_sheds_the_oldest_idle_then_stalled_never_busy() {
        let table = Table::new(3);
        let busy = entry(table.admit());
        busy.activity.heard();
        let _b = busy.activity.busy();
        let _bo = busy.activity.open_request();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let stalled = entry(table.admit());
        stalled.activity.heard();
        let _so = stalled.activity.open_request();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let idle = entry(table.admit());
        idle.activity.heard();
        assert_eq!(table.len(), 3);

        // Full: the idle one goes first, although the stalled one is older.
        let fourth = match table.admit() {
            Admit::Shed(e) => e,
            _ => panic!("expected a shed"),
        };
        assert_eq!(table.len(), 3);
        assert!(!table.lock().contains_key(&idle.activity.id));
        // Then the stalled one, never the busy one.
        fourth.activity.heard();
        let _fourth_open = fourth.activity.open_request();
        let _fourth_busy = fourth.activity.busy();
        let fifth = entry(table.admit());
        assert!(!table.lock().contains_key(&stalled.activity.id));
        assert!(table.lock().contains_key(&busy.activity.id));
        let _fifth_busy = fifth.activity.busy();
        assert!(matches!(table.admit(), Admit::Refused));
        drop(fifth);
        assert!(matches!(table.admit(), Admit::Admitted(_)));
    }

    #[tokio::test]
    async fn a_silent_socket_is_shed_before_an_older_idle_connection() {
        let table = Table::new(2);
        let spoke = entry(table.admit());
        spoke.activity.heard();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let silent = entry(table.admit());
        tokio::time::sleep(SILENT_GRACE + Duration::from_millis(20)).await;
        let _third = entry(table.admit());
        assert!(!table.lock().contains_key(&silent.activity.id));
        assert!(table.lock().contains_key(&spoke.activity.id));
    }

    #[tokio::test]
    async fn idle_since_follows_the_open_requests() {
        let table = Table::new(1);
        let e = entry(table.admit());
        assert!(e.activity.idle_since().is_some());
        let g = e.activity.open_request();
        assert!(e.activity.idle_since().is_none());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = Instant::now();
        drop(g);
        let since = e.activity.idle_since().expect("idle again");
        assert!(
            since + Duration::from_millis(2) >= before,
            "{since:?} {before:?}"
        );
    }
}
