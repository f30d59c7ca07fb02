//! The SQLite datastore: connections to one database file (or in-memory database).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::error::sqlite_error;
use crate::persistence::{ErrorKind, PersistenceError};

/// How long a writer waits for another connection's write lock before giving up, unless
/// `SQLITE_LOCK_TIMEOUT` says otherwise (the reference's default: 5 seconds).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's `synchronous` setting: how often SQLite waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Never wait for the disk (fast; a power loss may lose recent commits or corrupt the file).
    Off,
    /// In WAL mode, durable against application crashes but a power loss may lose the last
    /// commits.
    Normal,
    /// Wait for the disk on every commit: SQLite's default, and what the reference library
    /// (Python's `sqlite3`) runs with.
    #[default]
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Connections to one SQLite database, shared by the recorders of an application.
///
/// A file database is put in WAL mode, so readers never wait for the writer. Writes go through
/// one connection per datastore, behind a lock that every datastore of this process on the
/// same database shares (so the threads of this process take turns in order, however many
/// datastores — applications — they write through; other processes wait up to the lock
/// timeout for SQLite's own lock); reads use a pool of connections. An in-memory database (`":memory:"`, or a URI with `mode=memory`) has a single
/// connection that every thread shares, so all threads see one database (in the reference
/// library each thread's `":memory:"` connection is a separate, empty database).
pub struct SqliteDatastore {
    db_name: String,
    is_memory: bool,
    lock_timeout: Duration,
    synchronous: Synchronous,
    /// Shared by every datastore of this process on the same database (see [`write_lock`]).
    write_lock: Arc<Mutex<()>>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatastore")
            .field("db_name", &self.db_name)
            .field("lock_timeout", &self.lock_timeout)
            .field("synchronous", &self.synchronous)
            .finish_non_exhaustive()
    }
}

impl SqliteDatastore {
    /// Opens (creating if needed) the database `db_name`: a file path, `":memory:"`, or a URI
    /// such as `"file:/tmp/app.db?mode=ro"`, with the default lock timeout and durability.
    pub fn open(db_name: impl AsRef<str>) -> Result<Self, PersistenceError> {
        Self::open_with(db_name, DEFAULT_LOCK_TIMEOUT, Synchronous::default())
    }

    /// Opens the database with the given lock timeout and durability setting.
    pub fn open_with(
        db_name: impl AsRef<str>,
        lock_timeout: Duration,
        synchronous: Synchronous,
    ) -> Result<Self, PersistenceError> {
        let db_name = db_name.as_ref().to_string();
        if db_name.is_empty() {
            return Err(PersistenceError::database(
                ErrorKind::Programming,
                "SQLite database name is empty: give a file path or \":memory:\"",
            ));
        }
        let is_memory = db_name.contains(":memory:") || db_name.contains("mode=memory");
        let writer = Self::connect(&db_name, is_memory, lock_timeout, synchronous)?;
        let datastore = SqliteDatastore {
            write_lock: write_lock(&db_name, is_memory),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            db_name,
            is_memory,
            lock_timeout,
            synchronous,
        };
        Ok(datastore)
    }

    /// The database name it was opened with.
    pub fn db_name(&self) -> &str {
        &self.db_name
    }

    /// Whether the database is in memory.
    pub fn is_memory(&self) -> bool {
        self.is_memory
    }

    /// The file path of a file database, if it is one (not a URI, not in memory).
    pub fn path(&self) -> Option<&Path> {
        (!self.is_memory && !self.db_name.starts_with("file:")).then(|| Path::new(&self.db_name))
    }

    fn connect(
        db_name: &str,
        is_memory: bool,
        lock_timeout: Duration,
        synchronous: Synchronous,
    ) -> Result<Connection, PersistenceError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let context = || format!("can't open SQLite database {db_name:?}");
        let connection =
            Connection::open_with_flags(db_name, flags).map_err(|e| sqlite_error(e, context()))?;
        connection
            .busy_timeout(lock_timeout)
            .map_err(|e| sqlite_error(e, context()))?;
        if !is_memory {
            let mode: String = connection
                .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
                .map_err(|e| sqlite_error(e, context()))?;
            if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
                tracing::warn!(db_name, mode, "SQLite database is not in WAL mode");
            }
        }
        connection
            .execute_batch(&format!("PRAGMA synchronous={}", synchronous.pragma()))
            .map_err(|e| sqlite_error(e, context()))?;
        connection.set_prepared_statement_cache_capacity(32);
        Ok(connection)
    }

    /// The writing connection, after the database's write lock: the lock first, always, so
    /// two datastores never wait for each other in opposite orders.
    fn writer(&self) -> (MutexGuard<'_, ()>, MutexGuard<'_, Connection>) {
        // A panic while a transaction was open dropped the transaction (rolled back), so the
        // connection behind a poisoned lock is still usable.
        let lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let connection = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        (lock, connection)
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`), committing if it succeeds and
    /// rolling back if it fails.
    pub(crate) fn write<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        let (_lock, mut connection) = self.writer();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(e, "can't begin a write transaction"))?;
        let value = work(&transaction)?;
        transaction
            .commit()
            .map_err(|e| sqlite_error(e, "can't commit"))?;
        Ok(value)
    }

    /// Runs `work` on a reading connection (the shared one for an in-memory database).
    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        if self.is_memory {
            return work(&self.writer().1);
        }
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => Self::connect(&self.db_name, false, self.lock_timeout, self.synchronous)?,
        };
        let result = work(&connection);
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(connection);
        result
    }

    /// Runs `work` on the writing connection outside a transaction (schema changes).
    pub(crate) fn execute(
        &self,
        work: impl FnOnce(&Connection) -> Result<(), PersistenceError>,
    ) -> Result<(), PersistenceError> {
        work(&self.writer().1)
    }
}

/// The write lock of the database `db_name`, shared by every datastore of this process that
/// is open on it.
///
/// Without it, datastores on one file in one process (several applications of a system
/// sharing `SQLITE_DBNAME`, written by a multi-threaded runner) would only be serialised by
/// SQLite's file lock, whose busy handler polls with growing sleeps: under steady writing a
/// waiter can keep missing its turn until the lock timeout, and the write fails with
/// "database is locked". Waiting on one lock in the process instead, writers queue up. A
/// shared-cache in-memory database needs the same: its table locks fail at once rather than
/// wait. A private `:memory:` database has its own lock.
fn write_lock(db_name: &str, is_memory: bool) -> Arc<Mutex<()>> {
    static LOCKS: Mutex<BTreeMap<String, Weak<Mutex<()>>>> = Mutex::new(BTreeMap::new());
    let key = if is_memory {
        if !db_name.contains("cache=shared") {
            return Arc::new(Mutex::new(()));
        }
        db_name.to_string()
    } else {
        // The file exists now (the connection created it): its canonical path names it
        // whatever way it was spelt (relative, `./`, a `file:` URI with parameters).
        let path = match db_name.strip_prefix("file:") {
            Some(uri) => {
                let path = uri.split(['?', '#']).next().unwrap_or(uri);
                path.strip_prefix("//localhost").unwrap_or(path)
            }
            None => db_name,
        };
        std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| db_name.to_string())
    };
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.retain(|_, lock| lock.strong_count() > 0);
    if let Some(lock) = locks.get(&key).and_then(Weak::upgrade) {
        return lock;
    }
    let lock = Arc::new(Mutex::new(()));
    locks.insert(key, Arc::downgrade(&lock));
    lock
}
