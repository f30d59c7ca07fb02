//! Choosing and building the persistence infrastructure from the configuration: the reference
//! library's `InfrastructureFactory`.

use std::sync::Arc;

use super::config::{
    Environment, CIPHER_KEY, CIPHER_TOPIC, COMPRESSOR_TOPIC, INFRASTRUCTURE_FACTORY,
    PERSISTENCE_MODULE,
};
use super::error::{ApplicationError, ConfigError};
use crate::persistence::{
    AesCipher, AggregateRecorder, Cipher, Compressor, ProcessRecorder, ZlibCompressor,
};
use crate::memory::InMemoryRecorder;

/// The recorders of an application.
pub(crate) struct Infrastructure {
    /// The application's events, notification log and tracking records.
    pub(crate) recorder: Arc<dyn ProcessRecorder>,
    /// Snapshots, when snapshotting is enabled.
    pub(crate) snapshots: Option<Arc<dyn AggregateRecorder>>,
}

/// The backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// Which backend the configuration asks for (`PERSISTENCE_MODULE`, else
/// `INFRASTRUCTURE_FACTORY`, else in memory).
pub(crate) fn backend(env: &Environment) -> Result<Backend, ConfigError> {
    let (variable, value) = match env.get(PERSISTENCE_MODULE) {
        Some(value) => (PERSISTENCE_MODULE, value),
        None => match env.get(INFRASTRUCTURE_FACTORY) {
            Some(value) => (INFRASTRUCTURE_FACTORY, value),
            None => return Ok(Backend::Memory),
        },
    };
    let module = value.strip_suffix(":Factory").unwrap_or(value);
    match module {
        "eventsourcing.memory" | "memory" | "eventsourcing.popo" | "popo" => Ok(Backend::Memory),
        "eventsourcing.sqlite" | "sqlite" => Ok(Backend::Sqlite),
        "eventsourcing.postgres" | "postgres" | "postgresql" => Ok(Backend::Postgres),
        _ => Err(ConfigError::new(
            env.name_of(variable),
            format!(
                "unknown persistence module {value:?}: expected eventsourcing.popo (in memory), \
                 eventsourcing.sqlite or eventsourcing.postgres"
            ),
        )),
    }
}

/// Builds the recorders the configuration asks for.
pub(crate) fn construct(
    env: &Environment,
    snapshotting: bool,
) -> Result<Infrastructure, ApplicationError> {
    match backend(env)? {
        Backend::Memory => Ok(Infrastructure {
            recorder: Arc::new(InMemoryRecorder::new()),
            snapshots: snapshotting
                .then(|| Arc::new(InMemoryRecorder::new()) as Arc<dyn AggregateRecorder>),
        }),
        Backend::Sqlite => sqlite(env, snapshotting),
        Backend::Postgres => postgres(env, snapshotting),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(env: &Environment, snapshotting: bool) -> Result<Infrastructure, ApplicationError> {
    use super::config::{SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT};
    use crate::sqlite::{
        SqliteAggregateRecorder, SqliteApplicationRecorder, SqliteDatastore, Synchronous,
        DEFAULT_LOCK_TIMEOUT,
    };

    let db_name = env.get(SQLITE_DBNAME).ok_or_else(|| {
        ConfigError::new(
            SQLITE_DBNAME,
            "SQLite database name not found in environment with key 'SQLITE_DBNAME'",
        )
    })?;
    let lock_timeout = env
        .get_parsed::<u64>(SQLITE_LOCK_TIMEOUT, "an integer number of seconds")?
        .map_or(DEFAULT_LOCK_TIMEOUT, std::time::Duration::from_secs);
    let datastore = Arc::new(SqliteDatastore::open_with(
        db_name,
        lock_timeout,
        Synchronous::Full,
    )?);
    let recorder = SqliteApplicationRecorder::new(Arc::clone(&datastore))?;
    let snapshots = if snapshotting {
        Some(
            Arc::new(SqliteAggregateRecorder::new(datastore, "stored_snapshots")?)
                as Arc<dyn AggregateRecorder>,
        )
    } else {
        None
    };
    Ok(Infrastructure {
        recorder: Arc::new(recorder),
        snapshots,
    })
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_env: &Environment, _snapshotting: bool) -> Result<Infrastructure, ApplicationError> {
    Err(ConfigError::new(
        PERSISTENCE_MODULE,
        "SQLite support is not compiled in: enable the `sqlite` feature of eventsourcing",
    )
    .into())
}

#[cfg(feature = "postgres")]
fn postgres(env: &Environment, snapshotting: bool) -> Result<Infrastructure, ApplicationError> {
    crate::postgres::construct_infrastructure(env, snapshotting)
}

#[cfg(not(feature = "postgres"))]
fn postgres(_env: &Environment, _snapshotting: bool) -> Result<Infrastructure, ApplicationError> {
    Err(ConfigError::new(
        PERSISTENCE_MODULE,
        "PostgreSQL support is not compiled in: enable the `postgres` feature of eventsourcing",
    )
    .into())
}

/// The cipher the configuration asks for (`CIPHER_TOPIC`, `CIPHER_KEY`).
pub(crate) fn cipher(env: &Environment) -> Result<Option<Arc<dyn Cipher>>, ConfigError> {
    let topic = env.get(CIPHER_TOPIC);
    let key = env.get(CIPHER_KEY);
    let key = match (topic, key) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::new(
                CIPHER_KEY,
                "'CIPHER_KEY' not set in env, although 'CIPHER_TOPIC' was set",
            ))
        }
        (_, Some(key)) => key,
    };
    match topic.unwrap_or("eventsourcing.cipher:AESCipher") {
        "eventsourcing.cipher:AESCipher" | "AESCipher" | "aes" | "aes-gcm" => {
            let cipher = AesCipher::new(key)
                .map_err(|e| ConfigError::new(env.name_of(CIPHER_KEY), e.to_string()))?;
            Ok(Some(Arc::new(cipher)))
        }
        other => Err(ConfigError::new(
            env.name_of(CIPHER_TOPIC),
            format!("unknown cipher {other:?}: expected eventsourcing.cipher:AESCipher"),
        )),
    }
}

/// The compressor the configuration asks for (`COMPRESSOR_TOPIC`).
pub(crate) fn compressor(env: &Environment) -> Result<Option<Arc<dyn Compressor>>, ConfigError> {
    match env.get(COMPRESSOR_TOPIC) {
        None => Ok(None),
        Some("eventsourcing.compressor:ZlibCompressor" | "ZlibCompressor" | "zlib") => {
            Ok(Some(Arc::new(ZlibCompressor::default())))
        }
        Some(other) => Err(ConfigError::new(
            env.name_of(COMPRESSOR_TOPIC),
            format!(
                "unknown compressor {other:?}: expected eventsourcing.compressor:ZlibCompressor"
            ),
        )),
    }
}
