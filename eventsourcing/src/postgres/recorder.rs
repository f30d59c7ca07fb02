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
use super::tables::{check_identifier, NewKeys, Tables, MIGRATION_ROW};
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
        self.insert_with_keys(events, tracking, None).await
    }

    /// Inserts events and tracking records and, if any, new data keys: inserts with keys or
    /// tracking records have transactions of their own, the others share them.
    async fn insert_with_keys(
        self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
        keys: Option<NewKeys>,
    ) -> Result<(), PersistenceError> {
        if tracking.is_empty() && keys.is_none() && !events.is_empty() {
            let target = Target {
                core: Arc::clone(&self.core),
                tables: Arc::clone(&self.tables),
                listener: self.listener.clone(),
            };
            return self.combiner.insert(&target, events).await;
        }
        insert_with_retries(&self.core, &self.tables, &events, &tracking, keys.as_ref()).await?;
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

/// The storage options of the reference's tables (9.5): autovacuum only after many rows, since
/// rows are never updated or deleted.
const TABLE_OPTIONS: &str = "WITH (autovacuum_enabled = true, \
     autovacuum_vacuum_threshold = 100000000, autovacuum_vacuum_scale_factor = 0.5, \
     autovacuum_analyze_threshold = 1000, autovacuum_analyze_scale_factor = 0.01)";

fn snapshots_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid NOT NULL, \
         originator_version bigint NOT NULL, topic text, state bytea, \
         PRIMARY KEY (originator_id, originator_version)) {TABLE_OPTIONS};"
    )
}

/// The tables of an application, as the reference (9.5) creates them: the same names, column
/// types and index, the composite type its inserts use, and a tracking table of the 9.5 shape
/// (one row per upstream application, marked by a `__migration__` row) unless one exists.
/// Statements are guarded so that either library may create them, even at once. The reference's
/// insert function (`es_insert_events_uuid`, which its `POSTGRES_ENABLE_DB_FUNCTIONS` calls) is
/// created too, as the reference creates it: for the schema's latest application recorder.
fn application_ddl(
    core: &Core,
    tables: &Tables,
    events_table: &str,
) -> Result<String, PersistenceError> {
    let events = &tables.events;
    let insert_function = core.qualified("es_insert_events_uuid");
    let index = format!("{events_table}_notification_id_idx");
    check_identifier(&index)?;
    let tracking = tables.tracking.as_deref().unwrap_or_default();
    let stored_event_type = core.qualified("stored_event_uuid");
    let lock_timeout = core.settings().lock_timeout;
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {events} (originator_id uuid NOT NULL, \
         originator_version bigint NOT NULL, topic text, state bytea, \
         notification_id bigserial, PRIMARY KEY (originator_id, originator_version)) \
         {TABLE_OPTIONS}; \
         CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {events} (notification_id ASC); \
         DO $es$ BEGIN \
           CREATE TYPE {stored_event_type} AS (originator_id uuid, originator_version bigint, \
             topic text, state bytea); \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $es$; \
         DO $es$ BEGIN \
           IF to_regclass('{tracking}') IS NULL THEN \
             CREATE TABLE {tracking} (application_name text, notification_id bigint, \
               PRIMARY KEY (application_name)) {TABLE_OPTIONS}; \
             INSERT INTO {tracking} VALUES ('{MIGRATION_ROW}', 1); \
           END IF; \
         EXCEPTION WHEN duplicate_table OR unique_violation THEN NULL; END $es$; \
         CREATE OR REPLACE FUNCTION {insert_function}(events {stored_event_type}[]) \
         RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN \
           SET LOCAL lock_timeout = '{lock_timeout}ms'; NOTIFY {events_table}; \
           RETURN QUERY INSERT INTO {events} AS t (originator_id, originator_version, topic, state) \
           SELECT originator_id, originator_version, topic, state FROM unnest(events) \
           RETURNING notification_id; \
         END; $BODY$;",
        lock_timeout = lock_timeout.as_millis(),
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
        let (mut tables, create) = Self::creation(&datastore, events_table, tracking_table)?;
        tables.tracking_shape = datastore.block_on(create)?;
        Ok(Self::with_tables(datastore, tables))
    }

    /// A recorder of the tables `events_table` and `tracking_table`, created if they do not
    /// exist (async: any datastore).
    pub async fn new_async(
        datastore: Arc<PostgresDatastore>,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<Self, PersistenceError> {
        let (mut tables, create) = Self::creation(&datastore, events_table, tracking_table)?;
        tables.tracking_shape = datastore.run(create).await?;
        Ok(Self::with_tables(datastore, tables))
    }

    /// The tables' SQL, and the work that creates them and reads the tracking table's shape.
    fn creation(
        datastore: &PostgresDatastore,
        events_table: &str,
        tracking_table: &str,
    ) -> Result<
        (
            Tables,
            impl Future<Output = Result<super::tables::TrackingShape, PersistenceError>>
                + Send
                + 'static,
        ),
        PersistenceError,
    > {
        let tables = Tables::new(datastore.core(), events_table, Some(tracking_table))?;
        let core = Arc::clone(datastore.core());
        let ddl = application_ddl(&core, &tables, events_table)?;
        let table = tables.tracking.clone().unwrap_or_default();
        let create = async move { core.create_application_tables(&ddl, &table).await };
        Ok((tables, create))
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

impl PostgresApplicationRecorder {
    /// Inserts events, tracking records and new data keys in one transaction (blocking face).
    pub(super) fn insert_with_keys(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: NewKeys,
    ) -> Result<(), PersistenceError> {
        self.datastore().block_on(self.store().insert_with_keys(
            events.to_vec(),
            tracking.to_vec(),
            Some(keys),
        ))
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

impl PostgresApplicationRecorder {
    /// A recorder of the tables `events_table` and `tracking_table` as they are, creating and
    /// changing nothing: the store inspector's, for reading (see
    /// [`PostgresInspector`](super::PostgresInspector)). `shape` is the tracking table's (that
    /// of a new one if it does not exist). Blocking or async as the datastore is.
    pub(crate) fn of_existing_tables(
        datastore: Arc<PostgresDatastore>,
        events_table: &str,
        tracking_table: &str,
        shape: super::tables::TrackingShape,
    ) -> Result<Self, PersistenceError> {
        let mut tables = Tables::new(datastore.core(), events_table, Some(tracking_table))?;
        tables.tracking_shape = shape;
        Ok(Self::with_tables(datastore, tables))
    }
}
