//! Domain events: the envelope every event travels in, and the trait the generated event
//! enums implement.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A domain event: what happened to one aggregate, at which position in its sequence.
///
/// The envelope carries the metadata the reference library keeps on every event
/// (`originator_id`, `originator_version`, `timestamp`); `payload` is the event proper, a variant
/// of the enum that `#[aggregate]` generates from the aggregate's `#[created]` and `#[event]`
/// methods (for an aggregate `Dog`, the enum is `DogEvent`).
///
/// ```
/// use eventsourcing::prelude::*;
///
/// #[aggregate]
/// #[derive(Debug)]
/// pub struct Dog {
///     tricks: Vec<String>,
/// }
///
/// #[aggregate]
/// impl Dog {
///     #[created("Registered")]
///     pub fn register() -> Self {
///         Dog { tricks: Vec::new() }
///     }
///
///     #[event("TrickAdded")]
///     pub fn add_trick(&mut self, trick: String) {
///         self.tricks.push(trick);
///     }
/// }
///
/// let mut dog = Dog::register();
/// dog.add_trick("roll over".to_string());
/// let events = dog.collect_events();
/// assert_eq!(events[1].originator_id, dog.id());
/// assert_eq!(events[1].originator_version, 2);
/// assert_eq!(events[1].name(), "TrickAdded");
/// assert!(matches!(&events[1].payload, DogEvent::TrickAdded { trick } if trick == "roll over"));
/// ```
#[derive(Clone, PartialEq)]
pub struct DomainEvent<E> {
    /// The id of the aggregate this event belongs to.
    pub originator_id: Uuid,
    /// The position of this event in the aggregate's sequence: the aggregate's version after it.
    pub originator_version: u64,
    /// When the event was triggered (UTC).
    pub timestamp: DateTime<Utc>,
    /// What happened: a variant of the aggregate's generated event enum.
    pub payload: E,
    /// Which event caused this one, and which command or first event the chain of causes
    /// began with (see [`EventMetadata`]); empty unless the event was saved with some.
    pub metadata: EventMetadata,
}

/// The namespace of [`event_id`]s (a version 5 UUID namespace of this library's own).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_1c52_8a8e_4d4b_9a7e_3c1f_0b6d_2e94);

/// The id of the event at `originator_version` of the aggregate `originator_id`: a version 5
/// UUID of the two, the same wherever it is computed (an event is identified by its aggregate
/// and version; this names the pair with one value, for causation and correlation ids).
///
/// ```
/// use eventsourcing::domain::event_id;
/// use uuid::Uuid;
///
/// let aggregate = Uuid::new_v4();
/// assert_eq!(event_id(aggregate, 1), event_id(aggregate, 1));
/// assert_ne!(event_id(aggregate, 1), event_id(aggregate, 2));
/// ```
pub fn event_id(originator_id: Uuid, originator_version: u64) -> Uuid {
    let mut name = [0u8; 24];
    name[..16].copy_from_slice(originator_id.as_bytes());
    name[16..].copy_from_slice(&originator_version.to_be_bytes());
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

/// Why an event happened: the id of the event that caused it (a policy's upstream event), and
/// the correlation id of the whole chain of causes (a command's, or the first event's).
///
/// Events a policy saves while processing an upstream event carry that event's
/// [`event_id`] as their causation id, and its correlation id (or, if it had none, its own
/// id) onward. An application sets a correlation id for a command's events with
/// [`Application::save_with`](crate::application::Application::save_with). Stored in the
/// event's state, as `__causation_id__` and `__correlation_id__` (readers that don't know them,
/// the Python library included, ignore them), and read back into
/// [`DomainEvent::metadata`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventMetadata {
    /// The id ([`event_id`]) of the event that caused this one.
    pub causation_id: Option<Uuid>,
    /// The id shared by every event of one chain of causes.
    pub correlation_id: Option<Uuid>,
}

impl EventMetadata {
    /// Metadata with this correlation id (a command's: a request id, say).
    pub fn correlated(correlation_id: Uuid) -> Self {
        EventMetadata {
            causation_id: None,
            correlation_id: Some(correlation_id),
        }
    }

    /// The metadata of events caused by the event `cause` (of `originator_id` at
    /// `originator_version`) whose own metadata is `cause_metadata`: caused by it, and
    /// correlated with its correlation id, or with it if it had none.
    pub fn caused_by(originator_id: Uuid, originator_version: u64, cause: &EventMetadata) -> Self {
        let cause_id = event_id(originator_id, originator_version);
        EventMetadata {
            causation_id: Some(cause_id),
            correlation_id: Some(cause.correlation_id.unwrap_or(cause_id)),
        }
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.causation_id.is_none() && self.correlation_id.is_none()
    }
}

impl<E> DomainEvent<E> {
    /// The event's id ([`event_id`] of its aggregate and version).
    pub fn event_id(&self) -> Uuid {
        event_id(self.originator_id, self.originator_version)
    }
}

impl<E: AggregateEvent> DomainEvent<E> {
    /// The event's name, such as `"TrickAdded"`.
    pub fn name(&self) -> &'static str {
        self.payload.name()
    }

    /// The event's topic: the stable string stored beside the event that identifies its type.
    pub fn topic(&self) -> &'static str {
        self.payload.topic()
    }
}

impl<E: fmt::Debug> fmt::Debug for DomainEvent<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainEvent")
            .field("originator_id", &self.originator_id)
            .field("originator_version", &self.originator_version)
            .field("timestamp", &self.timestamp)
            .field("payload", &self.payload)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// The events of one aggregate type: implemented by the enum `#[aggregate]` generates, or by
/// hand (see "Aggregates by hand" in the crate docs).
///
/// Each variant is one event type, described by an [`EventType`]: a name (`"TrickAdded"`), a
/// topic (by default `"{module path}:{Aggregate}.{Name}"`, such as `"dogs:Dog.TrickAdded"`), a
/// class version (1 unless the event declares `version = N`), the functions that upcast state
/// stored by older versions, and other topics it answers to. [`TYPES`](AggregateEvent::TYPES)
/// lists them, and [`event_type`](AggregateEvent::event_type) says which one a value is.
///
/// The stored form of an event's state is a map: `timestamp` first, then the fields in
/// declaration order, then `class_version` when it is above 1, as in the reference library.
/// Serialisation goes through serde, so any serde format can carry it; upcasting goes through
/// [`serde_json::Value`] whatever the format. The enum derives `Serialize` and `Deserialize`
/// (its variants with named fields, no fields, or one struct each), and the stored state is
/// written and read through those impls ([`serialize_event_state`](super::serialize_event_state)
/// and [`deserialize_event_state`](super::deserialize_event_state)), so an enum written by hand
/// only describes its event types:
///
/// ```
/// use eventsourcing::domain::{AggregateEvent, EventType};
/// use eventsourcing::prelude::*;
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub enum DogEvent {
///     Registered { name: String },
///     TrickAdded { trick: String },
/// }
///
/// impl AggregateEvent for DogEvent {
///     const TYPES: &'static [EventType] = &[
///         EventType::new("Registered", "dogs:Dog.Registered").created(),
///         EventType::new("TrickAdded", "dogs:Dog.TrickAdded"),
///     ];
///
///     fn event_type(&self) -> &'static EventType {
///         match self {
///             DogEvent::Registered { .. } => &Self::TYPES[0],
///             DogEvent::TrickAdded { .. } => &Self::TYPES[1],
///         }
///     }
/// }
///
/// let event = DogEvent::TrickAdded { trick: "roll over".into() };
/// assert_eq!(event.name(), "TrickAdded");
/// assert_eq!(event.topic(), "dogs:Dog.TrickAdded");
/// assert!(DogEvent::has_topic("dogs:Dog.Registered"));
/// ```
pub trait AggregateEvent:
    Clone + fmt::Debug + PartialEq + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// The event types of this enum, one per variant; exactly one of them is the created
    /// event ([`EventType::created`]).
    const TYPES: &'static [EventType];

    /// The type of this event: one of [`TYPES`](AggregateEvent::TYPES).
    fn event_type(&self) -> &'static EventType;

    /// Serialises the event's stored state (`timestamp`, fields, `class_version` if above 1):
    /// by default with [`serialize_event_state`](super::serialize_event_state), through the
    /// enum's `Serialize` impl.
    fn serialize_state<S: Serializer>(
        &self,
        timestamp: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        super::serialize_event_state(self, timestamp, serializer)
    }

    /// Deserialises the stored state of the event type named by `topic`, upcasting old
    /// versions first: by default with
    /// [`deserialize_event_state`](super::deserialize_event_state), through the enum's
    /// `Deserialize` impl. Fails with a custom error for a topic this enum does not know.
    fn deserialize_state<'de, D: Deserializer<'de>>(
        topic: &str,
        deserializer: D,
    ) -> Result<(DateTime<Utc>, Self), D::Error> {
        super::deserialize_event_state(topic, deserializer)
    }

    /// The event's name, such as `"TrickAdded"`.
    fn name(&self) -> &'static str {
        self.event_type().name
    }

    /// The topic stored with the event (see the trait docs).
    fn topic(&self) -> &'static str {
        self.event_type().topic
    }

    /// The version of this event's class (1 unless declared).
    fn class_version(&self) -> u32 {
        self.event_type().version
    }

    /// Whether this is the event that creates the aggregate.
    fn is_created(&self) -> bool {
        self.event_type().created
    }

    /// Every topic this enum can decode: the current topic of each variant, then the aliases.
    fn topics() -> impl Iterator<Item = &'static str> {
        Self::TYPES
            .iter()
            .map(|t| t.topic)
            .chain(Self::TYPES.iter().flat_map(|t| t.aliases.iter().copied()))
    }

    /// The event type that `topic` names (its current topic or an alias), if any.
    fn type_of_topic(topic: &str) -> Option<&'static EventType> {
        Self::TYPES
            .iter()
            .find(|t| t.topic == topic)
            .or_else(|| Self::TYPES.iter().find(|t| t.aliases.contains(&topic)))
    }

    /// Whether `topic` names one of this enum's variants (or an alias of one).
    fn has_topic(topic: &str) -> bool {
        Self::type_of_topic(topic).is_some()
    }
}

/// An upcast function: turns the stored state of an event (or snapshot) of class version N
/// into version N + 1, in place.
pub type Upcaster = fn(&mut serde_json::Map<String, serde_json::Value>);

/// One event type of an [`AggregateEvent`] enum: what is stored with its events and how old
/// stored state is brought up to date. Built in constant expressions:
///
/// ```
/// use eventsourcing::domain::EventType;
/// use serde_json::{Map, Value};
///
/// fn add_age(state: &mut Map<String, Value>) {
///     state.insert("age".into(), Value::from(0));
/// }
///
/// const REGISTERED: EventType = EventType::new("Registered", "dogs:Dog.Registered")
///     .created()
///     .version(2, &[add_age])
///     .aliases(&["kennel:Dog.Registered"]);
/// assert_eq!(REGISTERED.version, 2);
/// ```
#[derive(Clone, Copy)]
pub struct EventType {
    /// The event's name, such as `"TrickAdded"`: the variant's name as serde knows it.
    pub name: &'static str,
    /// The topic stored with events of this type.
    pub topic: &'static str,
    /// Other topics that decode as this type (events renamed or moved since they were stored).
    pub aliases: &'static [&'static str],
    /// The version of the event's stored state; 1 unless declared.
    pub version: u32,
    /// The upcast functions from version 1: the first takes state of version 1 to 2, and so
    /// on; there are `version - 1` of them.
    pub upcasters: &'static [Upcaster],
    /// Whether this is the event that creates the aggregate.
    pub created: bool,
    /// The aggregate's topic, which the created event's stored state carries as
    /// `originator_topic` (the reference library reads it to know what to construct). When
    /// `None`, it is the created event's topic without its last `.Name`.
    pub originator_topic: Option<&'static str>,
    /// Whether this event discards the aggregate (the `Discarded` event of
    /// `#[aggregate(discardable)]`; see [`Aggregate::is_discarded`](super::Aggregate::is_discarded)).
    pub discards: bool,
}

impl EventType {
    /// An event type of version 1, with no aliases, that is not the created event.
    pub const fn new(name: &'static str, topic: &'static str) -> Self {
        EventType {
            name,
            topic,
            aliases: &[],
            version: 1,
            upcasters: &[],
            created: false,
            originator_topic: None,
            discards: false,
        }
    }

    /// The same type, as an event that discards the aggregate.
    pub const fn discards(mut self) -> Self {
        self.discards = true;
        self
    }

    /// The same type, as the created event of the aggregate whose topic is `topic`.
    pub const fn originator_topic(mut self, topic: &'static str) -> Self {
        self.created = true;
        self.originator_topic = Some(topic);
        self
    }

    /// The topic of the aggregate this event belongs to, as a created event stores it: the
    /// declared [`originator_topic`](EventType::originator_topic), or this event's topic
    /// without its last `.Name` (`dogs:Dog.Registered` → `dogs:Dog`).
    pub fn aggregate_topic(&self) -> &'static str {
        self.originator_topic.unwrap_or_else(|| {
            let topic = self.topic;
            let name_start = topic.find(':').map_or(0, |colon| colon + 1);
            match topic[name_start..].rfind('.') {
                Some(dot) => &topic[..name_start + dot],
                None => topic,
            }
        })
    }

    /// The same type, as the aggregate's created event.
    pub const fn created(mut self) -> Self {
        self.created = true;
        self
    }

    /// The same type at class `version`, with the `version - 1` functions that upcast older
    /// stored state.
    pub const fn version(mut self, version: u32, upcasters: &'static [Upcaster]) -> Self {
        self.version = version;
        self.upcasters = upcasters;
        self
    }

    /// The same type, also decoding events stored under these topics.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventType")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("aliases", &self.aliases)
            .field("version", &self.version)
            .field("upcasters", &self.upcasters.len())
            .field("created", &self.created)
            .field("originator_topic", &self.originator_topic)
            .field("discards", &self.discards)
            .finish()
    }
}

impl PartialEq for EventType {
    /// Event types are equal when they describe the same stored events (upcast functions are
    /// compared by number, since function pointers have no reliable identity).
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.topic == other.topic
            && self.aliases == other.aliases
            && self.version == other.version
            && self.upcasters.len() == other.upcasters.len()
            && self.created == other.created
            && (!self.created || self.aggregate_topic() == other.aggregate_topic())
            && self.discards == other.discards
    }
}

/// A borrowed event's stored state, ready for any serde serializer.
pub(crate) struct EventState<'a, E> {
    pub(crate) timestamp: &'a DateTime<Utc>,
    pub(crate) payload: &'a E,
}

impl<E: AggregateEvent> serde::Serialize for EventState<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.payload.serialize_state(self.timestamp, serializer)
    }
}

/// The stored state of the event type named by a topic, as a [`serde::de::DeserializeSeed`].
pub(crate) struct EventStateSeed<'t, E> {
    pub(crate) topic: &'t str,
    pub(crate) marker: std::marker::PhantomData<E>,
}

impl<'de, E: AggregateEvent> serde::de::DeserializeSeed<'de> for EventStateSeed<'_, E> {
    type Value = (DateTime<Utc>, E);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        E::deserialize_state(self.topic, deserializer)
    }
}
