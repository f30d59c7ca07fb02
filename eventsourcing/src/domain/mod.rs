//! The domain layer: aggregates, domain events, snapshots, versioning and upcasting.
//!
//! This layer depends on no other layer of the crate. Users meet it through the
//! [`#[aggregate]`](crate::aggregate) macro, which implements [`Aggregate`] for a struct and
//! generates the [`AggregateEvent`] enum of its events (see the crate docs for the syntax), or
//! implement both traits by hand: the macro generates nothing a person could not write against
//! them (see "Aggregates by hand" in the crate docs).

pub(crate) mod aggregate;
mod error;
mod event;
mod event_state;
mod picked_keys;
mod sealed;
mod snapshot;
pub(crate) mod timestamp;
pub mod transcoding;

pub use aggregate::{Aggregate, AggregateMeta};
pub use error::{ApplyError, BoxError, DomainError, VersionError};
pub use event::{event_id, AggregateEvent, DomainEvent, EventMetadata, EventType, Upcaster};
pub(crate) use event::{EventState, EventStateSeed};
pub use event_state::{deserialize_event_state, serialize_event_state};
pub use sealed::Sealed;
pub(crate) use snapshot::DirectRestore;
pub use snapshot::Snapshot;

use uuid::Uuid;

/// A version 5 UUID in the URL namespace, for aggregates whose id is derived from a name:
/// the reference's `uuid5(NAMESPACE_URL, "/pages/Erth")`.
///
/// ```
/// let id = eventsourcing::domain::url_id("/pages/Erth");
/// assert_eq!(id, eventsourcing::domain::url_id("/pages/Erth"));
/// assert_eq!(id.get_version_num(), 5);
/// ```
pub fn url_id(path: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, path.as_bytes())
}
