//! Building an application's recorders from its configuration: the [`InfrastructureFactory`]
//! trait, which every backend implements and the application consumes.

use std::fmt;
use std::sync::Arc;

use super::data_keys::DataKeyRecorder;
use super::environment::{ConfigError, Environment};
use super::error::PersistenceError;
use super::recorder::{AggregateRecorder, ProcessRecorder};

/// The recorders of an application, as an [`InfrastructureFactory`] builds them.
#[derive(Clone)]
pub struct Recorders {
    /// The application's events, notification log and tracking records.
    pub events: Arc<dyn ProcessRecorder>,
    /// The application's snapshots: required when snapshotting is enabled, left out (and
    /// ignored) otherwise.
    pub snapshots: Option<Arc<dyn AggregateRecorder>>,
    /// The application's data keys, for per-aggregate keys (see
    /// [`InfrastructureFactory::recorders_with_data_keys`]).
    pub data_keys: Option<Arc<dyn DataKeyRecorder>>,
}

impl Recorders {
    /// Recorders of events and, if `snapshots` is given, snapshots.
    pub fn new(
        events: Arc<dyn ProcessRecorder>,
        snapshots: Option<Arc<dyn AggregateRecorder>>,
    ) -> Self {
        Recorders {
            events,
            snapshots,
            data_keys: None,
        }
    }

    /// These recorders with a recorder of data keys (which must keep its keys in the same
    /// database as the events, see [`DataKeyRecorder`]).
    pub fn with_data_keys(mut self, data_keys: Arc<dyn DataKeyRecorder>) -> Self {
        self.data_keys = Some(data_keys);
        self
    }
}

impl fmt::Debug for Recorders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorders")
            .field("snapshots", &self.snapshots.is_some())
            .finish_non_exhaustive()
    }
}

/// The recorders of an application's async face (feature `tokio`), as
/// [`InfrastructureFactory::async_recorders`] builds them.
#[cfg(feature = "tokio")]
#[derive(Clone)]
pub struct AsyncRecorders {
    /// The application's events, notification log and tracking records.
    pub events: Arc<dyn super::AsyncProcessRecorder>,
    /// The application's snapshots: required when snapshotting is enabled, left out (and
    /// ignored) otherwise.
    pub snapshots: Option<Arc<dyn super::AsyncAggregateRecorder>>,
}

#[cfg(feature = "tokio")]
impl AsyncRecorders {
    /// Async recorders of events and, if `snapshots` is given, snapshots.
    pub fn new(
        events: Arc<dyn super::AsyncProcessRecorder>,
        snapshots: Option<Arc<dyn super::AsyncAggregateRecorder>>,
    ) -> Self {
        AsyncRecorders { events, snapshots }
    }

    /// Blocking recorders with the async face: their calls run on tokio's blocking pool, at
    /// most `limit` at a time for the events and snapshots together ([`super::OnBlockingPool`]).
    pub fn on_blocking_pool(recorders: Recorders, limit: usize) -> Self {
        let events = super::OnBlockingPool::new(recorders.events, limit);
        let snapshots = recorders.snapshots.map(|snapshots| {
            Arc::new(events.sharing(snapshots)) as Arc<dyn super::AsyncAggregateRecorder>
        });
        AsyncRecorders {
            events: Arc::new(events),
            snapshots,
        }
    }
}

#[cfg(feature = "tokio")]
impl fmt::Debug for AsyncRecorders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRecorders")
            .field("snapshots", &self.snapshots.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an [`InfrastructureFactory`] could not build the recorders: a configuration value is
/// missing or invalid, or the database could not be opened or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FactoryError {
    /// A configuration value is missing or invalid (the application reports it as
    /// `ApplicationError::Config`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened, or its tables created (the application reports it
    /// as `ApplicationError::Persistence`).
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
}

/// Builds the recorders of an application from its configuration: what a backend provides to
/// be chosen by `PERSISTENCE_MODULE` (the reference library's `InfrastructureFactory`).
///
/// The application calls [`recorders`](InfrastructureFactory::recorders) once, when it is
/// built. The factory reads its own settings from the [`Environment`] (by convention
/// variables named after the backend, such as `SQLITE_DBNAME`; looked up with
/// [`Environment::get`] they follow the application-name prefix rule), opens its database, and
/// returns a [`ProcessRecorder`] for the application's events, notification log and tracking
/// records and, when `snapshotting` is true, an [`AggregateRecorder`] for its snapshots.
/// [`Environment::name`] is the application's name, which backends with tables per
/// application use to name them.
///
/// A backend's recorders must pass the conformance suite of `eventsourcing::testing` (feature
/// `testing`). Make a factory choosable by name with
/// [`registry::register`](crate::registry::register), or give it to one application with
/// [`ApplicationBuilder::backend`](crate::application::ApplicationBuilder::backend). The
/// README's "Writing a backend" has the whole picture.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::application::Application;
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::persistence::{
///     ConfigError, Environment, FactoryError, InfrastructureFactory, Recorders,
/// };
///
/// /// In-memory recorders, refusing applications whose name is not on a list.
/// struct Allowed(Vec<&'static str>);
///
/// impl InfrastructureFactory for Allowed {
///     fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
///         if !self.0.contains(&env.name()) {
///             return Err(ConfigError::new("PERSISTENCE_MODULE", "not for this application").into());
///         }
///         let snapshots = snapshotting.then(|| Arc::new(InMemoryRecorder::new()) as _);
///         Ok(Recorders::new(Arc::new(InMemoryRecorder::new()), snapshots))
///     }
/// }
///
/// let factory = Arc::new(Allowed(vec!["Worlds"]));
/// let app = Application::builder("Worlds").backend(Arc::clone(&factory)).snapshotting(true).build()?;
/// assert!(app.snapshots().is_some());
/// assert!(Application::builder("Wiki").backend(factory).build().is_err());
/// # Ok::<(), eventsourcing::application::ApplicationError>(())
/// ```
pub trait InfrastructureFactory: Send + Sync {
    /// The recorders of the application `env.name()`, configured by `env`: events (with the
    /// notification log and tracking records) and, if `snapshotting`, snapshots.
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError>;

    /// The recorders of the application `env.name()`, as
    /// [`recorders`](InfrastructureFactory::recorders) builds them, and a recorder of its data
    /// keys in the same database (a table beside the events, created if it does not exist),
    /// for per-aggregate keys ([`PER_AGGREGATE_KEYS`](super::PER_AGGREGATE_KEYS)). The data-key
    /// recorder writes keys in the same transaction as events, and removes snapshots when it
    /// forgets a key, so it is built with the other two.
    ///
    /// By default, a configuration error: the backend keeps no data keys.
    fn recorders_with_data_keys(
        &self,
        env: &Environment,
        snapshotting: bool,
    ) -> Result<(Recorders, Arc<dyn DataKeyRecorder>), FactoryError> {
        let _ = snapshotting;
        Err(ConfigError::new(
            env.name_of(super::PER_AGGREGATE_KEYS),
            "this backend keeps no data keys, so per-aggregate keys can't be used with it",
        )
        .into())
    }

    /// The async recorders of the application `env.name()` (feature `tokio`), for an
    /// `AsyncApplication`.
    ///
    /// By default, the blocking [`recorders`](InfrastructureFactory::recorders), built on the
    /// calling thread, with their calls run on tokio's blocking pool, at most
    /// [`DEFAULT_BLOCKING_CALLS`](super::DEFAULT_BLOCKING_CALLS) at a time. A backend with a
    /// native async client (PostgreSQL) overrides it, so that waiting on the database holds no
    /// thread.
    #[cfg(feature = "tokio")]
    fn async_recorders<'a>(
        &'a self,
        env: &'a Environment,
        snapshotting: bool,
    ) -> super::BoxFuture<'a, Result<AsyncRecorders, FactoryError>> {
        Box::pin(async move {
            let recorders = self.recorders(env, snapshotting)?;
            Ok(AsyncRecorders::on_blocking_pool(
                recorders,
                super::DEFAULT_BLOCKING_CALLS,
            ))
        })
    }
}

/// A shared factory is a factory (so one can be registered and also given to builders).
impl<F: InfrastructureFactory + ?Sized> InfrastructureFactory for Arc<F> {
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        (**self).recorders(env, snapshotting)
    }

    fn recorders_with_data_keys(
        &self,
        env: &Environment,
        snapshotting: bool,
    ) -> Result<(Recorders, Arc<dyn DataKeyRecorder>), FactoryError> {
        (**self).recorders_with_data_keys(env, snapshotting)
    }

    #[cfg(feature = "tokio")]
    fn async_recorders<'a>(
        &'a self,
        env: &'a Environment,
        snapshotting: bool,
    ) -> super::BoxFuture<'a, Result<AsyncRecorders, FactoryError>> {
        (**self).async_recorders(env, snapshotting)
    }
}
