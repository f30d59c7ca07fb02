//! The [`Repository`]: aggregates by id, rebuilt from their snapshots and events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ApplicationError;
use crate::domain::{Aggregate, DirectRestore};
use crate::persistence::{
    AggregateRecorder, EventQuery, JsonTranscoder, Mapper, StoredEvent, Transcoder,
};

/// How many events the repository reads from the recorder at a time.
pub(crate) const EVENTS_PAGE: usize = 10_000;

/// Gets aggregates: the newest snapshot at or below the requested version (when snapshotting is
/// enabled), then the events after it, applied in order.
///
/// A snapshot that can't be decoded or restored (damaged, or from a version of the aggregate
/// with no upcast path) is skipped with a warning and the aggregate is replayed from its
/// events: never a default state at a later version.
pub struct Repository<T: Transcoder = JsonTranscoder> {
    mapper: Arc<Mapper<T>>,
    events: Arc<dyn AggregateRecorder>,
    snapshots: Option<Arc<dyn AggregateRecorder>>,
}

impl<T: Transcoder> Clone for Repository<T> {
    fn clone(&self) -> Self {
        Repository {
            mapper: Arc::clone(&self.mapper),
            events: Arc::clone(&self.events),
            snapshots: self.snapshots.clone(),
        }
    }
}

impl<T: Transcoder> std::fmt::Debug for Repository<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("mapper", &self.mapper)
            .field("snapshots", &self.snapshots.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Transcoder> Repository<T> {
    /// A repository of the events in `events` (and snapshots in `snapshots`).
    pub fn new(
        mapper: Arc<Mapper<T>>,
        events: Arc<dyn AggregateRecorder>,
        snapshots: Option<Arc<dyn AggregateRecorder>>,
    ) -> Self {
        Repository {
            mapper,
            events,
            snapshots,
        }
    }

    /// The aggregate with id `id`, at its latest version.
    ///
    /// [`ApplicationError::AggregateNotFound`] if there are no events of `id`.
    pub fn get<A: Aggregate>(&self, id: Uuid) -> Result<A, ApplicationError> {
        self.load(id, None)
    }

    /// The aggregate with id `id`, or, if it has no events, the new aggregate `create` makes
    /// (not saved: save it with the changes the caller makes). Any other error is returned,
    /// never turned into a creation.
    ///
    /// `create` must give the new aggregate the id `id` (an `id` argument, or a `create_id`
    /// that derives the same id), or the next call would not find it either:
    /// [`ApplicationError::CreatedWithOtherId`] if it does not.
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    ///
    /// #[aggregate]
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
    ///     pub fn incremented(&mut self) { self.count += 1 }
    /// }
    ///
    /// let app = Application::new("Counters")?;
    /// for _ in 0..2 {
    ///     let id = Counter::create_id("dinosaurs");
    ///     let mut counter = app.repository().get_or_else(id, || Counter::create("dinosaurs".into()))?;
    ///     counter.incremented();
    ///     app.save(&mut counter)?;
    /// }
    /// let counter: Counter = app.repository().get(Counter::create_id("dinosaurs"))?;
    /// assert_eq!(counter.version(), 3); // created once, incremented twice
    /// # Ok::<(), ApplicationError>(())
    /// ```
    pub fn get_or_else<A: Aggregate>(
        &self,
        id: Uuid,
        create: impl FnOnce() -> A,
    ) -> Result<A, ApplicationError> {
        found_or_else(id, self.get(id), create)
    }

    /// The aggregate with id `id` as it was at `version` (or at its latest version, if that is
    /// lower). [`ApplicationError::AggregateNotFound`] if it has no events at or below
    /// `version`.
    pub fn get_at<A: Aggregate>(&self, id: Uuid, version: u64) -> Result<A, ApplicationError> {
        self.load(id, Some(version))
    }

    /// The aggregate with id `id` as it was at `timestamp`: rebuilt from its events up to that
    /// time (its events' timestamps, which only increase), starting from the newest snapshot
    /// only when that snapshot is not newer. [`ApplicationError::AggregateNotFoundAsOf`] if
    /// it was created after `timestamp` (or has no events).
    ///
    /// ```
    /// use eventsourcing::prelude::*;
    ///
    /// #[aggregate]
    /// pub struct Counter { count: u64 }
    ///
    /// #[aggregate]
    /// impl Counter {
    ///     #[created]
    ///     pub fn create() -> Self { Counter { count: 0 } }
    ///
    ///     #[event]
    ///     pub fn incremented(&mut self) { self.count += 1 }
    /// }
    ///
    /// let app = Application::new("Counters")?;
    /// let mut counter = Counter::create();
    /// counter.incremented();
    /// app.save(&mut counter)?;
    /// let then = counter.modified_on();
    /// counter.incremented();
    /// app.save(&mut counter)?;
    ///
    /// let past: Counter = app.repository().get_as_of(counter.id(), then)?;
    /// assert_eq!(past.version(), 2);
    /// assert_eq!(past.modified_on(), then);
    /// let before = counter.created_on() - chrono::TimeDelta::seconds(1);
    /// let error = app.repository().get_as_of::<Counter>(counter.id(), before).err();
    /// assert!(error.is_some_and(|e| e.is_not_found()));
    /// # Ok::<(), ApplicationError>(())
    /// ```
    pub fn get_as_of<A: Aggregate>(
        &self,
        id: Uuid,
        timestamp: DateTime<Utc>,
    ) -> Result<A, ApplicationError> {
        self.run(Load::<A>::as_of(id, timestamp))
    }

    fn load<A: Aggregate>(&self, id: Uuid, version: Option<u64>) -> Result<A, ApplicationError> {
        self.run(Load::<A>::new(id, version))
    }

    fn run<A: Aggregate>(&self, mut load: Load<A>) -> Result<A, ApplicationError> {
        let id = load.id;
        let span = load.span();
        let _entered = span.enter();
        if let Some(snapshots) = &self.snapshots {
            let stored = snapshots.select_events(id, &load.snapshot_query())?.pop();
            load.restore_snapshot(&self.mapper, stored);
        }
        while let Some(query) = load.next_query() {
            let page = self.events.select_events(id, &query)?;
            load.apply_page(&self.mapper, page)?;
        }
        load.finish(&span)
    }
}

/// Getting an aggregate, step by step, apart from the reading (which the blocking and the
/// async repositories do each their way): the newest snapshot at or below the version, then
/// the events after it, a page at a time, applied in order.
pub(crate) struct Load<A> {
    id: Uuid,
    version: Option<u64>,
    /// The time to rebuild the aggregate as of (`get_as_of`): events after it are not applied,
    /// nor a snapshot taken after it.
    as_of: Option<DateTime<Utc>>,
    aggregate: Option<A>,
    /// The version of the last event applied (or of the snapshot).
    after: Option<u64>,
    /// Whether the last page read was full, so that there may be more.
    more: bool,
}

impl<A: Aggregate> Load<A> {
    pub(crate) fn new(id: Uuid, version: Option<u64>) -> Self {
        Load {
            id,
            version,
            as_of: None,
            aggregate: None,
            after: None,
            more: true,
        }
    }

    /// The span of this get.
    pub(crate) fn span(&self) -> tracing::Span {
        super::trace::get_span(A::NAME, self.id, self.version, self.as_of)
    }

    /// Getting the aggregate as it was at `timestamp`.
    pub(crate) fn as_of(id: Uuid, timestamp: DateTime<Utc>) -> Self {
        Load {
            as_of: Some(timestamp),
            ..Load::new(id, None)
        }
    }

    /// The query of the snapshot to start from: the newest at or below the version.
    pub(crate) fn snapshot_query(&self) -> EventQuery {
        EventQuery {
            gt: None,
            lte: self.version,
            desc: true,
            limit: Some(1),
        }
    }

    /// Starts from the stored snapshot, if there is one and it can be restored.
    ///
    /// A snapshot that can't be decoded or restored is skipped with a warning: the aggregate
    /// is then replayed from its events.
    pub(crate) fn restore_snapshot<T: Transcoder>(
        &mut self,
        mapper: &Mapper<T>,
        stored: Option<StoredEvent>,
    ) {
        let Some(stored) = stored else {
            return;
        };
        let restored = if A::CLASS_VERSION > 1 {
            // Upcasting works on the state as a map.
            mapper
                .to_snapshot(&stored)
                .map_err(ApplicationError::from)
                .and_then(|snapshot| A::from_snapshot(snapshot).map_err(ApplicationError::from))
        } else {
            let seed = DirectRestore::<A> {
                originator_id: stored.originator_id,
                originator_version: stored.originator_version,
                marker: std::marker::PhantomData,
            };
            mapper
                .decode_snapshot_with(&stored, seed)
                .map_err(ApplicationError::from)
        };
        match restored {
            // Newer than the time asked for: replayed from the events instead.
            Ok(aggregate) if self.as_of.is_some_and(|t| aggregate.modified_on() > t) => {}
            Ok(aggregate) => {
                self.after = Some(aggregate.version());
                self.aggregate = Some(aggregate);
            }
            Err(error) => tracing::warn!(
                aggregate = A::NAME,
                id = %self.id,
                snapshot_version = stored.originator_version,
                %error,
                "ignoring a snapshot that can't be restored; replaying the aggregate from its events"
            ),
        }
    }

    /// The query of the next page of events, or `None` once they have all been read.
    ///
    /// Events are read a page at a time, so that the stored form of a long history is never
    /// all in memory at once.
    pub(crate) fn next_query(&self) -> Option<EventQuery> {
        self.more.then_some(EventQuery {
            gt: self.after,
            lte: self.version,
            desc: false,
            limit: Some(EVENTS_PAGE),
        })
    }

    /// Applies a page of events, read with the last [`next_query`](Load::next_query).
    pub(crate) fn apply_page<T: Transcoder>(
        &mut self,
        mapper: &Mapper<T>,
        page: Vec<StoredEvent>,
    ) -> Result<(), ApplicationError> {
        self.more = page.len() == EVENTS_PAGE;
        for stored in page {
            self.after = Some(stored.originator_version);
            let event = mapper.to_domain_event::<A::Event>(&stored)?;
            if self.as_of.is_some_and(|t| event.timestamp > t) {
                // An aggregate's timestamps only increase: nothing after this one applies.
                self.more = false;
                break;
            }
            match &mut self.aggregate {
                None => self.aggregate = Some(A::from_created_event(event)?),
                Some(aggregate) => aggregate.apply_event(event)?,
            }
        }
        Ok(())
    }

    /// The aggregate, once every page has been applied.
    pub(crate) fn finish(self, span: &tracing::Span) -> Result<A, ApplicationError> {
        if let Some(aggregate) = &self.aggregate {
            span.record("loaded_version", aggregate.version());
        }
        match (self.aggregate, self.as_of) {
            (Some(aggregate), _) if aggregate.is_discarded() => {
                Err(ApplicationError::AggregateDiscarded {
                    id: self.id,
                    version: Some(aggregate.version()),
                })
            }
            (Some(aggregate), _) => Ok(aggregate),
            (None, Some(timestamp)) => Err(ApplicationError::AggregateNotFoundAsOf {
                id: self.id,
                timestamp,
            }),
            (None, None) => Err(ApplicationError::AggregateNotFound {
                id: self.id,
                version: self.version,
            }),
        }
    }
}

/// `found`, or, if it is the error that `id` has no events, the aggregate `create` makes, which
/// must have the id `id`: [`Repository::get_or_else`] and its counterpart in process
/// applications.
pub(crate) fn found_or_else<A: Aggregate>(
    id: Uuid,
    found: Result<A, ApplicationError>,
    create: impl FnOnce() -> A,
) -> Result<A, ApplicationError> {
    match found {
        Err(error) if error.is_not_found() => {
            let created = create();
            if created.id() != id {
                return Err(ApplicationError::CreatedWithOtherId {
                    id,
                    created: created.id(),
                });
            }
            Ok(created)
        }
        found => found,
    }
}
