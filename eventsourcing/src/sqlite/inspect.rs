//! [`SqliteInspector`]: the [`StoreInspector`] of an SQLite database.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use uuid::Uuid;

use super::data_keys::{stored_key, SqliteDataKeys};
use super::datastore::{SqliteDatastore, Synchronous, DEFAULT_LOCK_TIMEOUT};
use super::error::sqlite_error;
use super::factory::{SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT};
use super::recorder::{
    check_table_name, stored_event, SqliteAggregateRecorder, SqliteApplicationRecorder,
};
use crate::persistence::inspect::{check_ids, not_empty};
use crate::persistence::{
    ApplicationContents, ApplicationRecorder, ApplicationTables, Cipher, ConfigError,
    DataKeyCounts, DataKeyRecorder, Environment, ErrorKind, FactoryError, KeyedRecorder,
    PersistenceError, StoreInspector, StoredDataKey, StoredEvent, Tracking, TrackingShape,
    MIGRATION_ROW,
};

/// The tables of the application an SQLite database holds, as [`SqliteFactory`] names them.
///
/// [`SqliteFactory`]: super::SqliteFactory
const EVENTS: &str = "stored_events";
const SNAPSHOTS: &str = "stored_snapshots";
const TRACKING: &str = "tracking";
const DATA_KEYS: &str = "stored_data_keys";

/// The [`StoreInspector`] of an SQLite database: the application it holds (an SQLite database
/// holds one, in the tables `stored_events`, `stored_snapshots`, `tracking` and, with
/// per-aggregate keys, `stored_data_keys`, whatever the application's name), read without
/// creating anything, and restored in one transaction.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::persistence::StoreInspector;
/// use eventsourcing::sqlite::{SqliteDatastore, SqliteInspector};
///
/// let datastore = Arc::new(SqliteDatastore::open(":memory:")?);
/// let inspector = SqliteInspector::new(Arc::clone(&datastore));
/// assert!(inspector.application("Worlds")?.is_none()); // and no table was created
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
///
/// A store written with per-aggregate keys has a key table, which the inspector reads too:
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::persistence::{AesCipher, AggregateRecorder, EventQuery, StoreInspector};
/// use eventsourcing::prelude::*;
/// use eventsourcing::sqlite::{SqliteDatastore, SqliteInspector};
///
/// # let dir = std::env::temp_dir().join(format!("es-doc-inspect-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let db = dir.join("keyed.db");
/// # let db = db.to_str().unwrap();
/// let key = AesCipher::create_key(32)?;
/// let app = Application::builder("Accounts")
///     .without_process_env()
///     .env("PERSISTENCE_MODULE", "eventsourcing.sqlite")
///     .env("SQLITE_DBNAME", db)
///     .cipher_key(key.as_str())
///     .per_aggregate_keys(true)
///     .build()?;
/// # drop(app);
///
/// let inspector = SqliteInspector::new(Arc::new(SqliteDatastore::open(db)?));
/// let tables = inspector.application("Accounts")?.expect("the store has events");
/// assert_eq!(tables.data_keys.as_deref(), Some("stored_data_keys"));
/// assert_eq!(inspector.count_data_keys(&tables)?.aggregates, 0);
/// let key = Arc::new(AesCipher::new(&key)?);
/// let keyed = inspector.keyed_events(&tables, key)?.expect("a key table");
/// assert!(keyed.select_events(uuid::Uuid::new_v4(), &EventQuery::new())?.is_empty());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteInspector {
    datastore: Arc<SqliteDatastore>,
}

impl SqliteInspector {
    /// The inspector of `datastore`'s database.
    pub fn new(datastore: Arc<SqliteDatastore>) -> Self {
        SqliteInspector { datastore }
    }

    /// The inspector of the database `db_name`, which must exist: a file path that names no
    /// file is an [`ErrorKind::Operational`] error, rather than a new, empty database.
    /// (`:memory:` and `file:` URIs are opened as they are.)
    pub fn open_existing(db_name: &str, lock_timeout: Duration) -> Result<Self, PersistenceError> {
        let is_path = !db_name.contains(":memory:") && !db_name.starts_with("file:");
        if is_path && !Path::new(db_name).is_file() {
            return Err(PersistenceError::database(
                ErrorKind::Operational,
                format!("no SQLite database at {db_name:?}: the file does not exist"),
            ));
        }
        let datastore = SqliteDatastore::open_with(db_name, lock_timeout, Synchronous::Full)?;
        Ok(Self::new(Arc::new(datastore)))
    }

    /// The inspector of the database an application configured by `env` uses
    /// (`SQLITE_DBNAME`, `SQLITE_LOCK_TIMEOUT`). With `create`, a database file that does not
    /// exist is created (to restore into); without, it is an error.
    pub fn from_env(env: &Environment, create: bool) -> Result<Self, FactoryError> {
        let db_name = env.get(SQLITE_DBNAME).ok_or_else(|| {
            ConfigError::new(
                SQLITE_DBNAME,
                "SQLite database name not found in environment with key 'SQLITE_DBNAME'",
            )
        })?;
        let lock_timeout = env
            .get_parsed::<u64>(SQLITE_LOCK_TIMEOUT, "an integer number of seconds")?
            .map_or(DEFAULT_LOCK_TIMEOUT, Duration::from_secs);
        if create {
            let datastore = SqliteDatastore::open_with(db_name, lock_timeout, Synchronous::Full)?;
            return Ok(Self::new(Arc::new(datastore)));
        }
        Ok(Self::open_existing(db_name, lock_timeout)?)
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<SqliteDatastore> {
        &self.datastore
    }

    fn tables(&self) -> Result<Option<ApplicationTables>, PersistenceError> {
        self.datastore.read(|c| {
            if !table_exists(c, EVENTS)? {
                return Ok(None);
            }
            Ok(Some(ApplicationTables {
                name: String::new(),
                events: EVENTS.to_string(),
                snapshots: table_exists(c, SNAPSHOTS)?.then(|| SNAPSHOTS.to_string()),
                tracking: table_exists(c, TRACKING)?.then(|| TRACKING.to_string()),
                data_keys: table_exists(c, DATA_KEYS)?.then(|| DATA_KEYS.to_string()),
            }))
        })
    }

    fn count(&self, table: &str) -> Result<u64, PersistenceError> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let count: i64 = self.datastore.read(|c| {
            c.query_row(&sql, [], |row| row.get(0))
                .map_err(|e| sqlite_error(e, format!("can't count the rows of {table}")))
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The recorder of the application's events, made without creating anything.
    fn recorder(
        &self,
        application: &ApplicationTables,
    ) -> Result<SqliteApplicationRecorder, PersistenceError> {
        let tracking = application.tracking.as_deref().unwrap_or(TRACKING);
        let shape = self.datastore.read(|c| tracking_shape(c, tracking))?;
        SqliteApplicationRecorder::of_existing_tables(
            Arc::clone(&self.datastore),
            &application.events,
            tracking,
            shape,
        )
    }

    /// The application's key table and events recorder, if it has a key table.
    fn keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<Option<(SqliteApplicationRecorder, SqliteDataKeys)>, PersistenceError> {
        let Some(table) = &application.data_keys else {
            return Ok(None);
        };
        let events = self.recorder(application)?;
        let keys =
            SqliteDataKeys::of_existing_table(&events, table, application.snapshots.as_deref())?;
        Ok(Some((events, keys)))
    }
}

fn table_exists(c: &Connection, table: &str) -> Result<bool, PersistenceError> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [table],
        |row| row.get(0),
    )
    .map_err(|e| sqlite_error(e, "can't read the database's tables"))
}

fn tracking_shape(c: &Connection, table: &str) -> Result<TrackingShape, PersistenceError> {
    if !table_exists(c, table)? {
        return Ok(TrackingShape::SingleRow);
    }
    let key_columns: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE pk > 0",
            [table],
            |row| row.get(0),
        )
        .map_err(|e| sqlite_error(e, format!("can't read the columns of {table}")))?;
    TrackingShape::of_key_columns(table, key_columns)
}

fn to_sql_int(value: u64, what: &str) -> Result<i64, PersistenceError> {
    i64::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("{what} {value} is too large for SQLite"),
        )
    })
}

fn has_rows(c: &Connection, table: &str, filter: &str) -> Result<bool, PersistenceError> {
    if !table_exists(c, table)? {
        return Ok(false);
    }
    c.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {table} {filter})"),
        [],
        |row| row.get(0),
    )
    .map_err(|e| sqlite_error(e, format!("can't read {table}")))
}

/// What the application has, if anything (for the message of a refused restore).
fn contents_found(c: &Connection) -> Result<Option<&'static str>, PersistenceError> {
    let untracked = format!("WHERE application_name <> '{MIGRATION_ROW}'");
    Ok(if has_rows(c, EVENTS, "")? {
        Some("events")
    } else if has_rows(c, SNAPSHOTS, "")? {
        Some("snapshots")
    } else if has_rows(c, TRACKING, &untracked)? {
        Some("tracking positions")
    } else if has_rows(c, DATA_KEYS, "")? {
        Some("data keys")
    } else {
        None
    })
}

fn insert_all(
    c: &Connection,
    contents: &ApplicationContents,
    shape: TrackingShape,
) -> Result<(), PersistenceError> {
    let context = |what: &str| format!("can't restore {what}");
    let mut insert = c
        .prepare(&format!(
            "INSERT INTO {EVENTS} (rowid, originator_id, originator_version, topic, state) \
             VALUES (?, ?, ?, ?, ?)"
        ))
        .map_err(|e| sqlite_error(e, context("events")))?;
    for notification in &contents.events {
        let id = to_sql_int(notification.id, "notification id")?;
        let version = to_sql_int(notification.originator_version, "originator_version")?;
        let mut hex = [0u8; 32];
        let originator: &str = notification.originator_id.simple().encode_lower(&mut hex);
        insert
            .execute(params![
                id,
                originator,
                version,
                notification.topic,
                notification.state
            ])
            .map_err(|e| {
                sqlite_error(
                    e,
                    format!(
                        "can't restore notification {} (aggregate {} version {})",
                        notification.id,
                        notification.originator_id,
                        notification.originator_version
                    ),
                )
            })?;
    }
    if !contents.snapshots.is_empty() {
        let mut insert = c
            .prepare(&format!("INSERT INTO {SNAPSHOTS} VALUES (?, ?, ?, ?)"))
            .map_err(|e| sqlite_error(e, context("snapshots")))?;
        for snapshot in &contents.snapshots {
            let version = to_sql_int(snapshot.originator_version, "originator_version")?;
            let mut hex = [0u8; 32];
            let originator: &str = snapshot.originator_id.simple().encode_lower(&mut hex);
            insert
                .execute(params![originator, version, snapshot.topic, snapshot.state])
                .map_err(|e| {
                    sqlite_error(
                        e,
                        format!(
                            "can't restore the snapshot of {} at version {}",
                            snapshot.originator_id, snapshot.originator_version
                        ),
                    )
                })?;
        }
    }
    if !contents.data_keys.is_empty() {
        let mut insert = c
            .prepare(&format!(
                "INSERT INTO {DATA_KEYS} (originator_id, data_key) VALUES (?, ?)"
            ))
            .map_err(|e| sqlite_error(e, context("data keys")))?;
        for key in &contents.data_keys {
            let mut hex = [0u8; 32];
            let originator: &str = key.originator_id.simple().encode_lower(&mut hex);
            insert
                .execute(params![originator, key.wrapped])
                .map_err(|e| {
                    sqlite_error(
                        e,
                        format!("can't restore the data key of {}", key.originator_id),
                    )
                })?;
        }
    }
    let sql = match shape {
        TrackingShape::MultiRow => format!("INSERT INTO {TRACKING} VALUES (?, ?)"),
        TrackingShape::SingleRow => format!(
            "INSERT INTO {TRACKING} VALUES (?, ?) ON CONFLICT (application_name) DO UPDATE \
             SET notification_id = excluded.notification_id"
        ),
    };
    let mut insert = c
        .prepare(&sql)
        .map_err(|e| sqlite_error(e, context("tracking positions")))?;
    for record in &contents.tracking {
        let id = to_sql_int(record.notification_id, "notification id")?;
        insert
            .execute(params![record.application_name, id])
            .map_err(|e| {
                sqlite_error(
                    e,
                    format!(
                        "can't restore the position of {:?}",
                        record.application_name
                    ),
                )
            })?;
    }
    Ok(())
}

impl StoreInspector for SqliteInspector {
    fn applications(&self) -> Result<Vec<ApplicationTables>, PersistenceError> {
        Ok(self.tables()?.into_iter().collect())
    }

    fn application(&self, _name: &str) -> Result<Option<ApplicationTables>, PersistenceError> {
        self.tables()
    }

    fn events(
        &self,
        application: &ApplicationTables,
    ) -> Result<Arc<dyn ApplicationRecorder>, PersistenceError> {
        Ok(Arc::new(self.recorder(application)?))
    }

    fn data_keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<Option<Arc<dyn DataKeyRecorder>>, PersistenceError> {
        Ok(self
            .keys(application)?
            .map(|(_, keys)| Arc::new(keys) as Arc<dyn DataKeyRecorder>))
    }

    fn keyed_events(
        &self,
        application: &ApplicationTables,
        application_key: Arc<dyn Cipher>,
    ) -> Result<Option<Arc<KeyedRecorder>>, PersistenceError> {
        let Some((events, keys)) = self.keys(application)? else {
            return Ok(None);
        };
        Ok(Some(KeyedRecorder::over(
            Arc::new(events),
            Arc::new(keys),
            application_key,
        )))
    }

    fn select_data_keys(
        &self,
        application: &ApplicationTables,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<StoredDataKey>, PersistenceError> {
        let Some(table) = &application.data_keys else {
            return Ok(Vec::new());
        };
        check_table_name(table)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Before every hex id.
        let after = after.map_or(String::new(), |id| id.simple().to_string());
        let sql = format!(
            "SELECT originator_id, data_key FROM {table} WHERE originator_id > ? \
             ORDER BY originator_id LIMIT ?"
        );
        self.datastore.read(|c| {
            let context = "can't select data keys";
            let mut statement = c.prepare(&sql).map_err(|e| sqlite_error(e, context))?;
            let mut rows = statement
                .query(params![after, limit])
                .map_err(|e| sqlite_error(e, context))?;
            let mut keys = Vec::new();
            while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context))? {
                keys.push(stored_key(row)?);
            }
            Ok(keys)
        })
    }

    fn count_data_keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<DataKeyCounts, PersistenceError> {
        let Some(table) = &application.data_keys else {
            return Ok(DataKeyCounts::default());
        };
        check_table_name(table)?;
        let sql = format!("SELECT COUNT(*), COUNT(*) - COUNT(data_key) FROM {table}");
        let (aggregates, forgotten): (i64, i64) = self.datastore.read(|c| {
            c.query_row(&sql, [], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(|e| sqlite_error(e, format!("can't count the rows of {table}")))
        })?;
        Ok(DataKeyCounts {
            aggregates: u64::try_from(aggregates).unwrap_or(0),
            forgotten: u64::try_from(forgotten).unwrap_or(0),
        })
    }

    fn count_events(&self, application: &ApplicationTables) -> Result<u64, PersistenceError> {
        self.count(&application.events)
    }

    fn count_snapshots(&self, application: &ApplicationTables) -> Result<u64, PersistenceError> {
        match &application.snapshots {
            Some(table) => self.count(table),
            None => Ok(0),
        }
    }

    fn select_snapshots(
        &self,
        application: &ApplicationTables,
        after: Option<(Uuid, u64)>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let Some(table) = &application.snapshots else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (id, version) = match after {
            Some((id, version)) => (
                id.simple().to_string(),
                i64::try_from(version).unwrap_or(i64::MAX),
            ),
            // Before every hex id.
            None => (String::new(), -1),
        };
        let sql = format!(
            "SELECT originator_id, originator_version, topic, state FROM {table} \
             WHERE (originator_id, originator_version) > (?, ?) \
             ORDER BY originator_id, originator_version LIMIT ?"
        );
        self.datastore.read(|c| {
            let context = "can't select snapshots";
            let mut statement = c.prepare(&sql).map_err(|e| sqlite_error(e, context))?;
            let mut rows = statement
                .query(params![id, version, limit])
                .map_err(|e| sqlite_error(e, context))?;
            let mut snapshots = Vec::new();
            while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context))? {
                snapshots.push(stored_event(row, 0)?);
            }
            Ok(snapshots)
        })
    }

    fn tracking(&self, application: &ApplicationTables) -> Result<Vec<Tracking>, PersistenceError> {
        let Some(table) = &application.tracking else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT application_name, MAX(notification_id) FROM {table} \
             WHERE application_name <> ?1 GROUP BY application_name ORDER BY application_name"
        );
        self.datastore.read(|c| {
            let context = "can't select tracking positions";
            let mut statement = c.prepare(&sql).map_err(|e| sqlite_error(e, context))?;
            let rows = statement
                .query_map([MIGRATION_ROW], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(|e| sqlite_error(e, context))?;
            let mut positions = Vec::new();
            for row in rows {
                let (name, id) = row.map_err(|e| sqlite_error(e, context))?;
                positions.push(Tracking::new(name, u64::try_from(id).unwrap_or(0)));
            }
            Ok(positions)
        })
    }

    fn restore(
        &self,
        applications: &[(String, ApplicationContents)],
        replace: bool,
    ) -> Result<(), PersistenceError> {
        let [(name, contents)] = applications else {
            if applications.is_empty() {
                return Ok(());
            }
            return Err(PersistenceError::database(
                ErrorKind::Programming,
                format!(
                    "an SQLite database holds one application, and {} were to be restored \
                     into it",
                    applications.len()
                ),
            ));
        };
        check_ids(name, &contents.events)?;
        // Refused before any table is created.
        if !replace {
            if let Some(found) = self.datastore.read(contents_found)? {
                return Err(not_empty(name, found));
            }
        }
        // The tables, as the application creates them.
        let events = SqliteApplicationRecorder::new(Arc::clone(&self.datastore))?;
        let has_snapshots = self.datastore.read(|c| table_exists(c, SNAPSHOTS))?;
        if !contents.snapshots.is_empty() && !has_snapshots {
            SqliteAggregateRecorder::new(Arc::clone(&self.datastore), SNAPSHOTS)?;
        }
        if !contents.data_keys.is_empty() {
            SqliteDataKeys::new(&events, DATA_KEYS, None)?;
        }
        self.datastore.write(|tx| {
            if replace {
                let mut sql = format!(
                    "DELETE FROM {EVENTS}; DELETE FROM {TRACKING} WHERE application_name <> \
                     '{MIGRATION_ROW}';"
                );
                if table_exists(tx, SNAPSHOTS)? {
                    sql.push_str(&format!("DELETE FROM {SNAPSHOTS};"));
                }
                if table_exists(tx, DATA_KEYS)? {
                    sql.push_str(&format!("DELETE FROM {DATA_KEYS};"));
                }
                tx.execute_batch(&sql)
                    .map_err(|e| sqlite_error(e, "can't delete what the application had"))?;
            } else if let Some(found) = contents_found(tx)? {
                return Err(not_empty(name, found));
            }
            let shape = tracking_shape(tx, TRACKING)?;
            insert_all(tx, contents, shape)
        })
    }
}
