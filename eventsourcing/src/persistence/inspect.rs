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

use super::cipher::Cipher;
use super::data_keys::{DataKeyRecorder, StoredDataKey};
use super::error::{ErrorKind, PersistenceError};
use super::keyed::KeyedRecorder;
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
    /// The table of the aggregates' data keys, if the application has one: it was written
    /// with per-aggregate keys (`PER_AGGREGATE_KEYS`), and its events and snapshots are
    /// encrypted under them.
    pub data_keys: Option<String>,
}

/// Everything a store holds of one application, in the order a backup keeps it: the events
/// with their notification ids, ascending; the snapshots; each upstream application's tracking
/// position; the aggregates' data keys (per-aggregate keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationContents {
    /// The events, with their notification ids, in id order.
    pub events: Vec<Notification>,
    /// The snapshots.
    pub snapshots: Vec<StoredEvent>,
    /// The position of each upstream application this one follows.
    pub tracking: Vec<Tracking>,
    /// The rows of the data-key table, as stored (each key encrypted under the application's
    /// key; none for a forgotten aggregate): empty for an application without per-aggregate
    /// keys.
    pub data_keys: Vec<StoredDataKey>,
}

/// How many rows an application's data-key table has
/// ([`StoreInspector::count_data_keys`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DataKeyCounts {
    /// The aggregates with a row: their key, or a forgotten one.
    pub aggregates: u64,
    /// The aggregates whose key was destroyed (forgotten).
    pub forgotten: u64,
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

    /// A recorder of the application's data-key table (per-aggregate keys), made without
    /// creating or changing any table, or `None` if the application has none
    /// ([`ApplicationTables::data_keys`]).
    ///
    /// The default answers `None` for an application without a key table, and
    /// [`ErrorKind::NotSupported`] for one with a key table.
    fn data_keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<Option<Arc<dyn DataKeyRecorder>>, PersistenceError> {
        no_key_table(application).map(|()| None)
    }

    /// The application's events, read as the application reads them with per-aggregate keys:
    /// a [`KeyedRecorder`] of its events recorder and key table, whose data keys are
    /// decrypted with `application_key` (`CIPHER_KEY`), made without creating or changing any
    /// table; `None` if the application has no key table. Its readers get each event's state
    /// decrypted (as the application's mapper reads it when per-aggregate keys are on: then
    /// with no cipher, only the compressor), the events of a forgotten aggregate as
    /// [`PersistenceError::Forgotten`], and its notifications with an empty state
    /// ([`StoredEvent::is_forgotten`]).
    ///
    /// The default answers `None` for an application without a key table, and
    /// [`ErrorKind::NotSupported`] for one with a key table.
    fn keyed_events(
        &self,
        application: &ApplicationTables,
        application_key: Arc<dyn Cipher>,
    ) -> Result<Option<Arc<KeyedRecorder>>, PersistenceError> {
        let _ = application_key;
        no_key_table(application).map(|()| None)
    }

    /// At most `limit` rows of the application's data-key table after the aggregate `after`
    /// (from the first if `None`), ordered by aggregate id. None without a key table.
    ///
    /// The default answers none for an application without a key table, and
    /// [`ErrorKind::NotSupported`] for one with a key table.
    fn select_data_keys(
        &self,
        application: &ApplicationTables,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<StoredDataKey>, PersistenceError> {
        let _ = (after, limit);
        no_key_table(application).map(|()| Vec::new())
    }

    /// How many aggregates have a row in the application's data-key table, and how many of
    /// them were forgotten (zero without a key table).
    ///
    /// The default answers zero for an application without a key table, and
    /// [`ErrorKind::NotSupported`] for one with a key table.
    fn count_data_keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<DataKeyCounts, PersistenceError> {
        no_key_table(application).map(|()| DataKeyCounts::default())
    }

    /// Writes each `(name, contents)` into the application `name`, creating its tables as the
    /// application would, all in one transaction: everything, or nothing if anything fails.
    ///
    /// The data keys ([`ApplicationContents::data_keys`]) are written into the application's
    /// key table (created as the application creates it with per-aggregate keys), in the same
    /// transaction as the events they encrypt.
    ///
    /// Events are written with their notification ids (gaps included), so the ids followers'
    /// tracking records refer to stay right, and the ids given to later events follow the
    /// largest one. An application that has events, snapshots, tracking positions or data
    /// keys already is refused ([`ErrorKind::Integrity`]) unless `replace`, which deletes them
    /// first, in the same transaction.
    fn restore(
        &self,
        applications: &[(String, ApplicationContents)],
        replace: bool,
    ) -> Result<(), PersistenceError>;
}

/// What the default data-key methods of [`StoreInspector`] answer: nothing to read for an
/// application without a key table, not supported for one with.
fn no_key_table(application: &ApplicationTables) -> Result<(), PersistenceError> {
    match &application.data_keys {
        None => Ok(()),
        Some(table) => Err(PersistenceError::database(
            ErrorKind::NotSupported,
            format!("this store inspector can't read the data-key table {table}"),
        )),
    }
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
                ErrorKind::Programming,
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
