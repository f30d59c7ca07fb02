//! The SQLite backend's data-key table, for per-aggregate keys.

use std::sync::Arc;

use rusqlite::params_from_iter;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use super::error::sqlite_error;
use super::recorder::{check_table_name, SqliteApplicationRecorder};
use crate::persistence::{
    DataKeyRecorder, ErrorKind, Forgetting, PersistenceError, Rewrap, StoredDataKey, StoredEvent,
    Tracking,
};

/// How many ids one select of keys asks for (SQLite bounds a statement's parameters).
const IDS_PER_SELECT: usize = 500;

/// The data keys of an SQLite application recorder's aggregates (per-aggregate keys): the
/// table `stored_data_keys` by default, `(originator_id TEXT PRIMARY KEY, data_key BLOB)`, in
/// the same database, written in the events' transactions. A forgotten aggregate's row keeps
/// its id, with a `NULL` key.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::persistence::{DataKeyRecorder, Forgetting};
/// use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDataKeys, SqliteDatastore};
///
/// let datastore = Arc::new(SqliteDatastore::open(":memory:")?);
/// let events = SqliteApplicationRecorder::new(Arc::clone(&datastore))?;
/// let keys = SqliteDataKeys::new(&events, "stored_data_keys", None)?;
/// assert_eq!(keys.forget_data_key(uuid::Uuid::new_v4())?, Forgetting::Unknown);
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteDataKeys {
    events: SqliteApplicationRecorder,
    table: Arc<str>,
    snapshots: Option<Arc<str>>,
}

fn hex(id: &Uuid) -> String {
    id.simple().to_string()
}

impl SqliteDataKeys {
    /// The data keys of `events`' aggregates, in the table `table` of the same database
    /// (created if it does not exist); forgetting removes snapshots from the table
    /// `snapshots`, if given.
    pub fn new(
        events: &SqliteApplicationRecorder,
        table: &str,
        snapshots: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_table_name(table)?;
        if let Some(snapshots) = snapshots {
            check_table_name(snapshots)?;
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {table} (originator_id TEXT PRIMARY KEY, data_key BLOB) \
             WITHOUT ROWID"
        );
        events.datastore().execute(|c| {
            c.execute_batch(&sql)
                .map_err(|e| sqlite_error(e, format!("can't create table {table}")))
        })?;
        Self::of_existing_table(events, table, snapshots)
    }

    /// The data keys of `events`' aggregates in the table `table` of the same database, which
    /// is not created: for tools that read a store without changing it
    /// ([`SqliteInspector`](super::SqliteInspector)). Forgetting removes snapshots from the
    /// table `snapshots`, if given.
    pub fn of_existing_table(
        events: &SqliteApplicationRecorder,
        table: &str,
        snapshots: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_table_name(table)?;
        if let Some(snapshots) = snapshots {
            check_table_name(snapshots)?;
        }
        Ok(SqliteDataKeys {
            events: events.clone(),
            table: table.into(),
            snapshots: snapshots.map(Into::into),
        })
    }
}

/// A row of a data-key table: `(originator_id TEXT, data_key BLOB)`.
pub(super) fn stored_key(row: &rusqlite::Row<'_>) -> Result<StoredDataKey, PersistenceError> {
    let context = "can't read a data key";
    let originator_id = match row.get_ref(0).map_err(|e| sqlite_error(e, context))? {
        ValueRef::Text(text) => Uuid::try_parse_ascii(text).map_err(|e| {
            PersistenceError::database(ErrorKind::Data, format!("stored originator_id: {e}"))
        })?,
        _ => {
            return Err(PersistenceError::database(
                ErrorKind::Data,
                "stored originator_id of a data key is not text",
            ))
        }
    };
    let wrapped = match row.get_ref(1).map_err(|e| sqlite_error(e, context))? {
        ValueRef::Null => None,
        ValueRef::Blob(bytes) => Some(bytes.to_vec()),
        _ => {
            return Err(PersistenceError::database(
                ErrorKind::Data,
                format!("the stored data key of {originator_id} is not a blob"),
            ))
        }
    };
    Ok(StoredDataKey {
        originator_id,
        wrapped,
    })
}

impl DataKeyRecorder for SqliteDataKeys {
    fn insert_events_with_keys(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: &[StoredDataKey],
    ) -> Result<(), PersistenceError> {
        let insert = format!("INSERT INTO {} VALUES (?,?)", self.table);
        self.events.datastore().write(|tx| {
            // Events first: a save that lost a race is refused as the version conflict it is.
            self.events.insert_in(tx, events, tracking)?;
            let mut statement = tx
                .prepare_cached(&insert)
                .map_err(|e| sqlite_error(e, "can't prepare the insert of data keys"))?;
            for key in keys {
                statement
                    .execute(rusqlite::params![hex(&key.originator_id), key.wrapped])
                    .map_err(|e| {
                        sqlite_error(
                            e,
                            format!("can't insert the data key of {}", key.originator_id),
                        )
                    })?;
            }
            Ok(())
        })
    }

    fn select_data_keys(
        &self,
        originator_ids: &[Uuid],
    ) -> Result<Vec<StoredDataKey>, PersistenceError> {
        let mut keys = Vec::with_capacity(originator_ids.len());
        for ids in originator_ids.chunks(IDS_PER_SELECT) {
            let sql = format!(
                "SELECT originator_id, data_key FROM {} WHERE originator_id IN ({})",
                self.table,
                vec!["?"; ids.len()].join(",")
            );
            let ids: Vec<String> = ids.iter().map(hex).collect();
            self.events.datastore().read(|c| {
                let context = "can't select data keys";
                let mut statement = c
                    .prepare_cached(&sql)
                    .map_err(|e| sqlite_error(e, context))?;
                let mut rows = statement
                    .query(params_from_iter(ids.iter()))
                    .map_err(|e| sqlite_error(e, context))?;
                while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context))? {
                    keys.push(stored_key(row)?);
                }
                Ok(())
            })?;
        }
        Ok(keys)
    }

    fn forget_data_key(&self, originator_id: Uuid) -> Result<Forgetting, PersistenceError> {
        let id = hex(&originator_id);
        self.events.datastore().write(|tx| {
            let context = || format!("can't forget the data key of {originator_id}");
            let found: Option<bool> = tx
                .query_row(
                    &format!(
                        "SELECT data_key IS NULL FROM {} WHERE originator_id=?",
                        self.table
                    ),
                    [&id],
                    |row| row.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(sqlite_error(e, context())),
                })?;
            let forgetting = match found {
                None => return Ok(Forgetting::Unknown),
                Some(true) => Forgetting::AlreadyForgotten,
                Some(false) => Forgetting::Forgotten,
            };
            tx.execute(
                &format!(
                    "UPDATE {} SET data_key=NULL WHERE originator_id=?",
                    self.table
                ),
                [&id],
            )
            .map_err(|e| sqlite_error(e, context()))?;
            if let Some(snapshots) = &self.snapshots {
                tx.execute(
                    &format!("DELETE FROM {snapshots} WHERE originator_id=?"),
                    [&id],
                )
                .map_err(|e| sqlite_error(e, context()))?;
            }
            Ok(forgetting)
        })
    }

    fn rewrap_data_keys(&self, rewrap: Rewrap<'_>) -> Result<u64, PersistenceError> {
        self.events.datastore().write(|tx| {
            let context = "can't re-encrypt the data keys";
            let keys = {
                let mut statement = tx
                    .prepare(&format!(
                        "SELECT originator_id, data_key FROM {} WHERE data_key IS NOT NULL",
                        self.table
                    ))
                    .map_err(|e| sqlite_error(e, context))?;
                let mut rows = statement.query([]).map_err(|e| sqlite_error(e, context))?;
                let mut keys = Vec::new();
                while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context))? {
                    keys.push(stored_key(row)?);
                }
                keys
            };
            let mut update = tx
                .prepare(&format!(
                    "UPDATE {} SET data_key=? WHERE originator_id=?",
                    self.table
                ))
                .map_err(|e| sqlite_error(e, context))?;
            for key in &keys {
                let Some(wrapped) = &key.wrapped else {
                    continue;
                };
                update
                    .execute(rusqlite::params![rewrap(wrapped)?, hex(&key.originator_id)])
                    .map_err(|e| sqlite_error(e, context))?;
            }
            Ok(keys.len() as u64)
        })
    }
}
