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

/// JSON through serde_json: the default transcoder.
///
/// An event's state is stored as a JSON object: `timestamp` (RFC 3339, UTC, nanoseconds), the
/// event's fields in argument order, then `class_version` if above 1.
///
/// ```
/// use eventsourcing::persistence::{JsonTranscoder, Transcoder};
///
/// let json = JsonTranscoder;
/// let bytes = json.encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// assert_eq!(json.decode::<Vec<i32>>(&bytes).unwrap(), vec![1, 2, 3]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonTranscoder;

impl Transcoder for JsonTranscoder {
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
        match std::str::from_utf8(data) {
            Ok(text) => decode_json(seed, serde_json::Deserializer::from_str(text)),
            Err(_) => decode_json(seed, serde_json::Deserializer::from_slice(data)),
        }
    }
}

fn decode_json<'de, S, R>(
    seed: S,
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<S::Value, TranscodingError>
where
    S: DeserializeSeed<'de>,
    R: serde_json::de::Read<'de>,
{
    let value = seed
        .deserialize(&mut deserializer)
        .map_err(|e| TranscodingError(Box::new(e)))?;
    deserializer
        .end()
        .map_err(|e| TranscodingError(Box::new(e)))?;
    Ok(value)
}
