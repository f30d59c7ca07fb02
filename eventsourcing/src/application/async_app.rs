//! The application's async face (feature `tokio`): [`AsyncApplication`], [`AsyncRepository`]
//! and [`AsyncNotificationLog`], the same operations as the blocking ones, awaited.
//!
//! They share the blocking face's logic (mapping, replay, snapshot selection, sections); only
//! the reading and writing are awaited, on the backend's async recorders: PostgreSQL's native
//! client, or a blocking backend's calls on tokio's blocking pool.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::aggregates::Aggregates;
use super::error::ApplicationError;
use super::notification_log::{check_limit, section_of, section_request, Section};
use super::repository::{found_or_else, Load};
use super::snapshotting::{log_failure, AfterSave, DueSnapshots};
use super::subscription::AsyncApplicationSubscription;
use super::upstream::UpstreamEvent;
use crate::domain::{Aggregate, EventMetadata, Snapshot};
use crate::persistence::{
    AesCipher, AsyncAggregateRecorder, AsyncApplicationRecorder, AsyncProcessRecorder,
    AsyncSubscription, Environment, Forgetting, JsonTranscoder, Keyring, Mapper, Notification,
    PersistenceError, Transcoder,
};

/// An event-sourced application, awaited: it saves aggregates' new events atomically, gets
/// aggregates from its repository, takes snapshots, and presents its notification log, like
/// [`Application`](super::Application), without blocking a thread while it waits on the
/// database.
///
/// Build one with [`ApplicationBuilder::build_async`](super::ApplicationBuilder::build_async).
/// It is `Send + Sync` and cheap to share in an `Arc`; its futures are `Send`, so they can be
/// awaited in tasks that `tokio::spawn` runs and in axum handlers.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::prelude::*;
/// use eventsourcing::application::{Application, AsyncApplication};
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
/// # #[tokio::main]
/// # async fn main() -> Result<(), ApplicationError> {
/// let app: Arc<AsyncApplication> = Arc::new(Application::builder("Worlds").build_async().await?);
/// let mut world = World::create();
/// world.make_it_so("dinosaurs".into());
/// app.save(&mut world).await?;
///
/// // In another task.
/// let id = world.id();
/// let task = tokio::spawn({
///     let app = Arc::clone(&app);
///     async move {
///         let mut world: World = app.repository().get(id).await?;
///         world.make_it_so("trucks".into());
///         app.save(&mut world).await
///     }
/// });
/// task.await.expect("the task ran")?;
///
/// let world: World = app.repository().get(id).await?;
/// assert_eq!(world.history, ["dinosaurs", "trucks"]);
/// assert_eq!(app.log().select(1, 10).await?.len(), 3);
/// # Ok(())
/// # }
/// ```
///
/// Cancellation: dropping a `save` future before it completes stores all of that save or
/// none of it (see [`AsyncProcessRecorder`]); the aggregates keep their pending events either
/// way, since the save did not report success, so saving them again after a cancelled save
/// that did commit is an integrity error, as after a lost connection: get the aggregate again.
pub struct AsyncApplication<T: Transcoder = JsonTranscoder> {
    name: String,
    env: Environment,
    mapper: Arc<Mapper<T>>,
    recorder: Arc<dyn AsyncProcessRecorder>,
    snapshots: Option<Arc<dyn AsyncAggregateRecorder>>,
    repository: AsyncRepository<T>,
    log: AsyncNotificationLog,
    snapshotting_intervals: HashMap<&'static str, u64>,
    /// The data keys, when per-aggregate keys are on.
    keyring: Option<Arc<Keyring>>,
}

impl<T: Transcoder> std::fmt::Debug for AsyncApplication<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncApplication")
            .field("name", &self.name)
            .field("mapper", &self.mapper)
            .field("snapshotting", &self.snapshots.is_some())
            .field("snapshotting_intervals", &self.snapshotting_intervals)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl<T: Transcoder> AsyncApplication<T> {
    /// An application over these parts (what the builder assembles).
    pub(crate) fn new(
        env: Environment,
        mapper: Arc<Mapper<T>>,
        recorder: Arc<dyn AsyncProcessRecorder>,
        snapshots: Option<Arc<dyn AsyncAggregateRecorder>>,
        section_size: usize,
        snapshotting_intervals: HashMap<&'static str, u64>,
        keyring: Option<Arc<Keyring>>,
    ) -> Self {
        let repository = AsyncRepository::new(
            Arc::clone(&mapper),
            Arc::clone(&recorder) as Arc<dyn AsyncAggregateRecorder>,
            snapshots.clone(),
        );
        let log = AsyncNotificationLog::new(
            Arc::clone(&recorder) as Arc<dyn AsyncApplicationRecorder>,
            section_size,
        );
        AsyncApplication {
            name: env.name().to_string(),
            env,
            mapper,
            recorder,
            snapshots,
            repository,
            log,
            snapshotting_intervals,
            keyring,
        }
    }

    /// Forgets the aggregate `id`, as [`Application::forget`](super::Application::forget) does
    /// (on tokio's blocking pool).
    pub async fn forget(&self, id: Uuid) -> Result<Forgetting, ApplicationError> {
        let keyring = Arc::clone(super::app::keyed(self.keyring.as_ref())?);
        super::app::forgot(id, on_blocking_pool(move || keyring.forget(id)).await?)
    }

    /// Re-encrypts every data key under the application key `new_key`, as
    /// [`Application::rotate_cipher_key`](super::Application::rotate_cipher_key) does (on
    /// tokio's blocking pool).
    pub async fn rotate_cipher_key(&self, new_key: &str) -> Result<u64, ApplicationError> {
        let keyring = Arc::clone(super::app::keyed(self.keyring.as_ref())?);
        let cipher = AesCipher::new(new_key).map_err(PersistenceError::from)?;
        Ok(on_blocking_pool(move || keyring.rotate(Arc::new(cipher))).await?)
    }

    /// The data keys, when per-aggregate keys are on.
    pub fn keyring(&self) -> Option<&Arc<Keyring>> {
        self.keyring.as_ref()
    }

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
    pub fn recorder(&self) -> &Arc<dyn AsyncProcessRecorder> {
        &self.recorder
    }

    /// The recorder of snapshots, if snapshotting is enabled.
    pub fn snapshot_recorder(&self) -> Option<&Arc<dyn AsyncAggregateRecorder>> {
        self.snapshots.as_ref()
    }

    /// The repository.
    pub fn repository(&self) -> &AsyncRepository<T> {
        &self.repository
    }

    /// The notification log.
    pub fn log(&self) -> &AsyncNotificationLog {
        &self.log
    }

    /// Saves the new events of one or several aggregates, of any types, atomically, as
    /// [`Application::save`](super::Application::save) does: `&mut aggregate`, a tuple, or a
    /// slice or `Vec` of aggregates; on success their pending events are cleared, and the
    /// automatic snapshots taken.
    pub async fn save(&self, aggregates: impl Aggregates) -> Result<(), ApplicationError> {
        self.save_with(aggregates, &EventMetadata::default()).await
    }

    /// [`save`](AsyncApplication::save), the events stored with `metadata` (a correlation
    /// id for a command's events), as [`Application::save_with`](super::Application::save_with)
    /// does.
    pub async fn save_with(
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
        tracing::Instrument::instrument(self.recorder.insert_events(stored), span).await?;
        let mut after = AfterSave::new(
            self.snapshots
                .as_ref()
                .map(|_| &self.snapshotting_intervals),
        );
        aggregates.saved(&mut after);
        self.take_due_snapshots(after.due).await;
        Ok(())
    }

    /// Subscribes to the application's events of type `U` (such as `DomainEvent<DogEvent>`)
    /// with notification ids after `after` (0 for all): a `Stream` of each event with its
    /// tracking record, in notification order, that yields what is stored and then waits for
    /// what is committed next. Fails if `after` is beyond the end of the log.
    pub async fn subscribe<U: UpstreamEvent>(
        &self,
        after: u64,
    ) -> Result<AsyncApplicationSubscription<U, T>, ApplicationError> {
        let subscription =
            AsyncSubscription::new(Arc::clone(&self.recorder) as _, after, U::topics()).await?;
        Ok(AsyncApplicationSubscription::new(
            subscription,
            Arc::clone(&self.mapper),
            self.name.clone(),
        ))
    }

    /// Takes a snapshot of the aggregate `id` as it is at `version` (the latest if `None`),
    /// read from the repository, and stores it.
    pub async fn take_snapshot<A: Aggregate>(
        &self,
        id: Uuid,
        version: Option<u64>,
    ) -> Result<(), ApplicationError> {
        if self.snapshots.is_none() {
            return Err(ApplicationError::SnapshottingDisabled);
        }
        let aggregate: A = match version {
            Some(version) => self.repository.get_at(id, version).await?,
            None => self.repository.get(id).await?,
        };
        let snapshot = aggregate.take_snapshot()?;
        self.store_snapshot(&snapshot).await
    }

    async fn store_snapshot(&self, snapshot: &Snapshot) -> Result<(), ApplicationError> {
        let Some(snapshots) = &self.snapshots else {
            return Err(ApplicationError::SnapshottingDisabled);
        };
        let stored = self.mapper.from_snapshot(snapshot)?;
        Ok(snapshots.insert_events(vec![stored]).await?)
    }

    /// Stores the snapshots a save made due. A failure is logged, not returned: the events are
    /// saved.
    async fn take_due_snapshots(&self, due: Vec<DueSnapshots<T>>) {
        for due in due {
            for &version in &due.past {
                let stored = match (due.take_at_async)(&self.repository, due.id, version).await {
                    Ok(snapshot) => self.store_snapshot(&snapshot).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = stored {
                    log_failure(due.type_name, due.id, version, &error);
                }
            }
            if let Some((version, snapshot)) = due.current {
                let stored = match snapshot {
                    Ok(snapshot) => self.store_snapshot(&snapshot).await,
                    Err(error) => Err(error.into()),
                };
                if let Err(error) = stored {
                    log_failure(due.type_name, due.id, version, &error);
                }
            }
        }
    }
}

/// Gets aggregates, awaited: the newest snapshot at or below the requested version, then the
/// events after it, applied in order, as [`Repository`](super::Repository) does.
pub struct AsyncRepository<T: Transcoder = JsonTranscoder> {
    mapper: Arc<Mapper<T>>,
    events: Arc<dyn AsyncAggregateRecorder>,
    snapshots: Option<Arc<dyn AsyncAggregateRecorder>>,
}

impl<T: Transcoder> Clone for AsyncRepository<T> {
    fn clone(&self) -> Self {
        AsyncRepository {
            mapper: Arc::clone(&self.mapper),
            events: Arc::clone(&self.events),
            snapshots: self.snapshots.clone(),
        }
    }
}

impl<T: Transcoder> std::fmt::Debug for AsyncRepository<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRepository")
            .field("mapper", &self.mapper)
            .field("snapshots", &self.snapshots.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Transcoder> AsyncRepository<T> {
    /// A repository of the events in `events` (and snapshots in `snapshots`).
    pub fn new(
        mapper: Arc<Mapper<T>>,
        events: Arc<dyn AsyncAggregateRecorder>,
        snapshots: Option<Arc<dyn AsyncAggregateRecorder>>,
    ) -> Self {
        AsyncRepository {
            mapper,
            events,
            snapshots,
        }
    }

    /// The aggregate with id `id`, at its latest version.
    /// [`ApplicationError::AggregateNotFound`] if there are no events of `id`.
    pub async fn get<A: Aggregate>(&self, id: Uuid) -> Result<A, ApplicationError> {
        self.load(id, None).await
    }

    /// The aggregate with id `id` as it was at `version` (or at its latest version, if that is
    /// lower). [`ApplicationError::AggregateNotFound`] if it has no events at or below
    /// `version`.
    pub async fn get_at<A: Aggregate>(
        &self,
        id: Uuid,
        version: u64,
    ) -> Result<A, ApplicationError> {
        self.load(id, Some(version)).await
    }

    /// The aggregate with id `id`, or, if it has no events, the new aggregate `create` makes
    /// (not saved), as [`Repository::get_or_else`](super::Repository::get_or_else) does.
    pub async fn get_or_else<A: Aggregate>(
        &self,
        id: Uuid,
        create: impl FnOnce() -> A,
    ) -> Result<A, ApplicationError> {
        found_or_else(id, self.get(id).await, create)
    }

    /// The aggregate with id `id` as it was at `timestamp`, as
    /// [`Repository::get_as_of`](super::Repository::get_as_of) rebuilds it.
    pub async fn get_as_of<A: Aggregate>(
        &self,
        id: Uuid,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Result<A, ApplicationError> {
        self.run(id, Load::<A>::as_of(id, timestamp)).await
    }

    async fn load<A: Aggregate>(
        &self,
        id: Uuid,
        version: Option<u64>,
    ) -> Result<A, ApplicationError> {
        self.run(id, Load::<A>::new(id, version)).await
    }

    async fn run<A: Aggregate>(&self, id: Uuid, mut load: Load<A>) -> Result<A, ApplicationError> {
        let span = load.span();
        let loading = async {
            if let Some(snapshots) = &self.snapshots {
                let stored = snapshots
                    .select_events(id, load.snapshot_query())
                    .await?
                    .pop();
                load.restore_snapshot(&self.mapper, stored);
            }
            while let Some(query) = load.next_query() {
                let page = self.events.select_events(id, query).await?;
                load.apply_page(&self.mapper, page)?;
            }
            Ok::<_, ApplicationError>(load)
        };
        let load = tracing::Instrument::instrument(loading, span.clone()).await?;
        load.finish(&span)
    }
}

/// An application's notification log, awaited: sections "first,last" and selections from a
/// position, as [`LocalNotificationLog`](super::LocalNotificationLog) gives them.
#[derive(Clone)]
pub struct AsyncNotificationLog {
    recorder: Arc<dyn AsyncApplicationRecorder>,
    section_size: usize,
}

impl std::fmt::Debug for AsyncNotificationLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncNotificationLog")
            .field("section_size", &self.section_size)
            .finish_non_exhaustive()
    }
}

impl AsyncNotificationLog {
    /// The log of `recorder`, in sections of `section_size` notifications.
    pub fn new(recorder: Arc<dyn AsyncApplicationRecorder>, section_size: usize) -> Self {
        AsyncNotificationLog {
            recorder,
            section_size,
        }
    }

    /// The number of notifications in a full section.
    pub fn section_size(&self) -> usize {
        self.section_size
    }

    /// The recorder the log reads.
    pub fn recorder(&self) -> &Arc<dyn AsyncApplicationRecorder> {
        &self.recorder
    }

    /// The section `section_id` ("first,last"), as
    /// [`NotificationLog::section`](super::NotificationLog::section) gives it.
    pub async fn section(&self, section_id: &str) -> Result<Section, ApplicationError> {
        let (start, limit) = section_request(section_id, self.section_size)?;
        Ok(section_of(self.select(start, limit).await?, limit))
    }

    /// At most `limit` notifications with ids from `start`. A `limit` above the section size
    /// is [`ApplicationError::LimitTooLarge`].
    pub async fn select(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, ApplicationError> {
        check_limit(limit, self.section_size)?;
        Ok(self.recorder.select_notifications(start, limit).await?)
    }

    /// At most `limit` notifications with ids from `start` whose topic is one of `topics` (all
    /// of them if `topics` is empty), as
    /// [`NotificationLog::select_of`](super::NotificationLog::select_of) gives them.
    pub async fn select_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, ApplicationError> {
        check_limit(limit, self.section_size)?;
        Ok(self
            .recorder
            .select_notifications_of(start, limit, topics)
            .await?)
    }
}

/// Runs blocking `work` on tokio's blocking pool.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PersistenceError> + Send + 'static,
) -> Result<T, PersistenceError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        PersistenceError::database(
            crate::persistence::ErrorKind::Internal,
            format!("a blocking call failed: {e}"),
        )
    })?
}
