//! Serialisation of stored state: the [`Transcoder`] trait and [`JsonTranscoder`].

use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

use crate::domain::BoxError;

/// A serialisation error of a [`Transcoder`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TranscodingError(#[from] pub BoxError);

/// Turns values into bytes and back, through serde.
///
/// The reference library's transcoder needs a registered "transcoding" for every type that is
/// not a JSON primitive (UUIDs, decimals, datetimes, custom value objects); in Rust, serde
/// derives do that job, so any type that implements `Serialize` and `Deserialize` can be an
/// event field. The default is [`JsonTranscoder`]; implement this trait to store another serde
/// format. Upcasting always works on [`serde_json::Value`], whatever the format.
pub trait Transcoder: Send + Sync + 'static {
    /// Serialises `value`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, TranscodingError>;

    /// Deserialises `data` with `seed` (which chooses the type from the event's topic).
    fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        data: &'de [u8],
    ) -> Result<S::Value, TranscodingError>;

    /// Deserialises `data` as a `T`.
    fn decode<T: DeserializeOwned>(&self, data: &[u8]) -> Result<T, TranscodingError> {
        self.decode_seed(std::marker::PhantomData::<T>, data)
    }
}

/// JSON through serde_json, in the reference library's format: the default transcoder.
///
/// An event's state is stored as the reference's `JSONTranscoder` (with its default
/// transcodings) stores it, so that a store is shared with Python services: a JSON object of
/// `timestamp`, then `originator_topic` for the created event, then the event's fields in
/// argument order, then `class_version` if above 1; UUIDs, datetimes and decimals as
/// `{"_type_": ..., "_data_": ...}` (see [`transcoding`](crate::transcoding)):
///
/// ```
/// use eventsourcing::persistence::{JsonTranscoder, Transcoder};
/// use eventsourcing::prelude::*;
///
/// #[aggregate]
/// pub struct Dog {
///     name: String,
/// }
///
/// #[aggregate(module = "dogs")]
/// impl Dog {
///     #[created("Registered")]
///     pub fn register(name: String) -> Self {
///         Dog { name }
///     }
/// }
///
/// let mut dog = Dog::register("Fido".into());
/// let event = &dog.collect_events()[0];
/// let stored = eventsourcing::persistence::Mapper::default().from_domain_event(event).unwrap();
/// let text = String::from_utf8(stored.state.to_vec()).unwrap();
/// assert!(text.starts_with(r#"{"timestamp":{"_type_":"datetime_iso","_data_":""#));
/// assert!(text.ends_with(r#"+00:00"},"originator_topic":"dogs:Dog","name":"Fido"}"#));
///
/// let json = JsonTranscoder;
/// assert_eq!(json.encode(&vec![1, 2, 3]).unwrap(), b"[1,2,3]");
/// assert_eq!(json.decode::<Vec<i32>>(b"[1,2,3]").unwrap(), vec![1, 2, 3]);
/// ```
///
/// Reading accepts this format and [`CompactJsonTranscoder`]'s. A value of a transcoding the
/// Python side registered and this library does not know (`{"_type_": "point", ...}`) fails to
/// decode with an error that names it.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonTranscoder;

impl Transcoder for JsonTranscoder {
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, TranscodingError> {
        crate::transcoding::with_reference_format(|| CompactJsonTranscoder.encode(value))
    }

    fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        data: &'de [u8],
    ) -> Result<S::Value, TranscodingError> {
        CompactJsonTranscoder.decode_seed(seed, data)
    }
}

/// JSON through serde_json, without the reference's `{"_type_": ..., "_data_": ...}` objects:
/// UUIDs, datetimes and decimals as serde writes them (`"2021-10-08T10:00:00.123456Z"`), and no
/// `originator_topic` in created events. What this library stored before it shared stores with
/// Python; smaller, and what to choose when no Python service reads the store
/// ([`ApplicationBuilder::transcoder`](crate::application::ApplicationBuilder::transcoder)).
/// Reading accepts both formats. (Snapshots' states keep the reference's form of these values
/// whichever transcoder stores them: a snapshot's state is a JSON map made before it is stored.)
///
/// ```
/// use eventsourcing::persistence::{CompactJsonTranscoder, Transcoder};
/// use eventsourcing::prelude::*;
///
/// let bytes = CompactJsonTranscoder.encode(&vec![Uuid::nil()]).unwrap();
/// assert_eq!(bytes, br#"["00000000-0000-0000-0000-000000000000"]"#);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactJsonTranscoder;

impl Transcoder for CompactJsonTranscoder {
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, TranscodingError> {
        let mut out = Vec::with_capacity(128);
        serde_json::to_writer(&mut out, value).map_err(|e| TranscodingError(Box::new(e)))?;
        Ok(out)
    }

    fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        data: &'de [u8],
    ) -> Result<S::Value, TranscodingError> {
        // Checking the whole text is UTF-8 once is cheaper than serde_json checking each string
        // it reads from bytes; text that isn't UTF-8 goes the byte way, which says where.
        let decoded = match std::str::from_utf8(data) {
            Ok(text) => decode_json(seed, serde_json::Deserializer::from_str(text)),
            Err(_) => decode_json(seed, serde_json::Deserializer::from_slice(data)),
        };
        decoded.map_err(
            |error| match crate::transcoding::unknown_transcoding_in(data) {
                Some(name) => TranscodingError(
                    format!(
                        "the state holds a value of the transcoding {name:?}, which this library \
                     does not know ({error})"
                    )
                    .into(),
                ),
                None => TranscodingError(Box::new(error)),
            },
        )
    }
}

fn decode_json<'de, S, R>(
    seed: S,
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<S::Value, serde_json::Error>
where
    S: DeserializeSeed<'de>,
    R: serde_json::de::Read<'de>,
{
    let value = seed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}
