//! [`PostgresInspector`]: the [`StoreInspector`] of a PostgreSQL database (or schema).

use std::collections::BTreeSet;
use std::sync::Arc;

use uuid::Uuid;

use super::data_keys::{stored_key, PostgresDataKeys};
use super::datastore::{retrying, tracking_shape, Connection, Core, PostgresDatastore};
use super::error::postgres_error;
use super::recorder::{PostgresAggregateRecorder, PostgresApplicationRecorder};
use super::tables::{check_identifier, from_signed, to_i64, TrackingShape, MIGRATION_ROW};
use crate::persistence::inspect::{check_ids, not_empty};
use crate::persistence::{
    ApplicationContents, ApplicationRecorder, ApplicationTables, Cipher, DataKeyCounts,
    DataKeyRecorder, Environment, ErrorKind, FactoryError, KeyedRecorder, PersistenceError,
    StoreInspector, StoredDataKey, StoredEvent, Tracking,
};

/// How many rows a restore inserts with one statement.
const RESTORE_CHUNK: usize = 1000;

/// The [`StoreInspector`] of a PostgreSQL database: the applications whose tables are in its
/// schema (`POSTGRES_SCHEMA`, else the connection's current schema), found by their
/// `{app}_events` tables, read without creating or changing anything, and restored in one
/// transaction. Its datastore must have the blocking face ([`PostgresDatastore::new`]).
#[derive(Debug, Clone)]
pub struct PostgresInspector {
    datastore: Arc<PostgresDatastore>,
}

/// The tables of the application `name`, as [`PostgresFactory`](super::PostgresFactory)
/// names them: events, snapshots, tracking.
fn names_of(name: &str) -> (String, String, String) {
    let name = name.to_lowercase();
    if name.is_empty() {
        return (
            "stored_events".into(),
            "stored_snapshots".into(),
            "notification_tracking".into(),
        );
    }
    (
        format!("{name}_events"),
        format!("{name}_snapshots"),
        format!("{name}_tracking"),
    )
}

/// The data-key table of the application `name`, as
/// [`PostgresFactory`](super::PostgresFactory) names it.
fn data_keys_of(name: &str) -> String {
    let name = name.to_lowercase();
    if name.is_empty() {
        return "stored_data_keys".into();
    }
    format!("{name}_data_keys")
}

impl PostgresInspector {
    /// The inspector of `datastore`'s database, which must have the blocking face.
    pub fn new(datastore: Arc<PostgresDatastore>) -> Result<Self, PersistenceError> {
        if !datastore.is_blocking() {
            return Err(PersistenceError::database(
                ErrorKind::NotSupported,
                "a PostgreSQL store inspector needs a datastore made with PostgresDatastore::new",
            ));
        }
        Ok(PostgresInspector { datastore })
    }

    /// The inspector of the database an application configured by `env` uses (the
    /// `POSTGRES_*` variables, as [`settings_from_env`](super::settings_from_env) reads them).
    /// No connection is opened until it is used.
    pub fn from_env(env: &Environment) -> Result<Self, FactoryError> {
        let settings = super::settings_from_env(env)?;
        Ok(Self::new(Arc::new(PostgresDatastore::new(settings)?))?)
    }

    /// The datastore.
    pub fn datastore(&self) -> &Arc<PostgresDatastore> {
        &self.datastore
    }

    /// Runs `work` on a connection of the pool, retrying as the recorders do when the
    /// connection fails while in use.
    fn read<T, F, Fut>(&self, work: F) -> Result<T, PersistenceError>
    where
        T: Send + 'static,
        F: Fn(Arc<Core>, Connection) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<T, PersistenceError>> + Send + 'static,
    {
        let core = Arc::clone(self.datastore.core());
        self.datastore.block_on(async move {
            retrying(|| async {
                let connection = core.connection().await?;
                work(Arc::clone(&core), connection).await
            })
            .await
        })
    }

    /// The recorder of the application's events, made without creating or changing anything.
    fn recorder(
        &self,
        application: &ApplicationTables,
    ) -> Result<PostgresApplicationRecorder, PersistenceError> {
        let tracking = application
            .tracking
            .clone()
            .unwrap_or_else(|| names_of(&application.name).2);
        check_identifier(&tracking)?;
        let qualified = self.datastore.core().qualified(&tracking);
        let shape = self.read(move |_, connection| {
            let table = qualified.clone();
            async move { shape_of(&connection, &table).await }
        })?;
        PostgresApplicationRecorder::of_existing_tables(
            Arc::clone(&self.datastore),
            &application.events,
            &tracking,
            shape,
        )
    }

    /// The application's key table and events recorder, if it has a key table.
    fn keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<Option<(PostgresApplicationRecorder, PostgresDataKeys)>, PersistenceError> {
        let Some(table) = &application.data_keys else {
            return Ok(None);
        };
        let events = self.recorder(application)?;
        let keys =
            PostgresDataKeys::of_existing_table(&events, table, application.snapshots.as_deref())?;
        Ok(Some((events, keys)))
    }

    fn count(&self, table: &str) -> Result<u64, PersistenceError> {
        check_identifier(table)?;
        let table = self.datastore.core().qualified(table);
        self.read(move |_, connection| {
            let table = table.clone();
            async move {
                let context = || format!("can't count the rows of {table}");
                let row = connection
                    .client()
                    .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                    .await
                    .map_err(|e| postgres_error(e, context()))?;
                let count: i64 = row.try_get(0).map_err(|e| postgres_error(e, context()))?;
                from_signed(count, "count")
            }
        })
    }
}

/// The applications whose events tables are in the schema.
async fn list_tables(
    core: &Core,
    connection: &Connection,
) -> Result<Vec<ApplicationTables>, PersistenceError> {
    let context = "can't list the tables of the store";
    let schema = core.settings().schema.clone();
    let rows = connection
        .client()
        .query(
            "SELECT c.relname::text, EXISTS (SELECT 1 FROM pg_attribute a WHERE \
             a.attrelid = c.oid AND a.attname = 'notification_id' AND NOT a.attisdropped) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = COALESCE($1::text, current_schema()) \
             AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| postgres_error(e, context))?;
    let mut tables = BTreeSet::new();
    let mut events = Vec::new();
    for row in &rows {
        let name: String = row.try_get(0).map_err(|e| postgres_error(e, context))?;
        let logged: bool = row.try_get(1).map_err(|e| postgres_error(e, context))?;
        if logged && name.ends_with("_events") {
            events.push(name.clone());
        }
        tables.insert(name);
    }
    Ok(events
        .into_iter()
        .map(|table| {
            let prefix = table.trim_end_matches("_events");
            let (_, snapshots, tracking) = names_of(prefix);
            let tracking = if prefix == "stored" && !tables.contains(&tracking) {
                // The application without a name.
                names_of("").2
            } else {
                tracking
            };
            let data_keys = data_keys_of(prefix);
            ApplicationTables {
                name: prefix.to_string(),
                snapshots: tables.contains(&snapshots).then_some(snapshots),
                tracking: tables.contains(&tracking).then_some(tracking),
                data_keys: tables.contains(&data_keys).then_some(data_keys),
                events: table,
            }
        })
        .collect())
}

/// The shape of the tracking table `table` (qualified): a new one's if there is none.
async fn shape_of(connection: &Connection, table: &str) -> Result<TrackingShape, PersistenceError> {
    if !exists(connection, table).await? {
        return Ok(TrackingShape::SingleRow);
    }
    tracking_shape(connection, table).await
}

async fn exists(connection: &Connection, qualified: &str) -> Result<bool, PersistenceError> {
    let row = connection
        .client()
        .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&qualified])
        .await
        .map_err(|e| postgres_error(e, format!("can't look for {qualified}")))?;
    row.try_get(0)
        .map_err(|e| postgres_error(e, format!("can't look for {qualified}")))
}

/// At most `limit` snapshots of `table` (qualified) after `after`.
async fn snapshots(
    connection: &Connection,
    table: &str,
    after: Option<(Uuid, u64)>,
    limit: usize,
) -> Result<Vec<StoredEvent>, PersistenceError> {
    let context = || format!("can't select snapshots from {table}");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let columns = "originator_id, originator_version::bigint, topic, state";
    let rows = match after {
        Some((id, version)) => {
            let version = i64::try_from(version).unwrap_or(i64::MAX);
            connection
                .client()
                .query(
                    &format!(
                        "SELECT {columns} FROM {table} WHERE (originator_id, \
                         originator_version) > ($1::uuid, $2::bigint) ORDER BY originator_id, \
                         originator_version LIMIT $3"
                    ),
                    &[&id, &version, &limit],
                )
                .await
        }
        None => {
            connection
                .client()
                .query(
                    &format!(
                        "SELECT {columns} FROM {table} ORDER BY originator_id, \
                         originator_version LIMIT $1"
                    ),
                    &[&limit],
                )
                .await
        }
    }
    .map_err(|e| postgres_error(e, context()))?;
    rows.iter()
        .map(|row| {
            let invalid = |e| postgres_error(e, context());
            let version: i64 = row.try_get(1).map_err(invalid)?;
            Ok(StoredEvent {
                originator_id: row.try_get(0).map_err(invalid)?,
                originator_version: from_signed(version, "originator_version")?,
                topic: row.try_get::<_, String>(2).map_err(invalid)?.into(),
                state: row.try_get(3).map_err(invalid)?,
            })
        })
        .collect()
}

/// Each upstream application's position in the tracking table `table` (qualified).
async fn positions(
    connection: &Connection,
    table: &str,
) -> Result<Vec<Tracking>, PersistenceError> {
    let context = || format!("can't select the tracking positions in {table}");
    let rows = connection
        .client()
        .query(
            &format!(
                "SELECT application_name, MAX(notification_id)::bigint FROM {table} WHERE \
                 application_name <> $1 GROUP BY application_name ORDER BY application_name"
            ),
            &[&MIGRATION_ROW],
        )
        .await
        .map_err(|e| postgres_error(e, context()))?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0).map_err(|e| postgres_error(e, context()))?;
            let id: Option<i64> = row.try_get(1).map_err(|e| postgres_error(e, context()))?;
            Ok(Tracking::new(
                name,
                from_signed(id.unwrap_or(0), "notification id")?,
            ))
        })
        .collect()
}

/// What an application to restore into has, if anything (for the message of a refusal).
async fn contents_found(
    connection: &Connection,
    events: &str,
    snapshots: &str,
    tracking: &str,
    data_keys: &str,
) -> Result<Option<&'static str>, PersistenceError> {
    let checks = [
        (events, "", "events"),
        (snapshots, "", "snapshots"),
        (
            tracking,
            "WHERE application_name <> '__migration__'",
            "tracking positions",
        ),
        (data_keys, "", "data keys"),
    ];
    for (table, filter, what) in checks {
        if !exists(connection, table).await? {
            continue;
        }
        let row = connection
            .client()
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} {filter})"),
                &[],
            )
            .await
            .map_err(|e| postgres_error(e, format!("can't read {table}")))?;
        let found: bool = row
            .try_get(0)
            .map_err(|e| postgres_error(e, format!("can't read {table}")))?;
        if found {
            return Ok(Some(what));
        }
    }
    Ok(None)
}

/// One application to restore: its qualified tables and what goes in them.
struct Target<'a> {
    name: &'a str,
    events_table: String,
    events: String,
    snapshots: String,
    tracking: String,
    data_keys: String,
    contents: &'a ApplicationContents,
}

/// The restore's statements, in the transaction the caller began.
async fn restore_in(
    connection: &Connection,
    targets: &[Target<'_>],
    replace: bool,
    lock_timeout_ms: u128,
) -> Result<(), PersistenceError> {
    let client = connection.client();
    let batch = |sql: String| async move {
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| postgres_error(e, "can't restore"))
    };
    batch(format!("SET LOCAL lock_timeout = '{lock_timeout_ms}ms'")).await?;
    for target in targets {
        let (events, snapshots, tracking, data_keys) = (
            &target.events,
            &target.snapshots,
            &target.tracking,
            &target.data_keys,
        );
        batch(format!("LOCK TABLE {events} IN EXCLUSIVE MODE")).await?;
        let has_snapshots = exists(connection, snapshots).await?;
        if replace {
            let mut sql = format!(
                "DELETE FROM {events}; DELETE FROM {tracking} WHERE application_name <> \
                 '{MIGRATION_ROW}';"
            );
            if has_snapshots {
                sql.push_str(&format!("DELETE FROM {snapshots};"));
            }
            if exists(connection, data_keys).await? {
                sql.push_str(&format!("DELETE FROM {data_keys};"));
            }
            batch(sql).await?;
        } else if let Some(found) =
            contents_found(connection, events, snapshots, tracking, data_keys).await?
        {
            return Err(not_empty(target.name, found));
        }
        let contents = target.contents;
        for chunk in contents.events.chunks(RESTORE_CHUNK) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut originators = Vec::with_capacity(chunk.len());
            let mut versions = Vec::with_capacity(chunk.len());
            let mut topics = Vec::with_capacity(chunk.len());
            let mut states = Vec::with_capacity(chunk.len());
            for notification in chunk {
                ids.push(to_i64(notification.id, "notification id")?);
                originators.push(notification.originator_id);
                versions.push(to_i64(
                    notification.originator_version,
                    "originator_version",
                )?);
                topics.push(notification.topic.to_string());
                states.push(notification.state.clone());
            }
            client
                .execute(
                    &format!(
                        "INSERT INTO {events} (notification_id, originator_id, \
                         originator_version, topic, state) SELECT * FROM \
                         unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], $5::bytea[])"
                    ),
                    &[&ids, &originators, &versions, &topics, &states],
                )
                .await
                .map_err(|e| postgres_error(e, format!("can't restore the events of {events}")))?;
        }
        if let Some(last) = contents.events.last() {
            let last = to_i64(last.id, "notification id")?;
            client
                .query_one(
                    "SELECT setval(pg_get_serial_sequence($1::text, 'notification_id'), $2)",
                    &[&events, &last],
                )
                .await
                .map_err(|e| {
                    postgres_error(e, format!("can't set the notification ids of {events}"))
                })?;
        }
        for chunk in contents.snapshots.chunks(RESTORE_CHUNK) {
            let originators: Vec<Uuid> = chunk.iter().map(|s| s.originator_id).collect();
            let versions = chunk
                .iter()
                .map(|s| to_i64(s.originator_version, "originator_version"))
                .collect::<Result<Vec<_>, _>>()?;
            let topics: Vec<String> = chunk.iter().map(|s| s.topic.to_string()).collect();
            let states: Vec<Vec<u8>> = chunk.iter().map(|s| s.state.clone()).collect();
            client
                .execute(
                    &format!(
                        "INSERT INTO {snapshots} (originator_id, originator_version, topic, \
                         state) SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], \
                         $4::bytea[])"
                    ),
                    &[&originators, &versions, &topics, &states],
                )
                .await
                .map_err(|e| {
                    postgres_error(e, format!("can't restore the snapshots of {snapshots}"))
                })?;
        }
        for chunk in contents.data_keys.chunks(RESTORE_CHUNK) {
            let originators: Vec<Uuid> = chunk.iter().map(|k| k.originator_id).collect();
            let keys: Vec<Option<Vec<u8>>> = chunk.iter().map(|k| k.wrapped.clone()).collect();
            client
                .execute(
                    &format!(
                        "INSERT INTO {data_keys} (originator_id, data_key) SELECT * FROM \
                         unnest($1::uuid[], $2::bytea[])"
                    ),
                    &[&originators, &keys],
                )
                .await
                .map_err(|e| {
                    postgres_error(e, format!("can't restore the data keys of {data_keys}"))
                })?;
        }
        let upsert = match shape_of(connection, tracking).await? {
            TrackingShape::MultiRow => "",
            TrackingShape::SingleRow => {
                " ON CONFLICT (application_name) DO UPDATE SET notification_id = \
                 EXCLUDED.notification_id"
            }
        };
        for record in &contents.tracking {
            let id = to_i64(record.notification_id, "notification id")?;
            client
                .execute(
                    &format!("INSERT INTO {tracking} VALUES ($1, $2){upsert}"),
                    &[&record.application_name, &id],
                )
                .await
                .map_err(|e| {
                    postgres_error(
                        e,
                        format!(
                            "can't restore the position of {:?}",
                            record.application_name
                        ),
                    )
                })?;
        }
        // Subscribers wake when the transaction commits.
        batch(format!("NOTIFY {}", target.events_table)).await?;
    }
    Ok(())
}

impl StoreInspector for PostgresInspector {
    fn applications(&self) -> Result<Vec<ApplicationTables>, PersistenceError> {
        self.read(|core, connection| async move { list_tables(&core, &connection).await })
    }

    fn application(&self, name: &str) -> Result<Option<ApplicationTables>, PersistenceError> {
        let (events, _, _) = names_of(name);
        Ok(self
            .applications()?
            .into_iter()
            .find(|application| application.events == events))
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
        check_identifier(table)?;
        let table = self.datastore.core().qualified(table);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |_, connection| {
            let table = table.clone();
            async move {
                let context = || format!("can't select data keys from {table}");
                let rows = match after {
                    Some(id) => {
                        connection
                            .client()
                            .query(
                                &format!(
                                    "SELECT originator_id, data_key FROM {table} WHERE \
                                     originator_id > $1 ORDER BY originator_id LIMIT $2"
                                ),
                                &[&id, &limit],
                            )
                            .await
                    }
                    None => {
                        connection
                            .client()
                            .query(
                                &format!(
                                    "SELECT originator_id, data_key FROM {table} ORDER BY \
                                     originator_id LIMIT $1"
                                ),
                                &[&limit],
                            )
                            .await
                    }
                }
                .map_err(|e| postgres_error(e, context()))?;
                rows.iter().map(stored_key).collect()
            }
        })
    }

    fn count_data_keys(
        &self,
        application: &ApplicationTables,
    ) -> Result<DataKeyCounts, PersistenceError> {
        let Some(table) = &application.data_keys else {
            return Ok(DataKeyCounts::default());
        };
        check_identifier(table)?;
        let table = self.datastore.core().qualified(table);
        self.read(move |_, connection| {
            let table = table.clone();
            async move {
                let context = || format!("can't count the rows of {table}");
                let row = connection
                    .client()
                    .query_one(
                        &format!("SELECT COUNT(*), COUNT(*) - COUNT(data_key) FROM {table}"),
                        &[],
                    )
                    .await
                    .map_err(|e| postgres_error(e, context()))?;
                let aggregates: i64 = row.try_get(0).map_err(|e| postgres_error(e, context()))?;
                let forgotten: i64 = row.try_get(1).map_err(|e| postgres_error(e, context()))?;
                Ok(DataKeyCounts {
                    aggregates: from_signed(aggregates, "count")?,
                    forgotten: from_signed(forgotten, "count")?,
                })
            }
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
        check_identifier(table)?;
        let table = self.datastore.core().qualified(table);
        self.read(move |_, connection| {
            let table = table.clone();
            async move { snapshots(&connection, &table, after, limit).await }
        })
    }

    fn tracking(&self, application: &ApplicationTables) -> Result<Vec<Tracking>, PersistenceError> {
        let Some(table) = &application.tracking else {
            return Ok(Vec::new());
        };
        check_identifier(table)?;
        let table = self.datastore.core().qualified(table);
        self.read(move |_, connection| {
            let table = table.clone();
            async move { positions(&connection, &table).await }
        })
    }

    fn restore(
        &self,
        applications: &[(String, ApplicationContents)],
        replace: bool,
    ) -> Result<(), PersistenceError> {
        let core = Arc::clone(self.datastore.core());
        let mut targets = Vec::with_capacity(applications.len());
        for (name, contents) in applications {
            check_ids(name, &contents.events)?;
            let (events_table, snapshots, tracking) = names_of(name);
            for table in [&events_table, &snapshots, &tracking] {
                check_identifier(table)?;
            }
            let data_keys = data_keys_of(name);
            check_identifier(&data_keys)?;
            targets.push(Target {
                name,
                events: core.qualified(&events_table),
                snapshots: core.qualified(&snapshots),
                tracking: core.qualified(&tracking),
                data_keys: core.qualified(&data_keys),
                events_table,
                contents,
            });
        }
        // Refused before any table is created.
        if !replace {
            for target in &targets {
                let (events, snapshots, tracking, data_keys) = (
                    target.events.clone(),
                    target.snapshots.clone(),
                    target.tracking.clone(),
                    target.data_keys.clone(),
                );
                let found = self.datastore.block_on({
                    let core = Arc::clone(&core);
                    async move {
                        let connection = core.connection().await?;
                        contents_found(&connection, &events, &snapshots, &tracking, &data_keys)
                            .await
                    }
                })?;
                if let Some(found) = found {
                    return Err(not_empty(target.name, found));
                }
            }
        }
        // The tables, as the application creates them.
        for (name, contents) in applications {
            let (events, snapshots, tracking) = names_of(name);
            let recorder =
                PostgresApplicationRecorder::new(Arc::clone(&self.datastore), &events, &tracking)?;
            if !contents.snapshots.is_empty() {
                PostgresAggregateRecorder::new(Arc::clone(&self.datastore), &snapshots)?;
            }
            if !contents.data_keys.is_empty() {
                PostgresDataKeys::new(&recorder, &data_keys_of(name), None)?;
            }
        }
        let lock_timeout_ms = core.settings().lock_timeout.as_millis();
        // Owned copies, for the datastore's runtime.
        let owned: Vec<(String, ApplicationContents)> = applications.to_vec();
        let names: Vec<(String, String, String, String, String)> = targets
            .iter()
            .map(|t| {
                (
                    t.events_table.clone(),
                    t.events.clone(),
                    t.snapshots.clone(),
                    t.tracking.clone(),
                    t.data_keys.clone(),
                )
            })
            .collect();
        self.datastore.block_on(async move {
            let targets: Vec<Target<'_>> = owned
                .iter()
                .zip(names)
                .map(
                    |((name, contents), (events_table, events, snapshots, tracking, data_keys))| {
                        Target {
                            name,
                            events_table,
                            events,
                            snapshots,
                            tracking,
                            data_keys,
                            contents,
                        }
                    },
                )
                .collect();
            let mut connection = core.connection().await?;
            connection
                .begin("BEGIN")
                .await
                .map_err(|e| postgres_error(e, "can't begin the restore"))?;
            match restore_in(&connection, &targets, replace, lock_timeout_ms).await {
                Ok(()) => {
                    connection
                        .client()
                        .batch_execute("COMMIT")
                        .await
                        .map_err(|e| postgres_error(e, "can't commit the restore"))?;
                    connection.committed();
                    Ok(())
                }
                Err(error) => {
                    connection.rollback().await;
                    Err(error)
                }
            }
        })
    }
}
