//! The SQLite datastore: connections to one database file (or in-memory database).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::error::sqlite_error;
use crate::persistence::{CommitSignal, ErrorKind, PersistenceError};

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
    /// Shared by every datastore of this process on the same database (see [`shared`]).
    shared: Arc<Shared>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Write transactions committed through this datastore.
    commits: AtomicU64,
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
            shared: shared(&db_name, is_memory),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            commits: AtomicU64::new(0),
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
        let lock = self
            .shared
            .write_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
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
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.shared.signal.notify();
        Ok(value)
    }

    /// How many write transactions this datastore has committed since it was opened (each
    /// one commit, and with [`Synchronous::Full`] one wait for the disk): with group commit,
    /// fewer than the saves of concurrent writers.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The signal notified after each commit to this database by this process, and (for a
    /// file) by other processes, which a watcher thread notices by polling SQLite's
    /// `PRAGMA data_version` every [`DATA_VERSION_INTERVAL`] while the signal has subscribers.
    /// Asking for it starts the watcher if it is not running.
    pub fn commit_signal(&self) -> CommitSignal {
        if !self.is_memory {
            watch(&self.shared, &self.db_name, self.lock_timeout);
        }
        self.shared.signal.clone()
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

/// How often a file database is checked for commits made by other processes, while it has
/// subscribers (`PRAGMA data_version`): what bounds how late a subscription in one process sees
/// a commit made in another.
pub const DATA_VERSION_INTERVAL: Duration = Duration::from_millis(50);

/// For how many checks without subscribers the watcher of a database keeps running before it
/// stops (restarted by the next subscription), so that a subscription that follows another
/// finds it running.
const WATCHER_GRACE_CHECKS: u32 = 40;

/// What every datastore of this process on one database shares.
struct Shared {
    /// The write lock (see [`shared`]).
    write_lock: Mutex<()>,
    /// Notified after each commit.
    signal: CommitSignal,
    /// Whether a watcher thread polls the database for other processes' commits.
    watching: Mutex<bool>,
}

/// Starts the thread that notices other processes' commits to the database, unless it runs.
fn watch(shared: &Arc<Shared>, db_name: &str, lock_timeout: Duration) {
    let mut watching = shared.watching.lock().unwrap_or_else(|p| p.into_inner());
    if *watching {
        return;
    }
    let connection = match SqliteDatastore::connect(db_name, false, lock_timeout, Synchronous::Off)
    {
        Ok(connection) => connection,
        Err(error) => {
            // Subscriptions still see this process's commits, and read the log every second.
            tracing::warn!(db_name, %error, "can't watch the SQLite database for other processes' commits");
            return;
        }
    };
    let weak = Arc::downgrade(shared);
    let name = db_name.to_string();
    let spawned = std::thread::Builder::new()
        .name("eventsourcing-sqlite-watch".into())
        .spawn(move || watcher(weak, connection, name));
    match spawned {
        Ok(_) => *watching = true,
        Err(error) => {
            tracing::warn!(db_name, %error, "can't start the SQLite watcher thread");
        }
    }
}

/// Polls `PRAGMA data_version` (which changes when another connection commits) and notifies
/// the signal when it changes, until the database is closed or has had no subscribers for a
/// while.
fn watcher(shared: Weak<Shared>, connection: Connection, db_name: String) {
    let data_version = |connection: &Connection| -> Option<i64> {
        connection
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|error| tracing::debug!(db_name, %error, "PRAGMA data_version failed"))
            .ok()
    };
    let mut last = data_version(&connection);
    let mut idle = 0;
    loop {
        std::thread::sleep(DATA_VERSION_INTERVAL);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.signal.subscribers() == 0 {
            idle += 1;
            if idle >= WATCHER_GRACE_CHECKS {
                let mut watching = shared.watching.lock().unwrap_or_else(|p| p.into_inner());
                // Checked again under the lock that `watch` takes, so that a subscriber who
                // came in meanwhile finds the watcher running, or starts another.
                if shared.signal.subscribers() == 0 {
                    *watching = false;
                    return;
                }
            }
            continue;
        }
        idle = 0;
        let now = data_version(&connection);
        if now != last {
            last = now;
            shared.signal.notify();
        }
    }
}

/// What every datastore of this process open on the database `db_name` shares: its write
/// lock, its commit signal, its watcher.
///
/// Without it, datastores on one file in one process (several applications of a system
/// sharing `SQLITE_DBNAME`, written by a multi-threaded runner) would only be serialised by
/// SQLite's file lock, whose busy handler polls with growing sleeps: under steady writing a
/// waiter can keep missing its turn until the lock timeout, and the write fails with
/// "database is locked". Waiting on one lock in the process instead, writers queue up. A
/// shared-cache in-memory database needs the same: its table locks fail at once rather than
/// wait. A private `:memory:` database has its own lock.
fn shared(db_name: &str, is_memory: bool) -> Arc<Shared> {
    static SHARED: Mutex<BTreeMap<String, Weak<Shared>>> = Mutex::new(BTreeMap::new());
    let new = || {
        Arc::new(Shared {
            write_lock: Mutex::new(()),
            signal: CommitSignal::new(),
            watching: Mutex::new(false),
        })
    };
    let key = if is_memory {
        if !db_name.contains("cache=shared") {
            return new();
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
    let mut all = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|_, shared| shared.strong_count() > 0);
    if let Some(shared) = all.get(&key).and_then(Weak::upgrade) {
        return shared;
    }
    let shared = new();
    all.insert(key, Arc::downgrade(&shared));
    shared
}
