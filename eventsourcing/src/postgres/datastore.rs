//! The PostgreSQL datastore: a `deadpool-postgres` pool of `tokio-postgres` connections, the
//! runtime their tasks run on, and the two faces' ways of running the recorders' async code.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    ClientWrapper, Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError,
    RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use super::error::{kind, postgres_error};
use super::settings::PostgresSettings;
use crate::persistence::{BoxFuture, Bridge, ErrorKind, PersistenceError};

/// How many times an operation is tried when its connection fails (the reference's retry).
pub(crate) const MAX_ATTEMPTS: usize = 10;
/// The wait between attempts (plus or minus 5%).
pub(crate) const RETRY_WAIT: Duration = Duration::from_millis(200);
/// The wait between attempts to open a connection, within the connect timeout.
const CONNECT_RETRY_WAIT: Duration = Duration::from_millis(100);

/// A pool of connections to one PostgreSQL database, shared by an application's recorders,
/// and the runtime their connections run on.
///
/// [`new`](PostgresDatastore::new) gives the datastore a runtime of its own (a [`Bridge`]):
/// its recorders have both faces, blocking and async, callable from any thread, inside a tokio
/// runtime or not. [`native`](PostgresDatastore::native) gives it none: its connections' tasks
/// run on the runtime of the tasks that open them, and its recorders have the async face only.
///
/// ```no_run
/// use std::sync::Arc;
/// use eventsourcing::persistence::{ApplicationRecorder, AsyncApplicationRecorder};
/// use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore, PostgresSettings};
///
/// let settings = PostgresSettings::new("eventsourcing", "127.0.0.1", "eventsourcing", "secret");
///
/// // Blocking, from any thread.
/// let datastore = Arc::new(PostgresDatastore::new(settings.clone())?);
/// let recorder = PostgresApplicationRecorder::new(datastore, "worlds_events", "worlds_tracking")?;
/// let max = ApplicationRecorder::max_notification_id(&recorder)?;
///
/// // Async, in a tokio runtime (with I/O and timers enabled).
/// # let runtime = tokio::runtime::Runtime::new().unwrap();
/// # runtime.block_on(async {
/// let datastore = Arc::new(PostgresDatastore::native(settings)?);
/// let recorder =
///     PostgresApplicationRecorder::new_async(datastore, "worlds_events", "worlds_tracking").await?;
/// assert_eq!(AsyncApplicationRecorder::max_notification_id(&recorder).await?, max);
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// # })?;
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
pub struct PostgresDatastore {
    // Dropped before the bridge: the pool's connections end before their runtime does.
    core: Arc<Core>,
    bridge: Option<Bridge>,
}

impl std::fmt::Debug for PostgresDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings = &self.core.settings;
        f.debug_struct("PostgresDatastore")
            .field("host", &settings.host)
            .field("port", &settings.port)
            .field("dbname", &settings.dbname)
            .field("schema", &settings.schema)
            .field("blocking", &self.bridge.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresDatastore {
    /// A pool of connections with `settings`, on a runtime of its own: its recorders have both
    /// faces (see the type's docs). The runtime has one thread, `postgres-io`, which runs the
    /// connections' tasks (and the async face's calls); it stops when the datastore is dropped.
    /// Connections are opened lazily, so this does not fail when the server is down; the first
    /// operation does, after the connect timeout.
    pub fn new(settings: PostgresSettings) -> Result<Self, PersistenceError> {
        let bridge = Bridge::new("postgres")?;
        Ok(PostgresDatastore {
            core: Arc::new(Core::new(settings)?),
            bridge: Some(bridge),
        })
    }

    /// A pool of connections with `settings` for the async face only: each connection's task
    /// runs on the tokio runtime of the task that opens it, and no thread is held while waiting
    /// on the database. Its recorders' blocking methods fail with an
    /// [`ErrorKind::NotSupported`] error. The runtime must have I/O and timers enabled (as
    /// `#[tokio::main]` and `#[tokio::test]` do).
    pub fn native(settings: PostgresSettings) -> Result<Self, PersistenceError> {
        Ok(PostgresDatastore {
            core: Arc::new(Core::new(settings)?),
            bridge: None,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &PostgresSettings {
        &self.core.settings
    }

    /// Whether the recorders have the blocking face (the datastore was made with
    /// [`new`](PostgresDatastore::new)).
    pub fn is_blocking(&self) -> bool {
        self.bridge.is_some()
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The runtime of its own, if it has one.
    pub(crate) fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.bridge.as_ref().map(|bridge| bridge.handle().clone())
    }

    /// Runs `work` for the async face. On a datastore with a runtime of its own, `work` becomes
    /// a task there when first polled (which then runs to its end even if the caller stops
    /// waiting); otherwise it runs in the caller's task, which must be in a tokio runtime.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, PersistenceError>> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, PersistenceError>> {
        match &self.bridge {
            Some(bridge) => {
                let runtime = bridge.handle().clone();
                Box::pin(async move {
                    runtime.spawn(work).await.map_err(|error| {
                        PersistenceError::database_caused_by(
                            ErrorKind::Internal,
                            "a PostgreSQL recorder call was lost: its task panicked, or the \
                             recorder's runtime is shutting down",
                            error,
                        )
                    })?
                })
            }
            None => Box::pin(async move {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(PersistenceError::database(
                        ErrorKind::Operational,
                        "the async face of a native PostgreSQL recorder must be awaited inside a \
                         tokio runtime (its connections run there)",
                    ));
                }
                work.await
            }),
        }
    }

    /// Runs `work` for the blocking face, on the datastore's runtime, and waits for it.
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, PersistenceError>> + Send + 'static,
    ) -> Result<T, PersistenceError> {
        match &self.bridge {
            Some(bridge) => bridge.block_on(work)?,
            None => Err(PersistenceError::database(
                ErrorKind::NotSupported,
                "this PostgreSQL recorder has the async face only (its datastore was made with \
                 PostgresDatastore::native): use the async methods, or a datastore made with \
                 PostgresDatastore::new",
            )),
        }
    }
}

/// What the recorders' async code uses: the pool and the settings.
pub(crate) struct Core {
    pool: Pool,
    settings: PostgresSettings,
}

impl Core {
    fn new(settings: PostgresSettings) -> Result<Self, PersistenceError> {
        let recycling_method = if settings.pre_ping {
            RecyclingMethod::Verified
        } else {
            RecyclingMethod::Fast
        };
        let manager =
            Manager::from_config(settings.config(), NoTls, ManagerConfig { recycling_method });
        let timeout = Some(settings.connect_timeout);
        let mut builder = Pool::builder(manager)
            .max_size(usize::try_from(settings.pool_size.max(1)).unwrap_or(usize::MAX))
            .runtime(Runtime::Tokio1)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout);
        if let Some(max_age) = settings.conn_max_age {
            // Checked when a connection is taken from the pool: one past its age is closed and
            // another taken or opened (so a max age of 0 means a new connection for each
            // operation, as in the reference).
            builder = builder.pre_recycle(Hook::sync_fn(move |_, metrics| {
                if metrics.age() >= max_age {
                    Err(HookError::message("older than POSTGRES_CONN_MAX_AGE"))
                } else {
                    Ok(())
                }
            }));
        }
        if !settings.idle_in_transaction_session_timeout.is_zero() {
            let setup: Arc<str> = format!(
                "SET idle_in_transaction_session_timeout = '{}ms'",
                settings.idle_in_transaction_session_timeout.as_millis()
            )
            .into();
            builder = builder.post_create(Hook::async_fn(move |client, _| {
                let setup = Arc::clone(&setup);
                Box::pin(async move {
                    client
                        .batch_execute(&setup)
                        .await
                        .map_err(HookError::Backend)
                })
            }));
        }
        let pool = builder.build().map_err(|error| {
            PersistenceError::database_caused_by(
                ErrorKind::Internal,
                "can't make the PostgreSQL connection pool",
                error,
            )
        })?;
        Ok(Core { pool, settings })
    }

    pub(crate) fn settings(&self) -> &PostgresSettings {
        &self.settings
    }

    /// A table name qualified with the schema, if one is set.
    pub(crate) fn qualified(&self, table: &str) -> String {
        match &self.settings.schema {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_string(),
        }
    }

    /// A connection from the pool. A connection that can't be opened because the server
    /// refused it or the network failed is tried again until the connect timeout has passed;
    /// then, or when the server rejects it (authentication, an unknown database), or when no
    /// connection of the pool came free in time, the error is operational, and not retried by
    /// the callers.
    pub(crate) async fn connection(&self) -> Result<Connection, PersistenceError> {
        let deadline = Instant::now() + self.settings.connect_timeout;
        loop {
            match self.pool.get().await {
                Ok(object) => {
                    return Ok(Connection {
                        object: Some(object),
                        busy: false,
                    })
                }
                Err(error)
                    if worth_reconnecting(&error)
                        && Instant::now() + CONNECT_RETRY_WAIT < deadline =>
                {
                    tracing::debug!(%error, "can't open a PostgreSQL connection; trying again");
                    tokio::time::sleep(CONNECT_RETRY_WAIT).await;
                }
                Err(error) => return Err(self.unreachable(error)),
            }
        }
    }

    fn unreachable(&self, error: PoolError) -> PersistenceError {
        let settings = &self.settings;
        PersistenceError::database_caused_by(
            ErrorKind::Operational,
            format!(
                "can't connect to PostgreSQL at {}:{} (database {:?}) within {:?}: {error}",
                settings.host, settings.port, settings.dbname, settings.connect_timeout
            ),
            error,
        )
    }

    /// Creates tables (and the schema) if they do not exist. Concurrent `CREATE TABLE IF NOT
    /// EXISTS` can fail in PostgreSQL, so creators take turns on an advisory lock.
    pub(crate) async fn create_tables(&self, ddl: &str) -> Result<(), PersistenceError> {
        let sql = self.creation_transaction(ddl);
        retrying(|| self.execute_transaction(&sql, "can't create tables")).await
    }

    /// The transaction that runs `ddl`: the schema created first, creators taking turns.
    fn creation_transaction(&self, ddl: &str) -> String {
        let schema = match &self.settings.schema {
            Some(schema) => format!("CREATE SCHEMA IF NOT EXISTS {schema};"),
            None => String::new(),
        };
        format!("BEGIN; SELECT pg_advisory_xact_lock(4657926538279); {schema} {ddl} COMMIT;")
    }

    /// Creates an application's tables as [`create_tables`](Core::create_tables) does, and
    /// reads the shape of its tracking table `tracking` (qualified) on the same connection.
    pub(crate) async fn create_application_tables(
        &self,
        ddl: &str,
        tracking: &str,
    ) -> Result<super::tables::TrackingShape, PersistenceError> {
        let sql = self.creation_transaction(ddl);
        retrying(|| async {
            let mut connection = self.connection().await?;
            connection
                .transaction(&sql)
                .await
                .map_err(|error| postgres_error(error, "can't create tables"))?;
            tracking_shape(&connection, tracking).await
        })
        .await
    }

    /// Runs `sql`, a whole transaction, once, on a connection of the pool.
    async fn execute_transaction(&self, sql: &str, context: &str) -> Result<(), PersistenceError> {
        let mut connection = self.connection().await?;
        connection
            .transaction(sql)
            .await
            .map_err(|error| postgres_error(error, context))
    }
}

/// The shape of the tracking table `table` (qualified), from its primary key.
pub(crate) async fn tracking_shape(
    connection: &Connection,
    table: &str,
) -> Result<super::tables::TrackingShape, PersistenceError> {
    let context = || format!("can't read the primary key of {table}");
    let row = connection
        .client()
        .query_one(
            "SELECT COALESCE((SELECT indnatts FROM pg_index WHERE indisprimary \
             AND indrelid = to_regclass($1::text)), 0)::int4",
            &[&table],
        )
        .await
        .map_err(|error| postgres_error(error, context()))?;
    let columns: i32 = row
        .try_get(0)
        .map_err(|error| postgres_error(error, context()))?;
    super::tables::TrackingShape::of_key_columns(table, i64::from(columns))
}

/// Whether a failure to get a connection may pass if tried again: the server or the network
/// failed (no answer, refused, cut, or the server is starting or shutting down, or has too many
/// connections).
fn worth_reconnecting(error: &PoolError) -> bool {
    let driver = match error {
        PoolError::Backend(error) | PoolError::PostCreateHook(HookError::Backend(error)) => error,
        _ => return false,
    };
    match driver.code() {
        None => true,
        Some(code) => matches!(&code.code()[..2], "08" | "53" | "57"),
    }
}

/// Runs `attempt` until it succeeds, fails with an error other than an interface error (a
/// connection that failed while in use), or has been tried [`MAX_ATTEMPTS`] times, waiting
/// [`RETRY_WAIT`] between attempts.
pub(crate) async fn retrying<T, F>(mut attempt: impl FnMut() -> F) -> Result<T, PersistenceError>
where
    F: Future<Output = Result<T, PersistenceError>>,
{
    let mut attempts = 1;
    loop {
        match attempt().await {
            Err(error) if error.kind() == ErrorKind::Interface && attempts < MAX_ATTEMPTS => {
                tracing::warn!(attempt = attempts, %error, "PostgreSQL connection failed; retrying");
                attempts += 1;
                tokio::time::sleep(jittered(RETRY_WAIT)).await;
            }
            other => return other,
        }
    }
}

/// A connection taken from the pool. It goes back to the pool when dropped, unless it is
/// `busy`: inside a transaction, or waiting for the answer to a request made in one (its future
/// was dropped mid-way, or a rollback failed). A busy connection is closed instead, and taken
/// out of the pool, so that the next user never finds it in a transaction.
pub(crate) struct Connection {
    // `None` only while being dropped.
    object: Option<Object>,
    busy: bool,
}

impl Connection {
    /// The client.
    pub(crate) fn client(&self) -> &ClientWrapper {
        match &self.object {
            Some(object) => object,
            None => unreachable!("the connection is taken out only when dropped"),
        }
    }

    /// Whether the connection has closed (the server or the network ended it).
    pub(crate) fn is_closed(&self) -> bool {
        self.client().is_closed()
    }

    /// Runs `sql`, a whole transaction (`BEGIN; …; COMMIT;`), as one simple query: one message,
    /// one round trip. On an error from the server, the transaction is rolled back, so that the
    /// connection can be used again; if the connection failed instead, or the rollback did, it
    /// is left busy, and closed when dropped.
    pub(crate) async fn transaction(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.busy = true;
        let result = self.client().batch_execute(sql).await;
        match &result {
            Ok(()) => self.busy = false,
            Err(error) if error.code().is_some() && kind(error) != ErrorKind::Interface => {
                self.rollback().await;
            }
            Err(_) => {}
        }
        result
    }

    /// Begins a transaction with `sql` (`BEGIN; …`), which [`rollback`](Connection::rollback)
    /// ends; until then, the connection is busy.
    pub(crate) async fn begin(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.busy = true;
        self.client().batch_execute(sql).await
    }

    /// The transaction [`begin`](Connection::begin) started has been committed: the connection
    /// is no longer busy.
    pub(crate) fn committed(&mut self) {
        self.busy = false;
    }

    /// Rolls back the connection's transaction, if any; the connection is no longer busy if
    /// that succeeded.
    pub(crate) async fn rollback(&mut self) {
        if !self.is_closed() && self.client().batch_execute("ROLLBACK").await.is_ok() {
            self.busy = false;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.busy {
            if let Some(object) = self.object.take() {
                // Out of the pool; dropping the client ends its connection.
                drop(Object::take(object));
            }
        }
    }
}

/// `wait`, plus or minus 5%.
pub(crate) fn jittered(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.95 + 0.1 * f64::from(nanos % 1000) / 1000.0;
    wait.mul_f64(factor)
}
