//! Snapshots: an aggregate's state at a version, so that it can be rebuilt without replaying
//! every event.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::aggregate::{Aggregate, AggregateMeta};
use super::error::DomainError;
use super::picked_keys::{Key, KeySeed, PickedKeys};
use super::sealed::Sealed;
use super::timestamp::TimestampSeed;

/// The key of the creation time in a snapshot's state (the reference library's attribute name).
const CREATED_ON: &str = "_created_on";
/// The key of the modification time in a snapshot's state.
const MODIFIED_ON: &str = "_modified_on";
/// The key of the aggregate's class version in a snapshot's state, present when above 1.
const CLASS_VERSION: &str = "class_version";
/// The keys of a snapshot's state that are not the aggregate's fields: an aggregate can't have
/// a field of one of these names (`#[aggregate]` refuses it at compile time).
pub(crate) const METADATA_KEYS: &[&str] = &[CREATED_ON, MODIFIED_ON, CLASS_VERSION];

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
    ///
    /// Fails if the aggregate's state has an entry named like snapshot metadata
    /// (`_created_on`, `_modified_on`, `class_version`): such a snapshot could not be restored.
    /// (`#[aggregate]` refuses such field names at compile time; this is for aggregates
    /// written by hand.)
    pub fn take<A: Aggregate>(aggregate: &A) -> Result<Snapshot, DomainError> {
        let mut state = aggregate.snapshot_state()?;
        if let Some(key) = METADATA_KEYS.iter().find(|key| state.contains_key(**key)) {
            return Err(invalid::<A>(format!(
                "the state has an entry {key:?}, which is the name of snapshot metadata: \
                 rename that field (for example with #[serde(rename = \"...\")])"
            )));
        }
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
            timestamp: super::timestamp::now(),
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
        if version > A::CLASS_VERSION {
            // Written by a newer version of the program: restoring it could drop what this
            // version doesn't know about, so the caller replays from the events instead.
            return Err(invalid::<A>(format!(
                "the snapshot is of version {version}, newer than this {} (version {})",
                A::NAME,
                A::CLASS_VERSION
            )));
        }
        while version < A::CLASS_VERSION {
            let upcast = version
                .checked_sub(1)
                .and_then(|index| A::UPCASTERS.get(index as usize))
                .ok_or(DomainError::MissingUpcaster {
                    type_name: A::NAME,
                    from_version: version,
                })?;
            upcast(&mut state);
            version += 1;
        }
        let created_on = take_timestamp::<A>(&mut state, CREATED_ON)?;
        let modified_on = take_timestamp::<A>(&mut state, MODIFIED_ON)?;
        let mut aggregate =
            A::deserialize_state(Value::Object(state)).map_err(|e| invalid::<A>(e.to_string()))?;
        let sealed = Sealed::new();
        *aggregate.meta_mut(&sealed) = AggregateMeta::restored(
            self.originator_id,
            self.originator_version,
            created_on,
            modified_on,
        );
        Ok(aggregate)
    }

    /// The fields of `aggregate` as a snapshot's state, through its `Serialize` impl: what an
    /// aggregate written by hand returns from
    /// [`Aggregate::snapshot_state`](super::Aggregate::snapshot_state) (with its metadata field
    /// `#[serde(skip)]`).
    pub fn state_of<A: Aggregate + serde::Serialize>(
        aggregate: &A,
    ) -> Result<Map<String, Value>, DomainError> {
        // In the reference's form, so that the map keeps which values are UUIDs, datetimes or
        // decimals, as the reference library's snapshots do.
        match super::transcoding::with_reference_format(|| serde_json::to_value(aggregate)) {
            Ok(Value::Object(state)) => Ok(state),
            Ok(other) => Err(invalid::<A>(format!("serialised to {other}, not a map"))),
            Err(e) => Err(invalid::<A>(e.to_string())),
        }
    }
}

fn invalid<A: Aggregate>(message: String) -> DomainError {
    DomainError::SnapshotState {
        type_name: A::NAME,
        message,
    }
}

fn timestamp_value<A: Aggregate>(timestamp: DateTime<Utc>) -> Result<Value, DomainError> {
    super::transcoding::with_reference_format(|| {
        serde_json::to_value(super::timestamp::StoredTimestamp(&timestamp))
    })
    .map_err(|e| invalid::<A>(e.to_string()))
}

fn take_timestamp<A: Aggregate>(
    state: &mut Map<String, Value>,
    key: &str,
) -> Result<DateTime<Utc>, DomainError> {
    let value = state
        .remove(key)
        .ok_or_else(|| invalid::<A>(format!("{key} is missing")))?;
    serde::de::DeserializeSeed::deserialize(TimestampSeed, value)
        .map_err(|e| invalid::<A>(format!("{key}: {e}")))
}

/// Restores an aggregate straight from a stored snapshot's serialised form — the map
/// `{"timestamp": ..., "topic": ..., "state": {...}}` — without building the state as a map
/// first: the state's fields go straight into the aggregate's `Deserialize`, and `_created_on`,
/// `_modified_on` and `class_version` are taken out on the way.
///
/// Only for aggregates at class version 1 (no upcasting to do); state written by a newer
/// version is refused, so that the caller replays from the events instead.
pub(crate) struct DirectRestore<A> {
    pub(crate) originator_id: Uuid,
    pub(crate) originator_version: u64,
    pub(crate) marker: std::marker::PhantomData<A>,
}

/// What the `state` entry holds besides the aggregate's fields.
#[derive(Default)]
struct StateMeta {
    created_on: Option<DateTime<Utc>>,
    modified_on: Option<DateTime<Utc>>,
    class_version: Option<u64>,
}

impl<'de, A: Aggregate> serde::de::DeserializeSeed<'de> for DirectRestore<A> {
    type Value = A;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<A, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, A: Aggregate> serde::de::Visitor<'de> for DirectRestore<A> {
    type Value = A;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a snapshot")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<A, M::Error> {
        use serde::de::Error;
        let mut topic: Option<std::borrow::Cow<'de, str>> = None;
        let mut restored: Option<(A, StateMeta)> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "topic" => topic = Some(map.next_value()?),
                "state" => {
                    restored = Some(map.next_value_seed(StateSeed::<A>(std::marker::PhantomData))?)
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let topic = topic.ok_or_else(|| M::Error::missing_field("topic"))?;
        if topic != A::TOPIC {
            return Err(M::Error::custom(DomainError::SnapshotTopic {
                type_name: A::NAME,
                expected: A::TOPIC,
                topic: topic.into_owned(),
            }));
        }
        let (mut aggregate, meta) = restored.ok_or_else(|| M::Error::missing_field("state"))?;
        if meta.class_version.unwrap_or(1) > u64::from(A::CLASS_VERSION) {
            return Err(M::Error::custom(invalid::<A>(format!(
                "the snapshot is of version {}, newer than this {} (version {})",
                meta.class_version.unwrap_or(1),
                A::NAME,
                A::CLASS_VERSION
            ))));
        }
        let created_on = meta
            .created_on
            .ok_or_else(|| M::Error::missing_field(CREATED_ON))?;
        let modified_on = meta
            .modified_on
            .ok_or_else(|| M::Error::missing_field(MODIFIED_ON))?;
        let sealed = Sealed::new();
        *aggregate.meta_mut(&sealed) = AggregateMeta::restored(
            self.originator_id,
            self.originator_version,
            created_on,
            modified_on,
        );
        Ok(aggregate)
    }
}

/// The `state` entry: the aggregate's fields, and its metadata keys taken out.
struct StateSeed<A>(std::marker::PhantomData<A>);

impl<'de, A: Aggregate> serde::de::DeserializeSeed<'de> for StateSeed<A> {
    type Value = (A, StateMeta);

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, A: Aggregate> serde::de::Visitor<'de> for StateSeed<A> {
    type Value = (A, StateMeta);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an aggregate's state")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        let mut meta = StateMeta::default();
        let filtered = WithoutMeta {
            inner: map,
            meta: &mut meta,
        };
        let aggregate =
            A::deserialize_state(serde::de::value::MapAccessDeserializer::new(filtered))?;
        Ok((aggregate, meta))
    }
}

/// The keys of a snapshot's state that hold its metadata.
struct MetadataKeys;

impl PickedKeys for MetadataKeys {
    const KEYS: &'static [&'static str] = METADATA_KEYS;
}

/// The state's entries minus `_created_on`, `_modified_on` and `class_version`, which it keeps.
struct WithoutMeta<'m, M> {
    inner: M,
    meta: &'m mut StateMeta,
}

impl<'de, M: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for WithoutMeta<'_, M> {
    type Error = M::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        let mut seed = seed;
        loop {
            match self
                .inner
                .next_key_seed(KeySeed::<_, MetadataKeys>::new(seed))?
            {
                None => return Ok(None),
                Some(Key::Other(key)) => return Ok(Some(key)),
                Some(Key::Picked(index, unused)) => {
                    match METADATA_KEYS[index] {
                        CREATED_ON => {
                            self.meta.created_on = Some(self.inner.next_value_seed(TimestampSeed)?);
                        }
                        MODIFIED_ON => {
                            self.meta.modified_on =
                                Some(self.inner.next_value_seed(TimestampSeed)?);
                        }
                        _ => self.meta.class_version = Some(self.inner.next_value()?),
                    }
                    seed = unused;
                }
            }
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, M::Error> {
        self.inner.next_value_seed(seed)
    }
}
