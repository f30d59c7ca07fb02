//! [`Lease`]: which of several replicas of a worker is the active one, decided by the database
//! they share (a PostgreSQL advisory lock held by a session, an SQLite lock file held by a
//! connection, or a lock in memory), so that the lock is released when its holder dies.

use std::sync::{Arc, Mutex};

use super::error::PersistenceError;

/// A lease that one replica at a time holds: the active one. Taking it never waits; a replica
/// that did not get it tries again later (a standby).
///
/// The holder keeps it until its [`LeaseGuard`] is dropped or the holder dies (its process, or
/// its database session), when the database releases it and a standby can take it. Holding the
/// lease decides who works; it is not what makes processing exactly-once — tracking records
/// are, so two replicas that both think they hold it (briefly, during a takeover after a lost
/// connection) still never process an event twice.
pub trait Lease: Send + Sync {
    /// Takes the lease if no one holds it: `Some` with the guard that holds it, `None` if
    /// another replica holds it.
    fn try_acquire(&self) -> Result<Option<Box<dyn LeaseGuard>>, PersistenceError>;
}

/// A held [`Lease`]: released when dropped.
pub trait LeaseGuard: Send {
    /// Whether the lease is still held: false once the session or connection that holds it was
    /// lost (another replica may then hold it, and this one must stop working).
    fn is_held(&mut self) -> bool;
}

/// A lease in memory: one holder at a time among the replicas of this process (threads or
/// tasks sharing the lease), for tests and single-process deployments.
///
/// ```
/// use eventsourcing::persistence::{Lease, MemoryLease};
///
/// let lease = MemoryLease::new();
/// let held = lease.try_acquire()?.expect("free");
/// assert!(lease.try_acquire()?.is_none());
/// drop(held);
/// assert!(lease.try_acquire()?.is_some());
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryLease {
    held: Arc<Mutex<bool>>,
}

impl MemoryLease {
    /// A lease no one holds.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Lease for MemoryLease {
    fn try_acquire(&self) -> Result<Option<Box<dyn LeaseGuard>>, PersistenceError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if *held {
            return Ok(None);
        }
        *held = true;
        Ok(Some(Box::new(MemoryLeaseGuard {
            held: Arc::clone(&self.held),
        })))
    }
}

struct MemoryLeaseGuard {
    held: Arc<Mutex<bool>>,
}

impl LeaseGuard for MemoryLeaseGuard {
    fn is_held(&mut self) -> bool {
        true
    }
}

impl Drop for MemoryLeaseGuard {
    fn drop(&mut self) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}
