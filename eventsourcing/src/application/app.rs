//! The [`Application`]: event store, repository, snapshots and notification log, configured
//! from the environment or a builder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use super::aggregates::Aggregates;
use super::builder::ApplicationBuilder;
use super::config::Environment;
use super::error::ApplicationError;
use super::notification_log::LocalNotificationLog;
use super::repository::Repository;
use super::snapshotting::{log_failure, AfterSave, DueSnapshots};
use super::subscription::ApplicationSubscription;
use super::upstream::UpstreamEvent;
use crate::domain::{Aggregate, EventMetadata, Snapshot};
use crate::persistence::{
    AesCipher, EventStore, Forgetting, JsonTranscoder, Keyring, Mapper, ProcessRecorder,
    Subscription, Transcoder,
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
    pub(super) name: String,
    pub(super) env: Environment,
    pub(super) mapper: Arc<Mapper<T>>,
    pub(super) recorder: Arc<dyn ProcessRecorder>,
    pub(super) events: EventStore<T>,
    pub(super) snapshots: Option<EventStore<T>>,
    pub(super) repository: Repository<T>,
    pub(super) log: LocalNotificationLog,
    /// The data keys, when per-aggregate keys are on.
    pub(super) keyring: Option<Arc<Keyring>>,
    pub(super) snapshotting_intervals: HashMap<&'static str, u64>,
    pub(super) listeners: RwLock<Vec<(u64, Listener)>>,
    pub(super) next_listener: AtomicU64,
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
    pub fn save(&self, aggregates: impl Aggregates) -> Result<(), ApplicationError> {
        self.save_with(aggregates, &EventMetadata::default())
    }

    /// [`save`](Application::save), the events stored with `metadata`: a command's correlation
    /// id (a request id, say), which the events policies save in response carry onward, with
    /// each one's causation id (see [`EventMetadata`]). Read back in
    /// [`DomainEvent::metadata`](crate::domain::DomainEvent::metadata).
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    /// use eventsourcing::domain::EventMetadata;
    ///
    /// #[aggregate]
    /// pub struct Order { paid: bool }
    ///
    /// #[aggregate]
    /// impl Order {
    ///     #[created("Placed")]
    ///     pub fn place() -> Self { Order { paid: false } }
    /// }
    ///
    /// let app = Application::new("Orders")?;
    /// let request = Uuid::new_v4();
    /// let mut order = Order::place();
    /// app.save_with(&mut order, &EventMetadata::correlated(request))?;
    /// let events = app.events().get::<OrderEvent>(order.id(), &Default::default())?;
    /// assert_eq!(events[0].metadata.correlation_id, Some(request));
    /// # Ok::<(), ApplicationError>(())
    /// ```
    pub fn save_with(
        &self,
        mut aggregates: impl Aggregates,
        metadata: &EventMetadata,
    ) -> Result<(), ApplicationError> {
        let mut stored = Vec::new();
        aggregates.stored_events(&self.mapper, metadata, &mut stored)?;
        if stored.is_empty() {
            return Ok(());
        }
        let span = super::trace::save_span(self.name(), &stored);
        let _entered = span.enter();
        self.recorder.insert_owned(stored)?;
        let mut after = AfterSave::new(
            self.snapshots
                .as_ref()
                .map(|_| &self.snapshotting_intervals),
        );
        aggregates.saved(&mut after);
        self.take_due_snapshots(after.due);
        self.notify_listeners();
        Ok(())
    }

    /// Subscribes to the application's events of type `U` (such as `DomainEvent<DogEvent>`)
    /// with notification ids after `after` (0 for all): an iterator of each event with its
    /// tracking record, in notification order, that yields what is stored and then blocks
    /// until more is committed. Fails if `after` is beyond the end of the log.
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    ///
    /// #[aggregate]
    /// pub struct Dog { tricks: Vec<String> }
    ///
    /// #[aggregate]
    /// impl Dog {
    ///     #[created("Registered")]
    ///     pub fn register() -> Self { Dog { tricks: Vec::new() } }
    ///     #[event("TrickAdded")]
    ///     pub fn add_trick(&mut self, trick: String) { self.tricks.push(trick) }
    /// }
    ///
    /// let app = Application::new("DogSchool")?;
    /// let mut dog = Dog::register();
    /// dog.add_trick("sit".into());
    /// app.save(&mut dog)?;
    ///
    /// let mut subscription = app.subscribe::<DomainEvent<DogEvent>>(0)?;
    /// let (event, tracking) = subscription.next().expect("stored")?;
    /// assert!(matches!(event.payload, DogEvent::Registered));
    /// assert_eq!((tracking.application_name.as_str(), tracking.notification_id), ("DogSchool", 1));
    /// # Ok::<(), ApplicationError>(())
    /// ```
    pub fn subscribe<U: UpstreamEvent>(
        &self,
        after: u64,
    ) -> Result<ApplicationSubscription<U, T>, ApplicationError> {
        let subscription = Subscription::new(Arc::clone(&self.recorder) as _, after, U::topics())?;
        Ok(ApplicationSubscription::new(
            subscription,
            Arc::clone(&self.mapper),
            self.name.clone(),
        ))
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
        let span = super::trace::snapshot_span(self.name(), A::NAME, id);
        let _entered = span.enter();
        let aggregate: A = match version {
            Some(version) => self.repository.get_at(id, version)?,
            None => self.repository.get(id)?,
        };
        span.record("version", aggregate.version());
        store_snapshot(snapshots, &aggregate)
    }

    /// The snapshotting interval of each aggregate type (by topic).
    pub(crate) fn snapshotting_intervals(&self) -> &HashMap<&'static str, u64> {
        &self.snapshotting_intervals
    }

    /// Stores the snapshots a save made due. A failure is logged, not returned: the events are
    /// saved.
    pub(crate) fn take_due_snapshots(&self, due: Vec<DueSnapshots<T>>) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        for due in due {
            let past = due
                .past
                .iter()
                .map(|&version| (version, (due.take_at)(&self.repository, due.id, version)));
            let current = due
                .current
                .map(|(version, snapshot)| (version, snapshot.map_err(ApplicationError::from)));
            for (version, snapshot) in past.chain(current) {
                let stored = snapshot.and_then(|snapshot| {
                    let stored = snapshots.mapper().from_snapshot(&snapshot)?;
                    Ok(snapshots.recorder().insert_events(&[stored])?)
                });
                if let Err(error) = stored {
                    log_failure(due.type_name, due.id, version, &error);
                }
            }
        }
    }

    /// Forgets the aggregate `id` (per-aggregate keys only, see
    /// [`ApplicationBuilder::per_aggregate_keys`](super::ApplicationBuilder::per_aggregate_keys)):
    /// destroys its data key and removes its snapshots, in one transaction. From then on,
    /// getting it is [`ApplicationError::AggregateForgotten`], in this process and any other;
    /// saving to it is refused; its notifications keep their ids, originator id, version,
    /// topic (and the stored rows their timestamps' order), with no state.
    ///
    /// Forgetting it again is `Ok(`[`Forgetting::AlreadyForgotten`]`)`; forgetting an id with
    /// no data key is [`ApplicationError::AggregateNotFound`].
    pub fn forget(&self, id: Uuid) -> Result<Forgetting, ApplicationError> {
        forgot(id, self.keyed()?.forget(id)?)
    }

    /// Re-encrypts every data key under the application key `new_key` (base64, as
    /// `CIPHER_KEY`), in one transaction, and uses it from then on (per-aggregate keys only).
    /// Events and snapshots are not rewritten: they stay encrypted under their data keys.
    /// Returns how many data keys were re-encrypted.
    ///
    /// Other processes using the store must then be restarted with the new `CIPHER_KEY`: until
    /// then, their reads fail with an error saying that a data key can't be decrypted.
    pub fn rotate_cipher_key(&self, new_key: &str) -> Result<u64, ApplicationError> {
        let cipher = AesCipher::new(new_key).map_err(crate::persistence::PersistenceError::from)?;
        Ok(self.keyed()?.rotate(Arc::new(cipher))?)
    }

    /// The keyring, or the error that per-aggregate keys are off.
    fn keyed(&self) -> Result<&Arc<Keyring>, ApplicationError> {
        keyed(self.keyring.as_ref())
    }

    /// The faults of the hash chain of the aggregate `id` (feature `hash-chain`; see
    /// [`hash_chain`](crate::persistence::hash_chain)): none if each of its stored events is
    /// chained, unaltered, and chained to the event before it. An aggregate with no events is
    /// [`ApplicationError::AggregateNotFound`].
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    ///
    /// #[aggregate]
    /// pub struct Dog { tricks: Vec<String> }
    ///
    /// #[aggregate]
    /// impl Dog {
    ///     #[created("Registered")]
    ///     pub fn register() -> Self { Dog { tricks: Vec::new() } }
    ///     #[event("TrickAdded")]
    ///     pub fn add_trick(&mut self, trick: String) { self.tricks.push(trick) }
    /// }
    ///
    /// let app = Application::builder("DogSchool").hash_chain(true).build()?;
    /// let mut dog = Dog::register();
    /// app.save(&mut dog)?;
    /// let mut dog: Dog = app.repository().get(dog.id())?;
    /// dog.add_trick("sit".into());
    /// app.save(&mut dog)?;
    /// assert!(app.verify_hash_chain(dog.id())?.is_empty());
    /// # Ok::<(), ApplicationError>(())
    /// ```
    #[cfg(feature = "hash-chain")]
    pub fn verify_hash_chain(
        &self,
        id: Uuid,
    ) -> Result<Vec<crate::persistence::hash_chain::ChainFault>, ApplicationError> {
        use crate::persistence::hash_chain::{check_chain, link};
        let stored = self
            .recorder
            .select_events(id, &crate::persistence::EventQuery::new())?;
        if stored.is_empty() {
            return Err(ApplicationError::AggregateNotFound { id, version: None });
        }
        let links = stored
            .iter()
            .map(|event| {
                let plain = self.mapper.plain_state(&event.state)?;
                Ok((
                    event.originator_version,
                    link(id, event.originator_version, &event.topic, &plain),
                ))
            })
            .collect::<Result<Vec<_>, ApplicationError>>()?;
        Ok(check_chain(&links))
    }

    /// The data keys, when per-aggregate keys are on.
    pub fn keyring(&self) -> Option<&Arc<Keyring>> {
        self.keyring.as_ref()
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

/// `keyring`, or the error that per-aggregate keys are off (both faces).
pub(super) fn keyed(keyring: Option<&Arc<Keyring>>) -> Result<&Arc<Keyring>, ApplicationError> {
    keyring.ok_or(ApplicationError::PerAggregateKeysDisabled)
}

/// What forgetting `id` found, as the application answers it (both faces): an id with no key
/// is not found.
pub(super) fn forgot(id: Uuid, forgetting: Forgetting) -> Result<Forgetting, ApplicationError> {
    match forgetting {
        Forgetting::Unknown => Err(ApplicationError::AggregateNotFound { id, version: None }),
        forgetting => Ok(forgetting),
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
