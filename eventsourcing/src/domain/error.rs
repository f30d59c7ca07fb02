//! Errors of the domain layer.

use uuid::Uuid;

/// A boxed error from a user's event body, kept as the source of an [`ApplyError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the domain layer: replaying events, taking or restoring snapshots.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// An event was not the next in the aggregate's sequence.
    #[error(transparent)]
    Version(#[from] VersionError),

    /// An event's body failed when the event was applied again (replay).
    #[error(transparent)]
    Apply(#[from] ApplyError),

    /// An aggregate was rebuilt from no events at all.
    #[error("can't rebuild a {type_name} from no events")]
    NoEvents {
        /// The aggregate type.
        type_name: &'static str,
    },

    /// A snapshot's topic names another aggregate type.
    #[error("snapshot of {topic:?} can't be restored as {type_name} (topic {expected:?})")]
    SnapshotTopic {
        /// The aggregate type asked for.
        type_name: &'static str,
        /// That type's topic.
        expected: &'static str,
        /// The snapshot's topic.
        topic: String,
    },

    /// A snapshot's state could not be turned into the aggregate (or the aggregate into state).
    #[error("snapshot state of {type_name} is invalid: {message}")]
    SnapshotState {
        /// The aggregate type.
        type_name: &'static str,
        /// What was wrong.
        message: String,
    },

    /// The aggregate does not derive `Serialize` and `Deserialize`, so it can't be snapshotted.
    #[error(
        "{type_name} can't be snapshotted: add #[derive(Serialize, Deserialize)] to the struct"
    )]
    SnapshotsNotSupported {
        /// The aggregate type.
        type_name: &'static str,
    },

    /// Stored state of an old version needs an upcast function that was not declared.
    #[error("{type_name} has no upcast function from version {from_version} to {}: declare it with upcast = [...]", from_version + 1)]
    MissingUpcaster {
        /// The aggregate or event type.
        type_name: &'static str,
        /// The version to upcast from.
        from_version: u32,
    },
}

/// An event could not be applied because it is not the aggregate's next event: the reference
/// library's `VersionError(event_version, expected)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event_id} v{event_version} is not the next event of {type_name} {id}: expected v{expected}")]
pub struct VersionError {
    /// The aggregate type.
    pub type_name: &'static str,
    /// The aggregate's id.
    pub id: Uuid,
    /// The event's originator id.
    pub event_id: Uuid,
    /// The event's originator version.
    pub event_version: u64,
    /// The version the aggregate expected: its version plus one.
    pub expected: u64,
}

/// An event could not be applied to an aggregate's state.
///
/// [`Aggregate::construct`](super::Aggregate::construct) and
/// [`Aggregate::apply`](super::Aggregate::apply) return it; the constructors below make its
/// variants for an aggregate written by hand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The event's body returned an error.
    #[error("{type_name}.{event} failed when applied: {source}")]
    Body {
        /// The aggregate type.
        type_name: &'static str,
        /// The event's name.
        event: &'static str,
        /// The error the body returned.
        #[source]
        source: BoxError,
    },
    /// A created event was applied to an aggregate that already exists.
    #[error("{type_name}.{event} is a created event: it can only start a {type_name}'s sequence")]
    CreatedEventOnExisting {
        /// The aggregate type.
        type_name: &'static str,
        /// The event's name.
        event: &'static str,
    },
    /// The first event of a sequence was not the created event.
    #[error("{type_name}.{event} can't start a {type_name}'s sequence: the first event must be its created event")]
    NotCreatedEvent {
        /// The aggregate type.
        type_name: &'static str,
        /// The event's name.
        event: &'static str,
    },
}

impl ApplyError {
    /// `event`, which is not `A`'s created event, was given to build a new `A`.
    pub fn not_created<A: super::Aggregate>(event: &A::Event) -> Self {
        use super::AggregateEvent;
        ApplyError::NotCreatedEvent {
            type_name: A::NAME,
            event: event.name(),
        }
    }

    /// `event`, `A`'s created event, was applied to an existing `A`.
    pub fn created_on_existing<A: super::Aggregate>(event: &A::Event) -> Self {
        use super::AggregateEvent;
        ApplyError::CreatedEventOnExisting {
            type_name: A::NAME,
            event: event.name(),
        }
    }

    /// The body of `A`'s event `event` (its name) failed with `source`.
    pub fn body<A: super::Aggregate>(event: &'static str, source: impl Into<BoxError>) -> Self {
        ApplyError::Body {
            type_name: A::NAME,
            event,
            source: source.into(),
        }
    }
}
