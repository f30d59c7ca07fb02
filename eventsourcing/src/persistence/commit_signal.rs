//! [`CommitSignal`]: how a recorder tells its subscribers that new events were committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A count of commits that subscribers wait on: a recorder calls [`notify`](CommitSignal::notify)
/// after each commit (its own, or one it learnt of from the database: PostgreSQL's
/// `LISTEN`/`NOTIFY`, another process's write to an SQLite file), and a subscription waits,
/// blocking or awaited, until the count moves past the value it saw before it last read the
/// log. Since it compares counts rather than catching wake-ups, a commit between a
/// subscription's read and its wait is never missed, and many commits while it reads wake it
/// once.
///
/// Clones share one count. It holds no thread and spins no core: a waiter sleeps until it is
/// notified or its timeout passes.
///
/// ```
/// use std::time::Duration;
/// use eventsourcing::persistence::CommitSignal;
///
/// let signal = CommitSignal::new();
/// let seen = signal.count();
/// let writer = {
///     let signal = signal.clone();
///     std::thread::spawn(move || signal.notify())
/// };
/// let now = signal.wait_past(seen, Duration::from_secs(10));
/// assert!(now > seen);
/// writer.join().unwrap();
/// ```
#[derive(Clone, Default)]
pub struct CommitSignal {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: Mutex<u64>,
    changed: Condvar,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
    /// How many subscriptions are waiting or reading (for recorders that watch the database
    /// only while someone listens).
    subscribers: AtomicUsize,
}

impl std::fmt::Debug for CommitSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitSignal")
            .field("count", &self.count())
            .field("subscribers", &self.subscribers())
            .finish()
    }
}

impl CommitSignal {
    /// A signal at count 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        self.inner.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of commits notified so far.
    pub fn count(&self) -> u64 {
        *self.lock()
    }

    /// Something was committed: moves the count on and wakes every waiter.
    pub fn notify(&self) {
        {
            let mut count = self.lock();
            *count = count.wrapping_add(1);
        }
        self.inner.changed.notify_all();
        #[cfg(feature = "tokio")]
        self.inner.notify.notify_waiters();
    }

    /// Blocks until the count is past `seen` or `timeout` passes; returns the count then.
    pub fn wait_past(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut count = self.lock();
        while *count == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            count = match self.inner.changed.wait_timeout(count, left) {
                Ok((count, _)) => count,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *count
    }

    /// Waits (awaited) until the count is past `seen`; returns the count then (feature
    /// `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn changed_past(&self, seen: u64) -> u64 {
        loop {
            // Registered before the count is read, so a notify in between is not lost.
            let mut notified = std::pin::pin!(self.inner.notify.notified());
            notified.as_mut().enable();
            let count = self.count();
            if count != seen {
                return count;
            }
            notified.await;
        }
    }

    /// Counts a subscriber in, until the returned guard is dropped.
    pub fn subscribe(&self) -> SubscriberGuard {
        self.inner.subscribers.fetch_add(1, Ordering::SeqCst);
        SubscriberGuard {
            signal: self.clone(),
        }
    }

    /// How many subscribers are counted in.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.load(Ordering::SeqCst)
    }
}

/// A subscriber counted in a [`CommitSignal`] (see [`CommitSignal::subscribe`]).
#[derive(Debug)]
pub struct SubscriberGuard {
    signal: CommitSignal,
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.signal.inner.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}
