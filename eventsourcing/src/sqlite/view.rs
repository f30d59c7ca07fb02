//! [`SqliteView`]: a materialised view in an SQLite database, with its own tracking table.

use std::ops::Deref;
use std::sync::Arc;

use rusqlite::{params, Connection};

use super::datastore::SqliteDatastore;
use super::error::sqlite_error;
use crate::domain::BoxError;
use crate::persistence::{
    check_identifier, CommitSignal, PersistenceError, Tracking, View, ViewError,
};

/// A materialised view in an SQLite database (which may be another file than the one of the
/// application it is projected from): the view's own tables, which the projection writes with
/// SQL, and a tracking table (`{name}_tracking`), written in the same transaction.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::persistence::{Tracking, View};
/// use eventsourcing::sqlite::{SqliteDatastore, SqliteView};
///
/// let datastore = Arc::new(SqliteDatastore::open(":memory:")?);
/// let view = SqliteView::new(datastore, "dog_counts")?;
/// view.execute_batch("CREATE TABLE IF NOT EXISTS dog_counts (dog_id TEXT PRIMARY KEY, events INTEGER)")?;
///
/// view.transact(&Tracking::new("DogSchool", 1), |tx| {
///     tx.execute("INSERT INTO dog_counts VALUES ('fido', 1)", [])?;
///     Ok(())
/// })?;
/// assert_eq!(view.max_tracking_id("DogSchool")?, 1);
/// // A position never moves back: the same record again is refused, and nothing is written.
/// assert!(view.transact(&Tracking::new("DogSchool", 1), |_| Ok(())).is_err());
/// let count: i64 = view.read(|c| c.query_row("SELECT events FROM dog_counts", [], |r| r.get(0)))?;
/// assert_eq!(count, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteView {
    datastore: Arc<SqliteDatastore>,
    tracking_table: Arc<str>,
}

/// The view's connection inside a [`SqliteView`] transaction: use it as a `rusqlite::Connection`.
#[derive(Debug)]
pub struct SqliteViewTransaction<'a> {
    connection: &'a Connection,
}

impl Deref for SqliteViewTransaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl SqliteView {
    /// The view `name` in `datastore`: its tracking table `{name}_tracking` is created if it
    /// does not exist (the view's own tables are the projection's to create).
    pub fn new(datastore: Arc<SqliteDatastore>, name: &str) -> Result<Self, PersistenceError> {
        let tracking_table = format!("{name}_tracking");
        check_identifier(&tracking_table, "tracking table name")?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {tracking_table} (application_name TEXT, \
             notification_id INTEGER, PRIMARY KEY (application_name, notification_id)) \
             WITHOUT ROWID"
        );
        datastore.execute(|c| {
            c.execute_batch(&sql)
                .map_err(|e| sqlite_error(e, format!("can't create table {tracking_table}")))
        })?;
        Ok(SqliteView {
            datastore,
            tracking_table: tracking_table.into(),
        })
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<SqliteDatastore> {
        &self.datastore
    }

    /// Runs statements outside a transaction (creating the view's tables, say).
    pub fn execute_batch(&self, sql: &str) -> Result<(), PersistenceError> {
        self.datastore.execute(|c| {
            c.execute_batch(sql)
                .map_err(|e| sqlite_error(e, "can't execute the view's statements"))
        })
    }

    /// Reads the view: `query` runs on a reading connection.
    pub fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, PersistenceError> {
        self.datastore
            .read(|c| query(c).map_err(|e| sqlite_error(e, "can't read the view")))
    }

    fn max_tracking(
        &self,
        c: &Connection,
        application_name: &str,
    ) -> Result<u64, PersistenceError> {
        let sql = format!(
            "SELECT MAX(notification_id) FROM {} WHERE application_name=?",
            self.tracking_table
        );
        let max: Option<i64> = c
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row([application_name], |row| row.get(0)))
            .map_err(|e| sqlite_error(e, "can't select the view's position"))?;
        u64::try_from(max.unwrap_or(0)).map_err(|_| {
            PersistenceError::database(
                crate::persistence::ErrorKind::Data,
                "the view's tracking table holds a negative notification id",
            )
        })
    }
}

impl View for SqliteView {
    type Transaction<'a> = SqliteViewTransaction<'a>;

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        self.datastore
            .read(|c| self.max_tracking(c, application_name))
    }

    fn transact<R>(
        &self,
        tracking: &Tracking,
        work: impl FnOnce(&mut SqliteViewTransaction<'_>) -> Result<R, BoxError>,
    ) -> Result<R, ViewError> {
        let insert = format!("INSERT INTO {} VALUES (?,?)", self.tracking_table);
        let mut failed = None;
        let written = self.datastore.write(|tx| {
            let last = self.max_tracking(tx, &tracking.application_name)?;
            if tracking.notification_id <= last {
                return Err(PersistenceError::integrity(format!(
                    "tracking {} of {:?} is not after the view's position {last}",
                    tracking.notification_id, tracking.application_name
                )));
            }
            let mut transaction = SqliteViewTransaction { connection: tx };
            let value = match work(&mut transaction) {
                Ok(value) => value,
                Err(error) => {
                    failed = Some(error);
                    // Any error rolls the transaction back; the projection's is returned below.
                    return Err(PersistenceError::database(
                        crate::persistence::ErrorKind::Programming,
                        "the projection failed",
                    ));
                }
            };
            let notification_id = i64::try_from(tracking.notification_id).map_err(|_| {
                PersistenceError::database(
                    crate::persistence::ErrorKind::Data,
                    format!(
                        "notification id {} is out of range",
                        tracking.notification_id
                    ),
                )
            })?;
            tx.prepare_cached(&insert)
                .and_then(|mut s| s.execute(params![tracking.application_name, notification_id]))
                .map_err(|e| sqlite_error(e, "can't insert the view's tracking record"))?;
            Ok(value)
        });
        match (written, failed) {
            (_, Some(error)) => Err(ViewError::Projection(error)),
            (Ok(value), None) => Ok(value),
            (Err(error), None) => Err(ViewError::Persistence(error)),
        }
    }

    fn commit_signal(&self) -> CommitSignal {
        self.datastore.commit_signal()
    }
}
