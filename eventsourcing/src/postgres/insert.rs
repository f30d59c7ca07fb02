//! The insert procedure: one transaction in one round trip, retried on a new connection when
//! its connection fails before the commit, and checked for whether it committed when its
//! connection fails during the commit.

use super::datastore::{jittered, retrying, Connection, Core, MAX_ATTEMPTS, RETRY_WAIT};
use super::error::postgres_error;
use super::tables::{to_i64, InsertFailure, NewKeys, Tables};
use crate::persistence::{ErrorKind, EventQuery, PersistenceError, StoredEvent, Tracking};

/// Inserts `events`, `tracking` and new data keys in one transaction: retries a connection failure before the
/// commit, and after a connection failure during the commit finds out whether the transaction
/// committed, so that nothing reported as saved is missing and nothing saved is reported as
/// failed.
///
/// Cancellation (the future dropped before it completes): the transaction is one message,
/// which the server runs whole or not at all, so the batch is stored entirely or not at all;
/// and a connection dropped while its transaction's answer is awaited is closed rather than
/// given back to the pool (see [`Connection`]).
pub(super) async fn insert_with_retries(
    core: &Core,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
    keys: Option<&NewKeys>,
) -> Result<(), PersistenceError> {
    let sql = tables.insert_sql(events, tracking, keys)?;
    let mut attempt = 1;
    // Whether an earlier attempt may have committed (its connection failed mid-way).
    let mut maybe_committed = false;
    loop {
        let outcome = match core.connection().await {
            Ok(mut connection) => tables.insert(&mut connection, &sql, events).await,
            Err(error) => Err(InsertFailure::BeforeCommit(error)),
        };
        let error = match outcome {
            Ok(()) => return Ok(()),
            // A conflict after an attempt that may have committed may be with that attempt.
            Err(InsertFailure::BeforeCommit(error)) if maybe_committed && error.is_integrity() => {
                return match was_committed(core, tables, events, tracking).await {
                    Ok(true) => Ok(()),
                    _ => Err(error),
                };
            }
            Err(InsertFailure::BeforeCommit(error)) => error,
            Err(InsertFailure::DuringCommit(error)) => {
                maybe_committed = true;
                match was_committed(core, tables, events, tracking).await {
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
        tokio::time::sleep(jittered(RETRY_WAIT)).await;
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
async fn was_committed(
    core: &Core,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<bool, PersistenceError> {
    retrying(|| check_committed(core, tables, events, tracking)).await
}

async fn check_committed(
    core: &Core,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<bool, PersistenceError> {
    let mut connection = core.connection().await?;
    let result = match connection.begin(&tables.wait_for_writers).await {
        Ok(()) => find_insert(&connection, tables, events, tracking).await,
        Err(error) => Err(postgres_error(
            error,
            format!("can't lock {}", tables.events),
        )),
    };
    connection.rollback().await;
    result
}

async fn find_insert(
    connection: &Connection,
    tables: &Tables,
    events: &[StoredEvent],
    tracking: &[Tracking],
) -> Result<bool, PersistenceError> {
    if let Some(first) = events.first() {
        let query = EventQuery::new()
            .gt(first.originator_version.saturating_sub(1))
            .lte(first.originator_version);
        let found = tables
            .select(connection, first.originator_id, &query)
            .await?;
        return Ok(found.first() == Some(first));
    }
    match (tracking.last(), &tables.tracking) {
        (Some(tracking), Some(table)) => {
            let sql =
                format!("SELECT 1 FROM {table} WHERE application_name=$1 AND notification_id=$2");
            let id = to_i64(tracking.notification_id, "notification_id")?;
            let rows = connection
                .client()
                .query(&sql, &[&tracking.application_name, &id])
                .await
                .map_err(|e| postgres_error(e, "can't check the tracking record"))?;
            Ok(!rows.is_empty())
        }
        _ => Ok(true),
    }
}
