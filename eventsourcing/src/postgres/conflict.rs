//! Which event an insert that lost a race conflicted with, from PostgreSQL's unique violation.

use std::collections::HashSet;

use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::datastore::Connection;
use crate::persistence::{PersistenceError, StoredEvent};

/// The conflict an insert of `events` failed with, if `error` is the key of the events table
/// `table_name` (`table` with its schema) refusing one of them.
///
/// The server names the refused key in the error's detail, `Key (originator_id,
/// originator_version)=(…, 3) already exists.`; the key's part is not translated with the
/// server's messages. Where the detail does not say (the server leaves the values out when
/// row-level security applies to the table, or the role may not read the key's columns), the
/// batch is compared with the table: this costs a round trip, but only on this failure path.
pub(super) async fn conflict(
    connection: &Connection,
    table_name: &str,
    table: &str,
    error: &tokio_postgres::Error,
    events: &[StoredEvent],
) -> Option<PersistenceError> {
    let db = error.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION || db.table() != Some(table_name) {
        return None;
    }
    let in_detail = db
        .detail()
        .and_then(key_in_detail)
        .filter(|&(id, version)| {
            events
                .iter()
                .any(|e| e.originator_id == id && e.originator_version == version)
        });
    let (originator_id, originator_version) = match in_detail {
        Some(key) => key,
        None => first_conflict(connection, table, events).await?,
    };
    Some(PersistenceError::Conflict {
        originator_id,
        originator_version,
    })
}

/// The first event of `events` whose version is stored already, or earlier in the batch.
async fn first_conflict(
    connection: &Connection,
    table: &str,
    events: &[StoredEvent],
) -> Option<(Uuid, u64)> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.originator_id).collect();
    let versions: Vec<i64> = events
        .iter()
        .map(|e| i64::try_from(e.originator_version).ok())
        .collect::<Option<_>>()?;
    let sql = format!(
        "SELECT originator_id, originator_version::bigint FROM {table} WHERE (originator_id, \
         originator_version) IN (SELECT * FROM unnest($1::uuid[], $2::int8[]))"
    );
    let stored: HashSet<(Uuid, i64)> = connection
        .client()
        .query(&sql, &[&ids, &versions])
        .await
        .ok()?
        .iter()
        .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
        .collect();
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .zip(versions)
        .find(|&(event, version)| {
            let key = (event.originator_id, version);
            stored.contains(&key) || !seen.insert(key)
        })
        .map(|(event, _)| (event.originator_id, event.originator_version))
}

/// The (originator id, version) in a unique violation's detail, `Key (originator_id,
/// originator_version)=(…, 3) already exists.` (the text around the key may be translated).
fn key_in_detail(detail: &str) -> Option<(Uuid, u64)> {
    const KEY: &str = "(originator_id, originator_version)=(";
    let values = &detail[detail.find(KEY)? + KEY.len()..];
    let (values, _) = values.split_once(')')?;
    let (id, version) = values.split_once(',')?;
    Some((
        Uuid::parse_str(id.trim()).ok()?,
        version.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_read_from_a_unique_violations_detail() {
        let id = Uuid::new_v4();
        assert_eq!(
            key_in_detail(&format!(
                "Key (originator_id, originator_version)=({id}, 3) already exists."
            )),
            Some((id, 3))
        );
        // Translated.
        assert_eq!(
            key_in_detail(&format!(
                "Schl\u{fc}ssel \u{bb}(originator_id, originator_version)=({id}, 12)\u{ab} existiert bereits."
            )),
            Some((id, 12))
        );
        for detail in [
            "Key (application_name, notification_id)=(Worlds, 3) already exists.",
            "Key (originator_id, originator_version)=(not-a-uuid, 3) already exists.",
            "Key (originator_id, originator_version)=(",
            "",
        ] {
            assert_eq!(key_in_detail(detail), None, "{detail}");
        }
    }
}
