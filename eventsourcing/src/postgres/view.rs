//! [`PostgresView`]: a materialised view in a PostgreSQL database, with its own tracking table.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use tokio_postgres::types::ToSql;

use super::datastore::{Core, PostgresDatastore};
use super::error::postgres_error;
use super::listener::Listener;
use super::tables::{check_identifier, to_i64};
use crate::domain::BoxError;
use crate::persistence::{CommitSignal, PersistenceError, Tracking, View, ViewError};

/// A value of a statement's parameter in a [`PostgresViewTransaction`], owned until the
/// transaction is sent.
pub type Param = Box<dyn ToSql + Send + Sync>;

/// A value as a [`Param`].
pub fn param(value: impl ToSql + Send + Sync + 'static) -> Param {
    Box::new(value)
}

/// A materialised view in a PostgreSQL database (which may be another one than the
/// application's): the view's own tables, which a projection writes with SQL statements, and a
/// tracking table (`{name}_tracking`) written in the same transaction.
///
/// A projection's work collects the statements of its batch ([`PostgresViewTransaction`]);
/// the view then sends them with the tracking record in one transaction, on one connection of
/// the datastore's pool. The view's commits `NOTIFY` its tracking table's channel, so that
/// waiting for a position (`ProjectionRunner::wait`) is woken from other processes too.
///
/// Its methods block (it implements [`View`]): its datastore must be made with
/// [`PostgresDatastore::new`], whose runtime of its own runs them from any thread.
///
/// ```no_run
/// use std::sync::Arc;
/// use eventsourcing::persistence::{Tracking, View};
/// use eventsourcing::postgres::{param, PostgresDatastore, PostgresSettings, PostgresView};
///
/// let settings = PostgresSettings::new("views", "127.0.0.1", "eventsourcing", "secret");
/// let view = PostgresView::new(Arc::new(PostgresDatastore::new(settings)?), "dogcounts")?;
/// view.execute_batch(
///     "CREATE TABLE IF NOT EXISTS dog_event_counts (dog_id uuid PRIMARY KEY, events bigint)",
/// )?;
/// view.transact(&Tracking::new("DogSchool", 1), |tx| {
///     tx.execute(
///         "INSERT INTO dog_event_counts VALUES ($1, 1) \
///          ON CONFLICT (dog_id) DO UPDATE SET events = dog_event_counts.events + 1",
///         vec![param(uuid::Uuid::new_v4())],
///     );
///     Ok(())
/// })?;
/// assert_eq!(view.max_tracking_id("DogSchool")?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PostgresView {
    datastore: Arc<PostgresDatastore>,
    tracking_table: Arc<str>,
    listener: Arc<Listener>,
    /// `SET LOCAL search_path …;` for a datastore with a schema: the view's statements name
    /// its tables without the schema.
    search_path: Arc<str>,
}

/// What a projection writes a [`PostgresView`] with: the statements of its batch, sent with the
/// tracking record when the batch's work is done.
#[derive(Default)]
pub struct PostgresViewTransaction {
    statements: Vec<(String, Vec<Param>)>,
}

impl std::fmt::Debug for PostgresViewTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresViewTransaction")
            .field("statements", &self.statements.len())
            .finish()
    }
}

impl PostgresViewTransaction {
    /// Adds a statement (`$1`, `$2`, … are `params`) to the transaction.
    pub fn execute(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.statements.push((sql.into(), params));
    }

    /// How many statements it holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether it holds no statement.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

impl PostgresView {
    /// The view `name` in `datastore`'s database: its tracking table `{name}_tracking` is created
    /// if it does not exist (the view's own tables are the projection's to create).
    pub fn new(datastore: Arc<PostgresDatastore>, name: &str) -> Result<Self, PersistenceError> {
        let table = format!("{name}_tracking");
        check_identifier(&table)?;
        let core = Arc::clone(datastore.core());
        let tracking_table: Arc<str> = core.qualified(&table).into();
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {tracking_table} (application_name text, \
             notification_id bigint, PRIMARY KEY (application_name, notification_id));"
        );
        let search_path = match &datastore.settings().schema {
            Some(schema) => format!("SET LOCAL search_path TO {schema}, public;"),
            None => String::new(),
        };
        datastore.block_on(async move { core.create_tables(&ddl).await })?;
        Ok(PostgresView {
            datastore,
            tracking_table,
            listener: Arc::new(Listener::new(&table)),
            search_path: search_path.into(),
        })
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<PostgresDatastore> {
        &self.datastore
    }

    /// Runs statements in a transaction of their own (creating the view's tables, say), with
    /// the datastore's schema first on the search path.
    pub fn execute_batch(&self, sql: &str) -> Result<(), PersistenceError> {
        let core = Arc::clone(self.datastore.core());
        let sql = format!("BEGIN; {} {sql}; COMMIT;", self.search_path);
        self.datastore.block_on(async move {
            let mut connection = core.connection().await?;
            connection
                .transaction(&sql)
                .await
                .map_err(|e| postgres_error(e, "can't execute the view's statements"))
        })
    }

    /// Reads the view: the rows `sql` selects (with `params`), with the datastore's schema
    /// first on the search path.
    pub fn query(
        &self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, PersistenceError> {
        let core = Arc::clone(self.datastore.core());
        let sql = sql.to_string();
        let begin = format!("BEGIN READ ONLY; {}", self.search_path);
        self.datastore.block_on(async move {
            let mut connection = core.connection().await?;
            let rows = async {
                connection.begin(&begin).await?;
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                connection.client().query(&sql, &refs).await
            }
            .await;
            connection.rollback().await;
            rows.map_err(|e| postgres_error(e, "can't read the view"))
        })
    }
}

/// Sends the batch's statements and the tracking record in one transaction.
async fn commit(
    core: Arc<Core>,
    tracking_table: Arc<str>,
    search_path: Arc<str>,
    channel: String,
    tracking: Tracking,
    statements: Vec<(String, Vec<Param>)>,
) -> Result<(), PersistenceError> {
    let id = to_i64(tracking.notification_id, "notification_id")?;
    let mut connection = core.connection().await?;
    // Positions never move backwards: a record at or below the view's position is refused as a
    // duplicate would be, and nothing of the batch is written.
    let begin = format!(
        "BEGIN; {search_path} DO $es$ BEGIN IF COALESCE((SELECT MAX(notification_id) FROM {tracking_table} \
         WHERE application_name = {name}), 0) >= {id} THEN RAISE EXCEPTION USING \
         ERRCODE = 'unique_violation', MESSAGE = 'tracking {id} is not after the view''s \
         position'; END IF; END $es$; \
         INSERT INTO {tracking_table} (application_name, notification_id) VALUES ({name}, {id}); \
         NOTIFY {channel};",
        name = quote_literal(&tracking.application_name),
    );
    let outcome = async {
        connection
            .begin(&begin)
            .await
            .map_err(|e| postgres_error(e, "can't record the view's position"))?;
        // Each distinct statement prepared once (cached on the connection), then all of them
        // sent at once and their answers awaited in order: the client pipelines requests that
        // are polled together, so a batch costs about one round trip instead of one per
        // statement. The server runs them in the order sent; after a failure the next ones
        // fail too (the transaction is aborted), and the first failure is reported.
        let client = connection.client();
        let mut prepared = Vec::with_capacity(statements.len());
        for (sql, _) in &statements {
            let statement = match prepared.iter().find(|(text, _)| *text == sql.as_str()) {
                Some((_, statement)) => tokio_postgres::Statement::clone(statement),
                None => client
                    .prepare_cached(sql)
                    .await
                    .map_err(|e| postgres_error(e, "can't prepare a view statement"))?,
            };
            prepared.push((sql.as_str(), statement));
        }
        let executions = prepared
            .iter()
            .zip(&statements)
            .map(|((_, statement), (_, params))| {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                let statement = statement.clone();
                async move { client.execute(&statement, &refs).await }
            })
            .collect();
        for result in in_order(executions).await {
            result.map_err(|e| postgres_error(e, "a view statement failed"))?;
        }
        connection
            .client()
            .batch_execute("COMMIT")
            .await
            .map_err(|e| postgres_error(e, "can't commit the view's transaction"))
    }
    .await;
    match outcome {
        Ok(()) => {
            connection.committed();
            Ok(())
        }
        Err(error) => {
            connection.rollback().await;
            Err(error)
        }
    }
}

/// Polls `futures` together (the first poll of each in order, so that requests are sent in
/// order) until all are done, and returns their outputs in order.
async fn in_order<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// `value` as an SQL string literal.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl View for PostgresView {
    type Transaction<'a> = PostgresViewTransaction;

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        let core = Arc::clone(self.datastore.core());
        let sql = format!(
            "SELECT MAX(notification_id) FROM {} WHERE application_name=$1",
            self.tracking_table
        );
        let name = application_name.to_string();
        self.datastore.block_on(async move {
            let connection = core.connection().await?;
            let row = connection
                .client()
                .query_one(&sql, &[&name])
                .await
                .map_err(|e| postgres_error(e, "can't select the view's position"))?;
            let max: Option<i64> = row
                .try_get(0)
                .map_err(|e| postgres_error(e, "can't read the view's position"))?;
            u64::try_from(max.unwrap_or(0)).map_err(|_| {
                PersistenceError::database(
                    crate::persistence::ErrorKind::Data,
                    "the view's tracking table holds a negative notification id",
                )
            })
        })
    }

    fn transact<R>(
        &self,
        tracking: &Tracking,
        work: impl FnOnce(&mut PostgresViewTransaction) -> Result<R, BoxError>,
    ) -> Result<R, ViewError> {
        let mut transaction = PostgresViewTransaction::default();
        let value = work(&mut transaction).map_err(ViewError::Projection)?;
        let core = Arc::clone(self.datastore.core());
        let channel = self
            .tracking_table
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        self.datastore.block_on(commit(
            core,
            Arc::clone(&self.tracking_table),
            Arc::clone(&self.search_path),
            channel,
            tracking.clone(),
            transaction.statements,
        ))?;
        self.listener.committed();
        Ok(value)
    }

    fn commit_signal(&self) -> CommitSignal {
        self.listener
            .signal(self.datastore.core(), self.datastore.runtime())
    }
}
