//! The [`Aggregate`] trait and the metadata every aggregate carries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApplyError, DomainError, VersionError};
use super::event::{AggregateEvent, DomainEvent, Upcaster};
use super::sealed::Sealed;
use super::snapshot::Snapshot;
use super::timestamp::next_timestamp;

/// A consistency boundary whose state is the result of its events.
///
/// Implemented by `#[aggregate]`: mark a struct and its `impl` block, give the impl one
/// `#[created]` constructor and any number of `#[event]` methods, and the macro generates the
/// event enum and this trait's required items. Or implement it by hand (see "Aggregates by
/// hand" in the crate docs): the macro generates nothing that can't be written against this
/// trait.
///
/// The provided methods are what users call: [`id`](Aggregate::id),
/// [`version`](Aggregate::version), [`created_on`](Aggregate::created_on),
/// [`modified_on`](Aggregate::modified_on), [`pending_events`](Aggregate::pending_events),
/// [`collect_events`](Aggregate::collect_events), [`from_events`](Aggregate::from_events),
/// [`take_snapshot`](Aggregate::take_snapshot), and, to record events by hand,
/// [`create_aggregate`](Aggregate::create_aggregate) and
/// [`trigger_event`](Aggregate::trigger_event). The required methods that change the aggregate
/// without recording an event ([`meta_mut`](Aggregate::meta_mut),
/// [`construct`](Aggregate::construct), [`apply`](Aggregate::apply)) take a [`Sealed`], which
/// only this crate can make: they are called by the library, never from outside it.
///
/// Aggregates are `Send + Sync`, as their events are, so that an application's futures and
/// threads can hold them.
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
            a #[created] constructor (or implement Aggregate by hand: see \"Aggregates by hand\" \
            in the crate docs)"
)]
pub trait Aggregate: Sized + Send + Sync + 'static {
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

    /// The functions that upcast a snapshot's state from older class versions: the first takes
    /// state of version 1 to 2, and so on (`#[aggregate(version = N, upcast = [...])]`).
    const UPCASTERS: &'static [Upcaster] = &[];

    /// The aggregate's metadata: a field of type [`AggregateMeta`] (`#[aggregate]` adds a
    /// hidden one).
    fn meta(&self) -> &AggregateMeta<Self>;

    /// The aggregate's metadata, mutably. Only this crate can call it (see [`Sealed`]): the
    /// metadata changes only as events are recorded, replayed or restored.
    fn meta_mut(&mut self, sealed: &Sealed) -> &mut AggregateMeta<Self>;

    /// Builds the aggregate's state from its created event (generated: runs the `#[created]`
    /// body). The metadata may be anything, such as [`AggregateMeta::new`]: it is set from the
    /// event afterwards. Fails with [`ApplyError::not_created`] when `event` is not the created
    /// event, or with the body's error. Only this crate can call it (see [`Sealed`]).
    fn construct(id: Uuid, event: Self::Event, sealed: &mut Sealed) -> Result<Self, ApplyError>;

    /// Changes the aggregate's state as a subsequent event says (generated: runs the event
    /// method's body). Fails with [`ApplyError::created_on_existing`] when `event` is the created
    /// event, or with the body's error; when it fails, it must leave the aggregate unchanged
    /// (check before changing anything, or use [`Sealed::restore_on_error`]), except while
    /// [replaying](Sealed::is_replaying), when the aggregate is discarded. Only this crate can
    /// call it (see [`Sealed`]): use [`trigger_event`](Aggregate::trigger_event) to record an
    /// event.
    fn apply(&mut self, event: Self::Event, sealed: &mut Sealed) -> Result<(), ApplyError>;

    /// The aggregate's state for a snapshot: its fields as a map (generated when the struct
    /// derives `Serialize`; by hand, [`Snapshot::state_of`]). By default, snapshots are not
    /// supported.
    fn snapshot_state(&self) -> Result<Map<String, Value>, DomainError> {
        Err(DomainError::SnapshotsNotSupported {
            type_name: Self::NAME,
        })
    }

    /// Deserialises the aggregate's state (its fields; other keys are ignored) from a
    /// snapshot's state, already upcast (generated when the struct derives `Deserialize`; by
    /// hand, `Self::deserialize(deserializer)` with the metadata field `#[serde(skip)]`). By
    /// default, snapshots are not supported.
    fn deserialize_state<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        let _ = deserializer;
        Err(serde::de::Error::custom(
            DomainError::SnapshotsNotSupported {
                type_name: Self::NAME,
            },
        ))
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

    /// Whether the aggregate has been discarded (by an event whose type
    /// [`discards`](super::EventType::discards), such as the `Discarded` event of
    /// `#[aggregate(discardable)]`): repositories then refuse to get it, and applications to
    /// save events recorded after it.
    fn is_discarded(&self) -> bool {
        self.meta().discarded
    }

    /// The events triggered since the aggregate was created or loaded, not yet collected.
    fn pending_events(&self) -> &[DomainEvent<Self::Event>] {
        &self.meta().pending_events
    }

    /// Takes the pending events, in order, leaving none pending.
    fn collect_events(&mut self) -> Vec<DomainEvent<Self::Event>> {
        std::mem::take(&mut self.meta_mut(&Sealed::new()).pending_events)
    }

    /// Creates an aggregate with the id `id` from its created event: builds it with
    /// [`construct`](Aggregate::construct) and records the event (version
    /// [`INITIAL_VERSION`](Aggregate::INITIAL_VERSION), timestamp now) as its first pending
    /// event: the reference library's `_create`. Fails, creating nothing, when `event` is not
    /// the created event or `construct` fails.
    fn create_aggregate(id: Uuid, event: Self::Event) -> Result<Self, ApplyError> {
        create(id, event, &mut Sealed::new())
    }

    /// Records a subsequent event: applies it with [`apply`](Aggregate::apply) and, if that
    /// succeeds, records it as pending at the next version (the reference library's
    /// `trigger_event`). If `apply` fails, nothing is recorded, the version does not move and
    /// the aggregate is as it was.
    ///
    /// Called while another event is being applied (from an event's body, or a constructor's),
    /// the event is part of that one: it is applied, not recorded, and replaying the outer event
    /// applies it again.
    fn trigger_event(&mut self, event: Self::Event) -> Result<(), ApplyError> {
        trigger(self, event, &mut Sealed::new())
    }

    /// Rebuilds an aggregate from its events, the created event first.
    ///
    /// Each event is applied again, exactly as when it was triggered. An empty sequence, a
    /// first event that is not the created event, an event out of sequence, or an event whose
    /// body fails is an error, never a panic.
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

    /// Builds an aggregate from its stored created event (the first step of a replay): no
    /// event is pending afterwards.
    fn from_created_event(event: DomainEvent<Self::Event>) -> Result<Self, DomainError> {
        let DomainEvent {
            originator_id,
            originator_version,
            timestamp,
            payload,
            ..
        } = event;
        let mut sealed = Sealed::replaying();
        let mut aggregate = Self::construct(originator_id, payload, &mut sealed)?;
        *aggregate.meta_mut(&sealed) =
            AggregateMeta::restored(originator_id, originator_version, timestamp, timestamp);
        Ok(aggregate)
    }

    /// Applies one stored event to the aggregate: the reference library's `mutate`.
    ///
    /// The event's version must be the aggregate's version plus one, otherwise a
    /// [`VersionError`] is returned and nothing changes. The event is not added to the pending
    /// events: it already happened. If the event's body fails ([`DomainError::Apply`]), the
    /// aggregate may be partly changed and must be discarded, as a failed replay discards it:
    /// stored events are applied without keeping a copy to restore.
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
        let mut sealed = Sealed::replaying();
        // Event methods the body calls only apply (see `AggregateMeta::applying`).
        let was_applying = std::mem::replace(&mut self.meta_mut(&sealed).applying, true);
        let discards = event.payload.event_type().discards;
        let applied = self.apply(event.payload, &mut sealed);
        let meta = self.meta_mut(&sealed);
        meta.applying = was_applying;
        applied?;
        meta.version = event.originator_version;
        meta.modified_on = event.timestamp;
        meta.discarded |= discards;
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

/// Forgets the pending events of an aggregate whose events have been saved.
pub(crate) fn clear_pending_events<A: Aggregate>(aggregate: &mut A) {
    aggregate.meta_mut(&Sealed::new()).pending_events.clear();
}

/// Builds an aggregate from its created event and records the event as pending.
pub(crate) fn create<A: Aggregate>(
    id: Uuid,
    event: A::Event,
    sealed: &mut Sealed,
) -> Result<A, ApplyError> {
    let timestamp = super::timestamp::now();
    let mut aggregate = A::construct(id, event.clone(), sealed)?;
    *aggregate.meta_mut(sealed) = AggregateMeta::created(DomainEvent {
        originator_id: id,
        originator_version: A::INITIAL_VERSION,
        timestamp,
        payload: event,
        metadata: Default::default(),
    });
    Ok(aggregate)
}

/// Applies a subsequent event and records it as pending, or only applies it when another
/// event is being applied (it is then part of that one).
pub(crate) fn trigger<A: Aggregate>(
    aggregate: &mut A,
    event: A::Event,
    sealed: &mut Sealed,
) -> Result<(), ApplyError> {
    if aggregate.meta().applying {
        return aggregate.apply(event, sealed);
    }
    let (originator_id, originator_version, timestamp) = aggregate.meta().next_event();
    aggregate.meta_mut(sealed).applying = true;
    let applied = aggregate.apply(event.clone(), sealed);
    let meta = aggregate.meta_mut(sealed);
    meta.applying = false;
    applied?;
    meta.record(DomainEvent {
        originator_id,
        originator_version,
        timestamp,
        payload: event,
        metadata: Default::default(),
    });
    Ok(())
}

/// The metadata of an aggregate: id, version, timestamps and pending events.
///
/// `#[aggregate]` adds a hidden field of this type to the struct; constructor bodies never
/// mention it (the macro fills it in), and [`Aggregate`]'s provided methods read it. An
/// aggregate written by hand has a field of this type, built with [`AggregateMeta::new`] (and
/// `#[serde(skip)]` if the struct derives serde's traits): its contents are set by this crate
/// only, as events are recorded, replayed or restored.
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
    /// Whether an event that discards the aggregate has been applied
    /// ([`EventType::discards`](super::EventType::discards)).
    pub(crate) discarded: bool,
}

impl<A: Aggregate> AggregateMeta<A> {
    /// The metadata of no aggregate yet (nil id, version 0), for [`Aggregate::construct`] to put
    /// in the aggregate it builds: it is replaced when the aggregate is created or restored.
    /// Event methods called on a value built with it (outside `construct`) record events as
    /// usual, from version 1.
    pub fn new() -> Self {
        AggregateMeta {
            id: Uuid::nil(),
            version: 0,
            created_on: DateTime::<Utc>::UNIX_EPOCH,
            modified_on: DateTime::<Utc>::UNIX_EPOCH,
            pending_events: Vec::new(),
            applying: false,
            discarded: false,
        }
    }

    /// Metadata of an aggregate created by `event` (which becomes its only pending event).
    pub(crate) fn created(event: DomainEvent<A::Event>) -> Self {
        AggregateMeta {
            id: event.originator_id,
            version: event.originator_version,
            created_on: event.timestamp,
            modified_on: event.timestamp,
            pending_events: vec![event],
            applying: false,
            discarded: false,
        }
    }

    /// Metadata of an aggregate rebuilt from storage, with no pending events.
    pub(crate) fn restored(
        id: Uuid,
        version: u64,
        created_on: DateTime<Utc>,
        modified_on: DateTime<Utc>,
    ) -> Self {
        AggregateMeta {
            id,
            version,
            created_on,
            modified_on,
            pending_events: Vec::new(),
            applying: false,
            discarded: false,
        }
    }

    /// The metadata of an aggregate a constructor body is building: until the created event
    /// gives it its own, the aggregate counts as applying an event, so event methods the body
    /// calls on the value it builds are part of the created event.
    pub(crate) fn constructing() -> Self {
        AggregateMeta {
            applying: true,
            ..Self::new()
        }
    }

    /// Records a subsequent event that has just been applied.
    pub(crate) fn record(&mut self, event: DomainEvent<A::Event>) {
        self.version = event.originator_version;
        self.modified_on = event.timestamp;
        self.discarded |= event.payload.event_type().discards;
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

impl<A: Aggregate> Default for AggregateMeta<A> {
    /// [`AggregateMeta::new`]: a struct built with `Default` or deserialised outside a snapshot
    /// starts with it.
    fn default() -> Self {
        Self::new()
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
            discarded: self.discarded,
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

/// One short line: `id=… version=3 pending=2` (the pending events themselves are left out).
impl<A: Aggregate> fmt::Debug for AggregateMeta<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "id={} version={} pending={}",
            self.id,
            self.version,
            self.pending_events.len()
        )
    }
}
