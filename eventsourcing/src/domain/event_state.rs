//! An event's stored state, for event enums that derive serde's `Serialize` and `Deserialize`:
//! the map `{"timestamp": ..., ["originator_topic": ...,] <the variant's fields>...,
//! "class_version": N}` that the reference library stores, written and read straight through the enum's own serde impls.
//!
//! Serde represents a variant as its name and its content (externally tagged); the stored
//! state has no name (the topic stored beside it says which event it is) and carries the
//! timestamp among the fields. So serialising goes through a serializer that turns "variant
//! `TrickAdded` with fields ..." into "a map of timestamp, fields ..., class version", and
//! deserialising through a deserializer that presents the stored map as the variant the topic
//! names, taking the timestamp out on the way. Neither copies the state: this is what
//! `#[aggregate]`'s generated events use, and what an enum written by hand can use.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::ser::{self, Impossible, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::event::{AggregateEvent, EventType};
use super::picked_keys::{Key, KeySeed, PickedKeys};
use super::timestamp::{StoredTimestamp, TimestampSeed};

/// The key of an event's timestamp in its stored state.
const TIMESTAMP: &str = "timestamp";
/// The key of an event's class version in its stored state (present when above 1).
const CLASS_VERSION: &str = "class_version";
/// The key of the aggregate's topic in the stored state of a created event (reference format).
const ORIGINATOR_TOPIC: &str = "originator_topic";

/// Serialises an event's stored state through the enum's `Serialize` impl: `timestamp` first,
/// then (for the created event, in the reference's format) `originator_topic`, then the
/// variant's fields, then `class_version` if the event type's version is above 1.
///
/// Inside [`with_reference_format`](super::transcoding::with_reference_format), as
/// [`JsonTranscoder`](crate::persistence::JsonTranscoder) runs it, the timestamp is written as
/// the reference writes datetimes and the created event carries the aggregate's topic; a
/// hand-written enum's fields of UUIDs or datetimes need
/// `#[serde(with = "eventsourcing::transcoding")]` to be written as the reference writes them.
///
/// The enum's variants must have named fields (`TrickAdded { trick: String }`), no fields
/// (`Closed`), or be a newtype of a struct with named fields (`Opened(Opened)`); serde's
/// attributes on fields (`rename`, `with`, `skip_serializing_if`, ...) apply as usual. See
/// [`AggregateEvent`] for an example.
#[inline]
pub fn serialize_event_state<E, S>(
    event: &E,
    timestamp: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    E: AggregateEvent,
    S: Serializer,
{
    let event_type = event.event_type();
    // The reference library constructs the aggregate from the topic its created event carries.
    let originator_topic = (event_type.created && super::transcoding::is_reference_format())
        .then(|| event_type.aggregate_topic());
    event.serialize(StateSerializer {
        inner: serializer,
        timestamp,
        originator_topic,
        class_version: event_type.version,
    })
}

/// Deserialises the stored state of the event type `topic` names (its topic or one of its
/// aliases) through the enum's `Deserialize` impl, upcasting state stored by an older version
/// of the event first (through [`serde_json::Value`], one version at a time).
///
/// Fields the variant does not have are ignored, and so is the state of a newer version of the
/// event (as the reference library does). See [`AggregateEvent`] for an example.
pub fn deserialize_event_state<'de, E, D>(
    topic: &str,
    deserializer: D,
) -> Result<(DateTime<Utc>, E), D::Error>
where
    E: AggregateEvent,
    D: Deserializer<'de>,
{
    let Some(event_type) = E::type_of_topic(topic) else {
        return Err(de::Error::custom(format!(
            "topic {topic:?} is not one of the events of {}",
            short_type_name::<E>()
        )));
    };
    if event_type.version <= 1 {
        return variant_of(event_type, deserializer);
    }
    let mut state = Map::deserialize(deserializer)?;
    upcast(event_type, &mut state).map_err(de::Error::custom)?;
    variant_of(event_type, Value::Object(state)).map_err(de::Error::custom)
}

/// The event `event_type` names, from its stored state.
fn variant_of<'de, E, D>(
    event_type: &'static EventType,
    deserializer: D,
) -> Result<(DateTime<Utc>, E), D::Error>
where
    E: AggregateEvent,
    D: Deserializer<'de>,
{
    let mut timestamp = None;
    let event = E::deserialize(VariantDeserializer {
        variant: event_type.name,
        inner: deserializer,
        timestamp: &mut timestamp,
    })?;
    let timestamp = timestamp.ok_or_else(|| de::Error::missing_field(TIMESTAMP))?;
    Ok((timestamp, event))
}

/// Brings `state`, stored at the version its `class_version` says (1 if absent), up to
/// `event_type`'s version. State of the same or a newer version is left as it is.
fn upcast(event_type: &EventType, state: &mut Map<String, Value>) -> Result<(), String> {
    let name = event_type.name;
    let stored_version = match state.remove(CLASS_VERSION) {
        None => 1,
        Some(value) => value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v >= 1)
            .ok_or_else(|| format!("{name}: invalid class_version {value}"))?,
    };
    for version in stored_version..event_type.version {
        let upcast = event_type
            .upcasters
            .get(version as usize - 1)
            .ok_or_else(|| format!("{name}: no upcast from version {version}"))?;
        upcast(state);
    }
    Ok(())
}

fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

fn not_an_event<E: ser::Error>(what: &str) -> E {
    E::custom(format!(
        "an event enum's variants must have named fields, no fields, or one struct with named \
         fields; this one is {what}"
    ))
}

/// Serialises a variant (or the struct of a newtype variant) as stored state.
struct StateSerializer<'t, S> {
    inner: S,
    timestamp: &'t DateTime<Utc>,
    /// The aggregate's topic, written after the timestamp of a created event.
    originator_topic: Option<&'static str>,
    class_version: u32,
}

impl<'t, S: Serializer> StateSerializer<'t, S> {
    /// Opens the stored state's map for `fields` fields, and writes the timestamp.
    #[inline]
    fn open(self, name: &'static str, fields: usize) -> Result<StateFields<S>, S::Error> {
        let extra =
            1 + usize::from(self.originator_topic.is_some()) + usize::from(self.class_version > 1);
        let mut state = self.inner.serialize_struct(name, fields + extra)?;
        state.serialize_field(TIMESTAMP, &StoredTimestamp(self.timestamp))?;
        if let Some(topic) = self.originator_topic {
            state.serialize_field(ORIGINATOR_TOPIC, topic)?;
        }
        Ok(StateFields {
            state,
            class_version: self.class_version,
        })
    }
}

/// The stored state's map, open for the variant's fields.
struct StateFields<S: Serializer> {
    state: S::SerializeStruct,
    class_version: u32,
}

impl<S: Serializer> StateFields<S> {
    #[inline]
    fn close(mut self) -> Result<S::Ok, S::Error> {
        if self.class_version > 1 {
            self.state
                .serialize_field(CLASS_VERSION, &self.class_version)?;
        }
        self.state.end()
    }
}

impl<S: Serializer> ser::SerializeStructVariant for StateFields<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.state.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.state.skip_field(key)
    }

    #[inline]
    fn end(self) -> Result<S::Ok, S::Error> {
        self.close()
    }
}

impl<S: Serializer> ser::SerializeStruct for StateFields<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.state.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.state.skip_field(key)
    }

    #[inline]
    fn end(self) -> Result<S::Ok, S::Error> {
        self.close()
    }
}

/// The serializer methods of shapes an event can't have.
macro_rules! not_an_event {
    ($($method:ident($($arg:ty),*) $what:literal;)*) => {
        $(
            fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
                Err(not_an_event($what))
            }
        )*
    };
}

impl<'t, S: Serializer> Serializer for StateSerializer<'t, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = StateFields<S>;
    type SerializeStructVariant = StateFields<S>;

    not_an_event! {
        serialize_bool(bool) "a bool";
        serialize_i8(i8) "a number";
        serialize_i16(i16) "a number";
        serialize_i32(i32) "a number";
        serialize_i64(i64) "a number";
        serialize_u8(u8) "a number";
        serialize_u16(u16) "a number";
        serialize_u32(u32) "a number";
        serialize_u64(u64) "a number";
        serialize_f32(f32) "a number";
        serialize_f64(f64) "a number";
        serialize_char(char) "a char";
        serialize_str(&str) "a string";
        serialize_bytes(&[u8]) "bytes";
        serialize_none() "an option";
        serialize_unit() "a unit";
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_an_event("an option"))
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.open(name, 0)?.close()
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _enum: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.open(variant, 0)?.close()
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _enum: &'static str,
        _index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_an_event("a sequence"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_an_event("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_an_event("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_an_event("a tuple variant"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(not_an_event("a map"))
    }

    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.open(name, len)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _enum: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.open(variant, len)
    }
}

/// Presents stored state as the variant `variant` of an enum.
struct VariantDeserializer<'t, D> {
    variant: &'static str,
    inner: D,
    timestamp: &'t mut Option<DateTime<Utc>>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for VariantDeserializer<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>> EnumAccess<'de> for VariantDeserializer<'_, D> {
    type Error = D::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), D::Error> {
        let variant = seed.deserialize(de::value::BorrowedStrDeserializer::new(self.variant))?;
        Ok((variant, self))
    }
}

impl<'de, D: Deserializer<'de>> VariantAccess<'de> for VariantDeserializer<'_, D> {
    type Error = D::Error;

    fn unit_variant(self) -> Result<(), D::Error> {
        self.inner
            .deserialize_map(StateVisitor {
                inner: IgnoredAny,
                timestamp: self.timestamp,
            })
            .map(|_| ())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, D::Error> {
        seed.deserialize(StateDeserializer {
            inner: self.inner,
            timestamp: self.timestamp,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, D::Error> {
        Err(de::Error::custom(format!(
            "{}: an event enum's variants can't be tuple variants",
            self.variant
        )))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            self.variant,
            fields,
            StateVisitor {
                inner: visitor,
                timestamp: self.timestamp,
            },
        )
    }
}

/// Presents stored state as the struct of a newtype variant.
struct StateDeserializer<'t, D> {
    inner: D,
    timestamp: &'t mut Option<DateTime<Utc>>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for StateDeserializer<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(StateVisitor {
            inner: visitor,
            timestamp: self.timestamp,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            StateVisitor {
                inner: visitor,
                timestamp: self.timestamp,
            },
        )
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(StateVisitor {
            inner: IgnoredAny,
            timestamp: self.timestamp,
        })?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Visits stored state for `inner`, taking the timestamp out.
struct StateVisitor<'t, V> {
    inner: V,
    timestamp: &'t mut Option<DateTime<Utc>>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StateVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event's stored state")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<V::Value, M::Error> {
        self.inner.visit_map(WithoutTimestamp {
            inner: map,
            timestamp: self.timestamp,
        })
    }

    /// Formats that write structs as sequences write the timestamp first.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V::Value, A::Error> {
        let timestamp = seq
            .next_element_seed(TimestampSeed)?
            .ok_or_else(|| de::Error::missing_field(TIMESTAMP))?;
        *self.timestamp = Some(timestamp);
        self.inner.visit_seq(seq)
    }
}

/// The key an event's stored state holds besides the variant's fields.
struct TimestampKey;

impl PickedKeys for TimestampKey {
    const KEYS: &'static [&'static str] = &[TIMESTAMP];
}

/// The entries of stored state, minus the timestamp, which it keeps.
struct WithoutTimestamp<'t, M> {
    inner: M,
    timestamp: &'t mut Option<DateTime<Utc>>,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for WithoutTimestamp<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        let mut seed = seed;
        loop {
            match self
                .inner
                .next_key_seed(KeySeed::<_, TimestampKey>::new(seed))?
            {
                None => return Ok(None),
                Some(Key::Other(key)) => return Ok(Some(key)),
                Some(Key::Picked(_, unused)) => {
                    *self.timestamp = Some(self.inner.next_value_seed(TimestampSeed)?);
                    seed = unused;
                }
            }
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}
