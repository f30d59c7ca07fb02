//! PostgreSQL recorders (feature `postgres`): for applications whose processes, on one machine
//! or several, share one database.
//!
//! Tables are per application, as in the reference: `{app}_events` (events with a `BIGSERIAL`
//! notification id), `{app}_snapshots` and `{app}_tracking`, where `{app}` is the application's
//! name in lower case, optionally in a schema (`POSTGRES_SCHEMA`), created on first use.
//! Connections come from a pool; an operation whose connection fails (for example because the
//! server ended it) is retried on a new connection, up to 10 times, 0.2 s apart.
//!
//! # One implementation, two faces
//!
//! The recorders are written once, in async Rust, on [`tokio-postgres`] with a
//! [`deadpool-postgres`] pool, and each has both faces:
//!
//! - **async** ([`AsyncProcessRecorder`] and its supertraits): the native implementation.
//!   [`PostgresFactory::async_recorders`] builds recorders on a [`PostgresDatastore::native`]
//!   datastore, whose connections' tasks run on the caller's tokio runtime: waiting on the
//!   database holds no thread.
//! - **blocking** ([`ProcessRecorder`] and its supertraits): the same async methods, run to
//!   completion on a runtime of the datastore's own (a [`Bridge`], one worker thread, which
//!   also runs the connections' tasks). [`PostgresFactory::recorders`] builds recorders on a
//!   [`PostgresDatastore::new`] datastore. The blocking methods work from any thread, inside a
//!   tokio runtime (multi-thread or current-thread) or not, and never panic there, unlike the
//!   blocking `postgres` client, which starts a runtime of its own on the calling thread.
//!
//! The pool is deadpool's (rather than bb8's): it is the one most `tokio-postgres` users use,
//! its objects are plain `tokio-postgres` clients with a per-connection cache of prepared
//! statements (`prepare_cached`, used for every read here), it has timeouts for creating,
//! waiting for and recycling a connection and hooks around recycling (`POSTGRES_CONN_MAX_AGE`
//! is a pre-recycle hook on the connection's age; `POSTGRES_PRE_PING` is its verified
//! recycling), and it needs no glue to run on tokio.
//!
//! # Group commit
//!
//! Inserts take the events table's `EXCLUSIVE` lock until they commit (so that notification
//! ids are committed in order), so a table's writers commit one at a time. A recorder's
//! concurrent inserts without tracking records therefore share transactions: while one is
//! being inserted, the others queue, and are then inserted together, each save still all or
//! nothing, and a save that conflicts failing alone (see `combine.rs`). Inserts with tracking
//! records (process applications) are not combined.
//!
//! # Cancellation
//!
//! Dropping an async insert's future, at any point, stores all of its batch or none of it, and
//! leaves no connection in the pool that a later operation could find in a transaction:
//!
//! - The whole insert transaction (`BEGIN; SET LOCAL lock_timeout …; LOCK TABLE … IN EXCLUSIVE
//!   MODE; INSERT …; tracking check and insert; COMMIT;`) is one simple-query message. The
//!   connection's task sends it, whole, whether or not the caller still waits, and the server
//!   runs it as one transaction: it commits entirely, or, if the message is cut short or the
//!   connection closed before the commit, not at all.
//! - A connection whose future was dropped while it was inside a transaction or waiting for a
//!   transaction's answer is not given back to the pool: it is closed (and replaced when
//!   needed). Connections dropped between requests, or while a read was in flight (which the
//!   connection's task finishes reading on its own), go back to the pool as usual.
//! - On a [`PostgresDatastore::new`] datastore, the async face runs each call, once its
//!   future is first polled, as a task on the datastore's runtime, which finishes it even if
//!   the caller stops waiting.
//!
//! As after a lost connection, the caller can't tell which happened: a save retried after a
//! cancelled one may find its own events stored already (a conflict).
//!
//! # Errors
//!
//! A connection lost while in use is an interface error ([`ErrorKind::Interface`]), which is
//! retried as above; a server that can't be reached at all (refused, unroutable, or not
//! answering) is an operational error ([`ErrorKind::Operational`]) after
//! `POSTGRES_CONNECT_TIMEOUT`, not retried, since waiting 10 more timeouts would rarely help.
//! (The reference raises an interface error there, and so retries it.) An insert whose
//! connection fails while committing is checked, on a new connection, for whether it
//! committed: it is reported as saved only if it did.
//!
//! [`tokio-postgres`]: tokio_postgres
//! [`deadpool-postgres`]: deadpool_postgres
//! [`ErrorKind::Interface`]: crate::persistence::ErrorKind::Interface
//! [`ErrorKind::Operational`]: crate::persistence::ErrorKind::Operational
//! [`AsyncProcessRecorder`]: crate::persistence::AsyncProcessRecorder
//! [`ProcessRecorder`]: crate::persistence::ProcessRecorder
//! [`Bridge`]: crate::persistence::Bridge

mod combine;
mod conflict;
mod data_keys;
mod datastore;
mod error;
mod insert;
mod inspect;
mod lease;
mod listener;
mod recorder;
mod settings;
mod tables;
mod view;

use std::sync::Arc;
use std::time::Duration;

pub use data_keys::PostgresDataKeys;
pub use datastore::PostgresDatastore;
pub use inspect::PostgresInspector;
pub use lease::PostgresLease;
pub use recorder::{PostgresAggregateRecorder, PostgresApplicationRecorder};
pub use settings::PostgresSettings;
pub use view::{param, Param, PostgresView, PostgresViewTransaction};

use crate::persistence::{
    AggregateRecorder, AsyncAggregateRecorder, AsyncRecorders, BoxFuture, ConfigError,
    DataKeyRecorder, Environment, FactoryError, InfrastructureFactory, Recorders,
};

/// `POSTGRES_DBNAME`: the database (required).
pub const POSTGRES_DBNAME: &str = "POSTGRES_DBNAME";
/// `POSTGRES_HOST`: the server's host (required).
pub const POSTGRES_HOST: &str = "POSTGRES_HOST";
/// `POSTGRES_PORT`: the server's port (default 5432).
pub const POSTGRES_PORT: &str = "POSTGRES_PORT";
/// `POSTGRES_USER`: the user (required).
pub const POSTGRES_USER: &str = "POSTGRES_USER";
/// `POSTGRES_PASSWORD`: the password (may be omitted with trust or peer authentication; the
/// reference requires it).
pub const POSTGRES_PASSWORD: &str = "POSTGRES_PASSWORD";
/// `POSTGRES_CONN_MAX_AGE`: seconds (a float) after which a connection is closed and replaced.
pub const POSTGRES_CONN_MAX_AGE: &str = "POSTGRES_CONN_MAX_AGE";
/// `POSTGRES_PRE_PING`: check each connection with a round trip before using it.
pub const POSTGRES_PRE_PING: &str = "POSTGRES_PRE_PING";
/// `POSTGRES_LOCK_TIMEOUT`: seconds (an integer) an insert waits for the table lock; 0 waits
/// forever.
pub const POSTGRES_LOCK_TIMEOUT: &str = "POSTGRES_LOCK_TIMEOUT";
/// `POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT`: seconds (an integer) after which the server
/// ends a session idle inside a transaction; 0 never.
pub const POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT: &str =
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT";
/// `POSTGRES_SCHEMA`: the schema of the tables.
pub const POSTGRES_SCHEMA: &str = "POSTGRES_SCHEMA";
/// `POSTGRES_POOL_SIZE`: the most connections kept open (default 5).
pub const POSTGRES_POOL_SIZE: &str = "POSTGRES_POOL_SIZE";
/// `POSTGRES_CONNECT_TIMEOUT`: seconds (an integer; 0 counts as 1) to wait for a connection
/// (default 5). A server that can't be reached in this time is an operational error.
pub const POSTGRES_CONNECT_TIMEOUT: &str = "POSTGRES_CONNECT_TIMEOUT";
/// `POSTGRES_APPLICATION_NAME`: the name the connections give the server, shown in
/// `pg_stat_activity` (default `eventsourcing`).
pub const POSTGRES_APPLICATION_NAME: &str = "POSTGRES_APPLICATION_NAME";

fn required<'a>(env: &'a Environment, key: &str, what: &str) -> Result<&'a str, ConfigError> {
    env.get(key).ok_or_else(|| {
        ConfigError::new(
            key,
            format!("Postgres {what} not found in environment with key '{key}'"),
        )
    })
}

/// The settings from the environment (the reference's variables, with its messages).
pub fn settings_from_env(env: &Environment) -> Result<PostgresSettings, ConfigError> {
    let mut settings = PostgresSettings::new(
        required(env, POSTGRES_DBNAME, "database name")?,
        required(env, POSTGRES_HOST, "host")?,
        required(env, POSTGRES_USER, "user")?,
        env.get(POSTGRES_PASSWORD).unwrap_or_default(),
    );
    if let Some(port) = env.get_parsed::<u16>(POSTGRES_PORT, "a port number")? {
        settings.port = port;
    }
    settings.conn_max_age = env
        .get_parsed::<f64>(POSTGRES_CONN_MAX_AGE, "a float or empty string")?
        .map(|secs| {
            // A negative age is 0 (the reference closes such connections at once); NaN and
            // infinities, which parse as floats, are not ages.
            Duration::try_from_secs_f64(secs.max(0.0))
                .ok()
                .filter(|_| secs.is_finite())
                .ok_or_else(|| {
                    ConfigError::new(
                        env.name_of(POSTGRES_CONN_MAX_AGE),
                        format!(
                            "{:?} is invalid: if set, a finite number of seconds is expected",
                            env.get(POSTGRES_CONN_MAX_AGE).unwrap_or_default()
                        ),
                    )
                })
        })
        .transpose()?;
    settings.pre_ping = env.get_bool(POSTGRES_PRE_PING, false)?;
    if let Some(secs) =
        env.get_parsed::<u64>(POSTGRES_LOCK_TIMEOUT, "an integer or empty string")?
    {
        settings.lock_timeout = Duration::from_secs(secs);
    }
    if let Some(secs) = env.get_parsed::<u64>(
        POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        "an integer or empty string",
    )? {
        settings.idle_in_transaction_session_timeout = Duration::from_secs(secs);
    }
    if let Some(schema) = env.get(POSTGRES_SCHEMA) {
        tables::check_identifier(schema)
            .map_err(|e| ConfigError::new(env.name_of(POSTGRES_SCHEMA), e.to_string()))?;
        settings.schema = Some(schema.to_string());
    }
    if let Some(size) = env.get_parsed::<u32>(POSTGRES_POOL_SIZE, "a positive integer")? {
        if size == 0 {
            return Err(ConfigError::new(
                env.name_of(POSTGRES_POOL_SIZE),
                "0 is invalid: if set, a positive integer is expected",
            ));
        }
        settings.pool_size = size;
    }
    if let Some(secs) =
        env.get_parsed::<u64>(POSTGRES_CONNECT_TIMEOUT, "an integer number of seconds")?
    {
        settings.connect_timeout = Duration::from_secs(secs.max(1));
    }
    if let Some(name) = env.get(POSTGRES_APPLICATION_NAME) {
        settings.application_name = name.to_string();
    }
    Ok(settings)
}

/// The tables of the application `env.name()`: events, tracking and snapshots.
struct TableNames {
    events: String,
    tracking: String,
    snapshots: String,
    data_keys: String,
}

impl TableNames {
    fn of(env: &Environment) -> Self {
        let name = env.name().to_lowercase();
        let (prefix, tracking) = if name.is_empty() {
            ("stored", "notification")
        } else {
            (name.as_str(), name.as_str())
        };
        TableNames {
            events: format!("{prefix}_events"),
            tracking: format!("{tracking}_tracking"),
            snapshots: format!("{prefix}_snapshots"),
            data_keys: format!("{prefix}_data_keys"),
        }
    }
}

/// The PostgreSQL backend's factory (`PERSISTENCE_MODULE=eventsourcing.postgres`): the server
/// and connection settings from the `POSTGRES_*` variables ([`settings_from_env`]), and the
/// tables `{app}_events`, `{app}_tracking` and, when snapshotting, `{app}_snapshots`, where
/// `{app}` is the application's name in lower case (`stored_events`, `notification_tracking`
/// and `stored_snapshots` for an application without a name).
///
/// [`recorders`](InfrastructureFactory::recorders) builds blocking recorders, on a datastore
/// with a runtime of its own ([`PostgresDatastore::new`], one per call);
/// [`async_recorders`](InfrastructureFactory::async_recorders) builds native async ones, whose
/// connections run on the caller's runtime ([`PostgresDatastore::native`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresFactory;

/// An application's blocking recorders, as the factory opens them.
struct Opened {
    events: PostgresApplicationRecorder,
    snapshots: Option<Arc<dyn AggregateRecorder>>,
    names: TableNames,
}

impl PostgresFactory {
    /// The blocking recorders of the application `env.name()`: its events and, if
    /// `snapshotting`, its snapshots (tables created if they do not exist), and their names.
    fn open(env: &Environment, snapshotting: bool) -> Result<Opened, FactoryError> {
        let settings = settings_from_env(env)?;
        let datastore = Arc::new(PostgresDatastore::new(settings)?);
        let names = TableNames::of(env);
        let events = PostgresApplicationRecorder::new(
            Arc::clone(&datastore),
            &names.events,
            &names.tracking,
        )?;
        let snapshots = if snapshotting {
            Some(
                Arc::new(PostgresAggregateRecorder::new(datastore, &names.snapshots)?)
                    as Arc<dyn AggregateRecorder>,
            )
        } else {
            None
        };
        Ok(Opened {
            events,
            snapshots,
            names,
        })
    }
}

impl InfrastructureFactory for PostgresFactory {
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        let opened = Self::open(env, snapshotting)?;
        Ok(Recorders::new(Arc::new(opened.events), opened.snapshots))
    }

    /// The data keys are in the table `{app}_data_keys` ([`PostgresDataKeys`]).
    fn recorders_with_data_keys(
        &self,
        env: &Environment,
        snapshotting: bool,
    ) -> Result<(Recorders, Arc<dyn DataKeyRecorder>), FactoryError> {
        let Opened {
            events,
            snapshots,
            names,
        } = Self::open(env, snapshotting)?;
        let keys = PostgresDataKeys::new(
            &events,
            &names.data_keys,
            snapshotting.then_some(names.snapshots.as_str()),
        )?;
        Ok((Recorders::new(Arc::new(events), snapshots), Arc::new(keys)))
    }

    fn async_recorders<'a>(
        &'a self,
        env: &'a Environment,
        snapshotting: bool,
    ) -> BoxFuture<'a, Result<AsyncRecorders, FactoryError>> {
        Box::pin(async move {
            let settings = settings_from_env(env)?;
            let datastore = Arc::new(PostgresDatastore::native(settings)?);
            let names = TableNames::of(env);
            let events = PostgresApplicationRecorder::new_async(
                Arc::clone(&datastore),
                &names.events,
                &names.tracking,
            )
            .await?;
            let snapshots = if snapshotting {
                Some(Arc::new(
                    PostgresAggregateRecorder::new_async(datastore, &names.snapshots).await?,
                ) as Arc<dyn AsyncAggregateRecorder>)
            } else {
                None
            };
            Ok(AsyncRecorders::new(Arc::new(events), snapshots))
        })
    }
}
