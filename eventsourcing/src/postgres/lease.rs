//! [`PostgresLease`]: a lease held by a PostgreSQL session-level advisory lock.

use std::sync::{Arc, Mutex};

use tokio_postgres::NoTls;

use super::datastore::PostgresDatastore;
use super::error::postgres_error;
use crate::persistence::{Bridge, Lease, LeaseGuard, PersistenceError};

/// A lease held by a session-level advisory lock (`pg_try_advisory_lock`) on a connection of
/// its own: one holder at a time among the replicas on any machine that share the database.
/// The server releases the lock when the holder's session ends: when its process dies (the
/// operating system closes its connections) or its connection is lost, so a standby takes over
/// at its next try. The guard notices a lost connection ([`LeaseGuard::is_held`] is then false),
/// since another replica may have taken the lease.
///
/// The lock's key is derived from the lease's name (FNV-1a of it), so every replica of a worker
/// names the same lease.
///
/// ```no_run
/// use std::sync::{Arc, Mutex};
/// use eventsourcing::persistence::Lease;
/// use eventsourcing::postgres::{PostgresDatastore, PostgresLease, PostgresSettings};
///
/// let settings = PostgresSettings::new("eventsourcing", "127.0.0.1", "eventsourcing", "secret");
/// let datastore = Arc::new(PostgresDatastore::new(settings)?);
/// let lease = PostgresLease::new(datastore, "worker-counters");
/// if let Some(mut held) = lease.try_acquire()? {
///     assert!(held.is_held());
/// }
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PostgresLease {
    datastore: Arc<PostgresDatastore>,
    name: String,
    key: i64,
    /// The runtime the lock's session runs on, made at the first try and kept by the guards.
    bridge: Arc<Mutex<Option<Bridge>>>,
}

impl PostgresLease {
    /// The lease `name` in `datastore`'s database (its connection settings are used; its pool is
    /// not).
    pub fn new(datastore: Arc<PostgresDatastore>, name: impl Into<String>) -> Self {
        let name = name.into();
        PostgresLease {
            key: key_of(&name),
            datastore,
            name,
            bridge: Arc::default(),
        }
    }

    /// The advisory lock's key.
    pub fn key(&self) -> i64 {
        self.key
    }
}

/// FNV-1a of `name`, as an advisory lock key.
fn key_of(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl Lease for PostgresLease {
    fn try_acquire(&self) -> Result<Option<Box<dyn LeaseGuard>>, PersistenceError> {
        // The lock's session must outlive this call, so its connection runs on a runtime of the
        // lease's, which the guard keeps.
        let bridge = {
            let mut bridge = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
            match &*bridge {
                Some(bridge) => bridge.clone(),
                None => bridge.insert(Bridge::new("postgres-lease")?).clone(),
            }
        };
        let config = self.datastore.settings().config();
        let key = self.key;
        let name = self.name.clone();
        let handle = bridge.handle().clone();
        let acquired = bridge.block_on(async move {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|e| postgres_error(e, format!("can't connect for the lease {name:?}")))?;
            let driver = handle.spawn(connection);
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(|e| postgres_error(e, format!("can't try the lease {name:?}")))?;
            let held: bool = row
                .try_get(0)
                .map_err(|e| postgres_error(e, "can't read the advisory lock's answer"))?;
            if held {
                Ok::<_, PersistenceError>(Some((client, driver)))
            } else {
                driver.abort();
                Ok(None)
            }
        })??;
        Ok(acquired.map(|(client, driver)| {
            Box::new(PostgresLeaseGuard {
                client: Some(client),
                driver,
                _bridge: bridge,
            }) as Box<dyn LeaseGuard>
        }))
    }
}

/// A held [`PostgresLease`]: the session that holds the advisory lock.
struct PostgresLeaseGuard {
    client: Option<tokio_postgres::Client>,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    _bridge: Bridge,
}

impl LeaseGuard for PostgresLeaseGuard {
    fn is_held(&mut self) -> bool {
        // The session ends with its connection: the lock was released then.
        match &self.client {
            Some(client) => !client.is_closed() && !self.driver.is_finished(),
            None => false,
        }
    }
}

impl Drop for PostgresLeaseGuard {
    fn drop(&mut self) {
        // Ending the session releases the lock.
        drop(self.client.take());
        self.driver.abort();
    }
}
