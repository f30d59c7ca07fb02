//! Projections: an application's events turned into a materialised view of their own, with the
//! view's own tracking records, possibly in another database (the reference's `Projection`
//! and `ProjectionRunner`).
//!
//! A [`Projection`] handles one decoded event at a time, writing to its [`View`] (SQL in an
//! SQLite database with `sqlite::SqliteView`, a value in memory with `memory::MemoryView`, or a
//! view of your own). A [`ProjectionRunner`] follows the application through a subscription
//! and, for each batch of notifications that arrive together, runs the projection on each
//! event and records the tracking record of the last one in the same view transaction: a crash
//! never applies an event twice or skips one, and a restarted runner goes on from the view's
//! position.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::application::{Application, ApplicationError, UpstreamEvent};
use crate::domain::BoxError;
use crate::persistence::{
    Mapper, Notification, PersistenceError, Subscription, SubscriptionStopper, Tracking,
    Transcoder, View, ViewError,
};

/// How many notifications a runner processes in one view transaction, at most.
pub const PROJECTION_BATCH: usize = 500;

/// A projection of an application's events into a [`View`]: handles one event, writing to the
/// view inside the runner's transaction.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use eventsourcing::prelude::*;
/// use eventsourcing::domain::BoxError;
/// use eventsourcing::memory::MemoryView;
/// use eventsourcing::persistence::Tracking;
/// use eventsourcing::projection::{Projection, ProjectionRunner};
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
/// /// How many tricks have been taught, in all.
/// struct TrickCount;
///
/// impl Projection for TrickCount {
///     type Upstream = DomainEvent<DogEvent>;
///     type View = MemoryView<u64>;
///
///     fn process(&self, event: DomainEvent<DogEvent>, _: &Tracking, count: &mut u64) -> Result<(), BoxError> {
///         if let DogEvent::TrickAdded { .. } = event.payload {
///             *count += 1;
///         }
///         Ok(())
///     }
/// }
///
/// let app = Application::new("DogSchool")?;
/// let view = Arc::new(MemoryView::new(0));
/// let runner = ProjectionRunner::start(&app, Arc::new(TrickCount), Arc::clone(&view))?;
/// let mut dog = Dog::register();
/// dog.add_trick("sit".into());
/// dog.add_trick("fetch".into());
/// app.save(&mut dog)?;
/// runner.wait(3, Duration::from_secs(5))?; // the view has processed notification 3
/// assert_eq!(view.read(|count| *count), 2);
/// runner.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Projection: Send + Sync + 'static {
    /// The events it handles (other topics are not read).
    type Upstream: UpstreamEvent;
    /// The view it writes.
    type View: View + 'static;

    /// Handles one event: writes its effect to the view through `view`, in the transaction
    /// that also records `tracking` (or the tracking record of a later event of the same batch).
    /// An error rolls back the whole batch and stops the runner.
    fn process(
        &self,
        event: Self::Upstream,
        tracking: &Tracking,
        view: &mut <Self::View as View>::Transaction<'_>,
    ) -> Result<(), BoxError>;
}

/// An error of a projection runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The application's log could not be read, or an event decoded.
    #[error(transparent)]
    Application(#[from] ApplicationError),
    /// The view's transaction failed (the projection's work, or the view's database).
    #[error(transparent)]
    View(#[from] ViewError),
    /// The view did not reach the position in time.
    #[error("the view did not reach notification {notification_id} within {timeout:?}")]
    Timeout {
        /// The position waited for.
        notification_id: u64,
        /// How long it waited.
        timeout: Duration,
    },
    /// The runner's thread could not be started, or panicked.
    #[error("the projection runner's thread failed: {0}")]
    Thread(String),
}

impl From<PersistenceError> for ProjectionError {
    fn from(error: PersistenceError) -> Self {
        ProjectionError::Application(error.into())
    }
}

/// What a runner shares with its thread: the error that stopped it, if any.
type Failure = Arc<Mutex<Option<ProjectionError>>>;

/// Runs a [`Projection`] of an application in a thread of its own: subscribes to the
/// application's events after the view's position, and processes them as they are committed,
/// a batch per view transaction (see the module docs).
pub struct ProjectionRunner<P: Projection> {
    view: Arc<P::View>,
    application_name: String,
    stopper: SubscriptionStopper,
    thread: Option<JoinHandle<()>>,
    failure: Failure,
}

impl<P: Projection> std::fmt::Debug for ProjectionRunner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("application", &self.application_name)
            .finish_non_exhaustive()
    }
}

impl<P: Projection> ProjectionRunner<P> {
    /// Starts projecting `application`'s events into `view` with `projection`, from the view's
    /// position for the application. Fails if the view is ahead of the application's log (a
    /// view of another database, or of a log that was replaced), or either can't be read.
    pub fn start<T: Transcoder>(
        application: &Application<T>,
        projection: Arc<P>,
        view: Arc<P::View>,
    ) -> Result<Self, ProjectionError> {
        let name = application.name().to_string();
        let position = view.max_tracking_id(&name)?;
        let subscription = Subscription::new(
            Arc::clone(application.recorder()) as _,
            position,
            P::Upstream::topics(),
        )?;
        let stopper = subscription.stopper();
        let failure: Failure = Arc::default();
        let worker = Worker {
            projection,
            view: Arc::clone(&view),
            mapper: Arc::clone(application.mapper()),
            name: name.clone(),
        };
        let thread_failure = Arc::clone(&failure);
        let thread_stopper = stopper.clone();
        let thread = std::thread::Builder::new()
            .name(format!("eventsourcing-projection-{name}"))
            .spawn(move || {
                if let Err(error) = worker.run(subscription) {
                    tracing::error!(%error, "projection stopped");
                    *thread_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                    // Wakes `wait`, which reports the failure.
                    worker.view.commit_signal().notify();
                    thread_stopper.stop();
                }
            })
            .map_err(|error| ProjectionError::Thread(error.to_string()))?;
        Ok(ProjectionRunner {
            view,
            application_name: name,
            stopper,
            thread: Some(thread),
            failure,
        })
    }

    /// The view.
    pub fn view(&self) -> &Arc<P::View> {
        &self.view
    }

    /// The error that stopped the runner, if it stopped on one.
    pub fn check(&self) -> Result<(), ProjectionError> {
        match self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits until the view has processed the notification `notification_id` (woken by the
    /// view's commits, without polling), the runner stops on an error (returned), or `timeout`
    /// passes ([`ProjectionError::Timeout`]).
    ///
    /// Only notifications of the projection's topics move the view's position: wait for the
    /// id of an event the projection handles.
    pub fn wait(&self, notification_id: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let deadline = Instant::now() + timeout;
        let signal = self.view.commit_signal();
        loop {
            let seen = signal.count();
            self.check()?;
            if self.view.max_tracking_id(&self.application_name)? >= notification_id {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProjectionError::Timeout {
                    notification_id,
                    timeout,
                });
            }
            signal.wait_past(seen, left);
        }
    }

    /// Stops the runner (it finishes the batch it is processing) and returns the error that
    /// stopped it earlier, if any.
    pub fn stop(mut self) -> Result<(), ProjectionError> {
        self.shutdown()?;
        self.check()
    }

    fn shutdown(&mut self) -> Result<(), ProjectionError> {
        self.stopper.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(payload)) => Err(ProjectionError::Thread(format!(
                "the projection panicked: {}",
                crate::panics::message(payload.as_ref())
            ))),
            _ => Ok(()),
        }
    }
}

impl<P: Projection> Drop for ProjectionRunner<P> {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The runner's thread: what it projects, with what.
struct Worker<P: Projection, T: Transcoder> {
    projection: Arc<P>,
    view: Arc<P::View>,
    mapper: Arc<Mapper<T>>,
    name: String,
}

impl<P: Projection, T: Transcoder> Worker<P, T> {
    fn run(&self, mut subscription: Subscription) -> Result<(), ProjectionError> {
        while let Some(batch) = subscription.next_batch(PROJECTION_BATCH) {
            match batch {
                Ok(batch) => self.process(batch)?,
                // The log could not be read: the subscription reads it again.
                Err(error) => {
                    tracing::warn!(%error, application = %self.name, "can't read the log")
                }
            }
        }
        Ok(())
    }

    /// Runs the projection on a batch in one view transaction, recording the last
    /// notification's position.
    fn process(&self, batch: Vec<Notification>) -> Result<(), ProjectionError> {
        project_batch(
            &*self.projection,
            &*self.view,
            &self.mapper,
            &self.name,
            batch,
        )
    }
}

/// Decodes `batch` and runs `projection` on each event in one view transaction that records the
/// last notification's position. An event that can't be decoded stops the batch: what came
/// before it is committed, and the error returned.
pub(crate) fn project_batch<P: Projection, T: Transcoder>(
    projection: &P,
    view: &P::View,
    mapper: &Mapper<T>,
    name: &str,
    batch: Vec<Notification>,
) -> Result<(), ProjectionError> {
    let span = tracing::debug_span!(
        "project",
        projection = name,
        notifications = batch.len(),
        first_id = batch.first().map(|n| n.id),
        last_id = batch.last().map(|n| n.id),
    );
    let _entered = span.enter();
    let mut events = Vec::with_capacity(batch.len());
    let mut failed = None;
    let mut last = None;
    for notification in &batch {
        match P::Upstream::decode(mapper, notification) {
            Ok(Some(event)) => events.push((event, Tracking::new(name, notification.id))),
            Ok(None) => {}
            Err(error) => {
                failed = Some(ProjectionError::from(error));
                break;
            }
        }
        last = Some(notification.id);
    }
    if let Some(last) = last {
        view.transact(&Tracking::new(name, last), |transaction| {
            for (event, tracking) in events {
                projection.process(event, &tracking, transaction)?;
            }
            Ok(())
        })?;
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(feature = "tokio")]
pub use self::tasks::AsyncProjectionRunner;

#[cfg(feature = "tokio")]
mod tasks {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::task::JoinHandle;

    use super::{project_batch, Failure, Projection, ProjectionError, PROJECTION_BATCH};
    use crate::application::{AsyncApplication, UpstreamEvent};
    use crate::persistence::{
        AsyncApplicationRecorder, AsyncSubscription, Mapper, Position, SubscriptionStopper,
        Transcoder, View,
    };

    /// Runs a [`Projection`] of an async application as a tokio task (feature `tokio`): the
    /// same as [`ProjectionRunner`](super::ProjectionRunner), following the application through
    /// an [`AsyncSubscription`]. Each batch's view transaction runs on tokio's blocking pool
    /// (views are written with blocking calls); stopping or dropping the runner lets the batch
    /// in progress commit or roll back whole.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use eventsourcing::prelude::*;
    /// # use eventsourcing::domain::BoxError;
    /// # use eventsourcing::memory::MemoryView;
    /// # use eventsourcing::persistence::Tracking;
    /// # use eventsourcing::projection::{AsyncProjectionRunner, Projection};
    /// # #[aggregate] pub struct Dog {}
    /// # #[aggregate] impl Dog { #[created("Registered")] pub fn register() -> Self { Dog {} } }
    /// struct DogCount;
    ///
    /// impl Projection for DogCount {
    ///     type Upstream = DomainEvent<DogEvent>;
    ///     type View = MemoryView<u64>;
    ///
    ///     fn process(&self, _: DomainEvent<DogEvent>, _: &Tracking, count: &mut u64) -> Result<(), BoxError> {
    ///         *count += 1;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Application::builder("Dogs").build_async().await?;
    /// let view = Arc::new(MemoryView::new(0));
    /// let runner = AsyncProjectionRunner::start(&app, Arc::new(DogCount), Arc::clone(&view)).await?;
    /// app.save(&mut Dog::register()).await?;
    /// runner.wait(1, Duration::from_secs(5)).await?;
    /// assert_eq!(view.read(|count| *count), 1);
    /// runner.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub struct AsyncProjectionRunner<P: Projection> {
        view: Arc<P::View>,
        recorder: Arc<dyn AsyncApplicationRecorder>,
        application_name: String,
        stopper: SubscriptionStopper,
        task: Option<JoinHandle<()>>,
        failure: Failure,
    }

    impl<P: Projection> std::fmt::Debug for AsyncProjectionRunner<P> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AsyncProjectionRunner")
                .field("application", &self.application_name)
                .finish_non_exhaustive()
        }
    }

    impl<P: Projection> AsyncProjectionRunner<P> {
        /// Starts projecting `application`'s events into `view` with `projection`, from the
        /// view's position (see [`ProjectionRunner::start`](super::ProjectionRunner::start)).
        /// Must be awaited inside a tokio runtime.
        pub async fn start<T: Transcoder>(
            application: &AsyncApplication<T>,
            projection: Arc<P>,
            view: Arc<P::View>,
        ) -> Result<Self, ProjectionError> {
            let name = application.name().to_string();
            let position = {
                let (view, name) = (Arc::clone(&view), name.clone());
                blocking(move || Ok(view.max_tracking_id(&name)?)).await?
            };
            let subscription = AsyncSubscription::new(
                Arc::clone(application.recorder()) as _,
                position,
                P::Upstream::topics(),
            )
            .await?;
            let stopper = subscription.stopper();
            let failure: Failure = Arc::default();
            let task = tokio::spawn(run::<P, T>(
                subscription,
                projection,
                Arc::clone(&view),
                Arc::clone(application.mapper()),
                name.clone(),
                Arc::clone(&failure),
            ));
            Ok(AsyncProjectionRunner {
                view,
                recorder: Arc::clone(application.recorder()) as _,
                application_name: name,
                stopper,
                task: Some(task),
                failure,
            })
        }

        /// The view.
        pub fn view(&self) -> &Arc<P::View> {
            &self.view
        }

        /// The error that stopped the runner, if it stopped on one.
        pub fn check(&self) -> Result<(), ProjectionError> {
            match self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                Some(error) => Err(error),
                None => Ok(()),
            }
        }

        /// How far the view is behind the application: the view's position and the
        /// application's last notification id.
        pub async fn position(&self) -> Result<Position, ProjectionError> {
            let processed = {
                let (view, name) = (Arc::clone(&self.view), self.application_name.clone());
                blocking(move || Ok(view.max_tracking_id(&name)?)).await?
            };
            let head = self.recorder.max_notification_id().await?;
            Ok(Position {
                leader: self.application_name.clone(),
                follower: std::any::type_name::<P>()
                    .rsplit("::")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                processed,
                head,
            })
        }

        /// Waits until the view has processed the notification `notification_id` (woken by
        /// the view's commits), the runner stops on an error (returned), or `timeout` passes
        /// (see [`ProjectionRunner::wait`](super::ProjectionRunner::wait)).
        pub async fn wait(
            &self,
            notification_id: u64,
            timeout: Duration,
        ) -> Result<(), ProjectionError> {
            let deadline = tokio::time::Instant::now() + timeout;
            let signal = self.view.commit_signal();
            loop {
                let seen = signal.count();
                self.check()?;
                let position = {
                    let (view, name) = (Arc::clone(&self.view), self.application_name.clone());
                    blocking(move || Ok(view.max_tracking_id(&name)?)).await?
                };
                if position >= notification_id {
                    return Ok(());
                }
                if tokio::time::timeout_at(deadline, signal.changed_past(seen))
                    .await
                    .is_err()
                {
                    return Err(ProjectionError::Timeout {
                        notification_id,
                        timeout,
                    });
                }
            }
        }

        /// Stops the runner (the batch in progress commits or rolls back whole) and returns
        /// the error that stopped it earlier, if any.
        pub async fn stop(mut self) -> Result<(), ProjectionError> {
            self.stopper.stop();
            if let Some(task) = self.task.take() {
                task.await
                    .map_err(|error| ProjectionError::Thread(error.to_string()))?;
            }
            self.check()
        }
    }

    impl<P: Projection> Drop for AsyncProjectionRunner<P> {
        fn drop(&mut self) {
            self.stopper.stop();
        }
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<R: Send + 'static>(
        work: impl FnOnce() -> Result<R, ProjectionError> + Send + 'static,
    ) -> Result<R, ProjectionError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| ProjectionError::Thread(error.to_string()))?
    }

    async fn run<P: Projection, T: Transcoder>(
        mut subscription: AsyncSubscription,
        projection: Arc<P>,
        view: Arc<P::View>,
        mapper: Arc<Mapper<T>>,
        name: String,
        failure: Failure,
    ) {
        while let Some(batch) = subscription.next_batch(PROJECTION_BATCH).await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, application = %name, "can't read the log");
                    continue;
                }
            };
            let (task_projection, task_view, task_mapper, task_name) = (
                Arc::clone(&projection),
                Arc::clone(&view),
                Arc::clone(&mapper),
                name.clone(),
            );
            let processed = blocking(move || {
                project_batch(
                    &*task_projection,
                    &*task_view,
                    &task_mapper,
                    &task_name,
                    batch,
                )
            })
            .await;
            if let Err(error) = processed {
                tracing::error!(%error, "projection stopped");
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                view.commit_signal().notify();
                return;
            }
        }
    }
}
