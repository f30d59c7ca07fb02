//! The [`EventStore`]: a mapper and a recorder, for domain events.

use std::sync::Arc;

use uuid::Uuid;

use super::error::PersistenceError;
use super::mapper::Mapper;
use super::recorder::{AggregateRecorder, EventQuery};
use super::transcoder::{JsonTranscoder, Transcoder};
use crate::domain::{AggregateEvent, DomainEvent, Snapshot};

/// Stores and retrieves domain events: maps them with a [`Mapper`], records them with an
/// [`AggregateRecorder`].
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::prelude::*;
/// use eventsourcing::persistence::{EventQuery, EventStore, Mapper};
/// use eventsourcing::memory::InMemoryRecorder;
///
/// #[aggregate]
/// pub struct Counter {
///     count: u32,
/// }
///
/// #[aggregate]
/// impl Counter {
///     #[created]
///     pub fn create() -> Self {
///         Counter { count: 0 }
///     }
///
///     #[event]
///     pub fn incremented(&mut self) {
///         self.count += 1;
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = EventStore::new(Arc::new(Mapper::default()), Arc::new(InMemoryRecorder::new()));
/// let mut counter = Counter::create();
/// counter.incremented();
/// store.put(&counter.collect_events())?;
///
/// let events = store.get::<CounterEvent>(counter.id(), &EventQuery::new())?;
/// assert_eq!(events.len(), 2);
/// assert_eq!(Counter::from_events(events)?.version(), 2);
/// # Ok(())
/// # }
/// ```
pub struct EventStore<T: Transcoder = JsonTranscoder> {
    mapper: Arc<Mapper<T>>,
    recorder: Arc<dyn AggregateRecorder>,
}

impl<T: Transcoder> Clone for EventStore<T> {
    fn clone(&self) -> Self {
        EventStore {
            mapper: Arc::clone(&self.mapper),
            recorder: Arc::clone(&self.recorder),
        }
    }
}

impl<T: Transcoder> std::fmt::Debug for EventStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("mapper", &self.mapper)
            .finish_non_exhaustive()
    }
}

impl<T: Transcoder> EventStore<T> {
    /// An event store over `recorder`, mapping with `mapper`.
    pub fn new(mapper: Arc<Mapper<T>>, recorder: Arc<dyn AggregateRecorder>) -> Self {
        EventStore { mapper, recorder }
    }

    /// The mapper.
    pub fn mapper(&self) -> &Arc<Mapper<T>> {
        &self.mapper
    }

    /// The recorder.
    pub fn recorder(&self) -> &Arc<dyn AggregateRecorder> {
        &self.recorder
    }

    /// Stores `events` atomically (all or none; see
    /// [`AggregateRecorder::insert_events`]).
    pub fn put<E: AggregateEvent>(
        &self,
        events: &[DomainEvent<E>],
    ) -> Result<(), PersistenceError> {
        let stored = self.mapper.from_domain_events(events)?;
        self.recorder.insert_owned(stored)
    }

    /// The events of one aggregate that `query` selects, as domain events.
    pub fn get<E: AggregateEvent>(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<DomainEvent<E>>, PersistenceError> {
        self.recorder
            .select_events(originator_id, query)?
            .iter()
            .map(|stored| self.mapper.to_domain_event(stored))
            .collect()
    }

    /// The snapshots of one aggregate that `query` selects (from a snapshot store, such as
    /// [`Application::snapshots`](crate::application::Application::snapshots)): the
    /// reference's `application.snapshots.get(...)`.
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    /// use eventsourcing::persistence::EventQuery;
    ///
    /// #[aggregate]
    /// #[derive(Serialize, Deserialize)]
    /// pub struct Counter { count: u32 }
    ///
    /// #[aggregate]
    /// impl Counter {
    ///     #[created]
    ///     pub fn create() -> Self { Counter { count: 0 } }
    ///
    ///     #[event]
    ///     pub fn incremented(&mut self) { self.count += 1; }
    /// }
    ///
    /// # fn main() -> Result<(), ApplicationError> {
    /// let app = Application::builder("Counters").snapshotting_interval::<Counter>(2).build()?;
    /// let mut counter = Counter::create();
    /// counter.incremented();
    /// counter.incremented();
    /// counter.incremented();
    /// app.save(&mut counter)?;
    /// let snapshots = app.snapshots().expect("snapshotting is on").get_snapshots(counter.id(), &EventQuery::new())?;
    /// let versions: Vec<u64> = snapshots.iter().map(|s| s.originator_version).collect();
    /// assert_eq!(versions, [2, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_snapshots(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<Snapshot>, PersistenceError> {
        self.recorder
            .select_events(originator_id, query)?
            .iter()
            .map(|stored| self.mapper.to_snapshot(stored))
            .collect()
    }
}
