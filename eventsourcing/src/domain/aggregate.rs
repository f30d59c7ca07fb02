//! The [`Aggregate`] trait and the metadata every aggregate carries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApplyError, DomainError, VersionError};
use super::event::{AggregateEvent, DomainEvent};
use super::snapshot::Snapshot;
use super::timestamp::next_timestamp;

/// A consistency boundary whose state is the result of its events.
///
/// Implemented by `#[aggregate]`: mark a struct and its `impl` block, give the impl one
/// `#[created]` constructor and any number of `#[event]` methods, and the macro generates the
/// event enum and this trait's required items. The provided methods are what users call:
/// [`id`](Aggregate::id), [`version`](Aggregate::version),
/// [`created_on`](Aggregate::created_on), [`modified_on`](Aggregate::modified_on),
/// [`pending_events`](Aggregate::pending_events), [`collect_events`](Aggregate::collect_events),
/// [`from_events`](Aggregate::from_events) and [`take_snapshot`](Aggregate::take_snapshot).
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
/// world.make_it_so("trucks".into());
/// assert_eq!(world.version(), 3);
/// assert_eq!(world.pending_events().len(), 3);
///
/// let events = world.collect_events();
/// assert!(world.pending_events().is_empty());
/// let copy = World::from_events(events)?;
/// assert_eq!(copy, world);
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate",
    label = "`{Self}` has no #[aggregate] impl block",
    note = "mark the struct `{Self}` and its impl block with #[aggregate], and give the impl block \
            a #[created] constructor"
)]
pub trait Aggregate: Sized + 'static {
    /// The aggregate's event enum (generated: `DogEvent` for `Dog`).
    type Event: AggregateEvent;

    /// The aggregate type's name, such as `"Dog"`.
    const NAME: &'static str;

    /// The aggregate type's topic, stored with its snapshots (`"{module path}:{Name}"` unless
    /// overridden with `#[aggregate(module = "...")]`).
    const TOPIC: &'static str;

    /// The version of a new aggregate (1 unless `#[aggregate(initial_version = N)]`).
    const INITIAL_VERSION: u64 = 1;

    /// The version of the aggregate's state layout, recorded in snapshots so that old snapshots
    /// can be upcast (1 unless `#[aggregate(version = N)]`).
    const CLASS_VERSION: u32 = 1;

    /// The aggregate's metadata (generated).
    fn meta(&self) -> &AggregateMeta<Self>;

    /// The aggregate's metadata, mutably (generated).
    fn meta_mut(&mut self) -> &mut AggregateMeta<Self>;

    /// Builds the aggregate's state from its created event by running the `#[created]` body
    /// (generated). Fails when `event` is not the created event or the body fails.
    fn construct(id: Uuid, event: Self::Event) -> Result<Self, ApplyError>;

    /// Applies a subsequent event by running its method's body (generated). Fails when `event`
    /// is the created event or the body fails.
    fn apply(&mut self, event: Self::Event) -> Result<(), ApplyError>;

    /// The aggregate's state for a snapshot: its fields as a map (generated; needs the struct to
    /// derive `Serialize`).
    fn snapshot_state(&self) -> Result<Map<String, Value>, DomainError>;

    /// Rebuilds the aggregate's state from a snapshot's (already upcast) state (generated; needs
    /// the struct to derive `Deserialize`).
    fn restore_state(state: Map<String, Value>) -> Result<Self, DomainError>;

    /// Deserialises the aggregate's state (its fields; other keys are ignored) straight from a
    /// stored snapshot, without an intermediate map (generated when the struct derives
    /// `Deserialize`; by default, through [`restore_state`](Aggregate::restore_state)).
    fn deserialize_state<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        use serde::de::{Deserialize, Error};
        let state = Map::deserialize(deserializer)?;
        Self::restore_state(state).map_err(D::Error::custom)
    }

    /// Upcasts a snapshot's state from `from_version` to `from_version + 1` (generated from
    /// `#[aggregate(version = N, upcast = [...])]`).
    fn upcast_state(from_version: u32, state: &mut Map<String, Value>) -> Result<(), DomainError> {
        let _ = state;
        Err(DomainError::MissingUpcaster {
            type_name: Self::NAME,
            from_version,
        })
    }

    /// The aggregate's id.
    fn id(&self) -> Uuid {
        self.meta().id
    }

    /// The aggregate's version: the `originator_version` of its last event.
    fn version(&self) -> u64 {
        self.meta().version
    }

    /// When the aggregate was created: the timestamp of its created event.
    fn created_on(&self) -> DateTime<Utc> {
        self.meta().created_on
    }

    /// When the aggregate last changed: the timestamp of its last event.
    fn modified_on(&self) -> DateTime<Utc> {
        self.meta().modified_on
    }

    /// The events triggered since the aggregate was created or loaded, not yet collected.
    fn pending_events(&self) -> &[DomainEvent<Self::Event>] {
        &self.meta().pending_events
    }

    /// Takes the pending events, in order, leaving none pending.
    fn collect_events(&mut self) -> Vec<DomainEvent<Self::Event>> {
        std::mem::take(&mut self.meta_mut().pending_events)
    }

    /// Rebuilds an aggregate from its events, the created event first.
    ///
    /// Each event's body runs again, exactly as when the event was triggered. An empty
    /// sequence, a first event that is not the created event, or an event out of sequence is an
    /// error, never a panic.
    fn from_events<I>(events: I) -> Result<Self, DomainError>
    where
        I: IntoIterator<Item = DomainEvent<Self::Event>>,
    {
        let mut events = events.into_iter();
        let first = events.next().ok_or(DomainError::NoEvents {
            type_name: Self::NAME,
        })?;
        let mut aggregate = Self::from_created_event(first)?;
        for event in events {
            aggregate.apply_event(event)?;
        }
        Ok(aggregate)
    }

    /// Builds a new aggregate from its created event (the first step of a replay).
    fn from_created_event(event: DomainEvent<Self::Event>) -> Result<Self, DomainError> {
        let DomainEvent {
            originator_id,
            originator_version,
            timestamp,
            payload,
        } = event;
        let mut aggregate = Self::construct(originator_id, payload)?;
        let meta = aggregate.meta_mut();
        meta.id = originator_id;
        meta.version = originator_version;
        meta.created_on = timestamp;
        meta.modified_on = timestamp;
        meta.pending_events.clear();
        meta.applying = false;
        Ok(aggregate)
    }

    /// Applies one stored event to the aggregate: the reference library's `mutate`.
    ///
    /// The event's version must be the aggregate's version plus one, otherwise a
    /// [`VersionError`] is returned and nothing changes. The event is not added to the pending
    /// events: it already happened.
    fn apply_event(&mut self, event: DomainEvent<Self::Event>) -> Result<(), DomainError> {
        // No event follows the largest version: `expected` is then 0, which no event matches.
        let expected = self.version().checked_add(1).unwrap_or(0);
        if expected == 0 || event.originator_version != expected || event.originator_id != self.id()
        {
            return Err(DomainError::Version(VersionError {
                type_name: Self::NAME,
                id: self.id(),
                event_id: event.originator_id,
                event_version: event.originator_version,
                expected,
            }));
        }
        // Event methods the body calls only apply (see `AggregateMeta::applying`).
        let was_applying = std::mem::replace(&mut self.meta_mut().applying, true);
        let applied = self.apply(event.payload);
        self.meta_mut().applying = was_applying;
        applied?;
        let meta = self.meta_mut();
        meta.version = event.originator_version;
        meta.modified_on = event.timestamp;
        Ok(())
    }

    /// Takes a snapshot of the aggregate: its state, id, version and timestamps.
    fn take_snapshot(&self) -> Result<Snapshot, DomainError> {
        Snapshot::take(self)
    }

    /// Rebuilds an aggregate from a snapshot, upcasting the snapshot's state first if it was
    /// taken from an older version of the aggregate.
    fn from_snapshot(snapshot: Snapshot) -> Result<Self, DomainError> {
        snapshot.restore()
    }
}

/// The metadata of an aggregate: id, version, timestamps and pending events.
///
/// `#[aggregate]` adds a hidden field of this type to the struct; constructor bodies never
/// mention it (the macro fills it in), and [`Aggregate`]'s provided methods read it.
pub struct AggregateMeta<A: Aggregate> {
    pub(crate) id: Uuid,
    pub(crate) version: u64,
    pub(crate) created_on: DateTime<Utc>,
    pub(crate) modified_on: DateTime<Utc>,
    pub(crate) pending_events: Vec<DomainEvent<A::Event>>,
    /// Whether an event's body is running (or the aggregate is still being built): an event
    /// method called then only applies its body, without recording an event of its own. The
    /// event whose body called it is the one recorded, and replaying that event calls it again.
    pub(crate) applying: bool,
}

impl<A: Aggregate> AggregateMeta<A> {
    /// Metadata of an aggregate created by `event` (which becomes its only pending event).
    pub(crate) fn created(event: DomainEvent<A::Event>) -> Self {
        AggregateMeta {
            id: event.originator_id,
            version: event.originator_version,
            created_on: event.timestamp,
            modified_on: event.timestamp,
            pending_events: vec![event],
            applying: false,
        }
    }

    /// Records a subsequent event that has just been applied.
    pub(crate) fn record(&mut self, event: DomainEvent<A::Event>) {
        self.version = event.originator_version;
        self.modified_on = event.timestamp;
        self.pending_events.push(event);
    }

    /// The id, version and timestamp of the next event.
    pub(crate) fn next_event(&self) -> (Uuid, u64, DateTime<Utc>) {
        (
            self.id,
            self.version.saturating_add(1),
            next_timestamp(self.modified_on),
        )
    }
}

impl<A: Aggregate> AggregateMeta<A> {
    /// The metadata of an aggregate a constructor body is building: until the created event
    /// gives it its own, the aggregate counts as applying an event, so event methods the body
    /// calls on the value it builds are part of the created event.
    pub(crate) fn constructing() -> Self {
        AggregateMeta {
            applying: true,
            ..Self::default()
        }
    }
}

impl<A: Aggregate> Default for AggregateMeta<A> {
    /// Metadata of no aggregate yet (nil id, version 0), replaced when the aggregate is
    /// created or restored. A struct built with `Default` or deserialised outside a snapshot
    /// starts with it; event methods called on it record events as usual.
    fn default() -> Self {
        AggregateMeta {
            id: Uuid::nil(),
            version: 0,
            created_on: DateTime::<Utc>::UNIX_EPOCH,
            modified_on: DateTime::<Utc>::UNIX_EPOCH,
            pending_events: Vec::new(),
            applying: false,
        }
    }
}

impl<A: Aggregate> Clone for AggregateMeta<A> {
    fn clone(&self) -> Self {
        AggregateMeta {
            id: self.id,
            version: self.version,
            created_on: self.created_on,
            modified_on: self.modified_on,
            pending_events: self.pending_events.clone(),
            applying: self.applying,
        }
    }
}

/// Two aggregates are equal when their state and metadata are, pending events included, as in
/// the reference library.
impl<A: Aggregate> PartialEq for AggregateMeta<A> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.version == other.version
            && self.created_on == other.created_on
            && self.modified_on == other.modified_on
            && self.pending_events == other.pending_events
    }
}

impl<A: Aggregate> fmt::Debug for AggregateMeta<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregateMeta")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("created_on", &self.created_on)
            .field("modified_on", &self.modified_on)
            .field("pending_events", &self.pending_events.len())
            .finish()
    }
}
