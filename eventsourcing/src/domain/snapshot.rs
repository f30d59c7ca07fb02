//! Snapshots: an aggregate's state at a version, so that it can be rebuilt without replaying
//! every event.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::aggregate::Aggregate;
use super::error::DomainError;

/// The key of the creation time in a snapshot's state (the reference library's attribute name).
const CREATED_ON: &str = "_created_on";
/// The key of the modification time in a snapshot's state.
const MODIFIED_ON: &str = "_modified_on";
/// The key of the aggregate's class version in a snapshot's state, present when above 1.
const CLASS_VERSION: &str = "class_version";

/// A snapshot of an aggregate: its state at a version, plus its id, version and timestamps.
///
/// As in the reference library, `state` holds the aggregate's fields together with
/// `_created_on` and `_modified_on`, and `class_version` when the aggregate declares a version
/// above 1; restoring a snapshot taken from an older version runs the aggregate's upcast
/// functions on `state` first.
///
/// ```
/// use eventsourcing::prelude::*;
///
/// #[aggregate]
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub struct World {
///     history: Vec<String>,
/// }
///
/// #[aggregate]
/// impl World {
///     #[created]
///     pub fn create() -> Self {
///         World { history: Vec::new() }
///     }
///
///     #[event("SomethingHappened")]
///     pub fn make_it_so(&mut self, what: String) {
///         self.history.push(what);
///     }
/// }
///
/// # fn main() -> Result<(), eventsourcing::domain::DomainError> {
/// let mut world = World::create();
/// world.make_it_so("dinosaurs".into());
/// let snapshot = world.take_snapshot()?;
/// assert_eq!(snapshot.originator_version, 2);
/// assert_eq!(snapshot.state["history"], serde_json::json!(["dinosaurs"]));
/// assert_eq!(snapshot.state.len(), 3); // history, _created_on, _modified_on
///
/// let copy = World::from_snapshot(snapshot)?;
/// assert_eq!(copy.version(), world.version());
/// assert_eq!(copy.modified_on(), world.modified_on());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The id of the aggregate.
    pub originator_id: Uuid,
    /// The aggregate's version when the snapshot was taken.
    pub originator_version: u64,
    /// When the snapshot was taken.
    pub timestamp: DateTime<Utc>,
    /// The topic of the aggregate type ([`Aggregate::TOPIC`]).
    pub topic: String,
    /// The aggregate's state.
    pub state: Map<String, Value>,
}

impl Snapshot {
    /// Takes a snapshot of `aggregate`.
    pub fn take<A: Aggregate>(aggregate: &A) -> Result<Snapshot, DomainError> {
        let mut state = aggregate.snapshot_state()?;
        state.insert(
            CREATED_ON.into(),
            timestamp_value::<A>(aggregate.created_on())?,
        );
        state.insert(
            MODIFIED_ON.into(),
            timestamp_value::<A>(aggregate.modified_on())?,
        );
        if A::CLASS_VERSION > 1 {
            state.insert(CLASS_VERSION.into(), Value::from(A::CLASS_VERSION));
        }
        Ok(Snapshot {
            originator_id: aggregate.id(),
            originator_version: aggregate.version(),
            timestamp: Utc::now(),
            topic: A::TOPIC.to_string(),
            state,
        })
    }

    /// Rebuilds the aggregate from this snapshot, upcasting its state if it was taken from an
    /// older version of the aggregate type.
    pub fn restore<A: Aggregate>(self) -> Result<A, DomainError> {
        if self.topic != A::TOPIC {
            return Err(DomainError::SnapshotTopic {
                type_name: A::NAME,
                expected: A::TOPIC,
                topic: self.topic,
            });
        }
        let mut state = self.state;
        let mut version = match state.remove(CLASS_VERSION) {
            None => 1,
            Some(value) => value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| invalid::<A>(format!("class_version is {value}")))?,
        };
        while version < A::CLASS_VERSION {
            A::upcast_state(version, &mut state)?;
            version += 1;
        }
        let created_on = take_timestamp::<A>(&mut state, CREATED_ON)?;
        let modified_on = take_timestamp::<A>(&mut state, MODIFIED_ON)?;
        let mut aggregate = A::restore_state(state)?;
        let meta = aggregate.meta_mut();
        meta.id = self.originator_id;
        meta.version = self.originator_version;
        meta.created_on = created_on;
        meta.modified_on = modified_on;
        Ok(aggregate)
    }
}

fn invalid<A: Aggregate>(message: String) -> DomainError {
    DomainError::SnapshotState {
        type_name: A::NAME,
        message,
    }
}

fn timestamp_value<A: Aggregate>(timestamp: DateTime<Utc>) -> Result<Value, DomainError> {
    serde_json::to_value(timestamp).map_err(|e| invalid::<A>(e.to_string()))
}

fn take_timestamp<A: Aggregate>(
    state: &mut Map<String, Value>,
    key: &str,
) -> Result<DateTime<Utc>, DomainError> {
    let value = state
        .remove(key)
        .ok_or_else(|| invalid::<A>(format!("{key} is missing")))?;
    serde_json::from_value(value).map_err(|e| invalid::<A>(format!("{key}: {e}")))
}
