//! Domain events: the envelope every event travels in, and the trait the generated event
//! enums implement.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserializer, Serializer};
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
            .finish()
    }
}

/// The events of one aggregate type: implemented by the enum `#[aggregate]` generates.
///
/// Each variant is one event type, with a name (`"TrickAdded"`), a topic (by default
/// `"{module path}:{Aggregate}.{Name}"`, such as `"dogs:Dog.TrickAdded"`), a class version
/// (1 unless the event declares `version = N`) and the fields of its method's arguments.
///
/// The stored form of an event's state is a map: `timestamp` first, then the fields in
/// argument order, then `class_version` when it is above 1, as in the reference library.
/// Serialisation goes through serde, so any serde format can carry it; upcasting goes through
/// [`serde_json::Value`] whatever the format.
pub trait AggregateEvent: Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The event's name, such as `"TrickAdded"`.
    fn name(&self) -> &'static str;

    /// The topic stored with the event (see the trait docs).
    fn topic(&self) -> &'static str;

    /// The version of this event's class (1 unless declared).
    fn class_version(&self) -> u32;

    /// Whether this is the event that creates the aggregate.
    fn is_created(&self) -> bool;

    /// Every topic this enum can decode: the current topic of each variant, then the aliases.
    fn topics() -> &'static [&'static str];

    /// Whether `topic` names one of this enum's variants (or an alias of one).
    fn has_topic(topic: &str) -> bool {
        Self::topics().contains(&topic)
    }

    /// Serialises the event's stored state (`timestamp`, fields, `class_version` if above 1).
    fn serialize_state<S: Serializer>(
        &self,
        timestamp: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error>;

    /// Deserialises the stored state of the event type named by `topic`, upcasting old
    /// versions first. Fails with a custom error for a topic this enum does not know.
    fn deserialize_state<'de, D: Deserializer<'de>>(
        topic: &str,
        deserializer: D,
    ) -> Result<(DateTime<Utc>, Self), D::Error>;
}

/// A borrowed event's stored state, ready for any serde serializer.
#[allow(dead_code)] // used by the persistence layer's mapper, not written yet
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
#[allow(dead_code)] // used by the persistence layer's mapper, not written yet
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
