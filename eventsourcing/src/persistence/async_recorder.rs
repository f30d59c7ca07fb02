//! The recorder traits' async face (feature `tokio`): [`AsyncAggregateRecorder`],
//! [`AsyncApplicationRecorder`] and [`AsyncProcessRecorder`], with the same contracts as their
//! blocking counterparts, and [`OnBlockingPool`], which gives a blocking recorder this face by
//! running its calls on tokio's blocking thread pool, a bounded number at a time.
//!
//! The traits are object-safe (`Arc<dyn AsyncProcessRecorder>`), so their methods return boxed
//! futures. Every future is `Send`, so it can be awaited in a task that `tokio::spawn` runs or
//! in an axum handler.
//!
//! Cancellation: dropping an insert's future before it completes either stores the whole batch
//! or none of it, never part: a native async recorder sends the batch as one transaction, and a
//! blocking recorder's call, once started on the blocking pool, runs to its end. The caller
//! can't tell which, so a retried save may find its own events already stored (an integrity
//! error), as after a lost connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Semaphore;
use uuid::Uuid;

use super::error::{ErrorKind, PersistenceError};
use super::recorder::{AggregateRecorder, ApplicationRecorder, EventQuery, ProcessRecorder};
use super::stored::{Notification, StoredEvent, Tracking};

/// A boxed future that can be sent between threads: what the async recorder traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Stores the events of aggregates: the async face of [`AggregateRecorder`], with the same
/// contract.
pub trait AsyncAggregateRecorder: Send + Sync {
    /// Inserts events atomically: all of them or none (see
    /// [`AggregateRecorder::insert_events`]).
    fn insert_events(
        &self,
        events: Vec<StoredEvent>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>>;

    /// The events of one aggregate that `query` selects, ordered by version.
    fn select_events(
        &self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, PersistenceError>>;
}

/// An [`AsyncAggregateRecorder`] whose events also have a position in the notification log:
/// the async face of [`ApplicationRecorder`].
pub trait AsyncApplicationRecorder: AsyncAggregateRecorder {
    /// At most `limit` notifications with ids from `start`, in id order.
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Notification>, PersistenceError>>;

    /// The highest notification id, or 0 if there are none.
    fn max_notification_id(&self) -> BoxFuture<'_, Result<u64, PersistenceError>>;

    /// At most `limit` notifications with ids from `start` whose topic is one of `topics` (all
    /// of them if `topics` is empty), in id order (see
    /// [`ApplicationRecorder::select_notifications_of`]). By default, reads pages of `limit`
    /// notifications and keeps the matching ones.
    fn select_notifications_of<'a>(
        &'a self,
        start: u64,
        limit: usize,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Notification>, PersistenceError>> {
        Box::pin(async move {
            if topics.is_empty() {
                return self.select_notifications(start, limit).await;
            }
            let mut found = Vec::new();
            let mut start = start;
            while found.len() < limit {
                let page = self.select_notifications(start, limit).await?;
                let Some(last) = page.last().map(|n| n.id) else {
                    break;
                };
                let full = page.len() >= limit;
                found.extend(
                    page.into_iter()
                        .filter(|n| topics.iter().any(|t| *t == n.topic)),
                );
                let Some(next) = last.checked_add(1).filter(|_| full) else {
                    break;
                };
                start = next;
            }
            found.truncate(limit);
            Ok(found)
        })
    }

    /// The signal this recorder notifies after each commit (see
    /// [`ApplicationRecorder::commit_signal`]). `None` by default.
    fn commit_signal(&self) -> Option<super::CommitSignal> {
        None
    }
}

/// An [`AsyncApplicationRecorder`] that also records which upstream notifications have been
/// processed: the async face of [`ProcessRecorder`].
pub trait AsyncProcessRecorder: AsyncApplicationRecorder {
    /// Inserts events and tracking records atomically: all of them or none (see
    /// [`ProcessRecorder::insert_events_with_tracking`]).
    fn insert_events_with_tracking(
        &self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>>;

    /// The id of the last notification of `application_name` that was processed, or 0.
    fn max_tracking_id<'a>(
        &'a self,
        application_name: &'a str,
    ) -> BoxFuture<'a, Result<u64, PersistenceError>>;
}

/// How many calls of one [`OnBlockingPool`] run on the blocking pool at a time, unless
/// configured otherwise.
pub const DEFAULT_BLOCKING_CALLS: usize = 8;

/// A blocking recorder (SQLite, or one of your own) with the async face: each call runs on
/// tokio's blocking thread pool (`spawn_blocking`), at most `limit` at a time, so that waiting
/// on the database never holds a runtime worker, and a burst of tasks never starts more
/// threads than the limit.
///
/// Calls made from outside a tokio runtime fail with an operational error that says so.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), eventsourcing::persistence::PersistenceError> {
/// use std::sync::Arc;
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::persistence::{AsyncAggregateRecorder, EventQuery, OnBlockingPool, StoredEvent};
/// use uuid::Uuid;
///
/// let recorder = OnBlockingPool::new(Arc::new(InMemoryRecorder::new()), 4);
/// let id = Uuid::new_v4();
/// let event = StoredEvent { originator_id: id, originator_version: 1, topic: "t".into(), state: b"{}".to_vec() };
/// recorder.insert_events(vec![event]).await?;
/// assert_eq!(recorder.select_events(id, EventQuery::new()).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct OnBlockingPool<R: ?Sized> {
    recorder: Arc<R>,
    permits: Arc<Semaphore>,
    limit: usize,
}

impl<R: ?Sized> Clone for OnBlockingPool<R> {
    fn clone(&self) -> Self {
        OnBlockingPool {
            recorder: Arc::clone(&self.recorder),
            permits: Arc::clone(&self.permits),
            limit: self.limit,
        }
    }
}

impl<R: ?Sized> std::fmt::Debug for OnBlockingPool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnBlockingPool")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<R: ?Sized + Send + Sync + 'static> OnBlockingPool<R> {
    /// `recorder`'s calls on the blocking pool, at most `limit` (at least 1) at a time.
    pub fn new(recorder: Arc<R>, limit: usize) -> Self {
        let limit = limit.max(1);
        OnBlockingPool {
            recorder,
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Another face of the same recorder, sharing the same limit (the snapshots' recorder of an
    /// application whose events' recorder shares its database, say).
    pub fn sharing<S: ?Sized + Send + Sync + 'static>(
        &self,
        recorder: Arc<S>,
    ) -> OnBlockingPool<S> {
        OnBlockingPool {
            recorder,
            permits: Arc::clone(&self.permits),
            limit: self.limit,
        }
    }

    /// The recorder.
    pub fn recorder(&self) -> &Arc<R> {
        &self.recorder
    }

    /// Runs `call` on the recorder on the blocking pool, once a permit is free.
    fn run<T, F>(&self, call: F) -> BoxFuture<'static, Result<T, PersistenceError>>
    where
        T: Send + 'static,
        F: FnOnce(&R) -> Result<T, PersistenceError> + Send + 'static,
    {
        let recorder = Arc::clone(&self.recorder);
        let permits = Arc::clone(&self.permits);
        Box::pin(async move {
            let permit = permits.acquire_owned().await.map_err(|_| {
                PersistenceError::database(ErrorKind::Operational, "the recorder was closed")
            })?;
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                PersistenceError::database(
                    ErrorKind::Operational,
                    "the async face of a blocking recorder runs on tokio's blocking pool, so it \
                     must be called from inside a tokio runtime",
                )
            })?;
            let task = runtime.spawn_blocking(move || {
                let result = call(&recorder);
                drop(permit);
                result
            });
            task.await.map_err(|error| {
                PersistenceError::database_caused_by(
                    ErrorKind::Internal,
                    "a recorder call on the blocking pool panicked or was cancelled",
                    error,
                )
            })?
        })
    }
}

impl<R: ?Sized + AggregateRecorder + 'static> AsyncAggregateRecorder for OnBlockingPool<R> {
    fn insert_events(
        &self,
        events: Vec<StoredEvent>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>> {
        self.run(move |recorder| recorder.insert_owned(events))
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: EventQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredEvent>, PersistenceError>> {
        self.run(move |recorder| recorder.select_events(originator_id, &query))
    }
}

impl<R: ?Sized + ApplicationRecorder + 'static> AsyncApplicationRecorder for OnBlockingPool<R> {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Notification>, PersistenceError>> {
        self.run(move |recorder| recorder.select_notifications(start, limit))
    }

    fn max_notification_id(&self) -> BoxFuture<'_, Result<u64, PersistenceError>> {
        self.run(|recorder| recorder.max_notification_id())
    }

    fn select_notifications_of<'a>(
        &'a self,
        start: u64,
        limit: usize,
        topics: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Notification>, PersistenceError>> {
        let topics = topics.to_vec();
        self.run(move |recorder| recorder.select_notifications_of(start, limit, &topics))
    }

    fn commit_signal(&self) -> Option<super::CommitSignal> {
        self.recorder.commit_signal()
    }
}

impl<R: ?Sized + ProcessRecorder + 'static> AsyncProcessRecorder for OnBlockingPool<R> {
    fn insert_events_with_tracking(
        &self,
        events: Vec<StoredEvent>,
        tracking: Vec<Tracking>,
    ) -> BoxFuture<'_, Result<(), PersistenceError>> {
        self.run(move |recorder| recorder.insert_events_with_tracking(&events, &tracking))
    }

    fn max_tracking_id<'a>(
        &'a self,
        application_name: &'a str,
    ) -> BoxFuture<'a, Result<u64, PersistenceError>> {
        let name = application_name.to_string();
        self.run(move |recorder| recorder.max_tracking_id(&name))
    }
}
