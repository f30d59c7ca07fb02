//! PostgreSQL recorders (feature `postgres`): for applications whose processes, on one machine
//! or several, share one database.
//!
//! Tables are per application, as in the reference: `{app}_events` (events with a `BIGSERIAL`
//! notification id), `{app}_snapshots` and `{app}_tracking`, where `{app}` is the application's
//! name in lower case, optionally in a schema (`POSTGRES_SCHEMA`), created on first use.
//! Connections come from a pool; an operation whose connection fails (for example because the
//! server ended it) is retried on a new connection, up to 10 times, 0.2 s apart.
//!
//! Errors: a connection lost while in use is an interface error ([`ErrorKind::Interface`]),
//! which is retried as above; a server that can't be reached at all (refused, unroutable, or
//! not answering) is an operational error ([`ErrorKind::Operational`]) after
//! `POSTGRES_CONNECT_TIMEOUT`, not retried, since waiting 10 more timeouts would rarely help.
//! (The reference raises an interface error there, and so retries it.) An insert whose
//! connection fails while committing is checked, on a new connection, for whether it
//! committed: it is reported as saved only if it did.
//!
//! [`ErrorKind::Interface`]: crate::persistence::ErrorKind::Interface
//! [`ErrorKind::Operational`]: crate::persistence::ErrorKind::Operational

mod conflict;
mod datastore;
mod error;
mod recorder;

use std::sync::Arc;
use std::time::Duration;

pub use datastore::{PostgresDatastore, PostgresSettings};
pub use recorder::{PostgresAggregateRecorder, PostgresApplicationRecorder};

use crate::persistence::{
    AggregateRecorder, ConfigError, Environment, FactoryError, InfrastructureFactory, Recorders,
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
        recorder::check_identifier(schema)
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

/// The PostgreSQL backend's factory (`PERSISTENCE_MODULE=eventsourcing.postgres`): the server
/// and connection settings from the `POSTGRES_*` variables ([`settings_from_env`]), and the
/// tables `{app}_events`, `{app}_tracking` and, when snapshotting, `{app}_snapshots`, where
/// `{app}` is the application's name in lower case (`stored_events`, `notification_tracking`
/// and `stored_snapshots` for an application without a name).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresFactory;

impl InfrastructureFactory for PostgresFactory {
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        let settings = settings_from_env(env)?;
        let datastore = Arc::new(PostgresDatastore::new(settings)?);
        let name = env.name().to_lowercase();
        let prefix = if name.is_empty() {
            "stored"
        } else {
            name.as_str()
        };
        let tracking = if name.is_empty() {
            "notification"
        } else {
            name.as_str()
        };
        let events = PostgresApplicationRecorder::new(
            Arc::clone(&datastore),
            &format!("{prefix}_events"),
            &format!("{tracking}_tracking"),
        )?;
        let snapshots = if snapshotting {
            Some(Arc::new(PostgresAggregateRecorder::new(
                datastore,
                &format!("{prefix}_snapshots"),
            )?) as Arc<dyn AggregateRecorder>)
        } else {
            None
        };
        Ok(Recorders::new(Arc::new(events), snapshots))
    }
}
