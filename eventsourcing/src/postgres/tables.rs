//! The SQL of one application's tables, and the statements the recorders run on a connection.

use std::sync::Arc;

use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::conflict;
use super::datastore::{Connection, Core};
use super::error::{kind, postgres_error};
use crate::persistence::{ErrorKind, EventQuery, PersistenceError, StoredEvent, Tracking};

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

pub(super) fn to_i64(value: u64, what: &str) -> Result<i64, PersistenceError> {
    i64::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("{what} {value} is out of range for PostgreSQL"),
        )
    })
}

pub(super) fn from_signed(value: i64, what: &str) -> Result<u64, PersistenceError> {
    u64::try_from(value).map_err(|_| {
        PersistenceError::database(
            ErrorKind::Data,
            format!("stored {what} {value} is negative"),
        )
    })
}

/// Data keys to insert with events (per-aggregate keys): the key table (qualified) and rows.
#[derive(Debug, Clone)]
pub(super) struct NewKeys {
    pub(super) table: Arc<str>,
    pub(super) rows: Vec<crate::persistence::StoredDataKey>,
}

/// Why an insert failed: before the commit was sent (nothing was written), or while
/// committing (it may or may not have been written).
pub(super) enum InsertFailure {
    BeforeCommit(PersistenceError),
    DuringCommit(PersistenceError),
}

/// The SQL of one events table (and, for applications, its tracking table).
#[derive(Debug)]
pub(super) struct Tables {
    /// The events table's name, as the server names it in errors (without the schema).
    events_name: String,
    /// The events table, with its schema.
    pub(super) events: String,
    /// The tracking table, with its schema (applications only).
    pub(super) tracking: Option<String>,
    insert: String,
    lock: String,
    /// `NOTIFY` of the events table's channel (application tables only).
    notify: Option<String>,
    /// Begins a transaction that waits for the transactions inserting now to end.
    pub(super) wait_for_writers: String,
    select_notifications: String,
    select_notifications_of: String,
    max_notification_id: String,
    max_tracking_id: String,
    /// The tracking table's shape, read when the recorder is made (new tables: single-row).
    pub(super) tracking_shape: TrackingShape,
}

pub(crate) use crate::persistence::{TrackingShape, MIGRATION_ROW};

impl Tables {
    pub(super) fn new(
        core: &Core,
        events: &str,
        tracking: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_identifier(events)?;
        if let Some(tracking) = tracking {
            check_identifier(tracking)?;
        }
        if let Some(schema) = &core.settings().schema {
            check_identifier(schema)?;
        }
        let events_name = events.to_string();
        let events = core.qualified(events);
        let tracking = tracking.map(|t| core.qualified(t));
        let lock_timeout = core.settings().lock_timeout;
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
            select_notifications: format!(
                "SELECT notification_id, originator_id, originator_version::bigint, topic, state \
                 FROM {events} WHERE notification_id >= $1 ORDER BY notification_id LIMIT $2"
            ),
            select_notifications_of: format!(
                "SELECT notification_id, originator_id, originator_version::bigint, topic, state \
                 FROM {events} WHERE notification_id >= $1 AND topic = ANY($3) \
                 ORDER BY notification_id LIMIT $2"
            ),
            // The channel is the table's name, as the reference's: its subscribers and ours
            // wake on each other's commits.
            notify: tracking.is_some().then(|| format!("NOTIFY {events_name};")),
            max_notification_id: format!("SELECT MAX(notification_id) FROM {events}"),
            max_tracking_id: format!(
                "SELECT MAX(notification_id) FROM {} WHERE application_name=$1",
                tracking.as_deref().unwrap_or_default()
            ),
            tracking,
            events_name,
            events,
            tracking_shape: TrackingShape::SingleRow,
        })
    }

    /// The whole insert transaction of `events` (and `tracking`), as one simple query.
    ///
    /// Begin, lock, insert the events, check and insert the tracking record, commit: one
    /// message, as the reference sends its pages of `EXECUTE` statements. Round trips cost more
    /// than the statements here, so this makes a save about as fast as the commit itself.
    /// Values are written as hex literals (`decode('…', 'hex')`), so no stored byte can end up
    /// as SQL.
    pub(super) fn insert_sql(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: Option<&NewKeys>,
    ) -> Result<String, PersistenceError> {
        let size: usize = events
            .iter()
            .map(|e| 2 * (e.topic.len() + e.state.len()) + 120)
            .sum();
        let mut sql = String::with_capacity(self.lock.len() + size + 400);
        sql.push_str(&self.lock);
        if let (false, Some(notify)) = (events.is_empty(), &self.notify) {
            // Delivered when the transaction commits, and not if it rolls back.
            sql.push_str(notify);
        }
        if !events.is_empty() {
            sql.push_str(&self.insert);
            for (i, event) in events.iter().enumerate() {
                let version = to_i64(event.originator_version, "originator_version")?;
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
                let id = to_i64(record.notification_id, "notification_id")?;
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
                     INSERT INTO {table} (application_name, notification_id) VALUES ({name}, {id})"
                ));
                sql.push_str(match self.tracking_shape {
                    TrackingShape::MultiRow => ";",
                    TrackingShape::SingleRow => {
                        " ON CONFLICT (application_name) DO UPDATE \
                         SET notification_id = EXCLUDED.notification_id;"
                    }
                });
            }
        }
        if let Some(keys) = keys.filter(|keys| !keys.rows.is_empty()) {
            // After the events: a save that lost a race is refused as the version conflict
            // it is, on the events table.
            sql.push_str(&format!(
                "INSERT INTO {} (originator_id, data_key) VALUES ",
                keys.table
            ));
            for (i, key) in keys.rows.iter().enumerate() {
                sql.push_str(if i == 0 { "('" } else { ",('" });
                sql.push_str(
                    key.originator_id
                        .hyphenated()
                        .encode_lower(&mut Uuid::encode_buffer()),
                );
                match &key.wrapped {
                    Some(wrapped) => {
                        sql.push_str("',decode('");
                        push_hex(&mut sql, wrapped);
                        sql.push_str("','hex'))");
                    }
                    None => sql.push_str("',NULL)"),
                }
            }
            sql.push(';');
        }
        sql.push_str("COMMIT;");
        Ok(sql)
    }

    /// Runs the insert transaction `sql` (of `events`) on `connection`, in one round trip.
    pub(super) async fn insert(
        &self,
        connection: &mut Connection,
        sql: &str,
        events: &[StoredEvent],
    ) -> Result<(), InsertFailure> {
        match connection.transaction(sql).await {
            Ok(()) => Ok(()),
            // The server answered with an error (other than ending the session, which can
            // come after the commit): the transaction did not commit, and was rolled back.
            Err(error) if error.code().is_some() && kind(&error) != ErrorKind::Interface => {
                let conflict =
                    conflict::conflict(connection, &self.events_name, &self.events, &error, events)
                        .await;
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

    pub(super) async fn select(
        &self,
        connection: &Connection,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut sql = format!(
            "SELECT originator_id, originator_version::bigint, topic, state FROM {} WHERE \
             originator_id = $1",
            self.events
        );
        // Versions are bigint (int4 in tables made by earlier releases; the bounds are cast): a
        // bound beyond that range selects as the largest one.
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let gt = query.gt.map(clamp);
        let lte = query.lte.map(clamp);
        let limit = query.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&originator_id];
        if let Some(gt) = &gt {
            params.push(gt);
            sql.push_str(&format!(
                " AND originator_version > ${}::bigint",
                params.len()
            ));
        }
        if let Some(lte) = &lte {
            params.push(lte);
            sql.push_str(&format!(
                " AND originator_version <= ${}::bigint",
                params.len()
            ));
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
        let rows = query_cached(connection, &sql, &params)
            .await
            .map_err(|e| postgres_error(e, context()))?;
        rows.iter().map(|row| stored_event(row, 0)).collect()
    }

    /// The events table's name, without its schema: its `NOTIFY` channel.
    pub(super) fn channel(&self) -> &str {
        &self.events_name
    }

    pub(super) async fn select_notifications(
        &self,
        connection: &Connection,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<crate::persistence::Notification>, PersistenceError> {
        // No id is above i64::MAX (the column is a BIGSERIAL).
        let Ok(start) = i64::try_from(start) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let context = "can't select notifications";
        let rows = if topics.is_empty() {
            query_cached(connection, &self.select_notifications, &[&start, &limit]).await
        } else {
            query_cached(
                connection,
                &self.select_notifications_of,
                &[&start, &limit, &topics],
            )
            .await
        }
        .map_err(|e| postgres_error(e, context))?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get(0).map_err(|e| postgres_error(e, context))?;
                Ok(crate::persistence::Notification {
                    id: from_signed(id, "notification id")?,
                    stored: stored_event(row, 1)?,
                })
            })
            .collect()
    }

    pub(super) async fn max_notification_id(
        &self,
        connection: &Connection,
    ) -> Result<u64, PersistenceError> {
        max_id(
            connection,
            &self.max_notification_id,
            &[],
            "can't select the max notification id",
        )
        .await
    }

    pub(super) async fn max_tracking_id(
        &self,
        connection: &Connection,
        application_name: &str,
    ) -> Result<u64, PersistenceError> {
        max_id(
            connection,
            &self.max_tracking_id,
            &[&application_name],
            "can't select the tracking position",
        )
        .await
    }
}

/// Runs `sql` as a statement prepared once per connection.
async fn query_cached(
    connection: &Connection,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let statement = connection.client().prepare_cached(sql).await?;
    connection.client().query(&statement, params).await
}

/// The one value of `sql`, a `MAX` of ids (0 when there are none).
async fn max_id(
    connection: &Connection,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    context: &str,
) -> Result<u64, PersistenceError> {
    let rows = query_cached(connection, sql, params)
        .await
        .map_err(|e| postgres_error(e, context))?;
    let max: Option<i64> = match rows.first() {
        Some(row) => row.try_get(0).map_err(|e| postgres_error(e, context))?,
        None => None,
    };
    from_signed(max.unwrap_or(0), "notification id")
}

fn stored_event(row: &tokio_postgres::Row, first: usize) -> Result<StoredEvent, PersistenceError> {
    let invalid = |e: tokio_postgres::Error| postgres_error(e, "can't read a stored event");
    let originator_id: Uuid = row.try_get(first).map_err(invalid)?;
    let version: i64 = row.try_get(first + 1).map_err(invalid)?;
    let topic: String = row.try_get(first + 2).map_err(invalid)?;
    let state: Vec<u8> = row.try_get(first + 3).map_err(invalid)?;
    Ok(StoredEvent {
        originator_id,
        originator_version: from_signed(version, "originator_version")?,
        topic: topic.into(),
        state,
    })
}
