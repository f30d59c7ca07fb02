//! Process applications: an application with a policy that responds to the events of the
//! applications it follows.

use std::any::Any;
use std::collections::HashMap;

use uuid::Uuid;

use crate::application::{found_or_else, AfterSave, Application, ApplicationError, UpstreamEvent};
use crate::domain::{Aggregate, BoxError, EventMetadata};
use crate::persistence::{JsonTranscoder, StoredEvent, Transcoder};

/// What a policy returns: `Ok`, or any error (which stops processing at that notification; it
/// is processed again next time).
pub type PolicyResult = Result<(), BoxError>;

/// A process application: an application of yours (a struct holding an [`Application`]) with a
/// policy, which is called once for each event of the applications it follows.
///
/// What the policy changes goes into the [`ProcessingEvent`] it is given, and is recorded
/// together with the position in the upstream log, atomically: after a crash the follower
/// resumes from its last recorded position, and no upstream event is processed twice or
/// skipped.
///
/// Policies are typed: [`Upstream`](Process::Upstream) is the upstream events a policy
/// understands, usually `DomainEvent<SomeAggregateEvent>`, and the policy matches on the
/// generated event enum. Events of other types are tracked and skipped.
///
/// ```
/// use eventsourcing::prelude::*;
/// use eventsourcing::application::{Application, ApplicationError};
/// use eventsourcing::system::{Process, ProcessingEvent, PolicyResult};
///
/// #[aggregate]
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// pub struct World { history: Vec<String> }
///
/// #[aggregate]
/// impl World {
///     #[created]
///     pub fn create() -> Self { World { history: Vec::new() } }
///
///     #[event("SomethingHappened")]
///     pub fn make_it_so(&mut self, what: String) { self.history.push(what); }
/// }
///
/// #[aggregate]
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// pub struct Counter { count: u64 }
///
/// #[aggregate]
/// impl Counter {
///     pub fn create_id(name: &str) -> Uuid {
///         eventsourcing::domain::url_id(&format!("/counters/{name}"))
///     }
///
///     #[created]
///     pub fn create(name: String) -> Self { Counter { count: 0 } }
///
///     #[event]
///     pub fn incremented(&mut self) { self.count += 1; }
/// }
///
/// /// Counts what happens in the worlds.
/// pub struct Counters { app: Application }
///
/// impl AsRef<Application> for Counters {
///     fn as_ref(&self) -> &Application { &self.app }
/// }
///
/// impl Process for Counters {
///     type Upstream = DomainEvent<WorldEvent>;
///
///     fn policy(&self, event: DomainEvent<WorldEvent>, processing: &mut ProcessingEvent<'_>) -> PolicyResult {
///         if let WorldEvent::SomethingHappened { what } = event.payload {
///             // The counter of `what`, or a new one the first time.
///             let id = Counter::create_id(&what);
///             let mut counter = processing.get_or_else(id, || Counter::create(what))?;
///             counter.incremented();
///             processing.save(&mut counter)?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Process<T: Transcoder = JsonTranscoder>:
    AsRef<Application<T>> + Send + Sync + 'static
{
    /// The upstream events this policy understands.
    type Upstream: UpstreamEvent;

    /// Responds to one upstream event: get aggregates with
    /// [`ProcessingEvent::get`], change them, and [`save`](ProcessingEvent::save) them into
    /// `processing` (not with the application's own `save`, which would not be atomic with the
    /// tracking record).
    fn policy(
        &self,
        event: Self::Upstream,
        processing: &mut ProcessingEvent<'_, T>,
    ) -> PolicyResult;
}

/// An aggregate saved during processing, kept so that later events of the same batch see it.
pub(crate) struct Saved<T: Transcoder> {
    aggregate: Box<dyn Any + Send>,
    /// The first version this processing added (for automatic snapshots).
    first_new_version: u64,
    /// Takes the automatic snapshots of the aggregate once its events are recorded.
    snapshot: fn(&mut AfterSave<'_, T>, &(dyn Any + Send), u64),
}

/// What a policy's processing of one upstream event produces: the new events of the
/// aggregates it saved. The follower records them with the tracking record of the upstream
/// notification, in one transaction.
///
/// Aggregates saved earlier in the same batch of notifications are visible to
/// [`get`](ProcessingEvent::get) before they are committed, so a policy always sees its own
/// changes.
pub struct ProcessingEvent<'a, T: Transcoder = JsonTranscoder> {
    application: &'a Application<T>,
    batch: &'a HashMap<Uuid, Saved<T>>,
    saved: HashMap<Uuid, Saved<T>>,
    stored: Vec<StoredEvent>,
    leader_name: &'a str,
    notification_id: u64,
    /// The causation and correlation ids of the events saved here.
    metadata: EventMetadata,
}

impl<'a, T: Transcoder> ProcessingEvent<'a, T> {
    pub(crate) fn new(
        application: &'a Application<T>,
        batch: &'a HashMap<Uuid, Saved<T>>,
        leader_name: &'a str,
        notification_id: u64,
        metadata: EventMetadata,
    ) -> Self {
        ProcessingEvent {
            application,
            batch,
            saved: HashMap::new(),
            stored: Vec::new(),
            leader_name,
            notification_id,
            metadata,
        }
    }

    /// The causation and correlation ids the events saved here are stored with: caused by
    /// the upstream event, and correlated with its correlation id (or with it, if it had none).
    pub fn metadata(&self) -> &EventMetadata {
        &self.metadata
    }

    /// The process application's own application (its repository, its configuration).
    pub fn application(&self) -> &'a Application<T> {
        self.application
    }

    /// The name of the upstream application whose event is being processed.
    pub fn leader_name(&self) -> &str {
        self.leader_name
    }

    /// The id of the upstream notification being processed.
    pub fn notification_id(&self) -> u64 {
        self.notification_id
    }

    /// The aggregate `id` as this processing sees it: as saved earlier in this processing or
    /// batch, else from the application's repository.
    pub fn get<A: Aggregate + Clone + Send>(&self, id: Uuid) -> Result<A, ApplicationError> {
        let cached = self
            .saved
            .get(&id)
            .or_else(|| self.batch.get(&id))
            .and_then(|saved| saved.aggregate.downcast_ref::<A>());
        match cached {
            Some(aggregate) => Ok(aggregate.clone()),
            None => self.application.repository().get(id),
        }
    }

    /// The aggregate `id` as this processing sees it (see [`get`](ProcessingEvent::get)), or,
    /// if it has no events yet, the new aggregate `create` makes, for the policy to change and
    /// [`save`](ProcessingEvent::save). Any other error is returned, never turned into a
    /// creation.
    ///
    /// `create` must give the new aggregate the id `id`:
    /// [`ApplicationError::CreatedWithOtherId`] if it does not. See the [`Process`] example.
    pub fn get_or_else<A: Aggregate + Clone + Send>(
        &self,
        id: Uuid,
        create: impl FnOnce() -> A,
    ) -> Result<A, ApplicationError> {
        found_or_else(id, self.get(id), create)
    }

    /// Collects the aggregate's new events, to be recorded with the tracking record when the
    /// policy returns. The aggregate's pending events are cleared.
    pub fn save<A: Aggregate + Clone + Send>(
        &mut self,
        aggregate: &mut A,
    ) -> Result<(), ApplicationError> {
        let pending = aggregate.pending_events();
        let Some(first_new_version) = pending.first().map(|e| e.originator_version) else {
            return Ok(());
        };
        // All or nothing: a policy that handles an error here must not leave half of the
        // aggregate's events to be recorded.
        let stored = self
            .application
            .mapper()
            .from_domain_events_with(pending, &self.metadata)?;
        self.stored.extend(stored);
        crate::domain::aggregate::clear_pending_events(aggregate);
        let first_new_version = match self
            .saved
            .get(&aggregate.id())
            .or_else(|| self.batch.get(&aggregate.id()))
        {
            Some(earlier) => earlier.first_new_version.min(first_new_version),
            None => first_new_version,
        };
        self.saved.insert(
            aggregate.id(),
            Saved {
                aggregate: Box::new(aggregate.clone()),
                first_new_version,
                snapshot: snapshot_saved::<T, A>,
            },
        );
        Ok(())
    }

    /// The collected events and aggregates.
    pub(crate) fn into_parts(self) -> (Vec<StoredEvent>, HashMap<Uuid, Saved<T>>) {
        (self.stored, self.saved)
    }
}

/// After a batch is recorded: the automatic snapshots of each aggregate it saved.
pub(crate) fn snapshot_batch<T: Transcoder>(
    application: &Application<T>,
    batch: &HashMap<Uuid, Saved<T>>,
) {
    let snapshots = application
        .snapshots()
        .map(|_| application.snapshotting_intervals());
    let mut after = AfterSave::new(snapshots);
    for saved in batch.values() {
        (saved.snapshot)(&mut after, &*saved.aggregate, saved.first_new_version);
    }
    application.take_due_snapshots(after.due);
}

fn snapshot_saved<T: Transcoder, A: Aggregate>(
    after: &mut AfterSave<'_, T>,
    aggregate: &(dyn Any + Send),
    first_new_version: u64,
) {
    if let Some(aggregate) = aggregate.downcast_ref::<A>() {
        after.saved(aggregate, first_new_version);
    }
}
