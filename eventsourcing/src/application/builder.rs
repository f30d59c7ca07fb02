//! The [`ApplicationBuilder`]: an application's configuration in code, and where its
//! recorders come from.

use std::any::type_name;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use super::app::Application;
use super::config::{
    ConfigError, Environment, CIPHER_KEY, CIPHER_TOPIC, COMPRESSOR_TOPIC, HASH_CHAIN,
    IS_SNAPSHOTTING_ENABLED, PERSISTENCE_MODULE, PER_AGGREGATE_KEYS, SQLITE_DBNAME,
    SQLITE_LOCK_TIMEOUT,
};
use super::error::ApplicationError;
use super::notification_log::{LocalNotificationLog, DEFAULT_SECTION_SIZE};
use super::repository::Repository;
use crate::domain::Aggregate;
use crate::persistence::{
    AggregateRecorder, DataKeyRecorder, EventStore, InfrastructureFactory, JsonTranscoder,
    KeyedRecorder, KeyedSnapshotRecorder, Keyring, ProcessRecorder, Recorders, Transcoder,
};

/// Builds an [`Application`]: configuration by environment variables (the reference's names),
/// or the equivalent typed settings, which are values given in code and so take precedence
/// over the process environment.
///
/// ```
/// use eventsourcing::application::Application;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("builder-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let app = Application::builder("Worlds")
///     .sqlite(dir.join("worlds.db"))
///     .snapshotting(true)
///     .build()?;
/// assert!(app.snapshots().is_some());
///
/// // The same, by environment variables (here given in code):
/// let app = Application::builder("Worlds")
///     .env("PERSISTENCE_MODULE", "eventsourcing.sqlite")
///     .env("SQLITE_DBNAME", dir.join("worlds.db").to_string_lossy())
///     .env("IS_SNAPSHOTTING_ENABLED", "y")
///     .build()?;
/// assert!(app.snapshots().is_some());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct ApplicationBuilder<T: Transcoder = JsonTranscoder> {
    env: Environment,
    transcoder: T,
    snapshotting_intervals: HashMap<&'static str, u64>,
    section_size: usize,
    infrastructure: Infrastructure,
}

/// Where a builder gets the application's recorders.
enum Infrastructure {
    /// From the factory the configuration names (`PERSISTENCE_MODULE`).
    Configured,
    /// From this factory.
    Factory(Arc<dyn InfrastructureFactory>),
    /// These recorders.
    Recorders(Recorders),
    /// These async recorders (for an `AsyncApplication` only).
    #[cfg(feature = "tokio")]
    AsyncRecorders(crate::persistence::AsyncRecorders),
}

impl ApplicationBuilder<JsonTranscoder> {
    /// A builder of the application `name`, starting from the process environment.
    pub fn new(name: impl Into<String>) -> Self {
        ApplicationBuilder {
            env: Environment::from_process(name),
            transcoder: JsonTranscoder,
            snapshotting_intervals: HashMap::new(),
            section_size: DEFAULT_SECTION_SIZE,
            infrastructure: Infrastructure::Configured,
        }
    }
}

impl<T: Transcoder> ApplicationBuilder<T> {
    /// Sets an environment variable in code (taking precedence over the process environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.set(key, value);
        self
    }

    /// Sets several environment variables in code.
    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (key, value) in values {
            self.env.set(key, value);
        }
        self
    }

    /// Sets a default, which the process environment overrides (what a class attribute is in
    /// the reference library).
    pub fn default_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.set_default(key, value);
        self
    }

    /// Ignores the process environment: only values given to this builder count.
    pub fn without_process_env(mut self) -> Self {
        self.env.clear_process();
        self
    }

    /// Stores events in memory (`PERSISTENCE_MODULE=eventsourcing.memory`).
    pub fn memory(self) -> Self {
        self.env(PERSISTENCE_MODULE, "eventsourcing.memory")
    }

    /// Stores events in the SQLite database `db_name`, a file path or `":memory:"`
    /// (`PERSISTENCE_MODULE=eventsourcing.sqlite`, `SQLITE_DBNAME=...`).
    pub fn sqlite(self, db_name: impl AsRef<std::path::Path>) -> Self {
        let db_name = db_name.as_ref().to_string_lossy().into_owned();
        self.env(PERSISTENCE_MODULE, "eventsourcing.sqlite")
            .env(SQLITE_DBNAME, db_name)
    }

    /// How many seconds a writer waits for SQLite's write lock (`SQLITE_LOCK_TIMEOUT`).
    pub fn sqlite_lock_timeout(self, seconds: u64) -> Self {
        self.env(SQLITE_LOCK_TIMEOUT, seconds.to_string())
    }

    /// Enables or disables snapshotting (`IS_SNAPSHOTTING_ENABLED`).
    pub fn snapshotting(self, enabled: bool) -> Self {
        self.env(IS_SNAPSHOTTING_ENABLED, if enabled { "y" } else { "n" })
    }

    /// Takes a snapshot of aggregates of type `A` automatically every `interval` events (at the
    /// versions that are multiples of `interval`). Enables snapshotting by default, which the
    /// environment can still turn off, as the reference's `snapshotting_intervals` does.
    pub fn snapshotting_interval<A: Aggregate>(mut self, interval: u64) -> Self {
        self.snapshotting_intervals.insert(A::TOPIC, interval);
        self.default_env(IS_SNAPSHOTTING_ENABLED, "y")
    }

    /// Encrypts stored state with AES-GCM and this key (base64 of 16, 24 or 32 bytes; see
    /// [`AesCipher::create_key`](crate::persistence::AesCipher::create_key)): `CIPHER_KEY`.
    pub fn cipher_key(self, key: impl Into<String>) -> Self {
        self.env(CIPHER_TOPIC, "eventsourcing.cipher:AESCipher")
            .env(CIPHER_KEY, key)
    }

    /// Encrypts each aggregate's events and snapshots under a data key of its own, stored
    /// encrypted under the application's key (`PER_AGGREGATE_KEYS`; needs
    /// [`cipher_key`](ApplicationBuilder::cipher_key)), so that
    /// [`Application::forget`] can make one aggregate unreadable for good: see the README's
    /// "Forgetting personal data". Needs a backend that keeps data keys
    /// ([`InfrastructureFactory::recorders_with_data_keys`]: memory, SQLite, PostgreSQL).
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    /// use eventsourcing::persistence::{AesCipher, Forgetting};
    ///
    /// #[aggregate]
    /// #[derive(Debug)]
    /// pub struct Customer { name: String }
    ///
    /// #[aggregate]
    /// impl Customer {
    ///     #[created("Registered")]
    ///     pub fn register(name: String) -> Self { Customer { name } }
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Application::builder("Customers")
    ///     .cipher_key(AesCipher::create_key(32)?)
    ///     .per_aggregate_keys(true)
    ///     .build()?;
    /// let mut alice = Customer::register("Alice".into());
    /// app.save(&mut alice)?;
    ///
    /// assert_eq!(app.forget(alice.id())?, Forgetting::Forgotten);
    /// let error = app.repository().get::<Customer>(alice.id()).unwrap_err();
    /// assert!(error.is_forgotten());
    /// // The log keeps the event's place, with nothing of its state.
    /// let notifications = app.log().select(1, 10)?;
    /// assert!(notifications[0].is_forgotten());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Application::forget`]: super::Application::forget
    pub fn per_aggregate_keys(self, enabled: bool) -> Self {
        self.env(PER_AGGREGATE_KEYS, if enabled { "y" } else { "n" })
    }

    /// Hash-chains each aggregate's events (`HASH_CHAIN`; feature `hash-chain`), for a
    /// tamper-evident history: see [`hash_chain`](crate::persistence::hash_chain) for what it
    /// detects, and [`Application::verify_hash_chain`](super::Application::verify_hash_chain).
    pub fn hash_chain(self, enabled: bool) -> Self {
        self.env(HASH_CHAIN, if enabled { "y" } else { "n" })
    }

    /// Compresses stored state with zlib (`COMPRESSOR_TOPIC`).
    pub fn zlib_compression(self) -> Self {
        self.env(COMPRESSOR_TOPIC, "eventsourcing.compressor:ZlibCompressor")
    }

    /// The number of notifications in a section of the notification log (default 10).
    pub fn section_size(mut self, section_size: usize) -> Self {
        // A section holds at least one notification: with none, no select could succeed.
        self.section_size = section_size.max(1);
        self
    }

    /// Uses these recorders instead of the configured backend (a backend of your own, or a
    /// recorder shared between applications). Replaces an earlier
    /// [`backend`](ApplicationBuilder::backend).
    pub fn recorders(
        mut self,
        events: Arc<dyn ProcessRecorder>,
        snapshots: Option<Arc<dyn AggregateRecorder>>,
    ) -> Self {
        self.infrastructure = Infrastructure::Recorders(Recorders::new(events, snapshots));
        self
    }

    /// Uses `data_keys` as the data-key recorder of the recorders given with
    /// [`recorders`](ApplicationBuilder::recorders), for per-aggregate keys (it must keep its
    /// keys with those recorders' events, such as
    /// [`InMemoryDataKeys`](crate::memory::InMemoryDataKeys) of the same in-memory recorder).
    /// Has no effect with a backend, which makes its own.
    pub fn data_key_recorder(mut self, data_keys: Arc<dyn DataKeyRecorder>) -> Self {
        if let Infrastructure::Recorders(recorders) = self.infrastructure {
            self.infrastructure = Infrastructure::Recorders(recorders.with_data_keys(data_keys));
        }
        self
    }

    /// Builds the recorders with `factory` instead of the one `PERSISTENCE_MODULE` names (a
    /// backend of your own, for this application only; to choose one by name, see
    /// [`registry::register`](crate::registry::register)). The factory reads its settings
    /// from this builder's configuration. Replaces earlier
    /// [`recorders`](ApplicationBuilder::recorders).
    ///
    /// ```
    /// use eventsourcing::application::Application;
    /// use eventsourcing::memory::InMemoryFactory;
    ///
    /// let app = Application::builder("Worlds").backend(InMemoryFactory).build()?;
    /// assert_eq!(app.recorder().max_notification_id()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backend(mut self, factory: impl InfrastructureFactory + 'static) -> Self {
        self.infrastructure = Infrastructure::Factory(Arc::new(factory));
        self
    }

    /// Uses these async recorders instead of the configured backend, for an application built
    /// with [`build_async`](ApplicationBuilder::build_async) (feature `tokio`); `build` refuses
    /// them. Replaces earlier [`recorders`](ApplicationBuilder::recorders) or
    /// [`backend`](ApplicationBuilder::backend).
    #[cfg(feature = "tokio")]
    pub fn async_recorders(
        mut self,
        events: Arc<dyn crate::persistence::AsyncProcessRecorder>,
        snapshots: Option<Arc<dyn crate::persistence::AsyncAggregateRecorder>>,
    ) -> Self {
        self.infrastructure = Infrastructure::AsyncRecorders(
            crate::persistence::AsyncRecorders::new(events, snapshots),
        );
        self
    }

    /// Serialises stored state with `transcoder` instead of JSON.
    pub fn transcoder<U: Transcoder>(self, transcoder: U) -> ApplicationBuilder<U> {
        ApplicationBuilder {
            env: self.env,
            transcoder,
            snapshotting_intervals: self.snapshotting_intervals,
            section_size: self.section_size,
            infrastructure: self.infrastructure,
        }
    }

    /// The configuration so far.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Builds the application: opens (and creates the tables of) the configured database.
    pub fn build(self) -> Result<Application<T>, ApplicationError> {
        let env = self.env;
        let snapshotting = env.get_bool(IS_SNAPSHOTTING_ENABLED, false)?;
        let keyed = env.get_bool(PER_AGGREGATE_KEYS, false)?;
        let chained = env.get_bool(HASH_CHAIN, false)?;
        let mut mapper = env.mapper(self.transcoder)?;
        if keyed {
            // The application's key encrypts data keys; the data keys encrypt the state.
            mapper = mapper
                .with_shared_cipher(None)
                .with_per_aggregate_keys(true);
        }
        let (recorders, missing_snapshots) = match self.infrastructure {
            Infrastructure::Recorders(recorders) => (
                recorders,
                "the recorders given to the builder include none for snapshots",
            ),
            Infrastructure::Factory(factory) => (
                build_recorders(&*factory, &env, snapshotting, keyed)?,
                "the backend given to the builder made no recorder for snapshots",
            ),
            Infrastructure::Configured => (
                build_recorders(&*crate::registry::select(&env)?, &env, snapshotting, keyed)?,
                "the persistence module made no recorder for snapshots",
            ),
            #[cfg(feature = "tokio")]
            Infrastructure::AsyncRecorders(_) => {
                return Err(ConfigError::new(
                    env.name_of(crate::registry::PERSISTENCE_MODULE),
                    "the builder was given async recorders, which only an AsyncApplication \
                     uses: build it with build_async(), or give blocking recorders",
                )
                .into())
            }
        };
        let (recorders, keyring) = keyed_recorders(&env, recorders, keyed)?;
        let Recorders {
            events: recorder,
            snapshots: snapshot_recorder,
            ..
        } = recorders;
        require_snapshots(
            &env,
            snapshotting,
            snapshot_recorder.is_some(),
            missing_snapshots,
        )?;
        let snapshot_recorder = snapshot_recorder.filter(|_| snapshotting);
        let mapper = Arc::new(chain(&env, mapper, chained, &recorder)?);
        let events = EventStore::new(Arc::clone(&mapper), recorder.clone());
        let snapshots = snapshot_recorder
            .clone()
            .map(|r| EventStore::new(Arc::clone(&mapper), r));
        let repository = Repository::new(Arc::clone(&mapper), recorder.clone(), snapshot_recorder);
        let log = LocalNotificationLog::new(recorder.clone(), self.section_size);
        tracing::debug!(
            application = env.name(),
            transcoder = type_name::<T>(),
            snapshotting,
            encrypted = mapper.is_encrypted() || keyring.is_some(),
            per_aggregate_keys = keyring.is_some(),
            hash_chain = chained,
            compressed = mapper.is_compressed(),
            "application built"
        );
        Ok(Application {
            name: env.name().to_string(),
            env,
            mapper,
            recorder,
            events,
            snapshots,
            repository,
            log,
            keyring,
            snapshotting_intervals: self.snapshotting_intervals,
            listeners: RwLock::new(Vec::new()),
            next_listener: AtomicU64::new(0),
        })
    }

    /// Builds the application's async face (feature `tokio`): an [`AsyncApplication`] whose
    /// recorders are the backend's async ones ([`InfrastructureFactory::async_recorders`]):
    /// PostgreSQL's native async client, or a blocking backend's calls on tokio's blocking
    /// pool. Must be awaited inside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), eventsourcing::application::ApplicationError> {
    /// use eventsourcing::application::Application;
    ///
    /// let dir = std::env::temp_dir().join(format!("build-async-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let app = Application::builder("Worlds")
    ///     .sqlite(dir.join("worlds.db"))
    ///     .build_async()
    ///     .await?;
    /// assert_eq!(app.log().select(1, 10).await?.len(), 0);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`AsyncApplication`]: super::AsyncApplication
    #[cfg(feature = "tokio")]
    pub async fn build_async(self) -> Result<super::AsyncApplication<T>, ApplicationError> {
        use crate::persistence::{AsyncRecorders, DEFAULT_BLOCKING_CALLS};

        if self.env.get_bool(HASH_CHAIN, false)? {
            return Err(ConfigError::new(
                self.env.name_of(HASH_CHAIN),
                "hash-chained events are not yet available on the async face: build a \
                 blocking Application with build()",
            )
            .into());
        }
        if self.env.get_bool(PER_AGGREGATE_KEYS, false)? {
            return self.build_async_keyed().await;
        }
        let env = self.env;
        let snapshotting = env.get_bool(IS_SNAPSHOTTING_ENABLED, false)?;
        let mapper = Arc::new(env.mapper(self.transcoder)?);
        let (recorders, missing_snapshots) = match self.infrastructure {
            Infrastructure::Recorders(recorders) => (
                AsyncRecorders::on_blocking_pool(recorders, DEFAULT_BLOCKING_CALLS),
                "the recorders given to the builder include none for snapshots",
            ),
            Infrastructure::AsyncRecorders(recorders) => (
                recorders,
                "the recorders given to the builder include none for snapshots",
            ),
            Infrastructure::Factory(factory) => (
                factory.async_recorders(&env, snapshotting).await?,
                "the backend given to the builder made no recorder for snapshots",
            ),
            Infrastructure::Configured => {
                let factory = crate::registry::select(&env)?;
                (
                    factory.async_recorders(&env, snapshotting).await?,
                    "the persistence module made no recorder for snapshots",
                )
            }
        };
        require_snapshots(
            &env,
            snapshotting,
            recorders.snapshots.is_some(),
            missing_snapshots,
        )?;
        tracing::debug!(
            application = env.name(),
            transcoder = type_name::<T>(),
            snapshotting,
            encrypted = mapper.is_encrypted(),
            compressed = mapper.is_compressed(),
            "async application built"
        );
        Ok(super::AsyncApplication::new(
            env,
            mapper,
            recorders.events,
            recorders.snapshots.filter(|_| snapshotting),
            self.section_size,
            self.snapshotting_intervals,
            None,
        ))
    }

    /// `build_async` with per-aggregate keys: the blocking recorders (built on tokio's
    /// blocking pool), wrapped as `build` wraps them, with their calls run on the blocking
    /// pool. The key table is read and written in the same transactions as the events, which
    /// only the blocking recorders do so far.
    #[cfg(feature = "tokio")]
    async fn build_async_keyed(self) -> Result<super::AsyncApplication<T>, ApplicationError> {
        use crate::persistence::{AsyncRecorders, DEFAULT_BLOCKING_CALLS};

        let env = self.env;
        let snapshotting = env.get_bool(IS_SNAPSHOTTING_ENABLED, false)?;
        let mapper = env
            .mapper(self.transcoder)?
            .with_shared_cipher(None)
            .with_per_aggregate_keys(true);
        let (recorders, missing_snapshots) = match self.infrastructure {
            Infrastructure::Recorders(recorders) => (
                recorders,
                "the recorders given to the builder include none for snapshots",
            ),
            Infrastructure::AsyncRecorders(_) => {
                return Err(ConfigError::new(
                    env.name_of(PER_AGGREGATE_KEYS),
                    "per-aggregate keys need blocking recorders with a data-key recorder (or a \
                     backend): async recorders given to the builder can't keep data keys",
                )
                .into())
            }
            Infrastructure::Factory(factory) => (
                build_on_blocking_pool(factory, &env, snapshotting).await?,
                "the backend given to the builder made no recorder for snapshots",
            ),
            Infrastructure::Configured => (
                build_on_blocking_pool(crate::registry::select(&env)?, &env, snapshotting).await?,
                "the persistence module made no recorder for snapshots",
            ),
        };
        require_snapshots(
            &env,
            snapshotting,
            recorders.snapshots.is_some(),
            missing_snapshots,
        )?;
        let (recorders, keyring) = keyed_recorders(&env, recorders, true)?;
        let recorders = AsyncRecorders::on_blocking_pool(recorders, DEFAULT_BLOCKING_CALLS);
        tracing::debug!(
            application = env.name(),
            transcoder = type_name::<T>(),
            snapshotting,
            per_aggregate_keys = true,
            compressed = mapper.is_compressed(),
            "async application built"
        );
        Ok(super::AsyncApplication::new(
            env,
            Arc::new(mapper),
            recorders.events,
            recorders.snapshots.filter(|_| snapshotting),
            self.section_size,
            self.snapshotting_intervals,
            keyring,
        ))
    }
}

/// `build_recorders` with per-aggregate keys, on tokio's blocking pool (a backend's blocking
/// recorders may block while they open their database).
#[cfg(feature = "tokio")]
async fn build_on_blocking_pool(
    factory: Arc<dyn InfrastructureFactory>,
    env: &Environment,
    snapshotting: bool,
) -> Result<Recorders, ApplicationError> {
    let env = env.clone();
    tokio::task::spawn_blocking(move || build_recorders(&*factory, &env, snapshotting, true))
        .await
        .map_err(|e| {
            ApplicationError::from(crate::persistence::PersistenceError::database(
                crate::persistence::ErrorKind::Internal,
                format!("building the recorders failed: {e}"),
            ))
        })?
}

/// The error when snapshotting is enabled and no snapshot recorder is `present` (`missing` says
/// where it should have come from).
fn require_snapshots(
    env: &Environment,
    snapshotting: bool,
    present: bool,
    missing: &str,
) -> Result<(), ApplicationError> {
    if snapshotting && !present {
        return Err(ConfigError::new(
            env.name_of(IS_SNAPSHOTTING_ENABLED),
            format!("snapshotting is enabled, but {missing}: give one, or disable snapshotting"),
        )
        .into());
    }
    Ok(())
}

/// The recorders `factory` builds, with a data-key recorder when per-aggregate keys are on.
fn build_recorders(
    factory: &dyn InfrastructureFactory,
    env: &Environment,
    snapshotting: bool,
    keyed: bool,
) -> Result<Recorders, ApplicationError> {
    if keyed {
        let (recorders, data_keys) = factory.recorders_with_data_keys(env, snapshotting)?;
        Ok(recorders.with_data_keys(data_keys))
    } else {
        Ok(factory.recorders(env, snapshotting)?)
    }
}

/// With per-aggregate keys, the recorders wrapped in ones that encrypt under data keys, and
/// the keyring; without, the recorders as they are.
fn keyed_recorders(
    env: &Environment,
    recorders: Recorders,
    keyed: bool,
) -> Result<(Recorders, Option<Arc<Keyring>>), ApplicationError> {
    if !keyed {
        return Ok((recorders, None));
    }
    let application_key = env.cipher()?.ok_or_else(|| {
        ConfigError::new(
            env.name_of(CIPHER_KEY),
            "per-aggregate keys are on (PER_AGGREGATE_KEYS), but no CIPHER_KEY is set: data \
             keys are stored encrypted under it",
        )
    })?;
    let data_keys: Arc<dyn DataKeyRecorder> = recorders.data_keys.clone().ok_or_else(|| {
        ConfigError::new(
            env.name_of(PER_AGGREGATE_KEYS),
            "per-aggregate keys are on, but the recorders given to the builder include no \
             data-key recorder: give a backend instead, or Recorders::with_data_keys",
        )
    })?;
    let keyring = Arc::new(Keyring::new(data_keys, application_key));
    let events: Arc<dyn ProcessRecorder> =
        Arc::new(KeyedRecorder::new(recorders.events, Arc::clone(&keyring)));
    let snapshots = recorders.snapshots.map(|snapshots| {
        Arc::new(KeyedSnapshotRecorder::new(snapshots, Arc::clone(&keyring)))
            as Arc<dyn AggregateRecorder>
    });
    Ok((Recorders::new(events, snapshots), Some(keyring)))
}

/// The mapper, hash-chaining new events to those `recorder` stores when `chained`.
fn chain<T: Transcoder>(
    env: &Environment,
    mapper: crate::persistence::Mapper<T>,
    chained: bool,
    recorder: &Arc<dyn ProcessRecorder>,
) -> Result<crate::persistence::Mapper<T>, ApplicationError> {
    if !chained {
        return Ok(mapper);
    }
    #[cfg(feature = "hash-chain")]
    {
        let _ = env;
        Ok(mapper.with_hash_chain(Arc::clone(recorder) as Arc<dyn AggregateRecorder>))
    }
    #[cfg(not(feature = "hash-chain"))]
    {
        let _ = recorder;
        Err(ConfigError::new(
            env.name_of(HASH_CHAIN),
            "hash-chained events need the library's feature hash-chain",
        )
        .into())
    }
}
