//! The conformance suite against recorders' async face (features `testing` and `tokio`): an
//! [`AsyncRecorderFactory`] makes fresh async recorders, and [`AsyncFace`] presents them to the
//! suite as blocking recorders, each call awaited on a tokio runtime through a
//! [`Bridge`], so that every check, the concurrent ones included, runs against the async
//! implementation.

use std::sync::Arc;

use uuid::Uuid;

use super::RecorderFactory;
use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
    AsyncProcessRecorder, Bridge, EventQuery, Notification, PersistenceError, ProcessRecorder,
    StoredEvent, Tracking,
};

/// Makes fresh, empty async recorders of one backend: the async counterpart of
/// [`RecorderFactory`], with the same rules (a new, empty database or new tables per call).
///
/// Give it to [`AsyncFace::factory`] to run the conformance suite on the async face:
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::persistence::{AsyncAggregateRecorder, AsyncApplicationRecorder, AsyncProcessRecorder};
/// use eventsourcing::testing::{self, AsyncFace, AsyncRecorderFactory};
///
/// struct InMemory;
///
/// impl AsyncRecorderFactory for InMemory {
///     fn aggregate_recorder(&self) -> Arc<dyn AsyncAggregateRecorder> {
///         Arc::new(InMemoryRecorder::new())
///     }
///     fn application_recorder(&self) -> Arc<dyn AsyncApplicationRecorder> {
///         Arc::new(InMemoryRecorder::new())
///     }
///     fn process_recorder(&self) -> Arc<dyn AsyncProcessRecorder> {
///         Arc::new(InMemoryRecorder::new())
///     }
/// }
///
/// let factory = AsyncFace::factory(InMemory);
/// testing::process_tracking(&factory);
/// // Or one #[test] per check: eventsourcing::recorder_conformance_tests!(AsyncFace::factory(InMemory));
/// ```
pub trait AsyncRecorderFactory: Sync {
    /// A fresh, empty async aggregate recorder.
    fn aggregate_recorder(&self) -> Arc<dyn AsyncAggregateRecorder>;

    /// A fresh, empty async application recorder.
    fn application_recorder(&self) -> Arc<dyn AsyncApplicationRecorder>;

    /// A fresh, empty async process recorder.
    fn process_recorder(&self) -> Arc<dyn AsyncProcessRecorder>;

    /// `n` handles on one fresh, empty aggregate-recorder database (see
    /// [`RecorderFactory::aggregate_recorder_handles`]).
    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncAggregateRecorder>> {
        let recorder = self.aggregate_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// `n` handles on one fresh, empty application-recorder database.
    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncApplicationRecorder>> {
        let recorder = self.application_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// `n` handles on one fresh, empty process-recorder database.
    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncProcessRecorder>> {
        let recorder = self.process_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// Whether the backend's notification ids have no gaps (see
    /// [`RecorderFactory::gapless_notification_ids`]).
    fn gapless_notification_ids(&self) -> bool {
        true
    }
}

/// An async recorder presented as a blocking one: each call is awaited on the bridge's
/// runtime. For running the conformance suite against the async face; not meant for
/// production use (a backend's own blocking face is).
pub struct AsyncFace<R: ?Sized> {
    recorder: Arc<R>,
    bridge: Bridge,
}

impl<R: ?Sized> AsyncFace<R> {
    /// `recorder`, its calls awaited on `bridge`.
    pub fn new(recorder: Arc<R>, bridge: Bridge) -> Self {
        AsyncFace { recorder, bridge }
    }
}

impl AsyncFace<()> {
    /// A [`RecorderFactory`] whose recorders are `factory`'s async ones, through [`AsyncFace`],
    /// all awaited on one runtime.
    ///
    /// # Panics
    ///
    /// If the runtime can't be started (it is test code).
    pub fn factory<F: AsyncRecorderFactory>(factory: F) -> AsyncFaceFactory<F> {
        let bridge = match Bridge::new("conformance") {
            Ok(bridge) => bridge,
            Err(error) => panic!("can't start the conformance suite's runtime: {error}"),
        };
        AsyncFaceFactory { factory, bridge }
    }
}

/// A [`RecorderFactory`] of [`AsyncFace`]s: see [`AsyncFace::factory`].
pub struct AsyncFaceFactory<F> {
    factory: F,
    bridge: Bridge,
}

impl<F> AsyncFaceFactory<F> {
    fn face<R: ?Sized>(&self, recorder: Arc<R>) -> AsyncFace<R> {
        AsyncFace::new(recorder, self.bridge.clone())
    }
}

impl<F: AsyncRecorderFactory> RecorderFactory for AsyncFaceFactory<F> {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        Arc::new(self.face(self.factory.aggregate_recorder()))
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        Arc::new(self.face(self.factory.application_recorder()))
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        Arc::new(self.face(self.factory.process_recorder()))
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AggregateRecorder>> {
        let handles = self.factory.aggregate_recorder_handles(n);
        handles
            .into_iter()
            .map(|r| Arc::new(self.face(r)) as Arc<dyn AggregateRecorder>)
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ApplicationRecorder>> {
        let handles = self.factory.application_recorder_handles(n);
        handles
            .into_iter()
            .map(|r| Arc::new(self.face(r)) as Arc<dyn ApplicationRecorder>)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ProcessRecorder>> {
        let handles = self.factory.process_recorder_handles(n);
        handles
            .into_iter()
            .map(|r| Arc::new(self.face(r)) as Arc<dyn ProcessRecorder>)
            .collect()
    }

    fn gapless_notification_ids(&self) -> bool {
        self.factory.gapless_notification_ids()
    }
}

impl<R: ?Sized + AsyncAggregateRecorder + 'static> AggregateRecorder for AsyncFace<R> {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.insert_owned(events.to_vec())
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        let recorder = Arc::clone(&self.recorder);
        self.bridge
            .block_on(async move { recorder.insert_events(events).await })?
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let (recorder, query) = (Arc::clone(&self.recorder), *query);
        self.bridge
            .block_on(async move { recorder.select_events(originator_id, query).await })?
    }
}

impl<R: ?Sized + AsyncApplicationRecorder + 'static> ApplicationRecorder for AsyncFace<R> {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        let recorder = Arc::clone(&self.recorder);
        self.bridge
            .block_on(async move { recorder.select_notifications(start, limit).await })?
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        let recorder = Arc::clone(&self.recorder);
        self.bridge
            .block_on(async move { recorder.max_notification_id().await })?
    }
}

impl<R: ?Sized + AsyncProcessRecorder + 'static> ProcessRecorder for AsyncFace<R> {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        let recorder = Arc::clone(&self.recorder);
        let (events, tracking) = (events.to_vec(), tracking.to_vec());
        self.bridge
            .block_on(async move { recorder.insert_events_with_tracking(events, tracking).await })?
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        let recorder = Arc::clone(&self.recorder);
        let name = application_name.to_string();
        self.bridge
            .block_on(async move { recorder.max_tracking_id(&name).await })?
    }
}
