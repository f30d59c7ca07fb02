//! PostgreSQL aggregate and application (process) recorders.

use std::sync::Arc;

use postgres::types::ToSql;
use uuid::Uuid;

use super::conflict;
use super::datastore::{jittered, Connection, PostgresDatastore, MAX_ATTEMPTS, RETRY_WAIT};
use super::error::postgres_error;
use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, ErrorKind, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};

/// Appends `bytes` as lower-case hex digits.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
}

pub(crate) fn check_identifier(name: &str) -> Result<(), PersistenceError> {
    crate::persistence::check_identifier(name, "PostgreSQL identifier")
}

fn to_i32(value: u64, what: &str) -> Result<i32, PersistenceError> {
    i32::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("{what} {value} is out of range for PostgreSQL"),
        )
    })
}

fn to_i64(value: u64, what: &str) -> Result<i64, PersistenceError> {
    i64::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("{what} {value} is out of range for PostgreSQL"),
        )
    })
}

fn from_signed(value: i64, what: &str) -> Result<u64, PersistenceError> {
    u64::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("stored {what} {value} is negative"),
        )
    })
}

/// Why an insert failed: before the commit was sent (nothing was written), or while
/// committing (it may or may not have been written).
enum InsertFailure {
    BeforeCommit(PersistenceError),
    DuringCommit(PersistenceError),
}

/// The SQL of one events table (and, for applications, its tracking table).
#[derive(Debug)]
struct Tables {
    /// The events table's name, as the server names it in errors (without the schema).
    events_name: String,
    events: String,
    tracking: Option<String>,
    insert: String,
    lock: String,
    wait_for_writers: String,
}

impl Tables {
    fn new(
        datastore: &PostgresDatastore,
        events: &str,
        tracking: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_identifier(events)?;
        if let Some(tracking) = tracking {
            check_identifier(tracking)?;
        }
        if let Some(schema) = &datastore.settings().schema {
            check_identifier(schema)?;
        }
        let events_name = events.to_string();
        let events = datastore.qualified(events);
        let lock_timeout = datastore.settings().lock_timeout;
        Ok(Tables {
            insert: format!(
                "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES "
            ),
            // One round trip: begin, bound the wait for the lock, take the lock that
            // serialises writers so that notification ids are committed in order.
            lock: format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {events} IN EXCLUSIVE MODE;",
                lock_timeout.as_millis()
            ),
            // ROW SHARE conflicts with the writers' EXCLUSIVE lock (and with nothing else):
            // taking it waits for the transactions inserting now to end.
            wait_for_writers: format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {events} IN ROW SHARE MODE;",
                lock_timeout.as_millis()
            ),
            tracking: tracking.map(|t| datastore.qualified(t)),
            events_name,
            events,
        })
    }

    /// Inserts `events` (and `tracking`) in one transaction, in one round trip.
    ///
    /// The whole transaction — begin, lock, insert the events, check and insert the tracking
    /// record, commit — goes to the server as one simple query, as the reference sends its
    /// pages of `EXECUTE` statements. Round trips cost more than the statements here, so this
    /// makes a save about as fast as the commit itself. Values are written as hex literals
    /// (`decode('…', 'hex')`), so no stored byte can end up as SQL.
    fn insert(
        &self,
        connection: &mut Connection,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), InsertFailure> {
        let before = InsertFailure::BeforeCommit;
        let size: usize = events
            .iter()
            .map(|e| 2 * (e.topic.len() + e.state.len()) + 120)
            .sum();
        let mut sql = String::with_capacity(self.lock.len() + size + 400);
        sql.push_str(&self.lock);
        if !events.is_empty() {
            sql.push_str(&self.insert);
            for (i, event) in events.iter().enumerate() {
                let version =
                    to_i32(event.originator_version, "originator_version").map_err(before)?;
                sql.push_str(if i == 0 { "('" } else { ",('" });
                sql.push_str(
                    event
                        .originator_id
                        .hyphenated()
                        .encode_lower(&mut Uuid::encode_buffer()),
                );
                sql.push_str("',");
                sql.push_str(&version.to_string());
                sql.push_str(",convert_from(decode('");
                push_hex(&mut sql, event.topic.as_bytes());
                sql.push_str("','hex'),'UTF8'),decode('");
                push_hex(&mut sql, &event.state);
                sql.push_str("','hex'))");
            }
            sql.push(';');
        }
        if let (false, Some(table)) = (tracking.is_empty(), &self.tracking) {
            for record in tracking {
                let id = to_i64(record.notification_id, "notification_id").map_err(before)?;
                let mut name = String::with_capacity(2 * record.application_name.len() + 40);
                name.push_str("convert_from(decode('");
                push_hex(&mut name, record.application_name.as_bytes());
                name.push_str("','hex'),'UTF8')");
                // Positions never move backwards: a record at or below the recorded position
                // is refused as a duplicate would be (unique_violation), rolling everything
                // back.
                sql.push_str(&format!(
                    "DO $es$ BEGIN IF COALESCE((SELECT MAX(notification_id) FROM {table} \
                     WHERE application_name = {name}), 0) >= {id} THEN RAISE EXCEPTION USING \
                     ERRCODE = 'unique_violation', MESSAGE = 'tracking {id} is not after the \
                     recorded position'; END IF; END $es$; \
                     INSERT INTO {table} (application_name, notification_id) VALUES ({name}, {id});"
                ));
            }
        }
        sql.push_str("COMMIT;");
        match connection.client.batch_execute(&sql) {
            Ok(()) => Ok(()),
            // The server answered with an error (other than ending the session, which can
            // come after the commit): the transaction did not commit.
            Err(error)
                if error.code().is_some() && super::error::kind(&error) != ErrorKind::Interface =>
            {
                if !connection.client.is_closed() {
                    // Leave the connection usable: the failed transaction must end.
                    let _ = connection.client.batch_execute("ROLLBACK");
                }
                let conflict =
                    conflict::conflict(connection, &self.events_name, &self.events, &error, events);
                Err(InsertFailure::BeforeCommit(conflict.unwrap_or_else(|| {
                    postgres_error(error, format!("can't insert into {}", self.events))
                })))
            }
            // The connection failed: the commit may or may not have happened.
            Err(error) => Err(InsertFailure::DuringCommit(postgres_error(
                error,
                "can't commit",
            ))),
        }
    }

    fn select(
        &self,
        connection: &mut Connection,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut sql = format!(
            "SELECT originator_id, originator_version, topic, state FROM {} WHERE originator_id = $1",
            self.events
        );
        // Versions are int4 in the table: a bound beyond that range selects as the largest one.
        let clamp = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
        let gt = query.gt.map(clamp);
        let lte = query.lte.map(clamp);
        let limit = query.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&originator_id];
        if let Some(gt) = &gt {
            params.push(gt);
            sql.push_str(&format!(" AND originator_version > ${}", params.len()));
        }
        if let Some(lte) = &lte {
            params.push(lte);
            sql.push_str(&format!(" AND originator_version <= ${}", params.len()));
        }
        sql.push_str(if query.desc {
            " ORDER BY originator_version DESC"
        } else {
            " ORDER BY originator_version ASC"
        });
        if let Some(limit) = &limit {
            params.push(limit);
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let context = || {
            format!(
                "can't select events of {originator_id} from {}",
                self.events
            )
        };
        let statement = connection
            .statement(&sql)
            .map_err(|e| postgres_error(e, context()))?;
        let rows = connection
            .client
            .query(&statement, &params)
            .map_err(|e| postgres_error(e, context()))?;
        rows.iter().map(|row| stored_event(row, 0)).collect()
    }
}

fn stored_event(row: &postgres::Row, first: usize) -> Result<StoredEvent, PersistenceError> {
    let invalid = |e: postgres::Error| postgres_error(e, "can't read a stored event");
    let originator_id: Uuid = row.try_get(first).map_err(invalid)?;
    let version: i32 = row.try_get(first + 1).map_err(invalid)?;
    let topic: String = row.try_get(first + 2).map_err(invalid)?;
    let state: Vec<u8> = row.try_get(first + 3).map_err(invalid)?;
    Ok(StoredEvent {
        originator_id,
        originator_version: from_signed(i64::from(version), "originator_version")?,
        topic: topic.into(),
        state,
    })
}

/// The shared insert procedure: retries a connection failure before the commit, and after a
/// connection failure during the commit finds out whether the transaction committed, so that
/// nothing reported as saved is missing and nothing saved is reported as failed.
fn insert_with_retries(
    datastore: &PostgresDatastore,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<(), PersistenceError> {
    let mut attempt = 1;
    // Whether an earlier attempt may have committed (its connection failed mid-way).
    let mut maybe_committed = false;
    loop {
        let outcome = datastore
            .with_connection_once(|connection| Ok(tables.insert(connection, events, tracking)));
        let error = match outcome {
            Ok(Ok(())) => return Ok(()),
            // A conflict after an attempt that may have committed may be with that attempt.
            Ok(Err(InsertFailure::BeforeCommit(error)))
                if maybe_committed && error.is_integrity() =>
            {
                return match was_committed(datastore, tables, events, tracking) {
                    Ok(true) => Ok(()),
                    _ => Err(error),
                };
            }
            Err(error) | Ok(Err(InsertFailure::BeforeCommit(error))) => error,
            Ok(Err(InsertFailure::DuringCommit(error))) => {
                maybe_committed = true;
                match was_committed(datastore, tables, events, tracking) {
                    Ok(true) => return Ok(()),
                    Ok(false) => error,
                    // Can't tell yet (the server is still out of reach): the check's error
                    // decides whether to try again.
                    Err(check) => check,
                }
            }
        };
        if error.kind() != ErrorKind::Interface || attempt >= MAX_ATTEMPTS {
            return Err(error);
        }
        tracing::warn!(attempt, %error, "PostgreSQL connection failed; retrying the insert");
        attempt += 1;
        std::thread::sleep(jittered(RETRY_WAIT));
    }
}

/// Whether an insert whose commit was interrupted is in the database: its first event is there
/// with the same bytes (or, with no events, its tracking record is).
///
/// The server may still be committing it (the connection broke after the commit was sent, and
/// the commit is slow, for example waiting for a synchronous standby): until it ends, the
/// transaction holds its lock on the events table, so the check first waits for that lock.
/// Otherwise it would find nothing yet, the insert would be tried again and fail as a conflict
/// with itself, and a save that was stored would be reported as an integrity error.
fn was_committed(
    datastore: &PostgresDatastore,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<bool, PersistenceError> {
    datastore.with_connection(|connection| {
        let result = connection
            .client
            .batch_execute(&tables.wait_for_writers)
            .map_err(|e| postgres_error(e, format!("can't lock {}", tables.events)))
            .and_then(|()| find_insert(connection, tables, events, tracking));
        if !connection.client.is_closed() {
            let _ = connection.client.batch_execute("ROLLBACK");
        }
        result
    })
}

fn find_insert(
    connection: &mut Connection,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<bool, PersistenceError> {
    if let Some(first) = events.first() {
        let query = EventQuery::new()
            .gt(first.originator_version.saturating_sub(1))
            .lte(first.originator_version);
        let found = tables.select(connection, first.originator_id, &query)?;
        return Ok(found.first() == Some(first));
    }
    match (tracking.last(), &tables.tracking) {
        (Some(tracking), Some(table)) => {
            let sql =
                format!("SELECT 1 FROM {table} WHERE application_name=$1 AND notification_id=$2");
            let id = to_i64(tracking.notification_id, "notification_id")?;
            let rows = connection
                .client
                .query(&sql, &[&tracking.application_name, &id])
                .map_err(|e| postgres_error(e, "can't check the tracking record"))?;
            Ok(!rows.is_empty())
        }
        _ => Ok(true),
    }
}

/// Stores aggregates' events without a notification log: the recorder of snapshots (table
/// `{app}_snapshots`).
#[derive(Debug, Clone)]
pub struct PostgresAggregateRecorder {
    datastore: Arc<PostgresDatastore>,
    tables: Arc<Tables>,
}

impl PostgresAggregateRecorder {
    /// A recorder of the table `table_name`, created if it does not exist.
    pub fn new(
        datastore: Arc<PostgresDatastore>,
        table_name: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(&datastore, table_name, None)?;
        let table = &tables.events;
        datastore.create_tables(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid NOT NULL, \
             originator_version integer NOT NULL, topic text, state bytea, \
             PRIMARY KEY (originator_id, originator_version)) WITH (autovacuum_enabled=false);"
        ))?;
        Ok(PostgresAggregateRecorder {
            datastore,
            tables: Arc::new(tables),
        })
    }
}

impl AggregateRecorder for PostgresAggregateRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        if events.is_empty() {
            return Ok(());
        }
        insert_with_retries(&self.datastore, &self.tables, events, &[])
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.datastore
            .with_connection(|connection| self.tables.select(connection, originator_id, query))
    }
}

/// Stores an application's events with their notification ids, and tracking records: the
/// reference's application and process recorders in one (tables `{app}_events` and
/// `{app}_tracking`).
///
/// Notification ids come from a `BIGSERIAL` column. Inserts take an `EXCLUSIVE` lock on the
/// events table, so writers commit one at a time in id order and a reader tailing the log
/// never misses an event committed after one it has seen; readers are not blocked. A rolled
/// back insert leaves a gap in the ids.
#[derive(Debug, Clone)]
pub struct PostgresApplicationRecorder {
    /// The events table, which the application recorder reads and writes as an aggregate
    /// recorder does, plus notification ids and the tracking table.
    events: PostgresAggregateRecorder,
}

impl PostgresApplicationRecorder {
    /// A recorder of the tables `events_table` and `tracking_table`, created if they do not
    /// exist.
    pub fn new(
        datastore: Arc<PostgresDatastore>,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(&datastore, events_table, Some(tracking_table))?;
        let events = &tables.events;
        let index = format!("{events_table}_notification_id_idx");
        check_identifier(&index)?;
        let tracking = tables.tracking.as_deref().unwrap_or_default();
        datastore.create_tables(&format!(
            "CREATE TABLE IF NOT EXISTS {events} (originator_id uuid NOT NULL, \
             originator_version integer NOT NULL, topic text, state bytea, \
             notification_id BIGSERIAL, PRIMARY KEY (originator_id, originator_version)) \
             WITH (autovacuum_enabled=false); \
             CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {events} (notification_id ASC); \
             CREATE TABLE IF NOT EXISTS {tracking} (application_name text, notification_id bigint, \
             PRIMARY KEY (application_name, notification_id));"
        ))?;
        Ok(PostgresApplicationRecorder {
            events: PostgresAggregateRecorder {
                datastore,
                tables: Arc::new(tables),
            },
        })
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<PostgresDatastore> {
        &self.events.datastore
    }
}

impl AggregateRecorder for PostgresApplicationRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.events.insert_events(events)
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.events.select_events(originator_id, query)
    }
}

impl ApplicationRecorder for PostgresApplicationRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        let sql = format!(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} \
             WHERE notification_id >= $1 ORDER BY notification_id LIMIT $2",
            self.events.tables.events
        );
        // No id is above i64::MAX (the column is a BIGSERIAL).
        let Ok(start) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.events.datastore.with_connection(|connection| {
            let context = "can't select notifications";
            let statement = connection
                .statement(&sql)
                .map_err(|e| postgres_error(e, context))?;
            let rows = connection
                .client
                .query(&statement, &[&start, &limit])
                .map_err(|e| postgres_error(e, context))?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get(0).map_err(|e| postgres_error(e, context))?;
                    Ok(Notification {
                        id: from_signed(id, "notification id")?,
                        stored: stored_event(row, 1)?,
                    })
                })
                .collect()
        })
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        let sql = format!(
            "SELECT MAX(notification_id) FROM {}",
            self.events.tables.events
        );
        self.events.datastore.with_connection(|connection| {
            let context = "can't select the max notification id";
            let statement = connection
                .statement(&sql)
                .map_err(|e| postgres_error(e, context))?;
            let row = connection
                .client
                .query_one(&statement, &[])
                .map_err(|e| postgres_error(e, context))?;
            let max: Option<i64> = row.try_get(0).map_err(|e| postgres_error(e, context))?;
            from_signed(max.unwrap_or(0), "notification id")
        })
    }
}

impl ProcessRecorder for PostgresApplicationRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        insert_with_retries(
            &self.events.datastore,
            &self.events.tables,
            events,
            tracking,
        )
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        let table = self.events.tables.tracking.as_deref().unwrap_or_default();
        let sql = format!("SELECT MAX(notification_id) FROM {table} WHERE application_name=$1");
        self.events.datastore.with_connection(|connection| {
            let context = "can't select the tracking position";
            let statement = connection
                .statement(&sql)
                .map_err(|e| postgres_error(e, context))?;
            let row = connection
                .client
                .query_one(&statement, &[&application_name])
                .map_err(|e| postgres_error(e, context))?;
            let max: Option<i64> = row.try_get(0).map_err(|e| postgres_error(e, context))?;
            from_signed(max.unwrap_or(0), "notification id")
        })
    }
}
