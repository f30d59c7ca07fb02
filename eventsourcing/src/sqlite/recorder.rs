//! SQLite aggregate and application (process) recorders.

use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use super::combine::{Combiner, Events};
use super::datastore::SqliteDatastore;
use super::error::{is_unique_violation, sqlite_error};
use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, CommitSignal, ErrorKind, EventQuery, Notification,
    PersistenceError, ProcessRecorder, StoredEvent, Tracking, TrackingShape, MIGRATION_ROW,
};

pub(super) fn check_table_name(name: &str) -> Result<(), PersistenceError> {
    crate::persistence::check_identifier(name, "table name")
}

/// The SQL of one events table.
#[derive(Debug)]
struct EventsTable {
    name: String,
    insert: String,
}

impl EventsTable {
    fn new(name: &str) -> Result<Self, PersistenceError> {
        check_table_name(name)?;
        Ok(EventsTable {
            name: name.to_string(),
            insert: format!("INSERT INTO {name} VALUES (?,?,?,?)"),
        })
    }

    fn insert(
        &self,
        connection: &Connection,
        events: &[StoredEvent],
    ) -> Result<(), PersistenceError> {
        let mut statement = connection
            .prepare_cached(&self.insert)
            .map_err(|e| sqlite_error(e, "can't prepare insert"))?;
        for event in events {
            let mut hex = [0u8; 32];
            let id: &str = event.originator_id.simple().encode_lower(&mut hex);
            let version = to_sql_int(event.originator_version)?;
            statement
                .execute(params![id, version, event.topic, event.state])
                .map_err(|e| {
                    // Rows go in one at a time, so the row the key refused is this event: it
                    // is stored already, or earlier in the batch.
                    if is_unique_violation(&e) {
                        return PersistenceError::Conflict {
                            originator_id: event.originator_id,
                            originator_version: event.originator_version,
                        };
                    }
                    sqlite_error(
                        e,
                        format!(
                            "can't insert event {} version {} into {}",
                            event.originator_id, event.originator_version, self.name
                        ),
                    )
                })?;
        }
        Ok(())
    }

    fn select(
        &self,
        connection: &Connection,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        // Built piece by piece as the reference builds it; prepared statements are cached by
        // their text, so each of the shapes is prepared once per connection.
        let mut sql = format!(
            "SELECT originator_id, originator_version, topic, state FROM {} WHERE originator_id=?",
            self.name
        );
        let mut hex = [0u8; 32];
        let id: &str = originator_id.simple().encode_lower(&mut hex);
        let mut values: Vec<i64> = Vec::with_capacity(3);
        // Stored versions are at most i64::MAX (SQLite's INTEGER), so a bound above it is
        // answered without asking SQLite: nothing is greater, everything is less or equal.
        if let Some(gt) = query.gt {
            let Ok(gt) = i64::try_from(gt) else {
                return Ok(Vec::new());
            };
            sql.push_str(" AND originator_version>?");
            values.push(gt);
        }
        if let Some(lte) = query.lte.and_then(|lte| i64::try_from(lte).ok()) {
            sql.push_str(" AND originator_version<=?");
            values.push(lte);
        }
        sql.push_str(if query.desc {
            " ORDER BY originator_version DESC"
        } else {
            " ORDER BY originator_version ASC"
        });
        if let Some(limit) = query.limit {
            sql.push_str(" LIMIT ?");
            values.push(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let context = || format!("can't select events of {originator_id} from {}", self.name);
        let mut statement = connection
            .prepare_cached(&sql)
            .map_err(|e| sqlite_error(e, context()))?;
        let params = std::iter::once(&id as &dyn rusqlite::ToSql)
            .chain(values.iter().map(|v| v as &dyn rusqlite::ToSql));
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| sqlite_error(e, context()))?;
        let mut events = Vec::with_capacity(query.limit.unwrap_or(16).min(1024));
        while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context()))? {
            events.push(stored_event(row, 0)?);
        }
        Ok(events)
    }
}

fn to_sql_int(value: u64) -> Result<i64, PersistenceError> {
    i64::try_from(value).map_err(|_| {
        PersistenceError::database(ErrorKind::Data, format!("{value} is too large for SQLite"))
    })
}

fn from_sql_int(value: i64) -> Result<u64, PersistenceError> {
    u64::try_from(value).map_err(|_| {
        PersistenceError::database(ErrorKind::Data, format!("stored value {value} is negative"))
    })
}

fn column_error(column: &str, e: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::database(ErrorKind::Data, format!("stored {column} is invalid: {e}"))
}

/// A stored event from the four columns starting at `first`.
pub(super) fn stored_event(row: &Row<'_>, first: usize) -> Result<StoredEvent, PersistenceError> {
    let get = |i: usize| {
        row.get_ref(first + i)
            .map_err(|e| sqlite_error(e, "can't read row"))
    };
    let originator_id = match get(0)? {
        ValueRef::Text(text) => {
            Uuid::try_parse_ascii(text).map_err(|e| column_error("originator_id", e))?
        }
        other => {
            return Err(column_error(
                "originator_id",
                format!("{:?}", other.data_type()),
            ))
        }
    };
    let originator_version = match get(1)? {
        ValueRef::Integer(v) => from_sql_int(v)?,
        other => {
            return Err(column_error(
                "originator_version",
                format!("{:?}", other.data_type()),
            ))
        }
    };
    let topic = match get(2)? {
        ValueRef::Text(text) => crate::persistence::topic::topic_from_bytes(text)
            .ok_or_else(|| column_error("topic", "not UTF-8"))?,
        other => return Err(column_error("topic", format!("{:?}", other.data_type()))),
    };
    let state = match get(3)? {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => bytes.to_vec(),
        other => return Err(column_error("state", format!("{:?}", other.data_type()))),
    };
    Ok(StoredEvent {
        originator_id,
        originator_version,
        topic,
        state,
    })
}

/// Stores aggregates' events without a notification log: the recorder of snapshots (table
/// `stored_snapshots` by default). Its table has no rowid (`WITHOUT ROWID`), as in the
/// reference.
#[derive(Debug, Clone)]
pub struct SqliteAggregateRecorder {
    datastore: Arc<SqliteDatastore>,
    table: Arc<EventsTable>,
    /// Concurrent inserts' group commit (see the module `combine`).
    combiner: Arc<Combiner>,
}

impl SqliteAggregateRecorder {
    /// A recorder of the table `table_name` (created if it does not exist).
    pub fn new(
        datastore: Arc<SqliteDatastore>,
        table_name: &str,
    ) -> Result<Self, PersistenceError> {
        let table = EventsTable::new(table_name)?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {table_name} (originator_id TEXT, originator_version INTEGER, \
             topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
        );
        datastore.execute(|c| {
            c.execute_batch(&sql)
                .map_err(|e| sqlite_error(e, format!("can't create table {table_name}")))
        })?;
        Ok(SqliteAggregateRecorder {
            datastore,
            table: Arc::new(table),
            combiner: Arc::default(),
        })
    }

    /// Writes the saves of a group in one transaction, each under a savepoint of its own when
    /// there are several (see the module `combine`), and gives each its outcome.
    fn write_group(&self, saves: &[&[StoredEvent]]) -> Vec<Result<(), PersistenceError>> {
        if let [events] = saves {
            return vec![self.datastore.write(|tx| self.table.insert(tx, events))];
        }
        let written = self.datastore.write(|tx| {
            let statement = |sql: &str| {
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.execute([]))
                    .map_err(|e| sqlite_error(e, format!("can't {sql} in a group commit")))
            };
            let mut outcomes = Vec::with_capacity(saves.len());
            for events in saves {
                statement("SAVEPOINT save")?;
                match self.table.insert(tx, events) {
                    Ok(()) => outcomes.push(Ok(())),
                    Err(error) => {
                        // Some errors end the transaction itself (SQLite rolls it back): then
                        // nothing of the group is stored, and the error is everyone's.
                        if tx.is_autocommit() {
                            return Err(error);
                        }
                        statement("ROLLBACK TO save")?;
                        outcomes.push(Err(error));
                    }
                }
                statement("RELEASE save")?;
            }
            Ok(outcomes)
        });
        match written {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let (kind, message) = (error.kind(), error.to_string());
                let mut error = Some(error);
                saves
                    .iter()
                    .map(|_| {
                        Err(error
                            .take()
                            .unwrap_or_else(|| PersistenceError::database(kind, message.clone())))
                    })
                    .collect()
            }
        }
    }
}

impl AggregateRecorder for SqliteAggregateRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.combiner
            .insert(Events::Borrowed(events), |saves| self.write_group(saves))
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.combiner
            .insert(Events::Owned(events), |saves| self.write_group(saves))
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.datastore
            .read(|c| self.table.select(c, originator_id, query))
    }
}

/// Stores an application's events with their notification ids, and, for process applications,
/// tracking records: the application recorder and the process recorder of the reference in one.
///
/// The events table (`stored_events` by default) keeps SQLite's implicit `rowid`, which is the
/// notification id: writes are serialised by SQLite's write lock, so ids follow commit order
/// with no gaps. Concurrent inserts of events share transactions (group commit, at most
/// [`GROUP_COMMIT_MAX_EVENTS`](super::GROUP_COMMIT_MAX_EVENTS) events in one), each save
/// still all or nothing and failing alone; see the [module](super). The tracking table (`tracking` by default) keeps each upstream application's
/// position: a new table has the reference's 9.5 shape, one row per application (and a
/// `__migration__` row, which marks the shape), and a table of the 9.1 shape found in the
/// database — a row per tracking record, keyed by (application name, notification id) — is
/// used as it is. Either library then reads and writes the other's table.
#[derive(Debug, Clone)]
pub struct SqliteApplicationRecorder {
    /// The events table, which the application recorder reads and writes as an aggregate
    /// recorder does, plus its notification ids.
    events: SqliteAggregateRecorder,
    tracking_table: Arc<str>,
    /// The statement recording a tracking position, for the tracking table's shape.
    insert_tracking: Arc<str>,
}

/// Creates the tracking table `table` in the reference's 9.5 shape (with its `__migration__`
/// row) unless a table of that name exists, and says the shape of the table there is.
fn create_tracking_table(tx: &Connection, table: &str) -> Result<TrackingShape, PersistenceError> {
    let context = || format!("can't create table {table}");
    let exists: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |row| row.get(0),
        )
        .map_err(|e| sqlite_error(e, context()))?;
    if !exists {
        tx.execute_batch(&format!(
            "CREATE TABLE {table} (application_name TEXT, notification_id INTEGER, \
             PRIMARY KEY (application_name)) WITHOUT ROWID; \
             INSERT INTO {table} VALUES ('{MIGRATION_ROW}', 1);"
        ))
        .map_err(|e| sqlite_error(e, context()))?;
        return Ok(TrackingShape::SingleRow);
    }
    let key_columns: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE pk > 0",
            [table],
            |row| row.get(0),
        )
        .map_err(|e| sqlite_error(e, format!("can't read the columns of {table}")))?;
    TrackingShape::of_key_columns(table, key_columns)
}

impl SqliteApplicationRecorder {
    /// A recorder of the tables `stored_events` and `tracking`.
    pub fn new(datastore: Arc<SqliteDatastore>) -> Result<Self, PersistenceError> {
        Self::with_tables(datastore, "stored_events", "tracking")
    }

    /// A recorder of the given tables (created if they do not exist).
    pub fn with_tables(
        datastore: Arc<SqliteDatastore>,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<Self, PersistenceError> {
        let events = EventsTable::new(events_table)?;
        check_table_name(tracking_table)?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {events_table} (originator_id TEXT, originator_version INTEGER, \
             topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version));"
        );
        datastore.execute(|c| {
            c.execute_batch(&sql)
                .map_err(|e| sqlite_error(e, format!("can't create table {events_table}")))
        })?;
        let insert_tracking =
            match datastore.write(|tx| create_tracking_table(tx, tracking_table))? {
                TrackingShape::MultiRow => format!("INSERT INTO {tracking_table} VALUES (?,?)"),
                TrackingShape::SingleRow => format!(
                    "INSERT INTO {tracking_table} VALUES (?,?) ON CONFLICT (application_name) DO \
                 UPDATE SET notification_id = excluded.notification_id"
                ),
            };
        Ok(SqliteApplicationRecorder {
            events: SqliteAggregateRecorder {
                datastore,
                table: Arc::new(events),
                combiner: Arc::default(),
            },
            tracking_table: tracking_table.into(),
            insert_tracking: insert_tracking.into(),
        })
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<SqliteDatastore> {
        &self.events.datastore
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
            .map_err(|e| sqlite_error(e, "can't select the tracking position"))?;
        from_sql_int(max.unwrap_or(0))
    }
}

impl AggregateRecorder for SqliteApplicationRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.events.insert_events(events)
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.events.insert_owned(events)
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.events.select_events(originator_id, query)
    }
}

impl ApplicationRecorder for SqliteApplicationRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        self.select_notifications_of(start, limit, &[])
    }

    fn select_notifications_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, PersistenceError> {
        let filter = if topics.is_empty() {
            String::new()
        } else {
            format!(" AND topic IN ({})", vec!["?"; topics.len()].join(","))
        };
        let sql = format!(
            "SELECT rowid, originator_id, originator_version, topic, state FROM {} \
             WHERE rowid>=?{filter} ORDER BY rowid LIMIT ?",
            self.events.table.name
        );
        // Notification ids are at most i64::MAX (SQLite's rowid): nothing starts beyond it.
        let Ok(start) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let params = std::iter::once(&start as &dyn rusqlite::ToSql)
            .chain(topics.iter().map(|t| t as &dyn rusqlite::ToSql))
            .chain(std::iter::once(&limit as &dyn rusqlite::ToSql));
        self.events.datastore.read(|c| {
            let context = "can't select notifications";
            let mut statement = c
                .prepare_cached(&sql)
                .map_err(|e| sqlite_error(e, context))?;
            let mut rows = statement
                .query(rusqlite::params_from_iter(params))
                .map_err(|e| sqlite_error(e, context))?;
            let mut notifications = Vec::with_capacity(limit.clamp(0, 1024) as usize);
            while let Some(row) = rows.next().map_err(|e| sqlite_error(e, context))? {
                let id: i64 = row.get(0).map_err(|e| sqlite_error(e, context))?;
                notifications.push(Notification {
                    id: from_sql_int(id)?,
                    stored: stored_event(row, 1)?,
                });
            }
            Ok(notifications)
        })
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        Some(self.events.datastore.commit_signal())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        let sql = format!("SELECT MAX(rowid) FROM {}", self.events.table.name);
        let max: Option<i64> = self.events.datastore.read(|c| {
            c.prepare_cached(&sql)
                .and_then(|mut s| s.query_row([], |row| row.get(0)))
                .map_err(|e| sqlite_error(e, "can't select the max notification id"))
        })?;
        from_sql_int(max.unwrap_or(0))
    }
}

impl ProcessRecorder for SqliteApplicationRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        self.events
            .datastore
            .write(|tx| self.insert_in(tx, events, tracking))
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        self.events
            .datastore
            .read(|c| self.max_tracking(c, application_name))
    }
}

impl SqliteApplicationRecorder {
    /// Inserts `events` and `tracking` in the transaction `tx` (of the writer connection).
    pub(super) fn insert_in(
        &self,
        tx: &Connection,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        let insert = &*self.insert_tracking;
        self.events.table.insert(tx, events)?;
        for record in tracking {
            // Checked in the transaction, after the records before it: positions only move
            // forward.
            let last = self.max_tracking(tx, &record.application_name)?;
            if record.notification_id <= last {
                return Err(PersistenceError::integrity(format!(
                    "tracking {} of {:?} is not after the recorded position {last}",
                    record.notification_id, record.application_name
                )));
            }
            let notification_id = to_sql_int(record.notification_id)?;
            tx.prepare_cached(insert)
                .and_then(|mut s| s.execute(params![record.application_name, notification_id]))
                .map_err(|e| sqlite_error(e, "can't insert the tracking record"))?;
        }
        Ok(())
    }
}

impl SqliteApplicationRecorder {
    /// A recorder of the tables `events_table` and `tracking_table` as they are, creating and
    /// changing nothing: the store inspector's, for reading (see
    /// [`SqliteInspector`](super::SqliteInspector)). `shape` is the tracking table's (that of a
    /// new one if it does not exist).
    pub(crate) fn of_existing_tables(
        datastore: Arc<SqliteDatastore>,
        events_table: &str,
        tracking_table: &str,
        shape: TrackingShape,
    ) -> Result<Self, PersistenceError> {
        let events = EventsTable::new(events_table)?;
        check_table_name(tracking_table)?;
        let insert_tracking = match shape {
            TrackingShape::MultiRow => format!("INSERT INTO {tracking_table} VALUES (?,?)"),
            TrackingShape::SingleRow => format!(
                "INSERT INTO {tracking_table} VALUES (?,?) ON CONFLICT (application_name) DO \
                 UPDATE SET notification_id = excluded.notification_id"
            ),
        };
        Ok(SqliteApplicationRecorder {
            events: SqliteAggregateRecorder {
                datastore,
                table: Arc::new(events),
                combiner: Arc::default(),
            },
            tracking_table: tracking_table.into(),
            insert_tracking: insert_tracking.into(),
        })
    }
}
