//! Reading a whole store, and restoring one, for tools: [`StoreInspector`].
//!
//! The recorders are an application's view of its own tables, and create them on first use.
//! A tool that looks into a store from outside (the `eventsourcing` command-line inspector)
//! needs more and must change less: which applications the store holds, every snapshot and
//! every tracking position of an application, and, to restore a backup, writing events with
//! the notification ids they had, in one transaction. An inspector never creates or changes
//! a table while it reads; only [`StoreInspector::restore`] writes.
//!
//! The SQLite backend's is `sqlite::SqliteInspector`, PostgreSQL's `postgres::PostgresInspector`.

use std::sync::Arc;

use uuid::Uuid;

use super::error::PersistenceError;
use super::recorder::ApplicationRecorder;
use super::stored::{Notification, StoredEvent, Tracking};

/// An application's tables, as found in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationTables {
    /// The application's name as the store knows it: in PostgreSQL, the prefix of its tables
    /// (the application's name in lower case); in SQLite, where a database holds one
    /// application and nothing names it, the empty string.
    pub name: String,
    /// The events table (with its notification ids), as its schema names it.
    pub events: String,
    /// The snapshots table, if the application has one.
    pub snapshots: Option<String>,
    /// The tracking table, if the application has one (process applications, and every
    /// application this library created).
    pub tracking: Option<String>,
}

/// Everything a store holds of one application, in the order a backup keeps it: the events
/// with their notification ids, ascending; the snapshots; each upstream application's tracking
/// position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationContents {
    /// The events, with their notification ids, in id order.
    pub events: Vec<Notification>,
    /// The snapshots.
    pub snapshots: Vec<StoredEvent>,
    /// The position of each upstream application this one follows.
    pub tracking: Vec<Tracking>,
}

/// Read access to every table of a store, and restoring one from a backup: what tools that
/// inspect, verify, export and import stores use (the `eventsourcing` command-line inspector).
///
/// The recorders are an application's view of its own tables, and create them on first use.
/// A tool that looks into a store from outside needs more and must change less: which
/// applications the store holds, every snapshot and every tracking position of an
/// application, and, to restore a backup, writing events with the notification ids they had,
/// in one transaction. Reading never creates or changes anything, so an inspector works with a
/// read-only database user, and asking for an application that is not there answers `None`
/// rather than creating its tables; only [`restore`](StoreInspector::restore) writes.
///
/// The SQLite backend's is `sqlite::SqliteInspector`, PostgreSQL's
/// `postgres::PostgresInspector`.
pub trait StoreInspector: Send + Sync {
    /// The applications whose events tables are in the store, by name.
    fn applications(&self) -> Result<Vec<ApplicationTables>, PersistenceError>;

    /// The tables of the application `name` (the name an application is built with: in
    /// PostgreSQL its tables are named after it in lower case; an SQLite database holds one
    /// application, whatever its name), or `None` if the store has no events table for it.
    fn application(&self, name: &str) -> Result<Option<ApplicationTables>, PersistenceError>;

    /// A recorder of the application's events and notification log, made without creating or
    /// changing any table, for reading (it can be subscribed to).
    fn events(
        &self,
        application: &ApplicationTables,
    ) -> Result<Arc<dyn ApplicationRecorder>, PersistenceError>;

    /// How many events the application has.
    fn count_events(&self, application: &ApplicationTables) -> Result<u64, PersistenceError>;

    /// How many snapshots the application has (0 without a snapshots table).
    fn count_snapshots(&self, application: &ApplicationTables) -> Result<u64, PersistenceError>;

    /// At most `limit` of the application's snapshots after the snapshot `after` (an
    /// aggregate's id and a version; from the first if `None`), ordered by aggregate id, then
    /// version. None without a snapshots table.
    fn select_snapshots(
        &self,
        application: &ApplicationTables,
        after: Option<(Uuid, u64)>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PersistenceError>;

    /// The position of each upstream application the application follows, by name (what its
    /// tracking table says: the last notification of each it processed). None without a
    /// tracking table.
    fn tracking(&self, application: &ApplicationTables) -> Result<Vec<Tracking>, PersistenceError>;

    /// Writes each `(name, contents)` into the application `name`, creating its tables as the
    /// application would, all in one transaction: everything, or nothing if anything fails.
    ///
    /// Events are written with their notification ids (gaps included), so the ids followers'
    /// tracking records refer to stay right, and the ids given to later events follow the
    /// largest one. An application that has events, snapshots or tracking positions already is
    /// refused ([`ErrorKind::Integrity`](super::ErrorKind::Integrity)) unless `replace`, which
    /// deletes them first, in the same transaction.
    fn restore(
        &self,
        applications: &[(String, ApplicationContents)],
        replace: bool,
    ) -> Result<(), PersistenceError>;
}

/// The error of a restore into an application that is not empty.
pub(crate) fn not_empty(name: &str, what: &str) -> PersistenceError {
    PersistenceError::integrity(format!(
        "the application {name:?} in the target store is not empty (it has {what}): nothing \
         was imported"
    ))
}

/// The error of contents whose notification ids do not increase.
pub(crate) fn check_ids(name: &str, events: &[Notification]) -> Result<(), PersistenceError> {
    for pair in events.windows(2) {
        if pair[1].id <= pair[0].id {
            return Err(PersistenceError::database(
                super::ErrorKind::Programming,
                format!(
                    "the events of {name:?} to restore are not in notification id order: {} \
                     after {}",
                    pair[1].id, pair[0].id
                ),
            ));
        }
    }
    Ok(())
}
