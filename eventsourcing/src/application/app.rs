//! The [`Application`]: event store, repository, snapshots and notification log, configured
//! from the environment or a builder.

use std::any::type_name;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use super::config::{
    ConfigError, Environment, CIPHER_KEY, CIPHER_TOPIC, COMPRESSOR_TOPIC, IS_SNAPSHOTTING_ENABLED,
    PERSISTENCE_MODULE, SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT,
};
use super::error::ApplicationError;
use super::notification_log::{LocalNotificationLog, DEFAULT_SECTION_SIZE};
use super::repository::Repository;
use crate::domain::{Aggregate, Snapshot};
use crate::persistence::{
    AggregateRecorder, EventStore, InfrastructureFactory, JsonTranscoder, Mapper, PersistenceError,
    ProcessRecorder, Recorders, StoredEvent, Transcoder,
};

/// Something to be told after an application has saved new events (a runner prompting the
/// application's followers).
pub(crate) type Listener = Arc<dyn Fn(&str) + Send + Sync>;

/// An event-sourced application: it saves aggregates' new events atomically, gets aggregates
/// from its repository, takes snapshots, and presents its notification log.
///
/// Write an application as a struct of your own holding an `Application`, with command and
/// query methods (the reference's `Worlds`, `Wiki` and `BankAccounts` subclass `Application`;
/// in Rust they contain one):
///
/// ```
/// use eventsourcing::prelude::*;
/// use eventsourcing::application::{Application, ApplicationError};
///
/// #[aggregate]
/// #[derive(Debug, Serialize, Deserialize)]
/// pub struct World {
///     history: Vec<String>,
/// }
///
/// #[aggregate]
/// impl World {
///     #[created]
///     pub fn create() -> Self {
///         World { history: Vec::new() }
///     }
///
///     #[event("SomethingHappened")]
///     pub fn make_it_so(&mut self, what: String) {
///         self.history.push(what);
///     }
/// }
///
/// pub struct Worlds {
///     app: Application,
/// }
///
/// impl Worlds {
///     pub fn new() -> Result<Self, ApplicationError> {
///         Ok(Worlds { app: Application::new("Worlds")? })
///     }
///
///     pub fn create_world(&self) -> Result<Uuid, ApplicationError> {
///         let mut world = World::create();
///         self.app.save(&mut world)?;
///         Ok(world.id())
///     }
///
///     pub fn make_it_so(&self, world_id: Uuid, what: &str) -> Result<(), ApplicationError> {
///         let mut world: World = self.app.repository().get(world_id)?;
///         world.make_it_so(what.to_string());
///         self.app.save(&mut world)
///     }
///
///     pub fn get_world_history(&self, world_id: Uuid) -> Result<Vec<String>, ApplicationError> {
///         let world: World = self.app.repository().get(world_id)?;
///         Ok(world.history)
///     }
/// }
///
/// # fn main() -> Result<(), ApplicationError> {
/// let worlds = Worlds::new()?; // in memory unless configured otherwise
/// let world_id = worlds.create_world()?;
/// worlds.make_it_so(world_id, "dinosaurs")?;
/// worlds.make_it_so(world_id, "trucks")?;
/// assert_eq!(worlds.get_world_history(world_id)?, ["dinosaurs", "trucks"]);
/// # Ok(())
/// # }
/// ```
///
/// Applications are `Send + Sync`: share one between threads with an `Arc`.
pub struct Application<T: Transcoder = JsonTranscoder> {
    name: String,
    env: Environment,
    mapper: Arc<Mapper<T>>,
    recorder: Arc<dyn ProcessRecorder>,
    events: EventStore<T>,
    snapshots: Option<EventStore<T>>,
    repository: Repository<T>,
    log: LocalNotificationLog,
    snapshotting_intervals: HashMap<&'static str, u64>,
    listeners: RwLock<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
}

impl<T: Transcoder> std::fmt::Debug for Application<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("mapper", &self.mapper)
            .field("snapshotting", &self.snapshots.is_some())
            .field("snapshotting_intervals", &self.snapshotting_intervals)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl Application<JsonTranscoder> {
    /// The application `name`, configured from the process environment (in memory if nothing
    /// is configured). The name is the prefix of its environment variables (`WORLDS_...` for
    /// `Worlds`) and names its PostgreSQL tables.
    pub fn new(name: impl Into<String>) -> Result<Self, ApplicationError> {
        Self::builder(name).build()
    }

    /// A builder of the application `name`, starting from the process environment.
    pub fn builder(name: impl Into<String>) -> ApplicationBuilder<JsonTranscoder> {
        ApplicationBuilder::new(name)
    }
}

impl<T: Transcoder> Application<T> {
    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The application's configuration.
    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// The mapper (use it to turn notifications into domain events).
    pub fn mapper(&self) -> &Arc<Mapper<T>> {
        &self.mapper
    }

    /// The recorder of the application's events, notification log and tracking records.
    pub fn recorder(&self) -> &Arc<dyn ProcessRecorder> {
        &self.recorder
    }

    /// The event store of the application's aggregates.
    pub fn events(&self) -> &EventStore<T> {
        &self.events
    }

    /// The snapshot store, if snapshotting is enabled.
    pub fn snapshots(&self) -> Option<&EventStore<T>> {
        self.snapshots.as_ref()
    }

    /// The repository.
    pub fn repository(&self) -> &Repository<T> {
        &self.repository
    }

    /// The notification log.
    pub fn log(&self) -> &LocalNotificationLog {
        &self.log
    }

    /// Saves the new events of one or several aggregates, of any types, atomically: all of
    /// them are recorded in one transaction, in the order given, or none are.
    ///
    /// Pass `&mut aggregate`, a tuple such as `(&mut page, &mut index)`, or a slice or `Vec` of
    /// aggregates. On success their pending events are cleared; if another writer saved one of
    /// the same versions first, nothing is stored, the pending events stay where they were, and
    /// the error [`is_integrity`](ApplicationError::is_integrity). Snapshots are then taken at
    /// the configured intervals.
    pub fn save(&self, mut aggregates: impl Aggregates) -> Result<(), ApplicationError> {
        let mut stored = Vec::new();
        aggregates.stored_events(&self.mapper, &mut stored)?;
        if stored.is_empty() {
            return Ok(());
        }
        self.recorder.insert_owned(stored)?;
        aggregates.saved(self);
        self.notify_listeners();
        Ok(())
    }

    /// Takes a snapshot of the aggregate `id` as it is at `version` (the latest if `None`),
    /// read from the repository rather than from an object in memory, and stores it.
    pub fn take_snapshot<A: Aggregate>(
        &self,
        id: Uuid,
        version: Option<u64>,
    ) -> Result<(), ApplicationError> {
        let snapshots = self
            .snapshots
            .as_ref()
            .ok_or(ApplicationError::SnapshottingDisabled)?;
        let aggregate: A = match version {
            Some(version) => self.repository.get_at(id, version)?,
            None => self.repository.get(id)?,
        };
        store_snapshot(snapshots, &aggregate)
    }

    /// Snapshots taken automatically after a save: at each new version that is a multiple of
    /// the aggregate type's interval. A failure is logged, not returned: the events are saved.
    pub(crate) fn snapshot_after_save<A: Aggregate>(&self, aggregate: &A, first_new_version: u64) {
        let (Some(snapshots), Some(&interval)) =
            (&self.snapshots, self.snapshotting_intervals.get(A::TOPIC))
        else {
            return;
        };
        for version in first_new_version..=aggregate.version() {
            if interval == 0 || version % interval != 0 {
                continue;
            }
            let result = if version == aggregate.version() {
                store_snapshot(snapshots, aggregate)
            } else {
                self.take_snapshot::<A>(aggregate.id(), Some(version))
            };
            if let Err(error) = result {
                tracing::warn!(aggregate = A::NAME, id = %aggregate.id(), version, %error, "automatic snapshot failed");
            }
        }
    }

    /// Registers something to call after each save that recorded events; returns an id to
    /// remove it with.
    pub(crate) fn add_listener(&self, listener: Listener) -> u64 {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, listener));
        id
    }

    /// Removes a listener.
    pub(crate) fn remove_listener(&self, id: u64) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(listener_id, _)| *listener_id != id);
    }

    /// Tells the listeners (followers' runners) that new events were recorded.
    pub(crate) fn notify_listeners(&self) {
        let listeners: Vec<Listener> = self
            .listeners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, listener)| Arc::clone(listener))
            .collect();
        for listener in listeners {
            listener(&self.name);
        }
    }
}

fn store_snapshot<T: Transcoder, A: Aggregate>(
    snapshots: &EventStore<T>,
    aggregate: &A,
) -> Result<(), ApplicationError> {
    let snapshot = Snapshot::take(aggregate)?;
    let stored = snapshots.mapper().from_snapshot(&snapshot)?;
    snapshots.recorder().insert_events(&[stored])?;
    Ok(())
}

/// Aggregates that [`Application::save`] can save together: `&mut A`, tuples of these (up to
/// eight), and `&mut [A]`, `&mut Vec<A>` or `Vec<&mut A>` of one type.
pub trait Aggregates {
    /// Appends the stored form of the pending events to `out`, in order.
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), PersistenceError>;

    /// After a successful save: clears the pending events and takes the automatic snapshots.
    fn saved<T: Transcoder>(&mut self, application: &Application<T>);
}

/// Appends the stored form of `aggregate`'s pending events to `out`.
fn push_stored<A: Aggregate, T: Transcoder>(
    aggregate: &A,
    mapper: &Mapper<T>,
    out: &mut Vec<StoredEvent>,
) -> Result<(), PersistenceError> {
    out.extend(mapper.from_domain_events(aggregate.pending_events())?);
    Ok(())
}

/// Clears `aggregate`'s pending events, which have been saved, and takes automatic snapshots.
fn after_saved<A: Aggregate, T: Transcoder>(aggregate: &mut A, application: &Application<T>) {
    let Some(first) = aggregate
        .pending_events()
        .first()
        .map(|e| e.originator_version)
    else {
        return;
    };
    aggregate.meta_mut().pending_events.clear();
    application.snapshot_after_save(aggregate, first);
}

impl<A: Aggregate> Aggregates for &mut A {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), PersistenceError> {
        push_stored(&**self, mapper, out)
    }

    fn saved<T: Transcoder>(&mut self, application: &Application<T>) {
        after_saved(&mut **self, application);
    }
}

impl<A: Aggregate> Aggregates for &mut [A] {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), PersistenceError> {
        self.iter().try_for_each(|a| push_stored(a, mapper, out))
    }

    fn saved<T: Transcoder>(&mut self, application: &Application<T>) {
        self.iter_mut().for_each(|a| after_saved(a, application));
    }
}

impl<A: Aggregate> Aggregates for &mut Vec<A> {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), PersistenceError> {
        self.iter().try_for_each(|a| push_stored(a, mapper, out))
    }

    fn saved<T: Transcoder>(&mut self, application: &Application<T>) {
        self.iter_mut().for_each(|a| after_saved(a, application));
    }
}

impl<A: Aggregate> Aggregates for Vec<&mut A> {
    fn stored_events<T: Transcoder>(
        &self,
        mapper: &Mapper<T>,
        out: &mut Vec<StoredEvent>,
    ) -> Result<(), PersistenceError> {
        self.iter().try_for_each(|a| push_stored(&**a, mapper, out))
    }

    fn saved<T: Transcoder>(&mut self, application: &Application<T>) {
        self.iter_mut()
            .for_each(|a| after_saved(&mut **a, application));
    }
}

macro_rules! tuple_aggregates {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Aggregates),+> Aggregates for ($($name,)+) {
            fn stored_events<T: Transcoder>(
                &self,
                mapper: &Mapper<T>,
                out: &mut Vec<StoredEvent>,
            ) -> Result<(), PersistenceError> {
                $(self.$index.stored_events(mapper, out)?;)+
                Ok(())
            }

            fn saved<T: Transcoder>(&mut self, application: &Application<T>) {
                $(self.$index.saved(application);)+
            }
        }
    };
}

tuple_aggregates!(A 0);
tuple_aggregates!(A 0, B 1);
tuple_aggregates!(A 0, B 1, C 2);
tuple_aggregates!(A 0, B 1, C 2, D 3);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_aggregates!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

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
        let mapper = Arc::new(env.mapper(self.transcoder)?);
        let (recorders, missing_snapshots) = match self.infrastructure {
            Infrastructure::Recorders(recorders) => (
                recorders,
                "the recorders given to the builder include none for snapshots",
            ),
            Infrastructure::Factory(factory) => (
                factory.recorders(&env, snapshotting)?,
                "the backend given to the builder made no recorder for snapshots",
            ),
            Infrastructure::Configured => (
                crate::registry::select(&env)?.recorders(&env, snapshotting)?,
                "the persistence module made no recorder for snapshots",
            ),
        };
        let Recorders {
            events: recorder,
            snapshots: snapshot_recorder,
        } = recorders;
        if snapshotting && snapshot_recorder.is_none() {
            return Err(ConfigError::new(
                env.name_of(IS_SNAPSHOTTING_ENABLED),
                format!(
                    "snapshotting is enabled, but {missing_snapshots}: give one, or disable \
                     snapshotting"
                ),
            )
            .into());
        }
        let snapshot_recorder = snapshot_recorder.filter(|_| snapshotting);
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
            encrypted = mapper.is_encrypted(),
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
            snapshotting_intervals: self.snapshotting_intervals,
            listeners: RwLock::new(Vec::new()),
            next_listener: AtomicU64::new(0),
        })
    }
}
