//! [`SqliteLease`]: a lease held by an exclusive lock on an SQLite file.

use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags};

use super::error::sqlite_error;
use crate::persistence::{ErrorKind, Lease, LeaseGuard, PersistenceError};

/// A lease held by an exclusive transaction on an SQLite file of its own (the lock file, such
/// as `events.db.worker-counters.lock`): one holder at a time among the processes (and
/// threads) that open it, on this machine. The operating system releases the lock when the
/// holder's process dies, so a standby takes over at its next try.
///
/// SQLite's locks work on local files only: replicas on several machines need the PostgreSQL
/// lease.
///
/// ```
/// use eventsourcing::persistence::Lease;
/// use eventsourcing::sqlite::SqliteLease;
///
/// let path = std::env::temp_dir().join(format!("lease-doc-{}.lock", std::process::id()));
/// let lease = SqliteLease::new(&path);
/// let held = lease.try_acquire()?.expect("free");
/// assert!(SqliteLease::new(&path).try_acquire()?.is_none());
/// drop(held);
/// assert!(lease.try_acquire()?.is_some());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteLease {
    path: PathBuf,
}

impl SqliteLease {
    /// The lease of the lock file `path` (created if it does not exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteLease { path: path.into() }
    }

    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Lease for SqliteLease {
    fn try_acquire(&self) -> Result<Option<Box<dyn LeaseGuard>>, PersistenceError> {
        let context = || format!("can't open the lock file {}", self.path.display());
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| sqlite_error(e, context()))?;
        // Not WAL: in rollback-journal mode an exclusive transaction locks the file against
        // every other connection. A busy timeout of 0: taking a lease never waits.
        connection
            .busy_timeout(std::time::Duration::ZERO)
            .map_err(|e| sqlite_error(e, context()))?;
        match connection.execute_batch("BEGIN EXCLUSIVE") {
            Ok(()) => Ok(Some(Box::new(SqliteLeaseGuard { connection }))),
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if matches!(
                    failure.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(PersistenceError::database_caused_by(
                ErrorKind::Operational,
                format!("can't take the lease of {}", self.path.display()),
                error,
            )),
        }
    }
}

/// A held [`SqliteLease`]: the connection with the exclusive transaction open.
struct SqliteLeaseGuard {
    connection: Connection,
}

impl LeaseGuard for SqliteLeaseGuard {
    fn is_held(&mut self) -> bool {
        // A file lock is held until the connection closes; it can't be lost meanwhile.
        !self.connection.is_autocommit()
    }
}

impl Drop for SqliteLeaseGuard {
    fn drop(&mut self) {
        // Closing the connection releases the lock too; rolling back first says so plainly.
        let _ = self.connection.execute_batch("ROLLBACK");
    }
}
