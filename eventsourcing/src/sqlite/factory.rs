//! The SQLite backend's [`InfrastructureFactory`]: recorders of the database `SQLITE_DBNAME`.

use std::sync::Arc;
use std::time::Duration;

use super::data_keys::SqliteDataKeys;
use super::datastore::{SqliteDatastore, Synchronous, DEFAULT_LOCK_TIMEOUT};
use super::recorder::{SqliteAggregateRecorder, SqliteApplicationRecorder};
use crate::persistence::{
    AggregateRecorder, ConfigError, DataKeyRecorder, Environment, FactoryError,
    InfrastructureFactory, Recorders,
};

/// `SQLITE_DBNAME`: the SQLite database, a file path, `:memory:`, or a `file:` URI (required).
pub const SQLITE_DBNAME: &str = "SQLITE_DBNAME";
/// `SQLITE_LOCK_TIMEOUT`: seconds a writer waits for SQLite's write lock (an integer;
/// default 5).
pub const SQLITE_LOCK_TIMEOUT: &str = "SQLITE_LOCK_TIMEOUT";

/// The SQLite backend's factory (`PERSISTENCE_MODULE=eventsourcing.sqlite`): the tables
/// `stored_events` and `tracking`, and `stored_snapshots` when snapshotting, in the database
/// `SQLITE_DBNAME`, opened with the lock timeout `SQLITE_LOCK_TIMEOUT` and full durability.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteFactory;

impl SqliteFactory {
    /// The application recorder and, if `snapshotting`, the snapshot recorder, of the database
    /// the configuration names.
    fn open(
        env: &Environment,
        snapshotting: bool,
    ) -> Result<(SqliteApplicationRecorder, Option<SqliteAggregateRecorder>), FactoryError> {
        let db_name = env.get(SQLITE_DBNAME).ok_or_else(|| {
            ConfigError::new(
                SQLITE_DBNAME,
                "SQLite database name not found in environment with key 'SQLITE_DBNAME'",
            )
        })?;
        let lock_timeout = env
            .get_parsed::<u64>(SQLITE_LOCK_TIMEOUT, "an integer number of seconds")?
            .map_or(DEFAULT_LOCK_TIMEOUT, Duration::from_secs);
        let datastore = Arc::new(SqliteDatastore::open_with(
            db_name,
            lock_timeout,
            Synchronous::Full,
        )?);
        let events = SqliteApplicationRecorder::new(Arc::clone(&datastore))?;
        let snapshots = if snapshotting {
            Some(SqliteAggregateRecorder::new(datastore, SNAPSHOTS_TABLE)?)
        } else {
            None
        };
        Ok((events, snapshots))
    }
}

/// The snapshots' table.
const SNAPSHOTS_TABLE: &str = "stored_snapshots";

impl InfrastructureFactory for SqliteFactory {
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        let (events, snapshots) = Self::open(env, snapshotting)?;
        let snapshots = snapshots.map(|s| Arc::new(s) as Arc<dyn AggregateRecorder>);
        Ok(Recorders::new(Arc::new(events), snapshots))
    }

    /// The data keys are in the table `stored_data_keys` ([`SqliteDataKeys`]).
    fn recorders_with_data_keys(
        &self,
        env: &Environment,
        snapshotting: bool,
    ) -> Result<(Recorders, Arc<dyn DataKeyRecorder>), FactoryError> {
        let (events, snapshots) = Self::open(env, snapshotting)?;
        let keys = SqliteDataKeys::new(
            &events,
            "stored_data_keys",
            snapshots.as_ref().map(|_| SNAPSHOTS_TABLE),
        )?;
        let snapshots = snapshots.map(|s| Arc::new(s) as Arc<dyn AggregateRecorder>);
        Ok((Recorders::new(Arc::new(events), snapshots), Arc::new(keys)))
    }
}
