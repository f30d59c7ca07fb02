//! The PostgreSQL backend's data-key table, for per-aggregate keys.

use std::sync::Arc;

use uuid::Uuid;

use super::datastore::{retrying, Connection, Core};
use super::error::postgres_error;
use super::recorder::PostgresApplicationRecorder;
use super::tables::{check_identifier, NewKeys};
use crate::persistence::{
    DataKeyRecorder, Forgetting, PersistenceError, Rewrap, StoredDataKey, StoredEvent, Tracking,
};

/// The data keys of a PostgreSQL application recorder's aggregates (per-aggregate keys): the
/// table `{app}_data_keys`, `(originator_id uuid PRIMARY KEY, data_key bytea)`, in the same
/// database and schema, written in the events' insert transactions (the same single round
/// trip). A forgotten aggregate's row keeps its id, with a `NULL` key.
///
/// It has the blocking face only (the application's async face does not yet take
/// per-aggregate keys).
#[derive(Clone)]
pub struct PostgresDataKeys {
    events: PostgresApplicationRecorder,
    core: Arc<Core>,
    /// The key table, with its schema.
    table: Arc<str>,
    /// The snapshots table, with its schema, if any.
    snapshots: Option<Arc<str>>,
}

impl std::fmt::Debug for PostgresDataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDataKeys")
            .field("table", &self.table)
            .field("snapshots", &self.snapshots)
            .finish_non_exhaustive()
    }
}

impl PostgresDataKeys {
    /// The data keys of `events`' aggregates, in the table `table` (created if it does not
    /// exist); forgetting removes snapshots from the table `snapshots`, if given (both in the
    /// schema of `events`' datastore).
    pub fn new(
        events: &PostgresApplicationRecorder,
        table: &str,
        snapshots: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_identifier(table)?;
        if let Some(snapshots) = snapshots {
            check_identifier(snapshots)?;
        }
        let datastore = events.datastore();
        let core = Arc::clone(datastore.core());
        let qualified: Arc<str> = core.qualified(table).into();
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {qualified} (originator_id uuid PRIMARY KEY, \
             data_key bytea);"
        );
        let creator = Arc::clone(&core);
        datastore.block_on(async move { creator.create_tables(&ddl).await })?;
        Self::of_existing_table(events, table, snapshots)
    }

    /// The data keys of `events`' aggregates in the table `table`, which is not created: for
    /// tools that read a store without changing it
    /// ([`PostgresInspector`](super::PostgresInspector)). Forgetting removes snapshots from
    /// the table `snapshots`, if given (both in the schema of `events`' datastore).
    pub fn of_existing_table(
        events: &PostgresApplicationRecorder,
        table: &str,
        snapshots: Option<&str>,
    ) -> Result<Self, PersistenceError> {
        check_identifier(table)?;
        if let Some(snapshots) = snapshots {
            check_identifier(snapshots)?;
        }
        let core = Arc::clone(events.datastore().core());
        Ok(PostgresDataKeys {
            events: events.clone(),
            snapshots: snapshots.map(|s| core.qualified(s).into()),
            table: core.qualified(table).into(),
            core,
        })
    }

    fn block_on<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, PersistenceError>> + Send + 'static,
    ) -> Result<T, PersistenceError> {
        self.events.datastore().block_on(work)
    }
}

/// A row of a data-key table: `(originator_id uuid, data_key bytea)`.
pub(super) fn stored_key(row: &tokio_postgres::Row) -> Result<StoredDataKey, PersistenceError> {
    let context = "can't read a data key";
    Ok(StoredDataKey {
        originator_id: row.try_get(0).map_err(|e| postgres_error(e, context))?,
        wrapped: row.try_get(1).map_err(|e| postgres_error(e, context))?,
    })
}

/// Runs `work` in a transaction on a connection of the pool: committed if it succeeds, rolled
/// back otherwise.
async fn in_transaction<T>(
    core: &Core,
    context: &str,
    work: impl AsyncFnOnce(&Connection) -> Result<T, PersistenceError>,
) -> Result<T, PersistenceError> {
    let mut connection = core.connection().await?;
    connection
        .begin("BEGIN")
        .await
        .map_err(|e| postgres_error(e, context))?;
    match work(&connection).await {
        Ok(value) => {
            connection
                .client()
                .batch_execute("COMMIT")
                .await
                .map_err(|e| postgres_error(e, context))?;
            connection.committed();
            Ok(value)
        }
        Err(error) => {
            connection.rollback().await;
            Err(error)
        }
    }
}

impl DataKeyRecorder for PostgresDataKeys {
    fn insert_events_with_keys(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: &[StoredDataKey],
    ) -> Result<(), PersistenceError> {
        let keys = NewKeys {
            table: Arc::clone(&self.table),
            rows: keys.to_vec(),
        };
        self.events.insert_with_keys(events, tracking, keys)
    }

    fn select_data_keys(
        &self,
        originator_ids: &[Uuid],
    ) -> Result<Vec<StoredDataKey>, PersistenceError> {
        let core = Arc::clone(&self.core);
        let sql = format!(
            "SELECT originator_id, data_key FROM {} WHERE originator_id = ANY($1)",
            self.table
        );
        let ids = originator_ids.to_vec();
        self.block_on(async move {
            retrying(|| async {
                let connection = core.connection().await?;
                let rows = connection
                    .client()
                    .query(&sql, &[&ids])
                    .await
                    .map_err(|e| postgres_error(e, "can't select data keys"))?;
                rows.iter().map(stored_key).collect()
            })
            .await
        })
    }

    fn forget_data_key(&self, originator_id: Uuid) -> Result<Forgetting, PersistenceError> {
        let core = Arc::clone(&self.core);
        let table = Arc::clone(&self.table);
        let snapshots = self.snapshots.clone();
        self.block_on(async move {
            let context = format!("can't forget the data key of {originator_id}");
            in_transaction(&core, &context, async |connection: &Connection| {
                let client = connection.client();
                let error = |e| postgres_error(e, context.clone());
                let found = client
                    .query_opt(
                        &format!(
                            "SELECT data_key IS NULL FROM {table} WHERE originator_id=$1 \
                             FOR UPDATE"
                        ),
                        &[&originator_id],
                    )
                    .await
                    .map_err(error)?;
                let forgetting = match found {
                    None => return Ok(Forgetting::Unknown),
                    Some(row) => match row.try_get::<_, bool>(0).map_err(error)? {
                        true => Forgetting::AlreadyForgotten,
                        false => Forgetting::Forgotten,
                    },
                };
                client
                    .execute(
                        &format!("UPDATE {table} SET data_key=NULL WHERE originator_id=$1"),
                        &[&originator_id],
                    )
                    .await
                    .map_err(error)?;
                if let Some(snapshots) = &snapshots {
                    client
                        .execute(
                            &format!("DELETE FROM {snapshots} WHERE originator_id=$1"),
                            &[&originator_id],
                        )
                        .await
                        .map_err(error)?;
                }
                Ok(forgetting)
            })
            .await
        })
    }

    fn rewrap_data_keys(&self, rewrap: Rewrap<'_>) -> Result<u64, PersistenceError> {
        // One transaction holds the keys' row locks from the select to the commit; the keys
        // are re-encrypted here, between its two round trips (`rewrap` is not `'static`, so it
        // can't be moved into the datastore's runtime).
        const CONTEXT: &str = "can't re-encrypt the data keys";
        let core = Arc::clone(&self.core);
        let select = format!(
            "SELECT originator_id, data_key FROM {} WHERE data_key IS NOT NULL FOR UPDATE",
            self.table
        );
        let (connection, rows) = self.block_on(async move {
            let mut connection = core.connection().await?;
            connection
                .begin("BEGIN")
                .await
                .map_err(|e| postgres_error(e, CONTEXT))?;
            let rows = match connection.client().query(&select, &[]).await {
                Ok(rows) => rows,
                Err(e) => {
                    connection.rollback().await;
                    return Err(postgres_error(e, CONTEXT));
                }
            };
            let rows = rows.iter().map(stored_key).collect::<Result<Vec<_>, _>>();
            Ok((connection, rows))
        })?;
        let rewrapped = rows.and_then(|rows| {
            rows.into_iter()
                .filter_map(|row| row.wrapped.map(|w| (row.originator_id, w)))
                .map(|(id, wrapped)| Ok((id, rewrap(&wrapped)?)))
                .collect::<Result<Vec<(Uuid, Vec<u8>)>, PersistenceError>>()
        });
        let update = format!(
            "UPDATE {} SET data_key=$2 WHERE originator_id=$1",
            self.table
        );
        self.block_on(async move {
            let mut connection = connection;
            let rewrapped = match rewrapped {
                Ok(rewrapped) => rewrapped,
                Err(error) => {
                    connection.rollback().await;
                    return Err(error);
                }
            };
            for (id, wrapped) in &rewrapped {
                if let Err(e) = connection.client().execute(&update, &[id, wrapped]).await {
                    connection.rollback().await;
                    return Err(postgres_error(e, CONTEXT));
                }
            }
            connection
                .client()
                .batch_execute("COMMIT")
                .await
                .map_err(|e| postgres_error(e, CONTEXT))?;
            connection.committed();
            Ok(rewrapped.len() as u64)
        })
    }
}
