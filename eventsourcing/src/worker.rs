//! Workers (feature `tokio`): a process application or a projection run as its own long-running
//! process, in replicas of which exactly one is active at a time.
//!
//! A [`Worker`] holds a [`Lease`] while it works: the replica that takes it starts the
//! [`Job`] (a system's followers as tokio tasks, or a projection runner), which follows its
//! leaders through their recorders' commit signals; the others stand by and try the lease again
//! every [takeover interval](Worker::takeover_interval). When the active replica dies, its
//! database releases the lease (PostgreSQL when its session ends, SQLite when its process's
//! file lock goes) and a standby takes over at its next try: within one takeover interval plus
//! the time the database takes to notice (at once for a process that was killed, whose
//! connections the operating system closes). Processing stays exactly-once through every
//! takeover, since what a replica processes is recorded with its tracking records.
//!
//! Stop a worker gracefully by resolving the `shutdown` future given to [`Worker::run`] (from
//! Ctrl-C or SIGTERM, with `tokio::signal`): the batch in progress commits or rolls back whole,
//! and the lease is released for a standby.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::persistence::Position;
use crate::persistence::{BoxFuture, Lease, LeaseGuard, PersistenceError};
use crate::projection::{AsyncProjectionRunner, Projection, ProjectionError};
use crate::system::{SystemError, TokioRunner};

/// How often a standby tries the lease, and the active replica checks it still holds it,
/// unless configured otherwise.
pub const DEFAULT_TAKEOVER_INTERVAL: Duration = Duration::from_millis(500);

/// An error of a worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The lease could not be tried (its database can't be reached, say).
    #[error(transparent)]
    Lease(#[from] PersistenceError),
    /// The system's followers failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The projection failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The job could not be started or stopped.
    #[error("the worker's job failed: {0}")]
    Job(String),
}

/// What a worker runs while it is the active replica.
pub trait Job: Send + Sync {
    /// Starts the work: this replica has just taken the lease.
    fn start(&self) -> BoxFuture<'_, Result<Box<dyn Running>, WorkerError>>;
}

/// A job at work.
pub trait Running: Send {
    /// The error that stopped the work, if it stopped (the worker then starts it again).
    fn check(&self) -> Result<(), WorkerError>;

    /// How far behind its leaders the work is: for each leader, the leader's last notification
    /// id and the last one processed.
    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, WorkerError>>;

    /// Stops the work; what is being processed commits or rolls back whole.
    fn stop(self: Box<Self>) -> BoxFuture<'static, Result<(), WorkerError>>;
}

/// What a worker is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Whether this replica holds the lease and works.
    pub active: bool,
    /// How many times this replica has taken the lease.
    pub takeovers: u64,
}

/// A replica of a worker: see the module docs.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use eventsourcing::prelude::*;
/// # use eventsourcing::system::{Process, ProcessingEvent, PolicyResult, System};
/// use eventsourcing::persistence::MemoryLease;
/// use eventsourcing::worker::{ProcessJob, Worker};
/// # #[aggregate] #[derive(Clone)] pub struct Note {}
/// # #[aggregate] impl Note { #[created] pub fn create() -> Self { Note {} } }
/// # pub struct Notes { app: Application }
/// # impl AsRef<Application> for Notes { fn as_ref(&self) -> &Application { &self.app } }
/// # #[aggregate] #[derive(Clone)] pub struct Tally {}
/// # #[aggregate] impl Tally {
/// #     pub fn create_id() -> Uuid { eventsourcing::domain::url_id("/tally") }
/// #     #[created] pub fn create() -> Self { Tally {} }
/// #     #[event] pub fn counted(&mut self) {}
/// # }
/// # pub struct Tallies { app: Application }
/// # impl AsRef<Application> for Tallies { fn as_ref(&self) -> &Application { &self.app } }
/// # impl Process for Tallies {
/// #     type Upstream = DomainEvent<NoteEvent>;
/// #     fn policy(&self, _: DomainEvent<NoteEvent>, processing: &mut ProcessingEvent<'_>) -> PolicyResult {
/// #         let mut tally = processing.get_or_else(Tally::create_id(), Tally::create)?;
/// #         tally.counted();
/// #         processing.save(&mut tally)?;
/// #         Ok(())
/// #     }
/// # }
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let notes = Arc::new(Notes { app: Application::new("Notes")? });
/// let tallies = Arc::new(Tallies { app: Application::new("Tallies")? });
/// let job = ProcessJob::new({
///     let (notes, tallies) = (Arc::clone(&notes), Arc::clone(&tallies));
///     move || System::new().pipe(&notes, &tallies)
/// });
/// let lease = MemoryLease::new(); // across processes: SqliteLease, PostgresLease
/// let worker = Worker::new("tallies", Arc::new(lease));
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let running = tokio::spawn(async move {
///     worker.run(&job, async { let _ = stopped.await; }).await
/// });
/// notes.app.save(&mut Note::create())?;
/// # tokio::time::sleep(Duration::from_millis(200)).await;
/// stop.send(()).ok();
/// running.await??;
/// # Ok(())
/// # }
/// ```
pub struct Worker {
    name: String,
    lease: Arc<dyn Lease>,
    takeover_interval: Duration,
    status: Arc<Mutex<WorkerStatus>>,
    running: tokio::sync::Mutex<Option<Box<dyn Running>>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("takeover_interval", &self.takeover_interval)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A replica of the worker `name` (for logs), active while it holds `lease`.
    pub fn new(name: impl Into<String>, lease: Arc<dyn Lease>) -> Self {
        Worker {
            name: name.into(),
            lease,
            takeover_interval: DEFAULT_TAKEOVER_INTERVAL,
            status: Arc::default(),
            running: tokio::sync::Mutex::new(None),
        }
    }

    /// How often a standby tries the lease and the active replica checks that it still holds
    /// it (default [`DEFAULT_TAKEOVER_INTERVAL`]): what bounds the time a standby takes to
    /// take over.
    pub fn takeover_interval(mut self, interval: Duration) -> Self {
        self.takeover_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this replica is active, and how many times it took over.
    pub fn status(&self) -> WorkerStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How far behind its leaders the work is, while this replica is active (empty while it
    /// stands by).
    pub async fn positions(&self) -> Result<Vec<Position>, WorkerError> {
        match &*self.running.lock().await {
            Some(running) => running.positions().await,
            None => Ok(Vec::new()),
        }
    }

    fn set_active(&self, active: bool) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if active && !status.active {
            status.takeovers += 1;
        }
        status.active = active;
    }

    /// Takes the lease, on the blocking pool (a lease is tried with a blocking call).
    async fn try_lease(&self) -> Result<Option<Box<dyn LeaseGuard>>, WorkerError> {
        let lease = Arc::clone(&self.lease);
        tokio::task::spawn_blocking(move || lease.try_acquire())
            .await
            .map_err(|error| WorkerError::Job(format!("trying the lease panicked: {error}")))?
            .map_err(WorkerError::from)
    }

    /// Runs `job` whenever this replica holds the lease, until `shutdown` resolves: stands by
    /// while another replica holds it, works while this one does, and starts the job again if
    /// it stops on an error. Returns when `shutdown` resolves, after stopping the job and
    /// releasing the lease; an error only if the job could not be stopped cleanly.
    #[tracing::instrument(name = "worker", skip_all, fields(worker = %self.name))]
    pub async fn run(
        &self,
        job: &dyn Job,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), WorkerError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Standing by.
            let mut guard = loop {
                match self.try_lease().await {
                    Ok(Some(guard)) => break guard,
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(worker = %self.name, %error, "can't try the lease")
                    }
                }
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(self.takeover_interval) => {}
                }
            };
            self.set_active(true);
            tracing::info!(worker = %self.name, "active: took the lease");
            // Working, while the lease is held.
            let stopped = loop {
                let running = match job.start().await {
                    Ok(running) => running,
                    Err(error) => {
                        tracing::error!(worker = %self.name, %error, "can't start the job");
                        tokio::select! {
                            _ = &mut shutdown => break true,
                            _ = tokio::time::sleep(self.takeover_interval) => continue,
                        }
                    }
                };
                *self.running.lock().await = Some(running);
                let outcome = loop {
                    tokio::select! {
                        _ = &mut shutdown => break Outcome::Shutdown,
                        _ = tokio::time::sleep(self.takeover_interval) => {}
                    }
                    if !guard.is_held() {
                        break Outcome::LeaseLost;
                    }
                    if let Some(running) = &*self.running.lock().await {
                        if let Err(error) = running.check() {
                            tracing::error!(worker = %self.name, %error, "the job failed; starting it again");
                            break Outcome::Failed;
                        }
                    }
                };
                if let Some(running) = self.running.lock().await.take() {
                    if let Err(error) = running.stop().await {
                        tracing::warn!(worker = %self.name, %error, "the job did not stop cleanly");
                    }
                }
                match outcome {
                    Outcome::Shutdown => break true,
                    Outcome::LeaseLost => break false,
                    Outcome::Failed => continue,
                }
            };
            drop(guard);
            self.set_active(false);
            if stopped {
                tracing::info!(worker = %self.name, "stopped: released the lease");
                return Ok(());
            }
            tracing::warn!(worker = %self.name, "lost the lease: standing by");
        }
    }
}

enum Outcome {
    Shutdown,
    LeaseLost,
    Failed,
}

/// A [`Job`] that runs a system's followers as tokio tasks ([`TokioRunner`]): `system` makes
/// the system each time the job starts.
pub struct ProcessJob<F> {
    system: F,
}

impl<F> std::fmt::Debug for ProcessJob<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessJob").finish_non_exhaustive()
    }
}

impl<F: Fn() -> crate::system::System + Send + Sync> ProcessJob<F> {
    /// The job of running the system that `system` makes.
    pub fn new(system: F) -> Self {
        ProcessJob { system }
    }
}

impl<F: Fn() -> crate::system::System + Send + Sync> Job for ProcessJob<F> {
    fn start(&self) -> BoxFuture<'_, Result<Box<dyn Running>, WorkerError>> {
        Box::pin(async move {
            let runner = TokioRunner::start((self.system)())?;
            Ok(Box::new(runner) as Box<dyn Running>)
        })
    }
}

impl Running for TokioRunner {
    fn check(&self) -> Result<(), WorkerError> {
        Ok(TokioRunner::check(self)?)
    }

    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, WorkerError>> {
        Box::pin(async move { Ok(TokioRunner::positions(self).await?) })
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, Result<(), WorkerError>> {
        Box::pin(async move { Ok(TokioRunner::stop(*self).await?) })
    }
}

/// A [`Job`] that runs a projection of an async application ([`AsyncProjectionRunner`]).
pub struct ProjectionJob<P: Projection, T: crate::persistence::Transcoder> {
    application: Arc<crate::application::AsyncApplication<T>>,
    projection: Arc<P>,
    view: Arc<P::View>,
}

impl<P: Projection, T: crate::persistence::Transcoder> std::fmt::Debug for ProjectionJob<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionJob")
            .field("application", &self.application.name())
            .finish_non_exhaustive()
    }
}

impl<P: Projection, T: crate::persistence::Transcoder> ProjectionJob<P, T> {
    /// The job of projecting `application`'s events into `view` with `projection`.
    pub fn new(
        application: Arc<crate::application::AsyncApplication<T>>,
        projection: Arc<P>,
        view: Arc<P::View>,
    ) -> Self {
        ProjectionJob {
            application,
            projection,
            view,
        }
    }
}

impl<P: Projection, T: crate::persistence::Transcoder> Job for ProjectionJob<P, T> {
    fn start(&self) -> BoxFuture<'_, Result<Box<dyn Running>, WorkerError>> {
        Box::pin(async move {
            let runner = AsyncProjectionRunner::start(
                &self.application,
                Arc::clone(&self.projection),
                Arc::clone(&self.view),
            )
            .await?;
            Ok(Box::new(runner) as Box<dyn Running>)
        })
    }
}

impl<P: Projection> Running for AsyncProjectionRunner<P> {
    fn check(&self) -> Result<(), WorkerError> {
        Ok(AsyncProjectionRunner::check(self)?)
    }

    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, WorkerError>> {
        Box::pin(async move { Ok(vec![AsyncProjectionRunner::position(self).await?]) })
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, Result<(), WorkerError>> {
        Box::pin(async move { Ok(AsyncProjectionRunner::stop(*self).await?) })
    }
}
