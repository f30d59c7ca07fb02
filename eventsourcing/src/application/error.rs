//! The error type of the application layer.

use uuid::Uuid;

use crate::domain::DomainError;
use crate::persistence::{ConfigError, ErrorKind, FactoryError, PersistenceError};

/// An error of the application layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplicationError {
    /// The repository has no events of the aggregate (at or below the version, if one was
    /// given): the reference library's `AggregateNotFound`.
    #[error("aggregate {id} not found{}", version.map(|v| format!(" at version {v}")).unwrap_or_default())]
    AggregateNotFound {
        /// The aggregate id asked for.
        id: Uuid,
        /// The version asked for, if any.
        version: Option<u64>,
    },

    /// The aggregate was discarded (an aggregate declared `#[aggregate(discardable)]`, after
    /// its `discard()`): getting it, at or after the version that discarded it, and saving
    /// events recorded after it, are refused. Its events stay in the store; `get_at` and
    /// `get_as_of` read it as it was before.
    #[error("aggregate {id} was discarded{}", version.map(|v| format!(" (at version {v})")).unwrap_or_default())]
    AggregateDiscarded {
        /// The aggregate's id.
        id: Uuid,
        /// The version that discarded it, when known.
        version: Option<u64>,
    },

    /// The aggregate was forgotten ([`Application::forget`](super::Application::forget)): its
    /// data key was destroyed, so nothing of it can be read any more, and nothing saved.
    #[error("aggregate {id} was forgotten: its data key was destroyed")]
    AggregateForgotten {
        /// The aggregate's id.
        id: Uuid,
    },

    /// Per-aggregate keys are not on, so there is nothing to forget or rotate.
    #[error(
        "per-aggregate keys are not on: set PER_AGGREGATE_KEYS to a true value (such as \"y\") \
         with CIPHER_KEY, or call per_aggregate_keys(true) on the application builder"
    )]
    PerAggregateKeysDisabled,

    /// The aggregate did not exist yet at the time asked for
    /// ([`Repository::get_as_of`](super::Repository::get_as_of)), or has no events.
    #[error("aggregate {id} not found as of {timestamp}")]
    AggregateNotFoundAsOf {
        /// The aggregate id asked for.
        id: Uuid,
        /// The time asked for.
        timestamp: chrono::DateTime<chrono::Utc>,
    },

    /// A get-or-create ([`Repository::get_or_else`](super::Repository::get_or_else)) did not
    /// find the aggregate, and the aggregate it created has another id: the next call would not
    /// find that one either, and create yet another.
    #[error(
        "aggregate {id} not found, and the aggregate created in its place has another id, \
         {created}: the constructor given to get_or_else must give it the id {id}"
    )]
    CreatedWithOtherId {
        /// The aggregate id asked for.
        id: Uuid,
        /// The id of the aggregate that was created.
        created: Uuid,
    },

    /// Storing or reading events failed. An integrity error here means another writer saved
    /// the same aggregate version first ([`conflict`](ApplicationError::conflict) says which):
    /// get the aggregate again and retry the command.
    #[error(transparent)]
    Persistence(PersistenceError),

    /// Rebuilding an aggregate from its events failed.
    #[error(transparent)]
    Domain(#[from] DomainError),

    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A snapshot was asked for, but snapshotting is not enabled.
    #[error(
        "can't take a snapshot without a snapshot store: set IS_SNAPSHOTTING_ENABLED to a true \
         value (such as \"y\"), or enable snapshotting with the application builder"
    )]
    SnapshottingDisabled,

    /// A notification log section id is not of the form "first,last".
    #[error(
        "invalid notification log section id {0:?}: expected \"first,last\", such as \"1,10\""
    )]
    InvalidSectionId(String),

    /// A remote notification log could not be read (the interface layer).
    #[error("notification log interface error: {message}")]
    Interface {
        /// What went wrong.
        message: String,
        /// The cause, if any.
        #[source]
        source: Option<crate::domain::BoxError>,
    },

    /// More notifications were asked for than a section holds.
    #[error("requested limit {limit} greater than section size {section_size}")]
    LimitTooLarge {
        /// The limit asked for.
        limit: usize,
        /// The log's section size.
        section_size: usize,
    },
}

impl ApplicationError {
    /// Whether this is an integrity error: another writer saved the same aggregate version (or
    /// the same name, for aggregates with derived ids) first.
    pub fn is_integrity(&self) -> bool {
        matches!(self, ApplicationError::Persistence(e) if e.kind() == ErrorKind::Integrity)
    }

    /// The aggregate id and version of a save that lost a race, if this is one: another
    /// writer saved that version of the aggregate first (or the save held it twice). The
    /// error [`is_integrity`](ApplicationError::is_integrity) too, and its message says
    /// `conflict: aggregate {id} already has version {version}`.
    ///
    /// ```
    /// use eventsourcing::prelude::*;
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
    ///     pub fn incremented(&mut self) { self.count += 1 }
    /// }
    ///
    /// let app = Application::new("Counters")?;
    /// let mut counter = Counter::create();
    /// app.save(&mut counter)?;
    /// let mut mine: Counter = app.repository().get(counter.id())?;
    /// let mut theirs: Counter = app.repository().get(counter.id())?;
    /// theirs.incremented();
    /// app.save(&mut theirs)?;
    /// mine.incremented();
    /// let error = app.save(&mut mine).unwrap_err();
    /// assert_eq!(error.conflict(), Some((counter.id(), 2)));
    /// assert_eq!(
    ///     error.to_string(),
    ///     format!("conflict: aggregate {} already has version 2", counter.id())
    /// );
    /// # Ok::<(), ApplicationError>(())
    /// ```
    pub fn conflict(&self) -> Option<(Uuid, u64)> {
        match self {
            ApplicationError::Persistence(error) => error.conflict(),
            _ => None,
        }
    }

    /// Whether this is [`ApplicationError::AggregateForgotten`].
    pub fn is_forgotten(&self) -> bool {
        matches!(self, ApplicationError::AggregateForgotten { .. })
    }

    /// Whether this is [`ApplicationError::AggregateDiscarded`].
    pub fn is_discarded(&self) -> bool {
        matches!(self, ApplicationError::AggregateDiscarded { .. })
    }

    /// Whether this is [`ApplicationError::AggregateNotFound`] (or
    /// [`AggregateNotFoundAsOf`](ApplicationError::AggregateNotFoundAsOf)).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ApplicationError::AggregateNotFound { .. }
                | ApplicationError::AggregateNotFoundAsOf { .. }
        )
    }
}

/// A persistence error is the application's, except that a forgotten aggregate is
/// [`ApplicationError::AggregateForgotten`].
impl From<PersistenceError> for ApplicationError {
    fn from(error: PersistenceError) -> Self {
        match error {
            PersistenceError::Forgotten { originator_id } => {
                ApplicationError::AggregateForgotten { id: originator_id }
            }
            error => ApplicationError::Persistence(error),
        }
    }
}

/// A factory's error is the application's configuration or persistence error.
impl From<FactoryError> for ApplicationError {
    fn from(error: FactoryError) -> Self {
        match error {
            FactoryError::Config(error) => ApplicationError::Config(error),
            FactoryError::Persistence(error) => error.into(),
        }
    }
}
