//! The persistence modules an application can be configured with, by name: the built-in
//! backends and those registered by other crates.
//!
//! `PERSISTENCE_MODULE` (or, when it is not set, the reference's older
//! `INFRASTRUCTURE_FACTORY`) names the [`InfrastructureFactory`] that builds an application's
//! recorders. The names known from the start are the built-in backends':
//!
//! | backend | names |
//! |---|---|
//! | in memory (the default) | `eventsourcing.memory`, `memory`, `eventsourcing.popo`, `popo` |
//! | SQLite (feature `sqlite`) | `eventsourcing.sqlite`, `sqlite` |
//! | PostgreSQL (feature `postgres`) | `eventsourcing.postgres`, `postgres`, `postgresql` |
//!
//! A backend whose feature is off keeps its names, and building an application with them is a
//! configuration error that says which feature to enable. [`register`] adds a name (or
//! replaces what a name chooses). A value ending in `:Factory` (a factory topic, such as
//! `eventsourcing.sqlite:Factory`) chooses what the name before it chooses, unless that whole
//! value is registered.
//!
//! This module sits above the backends (it names the built-in ones) and below the application
//! (which asks it for a factory): backends know nothing of either.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, RwLock};

use crate::memory::InMemoryFactory;
use crate::persistence::{ConfigError, Environment, InfrastructureFactory};

/// Which persistence module (backend) to use: `eventsourcing.memory` (in memory, the default;
/// the reference's `eventsourcing.popo` works too), `eventsourcing.sqlite` or
/// `eventsourcing.postgres`. Short names (`memory`, `sqlite`, `postgres`) work too, and so do
/// the names of factories registered with [`register`].
pub const PERSISTENCE_MODULE: &str = "PERSISTENCE_MODULE";

/// The reference library's older name for the backend: a factory topic such as
/// `eventsourcing.sqlite:Factory`. Read when `PERSISTENCE_MODULE` is not set.
pub const INFRASTRUCTURE_FACTORY: &str = "INFRASTRUCTURE_FACTORY";

/// The names of the built-in backends (the table above).
const MEMORY: &[&str] = &[
    "eventsourcing.memory",
    "memory",
    "eventsourcing.popo",
    "popo",
];
const SQLITE: &[&str] = &["eventsourcing.sqlite", "sqlite"];
const POSTGRES: &[&str] = &["eventsourcing.postgres", "postgres", "postgresql"];

type Factories = BTreeMap<String, Arc<dyn InfrastructureFactory>>;

/// Every name's factory: the built-in ones, then whatever was registered.
static FACTORIES: LazyLock<RwLock<Factories>> = LazyLock::new(|| RwLock::new(built_in()));

fn built_in() -> Factories {
    let backends: [(&[&str], Arc<dyn InfrastructureFactory>); 3] = [
        (MEMORY, Arc::new(InMemoryFactory)),
        (SQLITE, sqlite()),
        (POSTGRES, postgres()),
    ];
    backends
        .iter()
        .flat_map(|(names, factory)| {
            names
                .iter()
                .map(|name| (name.to_string(), Arc::clone(factory)))
        })
        .collect()
}

fn is_built_in(name: &str) -> bool {
    [MEMORY, SQLITE, POSTGRES]
        .iter()
        .any(|names| names.contains(&name))
}

#[cfg(feature = "sqlite")]
fn sqlite() -> Arc<dyn InfrastructureFactory> {
    Arc::new(crate::sqlite::SqliteFactory)
}

#[cfg(not(feature = "sqlite"))]
fn sqlite() -> Arc<dyn InfrastructureFactory> {
    Arc::new(NotCompiledIn(
        "SQLite support is not compiled in: enable the `sqlite` feature of eventsourcing",
    ))
}

#[cfg(feature = "postgres")]
fn postgres() -> Arc<dyn InfrastructureFactory> {
    Arc::new(crate::postgres::PostgresFactory)
}

#[cfg(not(feature = "postgres"))]
fn postgres() -> Arc<dyn InfrastructureFactory> {
    Arc::new(NotCompiledIn(
        "PostgreSQL support is not compiled in: enable the `postgres` feature of eventsourcing",
    ))
}

/// A built-in backend whose cargo feature is off: choosing it is an error saying so.
#[cfg(any(not(feature = "sqlite"), not(feature = "postgres")))]
struct NotCompiledIn(&'static str);

#[cfg(any(not(feature = "sqlite"), not(feature = "postgres")))]
impl InfrastructureFactory for NotCompiledIn {
    fn recorders(
        &self,
        _env: &Environment,
        _snapshotting: bool,
    ) -> Result<crate::persistence::Recorders, crate::persistence::FactoryError> {
        Err(ConfigError::new(PERSISTENCE_MODULE, self.0).into())
    }
}

fn read() -> std::sync::RwLockReadGuard<'static, Factories> {
    // The map is replaced entry by entry, never left half-written: a panic elsewhere while
    // the lock was held leaves it consistent.
    FACTORIES.read().unwrap_or_else(|p| p.into_inner())
}

/// Makes `factory` the one that `PERSISTENCE_MODULE=name` (or `INFRASTRUCTURE_FACTORY=name`)
/// chooses, for every application built after this call. Returns the factory the name chose
/// before, if any: registering a built-in name replaces the built-in backend.
///
/// The name is matched exactly (case included) against the configured value, which is read
/// without surrounding whitespace; the name is trimmed likewise.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::application::Application;
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::persistence::{Environment, FactoryError, InfrastructureFactory, Recorders};
///
/// /// One in-memory store shared by every application built with it.
/// struct Shared(Arc<InMemoryRecorder>);
///
/// impl InfrastructureFactory for Shared {
///     fn recorders(&self, _env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
///         let snapshots = snapshotting.then(|| Arc::new(InMemoryRecorder::new()) as _);
///         Ok(Recorders::new(Arc::clone(&self.0) as _, snapshots))
///     }
/// }
///
/// assert!(eventsourcing::registry::register("shared", Shared(Arc::default())).is_none());
/// let app = Application::builder("Worlds").env("PERSISTENCE_MODULE", "shared").build()?;
/// let other = Application::builder("Wiki").env("PERSISTENCE_MODULE", "shared").build()?;
/// assert!(Arc::ptr_eq(app.recorder(), other.recorder()));
/// # Ok::<(), eventsourcing::application::ApplicationError>(())
/// ```
pub fn register(
    name: impl AsRef<str>,
    factory: impl InfrastructureFactory + 'static,
) -> Option<Arc<dyn InfrastructureFactory>> {
    FACTORIES
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.as_ref().trim().to_string(), Arc::new(factory))
}

/// The factory that `name` chooses: the one registered under `name`, else (for a factory
/// topic such as `mydb:Factory`) the one registered under the name before `:Factory`.
pub fn factory(name: &str) -> Option<Arc<dyn InfrastructureFactory>> {
    let factories = read();
    factories
        .get(name)
        .or_else(|| {
            name.strip_suffix(":Factory")
                .and_then(|module| factories.get(module))
        })
        .cloned()
}

/// Every name that chooses a factory, in alphabetical order.
pub fn names() -> Vec<String> {
    read().keys().cloned().collect()
}

/// The factory `env` asks for: `PERSISTENCE_MODULE`, else `INFRASTRUCTURE_FACTORY`, else in
/// memory (the built-in backend, whatever is registered under its names). A name that chooses
/// nothing is a configuration error naming the variable.
pub fn select(env: &Environment) -> Result<Arc<dyn InfrastructureFactory>, ConfigError> {
    let (variable, value) = match env.get(PERSISTENCE_MODULE) {
        Some(value) => (PERSISTENCE_MODULE, value),
        None => match env.get(INFRASTRUCTURE_FACTORY) {
            Some(value) => (INFRASTRUCTURE_FACTORY, value),
            None => return Ok(Arc::new(InMemoryFactory)),
        },
    };
    factory(value).ok_or_else(|| {
        let registered: Vec<String> = names()
            .into_iter()
            .filter(|name| !is_built_in(name))
            .collect();
        let registered = if registered.is_empty() {
            String::new()
        } else {
            format!(", or a registered one: {}", registered.join(", "))
        };
        ConfigError::new(
            env.name_of(variable),
            format!(
                "unknown persistence module {value:?}: expected eventsourcing.popo (in memory), \
                 eventsourcing.sqlite or eventsourcing.postgres{registered}"
            ),
        )
    })
}
