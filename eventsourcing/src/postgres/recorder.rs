//! PostgreSQL aggregate and application (process) recorders, with both faces: the async
//! methods are the implementation, and the blocking ones run the same futures on the
//! datastore's runtime.

use std::future::{ready, Future};
use std::sync::Arc;

use uuid::Uuid;

use super::combine::{Combiner, Target};
use super::datastore::{retrying, Core, PostgresDatastore};
use super::insert::insert_with_retries;
use super::listener::Listener;
use super::tables::{check_identifier, Tables};
use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
    AsyncProcessRecorder, BoxFuture, CommitSignal, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};

/// The recorders' operations, as futures that own what they use (so that either face can run
/// them: awaited in the caller's task, spawned on the datastore's runtime, or blocked on).
#[derive(Clone)]
struct Store {
    core: Arc<Core>,
    tables: Arc<Tables>,
    /// The commit signal and its listener (application recorders only).
    listener: Option<Arc<Listener>>,
    /// The queue of concurrent inserts without tracking records, which share transactions.
    combiner: Arc<Combiner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

impl Store {
    fn new(datastore: &PostgresDatastore, tables: Tables) -> Self {
        let listener = tables
            .tracking
            .is_some()
            .then(|| Arc::new(Listener::new(tables.channel())));
        Store {
            core: Arc::clone(datastore.core()),
            tables: Arc::new(tables),
            listener,
            combiner: Arc::default(),
        }
    }

    async fn insert(
        self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
    ) -> Result<(), PersistenceError> {
        if tracking.is_empty() && !events.is_empty() {
            let target = Target {
                core: Arc::clone(&self.core),
                tables: Arc::clone(&self.tables),
                listener: self.listener.clone(),
            };
            return self.combiner.insert(&target, events).await;
        }
        insert_with_retries(&self.core, &self.tables, &events, &tracking).await?;
        if let (false, Some(listener)) = (events.is_empty(), &self.listener) {
            listener.committed();
        }
        Ok(())
    }

    async fn select_events(
        self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        retrying(|| async {
            let connection = self.core.connection().await?;
            self.tables.select(&connection, originator_id, &query).await
        })
        .await
    }

    async fn select_notifications(
        self,
        start: u64,
        limit: usize,
        topics: Vec<String>,
    ) -> Result<Vec<Notification>, PersistenceError> {
        retrying(|| async {
            let connection = self.core.connection().await?;
            self.tables
                .select_notifications(&connection, start, limit, &topics)
                .await
        })
        .await
    }

    async fn max_notification_id(self) -> Result<u64, PersistenceError> {
        retrying(|| async {
            let connection = self.core.connection().await?;
            self.tables.max_notification_id(&connection).await
        })
        .await
    }

    async fn max_tracking_id(self, application_name: String) -> Result<u64, PersistenceError> {
        retrying(|| async {
            let connection = self.core.connection().await?;
            self.tables
                .max_tracking_id(&connection, &application_name)
                .await
        })
        .await
    }
}

/// Creates `ddl`'s tables with the blocking face's runtime.
fn create_blocking(datastore: &PostgresDatastore, ddl: String) -> Result<(), PersistenceError> {
    let core = Arc::clone(datastore.core());
    datastore.block_on(async move { core.create_tables(&ddl).await })
}

/// Creates `ddl`'s tables from async code.
fn create_async(
    datastore: &PostgresDatastore,
    ddl: String,
) -> impl Future<Output = Result<(), PersistenceError>> + Send + 'static {
    let core = Arc::clone(datastore.core());
    datastore.run(async move { core.create_tables(&ddl).await })
}

fn snapshots_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid NOT NULL, \
         originator_version integer NOT NULL, topic text, state bytea, \
         PRIMARY KEY (originator_id, originator_version)) WITH (autovacuum_enabled=false);"
    )
}

fn application_ddl(tables: &Tables, events_table: &str) -> Result<String, PersistenceError> {
    let events = &tables.events;
    let index = format!("{events_table}_notification_id_idx");
    check_identifier(&index)?;
    let tracking = tables.tracking.as_deref().unwrap_or_default();
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {events} (originator_id uuid NOT NULL, \
         originator_version integer NOT NULL, topic text, state bytea, \
         notification_id BIGSERIAL, PRIMARY KEY (originator_id, originator_version)) \
         WITH (autovacuum_enabled=false); \
         CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {events} (notification_id ASC); \
         CREATE TABLE IF NOT EXISTS {tracking} (application_name text, notification_id bigint, \
         PRIMARY KEY (application_name, notification_id));"
    ))
}

/// Stores aggregates' events without a notification log: the recorder of snapshots (table
/// `{app}_snapshots`).
///
/// It has both faces: [`AggregateRecorder`] (blocking) and [`AsyncAggregateRecorder`]; see
/// [`PostgresDatastore`] for which a datastore gives.
#[derive(Debug, Clone)]
pub struct PostgresAggregateRecorder {
    datastore: Arc<PostgresDatastore>,
    store: Store,
}

impl PostgresAggregateRecorder {
    /// A recorder of the table `table_name`, created if it does not exist (blocking: the
    /// datastore must have been made with [`PostgresDatastore::new`]).
    pub fn new(
        datastore: Arc<PostgresDatastore>,
        table_name: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(datastore.core(), table_name, None)?;
        create_blocking(&datastore, snapshots_ddl(&tables.events))?;
        Ok(PostgresAggregateRecorder {
            store: Store::new(&datastore, tables),
            datastore,
        })
    }

    /// A recorder of the table `table_name`, created if it does not exist (async: any
    /// datastore).
    pub async fn new_async(
        datastore: Arc<PostgresDatastore>,
        table_name: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(datastore.core(), table_name, None)?;
        create_async(&datastore, snapshots_ddl(&tables.events)).await?;
        Ok(PostgresAggregateRecorder {
            store: Store::new(&datastore, tables),
            datastore,
        })
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<PostgresDatastore> {
        &self.datastore
    }

    fn insert(
        &self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
    ) -> impl Future<Output = Result<(), PersistenceError>> + Send + 'static {
        self.store.clone().insert(events, tracking)
    }

    fn select(
        &self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, PersistenceError>> + Send + 'static {
        self.store.clone().select_events(originator_id, query)
    }
}

impl AsyncAggregateRecorder for PostgresAggregateRecorder {
    fn insert_events(
        &self,
        events: Vec<StoredEvent>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>> {
        if events.is_empty() {
            return Box::pin(ready(Ok(())));
        }
        self.datastore.run(self.insert(events, Vec::new()))
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, PersistenceError>> {
        self.datastore.run(self.select(originator_id, query))
    }
}

impl AggregateRecorder for PostgresAggregateRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.insert_owned(events.to_vec())
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        if events.is_empty() {
            return Ok(());
        }
        self.datastore.block_on(self.insert(events, Vec::new()))
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.datastore.block_on(self.select(originator_id, *query))
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
///
/// It has both faces: [`ProcessRecorder`] (blocking) and [`AsyncProcessRecorder`], with their
/// supertraits; see [`PostgresDatastore`] for which a datastore gives.
#[derive(Debug, Clone)]
pub struct PostgresApplicationRecorder {
    /// The events table, which the application recorder reads and writes as an aggregate
    /// recorder does, plus notification ids and the tracking table.
    events: PostgresAggregateRecorder,
}

impl PostgresApplicationRecorder {
    /// A recorder of the tables `events_table` and `tracking_table`, created if they do not
    /// exist (blocking: the datastore must have been made with [`PostgresDatastore::new`]).
    pub fn new(
        datastore: Arc<PostgresDatastore>,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(datastore.core(), events_table, Some(tracking_table))?;
        create_blocking(&datastore, application_ddl(&tables, events_table)?)?;
        Ok(Self::with_tables(datastore, tables))
    }

    /// A recorder of the tables `events_table` and `tracking_table`, created if they do not
    /// exist (async: any datastore).
    pub async fn new_async(
        datastore: Arc<PostgresDatastore>,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<Self, PersistenceError> {
        let tables = Tables::new(datastore.core(), events_table, Some(tracking_table))?;
        create_async(&datastore, application_ddl(&tables, events_table)?).await?;
        Ok(Self::with_tables(datastore, tables))
    }

    fn with_tables(datastore: Arc<PostgresDatastore>, tables: Tables) -> Self {
        PostgresApplicationRecorder {
            events: PostgresAggregateRecorder {
                store: Store::new(&datastore, tables),
                datastore,
            },
        }
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<PostgresDatastore> {
        &self.events.datastore
    }

    fn store(&self) -> Store {
        self.events.store.clone()
    }

    /// The commit signal, with its listener running (see the `listener` module).
    fn signal(&self) -> Option<CommitSignal> {
        let store = &self.events.store;
        let runtime = self.datastore().runtime();
        store
            .listener
            .as_ref()
            .map(|listener| listener.signal(&store.core, runtime))
    }
}

impl AsyncAggregateRecorder for PostgresApplicationRecorder {
    fn insert_events(
        &self,
        events: Vec<StoredEvent>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>> {
        AsyncAggregateRecorder::insert_events(&self.events, events)
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, PersistenceError>> {
        AsyncAggregateRecorder::select_events(&self.events, originator_id, query)
    }
}

impl AsyncApplicationRecorder for PostgresApplicationRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Notification>, PersistenceError>> {
        self.datastore()
            .run(self.store().select_notifications(start, limit, Vec::new()))
    }

    fn max_notification_id(&self) -> BoxFuture<'_, Result<u64, PersistenceError>> {
        self.datastore().run(self.store().max_notification_id())
    }

    fn select_notifications_of<'a>(
        &'a self,
        start: u64,
        limit: usize,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Notification>, PersistenceError>> {
        self.datastore().run(
            self.store()
                .select_notifications(start, limit, topics.to_vec()),
        )
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        self.signal()
    }
}

impl AsyncProcessRecorder for PostgresApplicationRecorder {
    fn insert_events_with_tracking(
        &self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>> {
        self.datastore().run(self.events.insert(events, tracking))
    }

    fn max_tracking_id<'a>(
        &'a self,
        application_name: &'a str,
    ) -> BoxFuture<'a, Result<u64, PersistenceError>> {
        self.datastore()
            .run(self.store().max_tracking_id(application_name.to_string()))
    }
}

impl AggregateRecorder for PostgresApplicationRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        AggregateRecorder::insert_events(&self.events, events)
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.events.insert_owned(events)
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        AggregateRecorder::select_events(&self.events, originator_id, query)
    }
}

impl ApplicationRecorder for PostgresApplicationRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        self.datastore()
            .block_on(self.store().select_notifications(start, limit, Vec::new()))
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        self.datastore()
            .block_on(self.store().max_notification_id())
    }

    fn select_notifications_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, PersistenceError> {
        self.datastore().block_on(
            self.store()
                .select_notifications(start, limit, topics.to_vec()),
        )
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        self.signal()
    }
}

impl ProcessRecorder for PostgresApplicationRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        self.datastore()
            .block_on(self.events.insert(events.to_vec(), tracking.to_vec()))
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        self.datastore()
            .block_on(self.store().max_tracking_id(application_name.to_string()))
    }
}
