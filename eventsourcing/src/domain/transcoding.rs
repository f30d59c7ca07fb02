//! How UUIDs, datetimes and decimals are written in stored state: as the reference library's
//! JSON transcoder writes them, so that a store is shared with Python services.
//!
//! The reference's `JSONTranscoder` writes a value of a type JSON lacks as an object of two
//! entries, the name of its "transcoding" and its data:
//!
//! | Rust type | stored as |
//! |---|---|
//! | [`Uuid`] | `{"_type_":"uuid_hex","_data_":"0c5b4cdd2e4d4e4aa9a1b5e6a1b0b2c3"}` |
//! | [`DateTime<Utc>`] | `{"_type_":"datetime_iso","_data_":"2026-12-01T23:25:25.180395+00:00"}` |
//! | `rust_decimal::Decimal` (feature `decimal`) | `{"_type_":"decimal_str","_data_":"12.50"}` |
//!
//! and `Option`s and `Vec`s of them element by element. Serde's impls of these types write plain
//! strings, so the fields that hold them go through [`serialize`] and [`deserialize`] instead:
//! `#[aggregate]` does that by itself for the fields of its events and of the aggregate struct
//! whose type is one of the above (by name: `Uuid`, `DateTime<Utc>`, `Decimal`, inside `Option`
//! or `Vec`). A value object of your own that holds such a field says so with serde's `with`:
//!
//! ```
//! use eventsourcing::prelude::*;
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! pub struct Booking {
//!     #[serde(with = "eventsourcing::transcoding")]
//!     room: Uuid,
//!     #[serde(with = "eventsourcing::transcoding")]
//!     until: Option<DateTime<Utc>>,
//! }
//!
//! let booking = Booking { room: Uuid::nil(), until: None };
//! // Outside the store, the serde impls write what serde's own would:
//! assert_eq!(
//!     serde_json::to_string(&booking).unwrap(),
//!     r#"{"room":"00000000-0000-0000-0000-000000000000","until":null}"#
//! );
//! // In the store's format:
//! let stored = eventsourcing::transcoding::with_reference_format(|| serde_json::to_string(&booking));
//! assert_eq!(
//!     stored.unwrap(),
//!     r#"{"room":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000000"},"until":null}"#
//! );
//! // Either form reads back:
//! let read: Booking = serde_json::from_str(r#"{"room":{"_type_":"uuid_hex","_data_":"00000000000000000000000000000000"},"until":null}"#).unwrap();
//! assert_eq!(read, booking);
//! ```
//!
//! Which form is written depends on where: [`JsonTranscoder`](crate::persistence::JsonTranscoder)
//! writes stored state in the reference's format (it runs the serialisation inside
//! [`with_reference_format`]), and everywhere else — a JSON response of your service, a log
//! line — these fields serialise as serde's own impls would, so the types stay pleasant to use
//! outside the store. Reading accepts both forms everywhere.
//!
//! Datetimes are written as Python's `datetime.isoformat()` writes them: no fraction when the
//! microseconds are 0, else six digits, and `+00:00`. Timestamps the library makes are whole
//! microseconds, so a round trip through Python is exact; a datetime of yours with nanoseconds
//! is written with nine digits, which Python 3.11 reads (dropping the last three).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::timestamp;

/// The key of a transcoded value's transcoding name.
pub(crate) const TYPE_KEY: &str = "_type_";
/// The key of a transcoded value's data.
pub(crate) const DATA_KEY: &str = "_data_";

/// The names of the transcodings this library reads and writes.
pub const NAMES: &[&str] = &[Uuid::NAME, <DateTime<Utc>>::NAME, DECIMAL_NAME];

/// The reference's name for decimals (known even without the `decimal` feature, so that an
/// error can say the feature is missing).
const DECIMAL_NAME: &str = "decimal_str";

thread_local! {
    static REFERENCE_FORMAT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the fields of this module's types serialising in the reference's format
/// (`{"_type_": ..., "_data_": ...}`), as stored state is. Nested calls are fine; the setting
/// is restored when `f` returns or unwinds.
pub fn with_reference_format<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFERENCE_FORMAT.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(REFERENCE_FORMAT.with(|flag| flag.replace(true)));
    f()
}

/// Whether this thread is inside [`with_reference_format`].
pub fn is_reference_format() -> bool {
    REFERENCE_FORMAT.with(Cell::get)
}

/// A type that the reference's JSON transcoder writes as `{"_type_": name, "_data_": ...}`, or
/// an `Option` or `Vec` of one. Fields of these types serialise through [`serialize`] and
/// [`deserialize`].
pub trait Transcoded: Sized {
    /// Serialises `self`: in the reference's form inside [`with_reference_format`], as serde's
    /// own impl would elsewhere.
    fn serialize_transcoded<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Deserialises either form.
    fn deserialize_transcoded<'de, D: Deserializer<'de>>(deserializer: D)
        -> Result<Self, D::Error>;
}

/// Serialises a field of a [`Transcoded`] type (for `#[serde(with = "eventsourcing::transcoding")]`).
pub fn serialize<T: Transcoded, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.serialize_transcoded(serializer)
}

/// Deserialises a field of a [`Transcoded`] type, from either form (for
/// `#[serde(with = "eventsourcing::transcoding")]`).
pub fn deserialize<'de, T: Transcoded, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize_transcoded(deserializer)
}

/// A value with a transcoding of its own: its name, and its data as a string both ways.
trait Leaf: Sized {
    /// The transcoding's name (`"uuid_hex"`).
    const NAME: &'static str;
    /// What a plain string of it is, for error messages.
    const EXPECTING: &'static str;

    /// Serialises the reference's `_data_` string with `serializer` (formatted on the stack:
    /// one is written for every stored event).
    fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Serialises as serde's own impl does.
    fn serialize_plain<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Parses either the `_data_` string or serde's plain form.
    fn parse(text: &str) -> Option<Self>;
}

impl Leaf for Uuid {
    const NAME: &'static str = "uuid_hex";
    const EXPECTING: &'static str = "a UUID";

    fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.simple().encode_lower(&mut Uuid::encode_buffer()))
    }

    fn serialize_plain<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }

    fn parse(text: &str) -> Option<Self> {
        Uuid::try_parse(text).ok()
    }
}

impl Leaf for DateTime<Utc> {
    const NAME: &'static str = "datetime_iso";
    const EXPECTING: &'static str = "an ISO 8601 datetime";

    fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize_iso(self, serializer)
    }

    fn serialize_plain<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        timestamp::serialize_rfc3339(self, serializer)
    }

    fn parse(text: &str) -> Option<Self> {
        timestamp::parse(text)
    }
}

#[cfg(feature = "decimal")]
impl Leaf for rust_decimal::Decimal {
    const NAME: &'static str = DECIMAL_NAME;
    const EXPECTING: &'static str = "a decimal number";

    fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }

    fn serialize_plain<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }

    fn parse(text: &str) -> Option<Self> {
        // Exactly, or not at all: a Python decimal of more digits than a `Decimal` holds (28)
        // is an error rather than another number. Python's `str(Decimal)` switches to exponent
        // notation for small and large numbers.
        let plain = match text.split_once(['e', 'E']) {
            None => std::borrow::Cow::Borrowed(text),
            Some((mantissa, exponent)) => {
                std::borrow::Cow::Owned(without_exponent(mantissa, exponent)?)
            }
        };
        rust_decimal::Decimal::from_str_exact(&plain).ok()
    }
}

/// `{mantissa}E{exponent}` written without the exponent (`1.5E+3` → `1500`, `1E-7` →
/// `0.0000001`), so that it is parsed exactly or refused; `None` if it is not a number or its
/// exponent is beyond any decimal's.
#[cfg(feature = "decimal")]
fn without_exponent(mantissa: &str, exponent: &str) -> Option<String> {
    let exponent: i32 = exponent.parse().ok().filter(|e: &i32| e.abs() <= 64)?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let point = i32::try_from(whole.len()).ok()? + exponent;
    let len = i32::try_from(digits.len()).ok()?;
    Some(if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(usize::try_from(-point).ok()?)
        )
    } else if point >= len {
        format!(
            "{sign}{digits}{}",
            "0".repeat(usize::try_from(point - len).ok()?)
        )
    } else {
        let (left, right) = digits.split_at(usize::try_from(point).ok()?);
        format!("{sign}{left}.{right}")
    })
}

/// Writes a leaf in the reference's form, or plainly.
fn serialize_leaf<T: Leaf, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    if !is_reference_format() {
        return value.serialize_plain(serializer);
    }
    /// The `_data_` entry, serialised straight into the wrapper.
    struct DataOf<'a, T>(&'a T);
    impl<T: Leaf> Serialize for DataOf<'_, T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.serialize_data(serializer)
        }
    }
    let mut wrapper = serializer.serialize_struct(T::NAME, 2)?;
    wrapper.serialize_field(TYPE_KEY, T::NAME)?;
    wrapper.serialize_field(DATA_KEY, &DataOf(value))?;
    wrapper.end()
}

/// Reads a leaf from its plain string or from `{"_type_": ..., "_data_": ...}`.
struct LeafVisitor<T>(PhantomData<T>);

impl<'de, T: Leaf> Visitor<'de> for LeafVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (as a string, or as {{\"_type_\": \"{}\", \"_data_\": ...}})",
            T::EXPECTING,
            T::NAME
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        T::parse(text).ok_or_else(|| E::custom(format!("invalid {}: {text:?}", T::NAME)))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<T, E> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.visit_str(text),
            Err(_) => Err(E::invalid_type(de::Unexpected::Bytes(bytes), &self)),
        }
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<T, M::Error> {
        let mut named = false;
        let mut data: Option<Data<'de>> = None;
        while let Some(key) = map.next_key::<WrapperKey>()? {
            match key {
                WrapperKey::Type if !named => match map.next_value()? {
                    Data::Text(found) if found == T::NAME => named = true,
                    Data::Text(found) => {
                        return Err(de::Error::custom(unexpected_transcoding(&found, T::NAME)))
                    }
                    Data::Other => {
                        return Err(de::Error::custom(format!(
                            "invalid {}: its _type_ is not a string",
                            T::NAME
                        )))
                    }
                },
                WrapperKey::Data if data.is_none() => data = Some(map.next_value()?),
                WrapperKey::Type => return Err(de::Error::duplicate_field(TYPE_KEY)),
                WrapperKey::Data => return Err(de::Error::duplicate_field(DATA_KEY)),
                WrapperKey::Other(key) => {
                    return Err(de::Error::custom(format!(
                        "expected {} as {{\"_type_\": \"{}\", \"_data_\": ...}}, found a map with \
                         the key {key:?}",
                        T::EXPECTING,
                        T::NAME
                    )))
                }
            }
        }
        if !named {
            return Err(de::Error::missing_field(TYPE_KEY));
        }
        match data.ok_or_else(|| de::Error::missing_field(DATA_KEY))? {
            Data::Text(text) => self.visit_str(&text),
            Data::Other => Err(de::Error::custom(format!(
                "invalid {}: its _data_ is not a string",
                T::NAME
            ))),
        }
    }
}

/// The message for a value of transcoding `found` where `expected` was.
fn unexpected_transcoding(found: &str, expected: &str) -> String {
    if found == DECIMAL_NAME && cfg!(not(feature = "decimal")) {
        return format!(
            "a value of the transcoding {found:?}: decimals need the `decimal` feature and a \
             field of type rust_decimal::Decimal"
        );
    }
    if NAMES.contains(&found) {
        format!("a value of the transcoding {found:?} where {expected:?} was expected")
    } else {
        format!(
            "a value of the transcoding {found:?}, which this library does not know (it knows \
             {NAMES:?}); a custom transcoding of the Python side needs a field type that reads \
             its data"
        )
    }
}

/// A `_type_` or `_data_` as read: a string (borrowed from the input when it has no escapes),
/// or anything else (read and dropped).
enum Data<'de> {
    Text(Cow<'de, str>),
    Other,
}

impl<'de> Deserialize<'de> for Data<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transcoded value's data")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Data<'de>, E> {
                Ok(Data::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Data<'de>, E> {
                Ok(Data::Text(Cow::Owned(text.to_string())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Data<'de>, E> {
                Ok(Data::Text(Cow::Owned(text)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Data<'de>, E> {
                Ok(Data::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data<'de>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Data::Other)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Data<'de>, M::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Data::Other)
            }
        }
        deserializer.deserialize_any(DataVisitor)
    }
}

/// A key of `{"_type_": ..., "_data_": ...}`.
enum WrapperKey {
    Type,
    Data,
    Other(String),
}

impl<'de> Deserialize<'de> for WrapperKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = WrapperKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<WrapperKey, E> {
                Ok(match key {
                    TYPE_KEY => WrapperKey::Type,
                    DATA_KEY => WrapperKey::Data,
                    other => WrapperKey::Other(other.to_string()),
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

fn deserialize_leaf<'de, T: Leaf, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_any(LeafVisitor(PhantomData))
}

macro_rules! leaf_transcoded {
    ($($ty:ty),*) => {$(
        impl Transcoded for $ty {
            #[inline]
            fn serialize_transcoded<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serialize_leaf(self, serializer)
            }

            #[inline]
            fn deserialize_transcoded<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                deserialize_leaf(deserializer)
            }
        }
    )*};
}

leaf_transcoded!(Uuid, DateTime<Utc>);
#[cfg(feature = "decimal")]
leaf_transcoded!(rust_decimal::Decimal);

/// A borrowed [`Transcoded`] value, serialising through [`Transcoded::serialize_transcoded`].
pub(crate) struct Ser<'a, T>(pub(crate) &'a T);

impl<T: Transcoded> Serialize for Ser<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_transcoded(serializer)
    }
}

/// A [`Transcoded`] value to deserialise, as a seed.
struct De<T>(PhantomData<T>);

impl<'de, T: Transcoded> DeserializeSeed<'de> for De<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize_transcoded(deserializer)
    }
}

impl<T: Transcoded> Transcoded for Option<T> {
    fn serialize_transcoded<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(value) => serializer.serialize_some(&Ser(value)),
            None => serializer.serialize_none(),
        }
    }

    fn deserialize_transcoded<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        struct OptionVisitor<T>(PhantomData<T>);
        impl<'de, T: Transcoded> Visitor<'de> for OptionVisitor<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an optional value")
            }
            fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Option<T>, D::Error> {
                T::deserialize_transcoded(deserializer).map(Some)
            }
        }
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }
}

impl<T: Transcoded> Transcoded for Vec<T> {
    fn serialize_transcoded<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Ser))
    }

    fn deserialize_transcoded<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        struct SeqVisitor<T>(PhantomData<T>);
        impl<'de, T: Transcoded> Visitor<'de> for SeqVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                // The hint comes from the input: bounded, so that a forged length can't
                // allocate without bound.
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(value) = seq.next_element_seed(De(PhantomData))? {
                    values.push(value);
                }
                Ok(values)
            }
        }
        deserializer.deserialize_seq(SeqVisitor(PhantomData))
    }
}

/// The first `"_type_"` in JSON `text` whose name is not one this library reads, if any: what
/// a decode error names when the Python side stored a value of a custom transcoding.
pub(crate) fn unknown_transcoding_in(text: &[u8]) -> Option<String> {
    let needle = b"\"_type_\"";
    let mut rest = text;
    while let Some(at) = find(rest, needle) {
        rest = &rest[at + needle.len()..];
        let after_colon = skip_ws(rest).strip_prefix(b":").map(skip_ws)?;
        let Some(quoted) = after_colon.strip_prefix(b"\"") else {
            continue;
        };
        let end = quoted.iter().position(|&b| b == b'"' || b == b'\\')?;
        let name = String::from_utf8_lossy(&quoted[..end]).into_owned();
        if !NAMES.contains(&name.as_str()) {
            return Some(name);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn skip_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fields {
        #[serde(with = "super")]
        id: Uuid,
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(with = "super", default)]
        maybe: Option<Uuid>,
        #[serde(with = "super")]
        many: Vec<DateTime<Utc>>,
    }

    fn sample() -> Fields {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 23, 25, 25).unwrap()
            + chrono::TimeDelta::microseconds(180_395);
        Fields {
            id: Uuid::from_u128(0x0c5b4cdd_2e4d_4e4a_a9a1_b5e6a1b0b2c3),
            at,
            maybe: None,
            many: vec![Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()],
        }
    }

    #[test]
    fn writes_the_reference_form_in_the_store_and_serdes_elsewhere() {
        let stored = with_reference_format(|| serde_json::to_string(&sample())).unwrap();
        assert_eq!(
            stored,
            r#"{"id":{"_type_":"uuid_hex","_data_":"0c5b4cdd2e4d4e4aa9a1b5e6a1b0b2c3"},"at":{"_type_":"datetime_iso","_data_":"2026-12-01T23:25:25.180395+00:00"},"maybe":null,"many":[{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05+00:00"}]}"#
        );
        assert!(!is_reference_format());
        let plain = serde_json::to_string(&sample()).unwrap();
        assert!(
            plain.contains(r#""id":"0c5b4cdd-2e4d-4e4a-a9a1-b5e6a1b0b2c3""#),
            "{plain}"
        );
        for text in [stored, plain] {
            assert_eq!(serde_json::from_str::<Fields>(&text).unwrap(), sample());
        }
    }

    #[cfg(feature = "decimal")]
    #[test]
    fn decimals_are_read_exactly_or_refused() {
        use rust_decimal::Decimal;
        let read = |text: &str| <Decimal as Leaf>::parse(text).map(|d| d.to_string());
        assert_eq!(read("12.50").as_deref(), Some("12.50"));
        assert_eq!(read("1E+3").as_deref(), Some("1000"));
        assert_eq!(read("1.5E+3").as_deref(), Some("1500"));
        assert_eq!(read("1E-7").as_deref(), Some("0.0000001"));
        assert_eq!(read("-2.50E-2").as_deref(), Some("-0.0250"));
        assert_eq!(read("0.1000000000000000000000000000001"), None);
        assert_eq!(read("1E-40"), None);
        assert_eq!(read("NaN"), None);
        assert_eq!(read("Infinity"), None);
        assert_eq!(read("1E+999999999"), None);
    }

    #[test]
    fn a_wrong_or_unknown_transcoding_is_named() {
        let text =
            r#"{"id":{"_type_":"point","_data_":[1,2]},"at":"2026-01-01T00:00:00Z","many":[]}"#;
        let error = serde_json::from_str::<Fields>(text)
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"point\""), "{error}");
        assert_eq!(
            unknown_transcoding_in(text.as_bytes()).as_deref(),
            Some("point")
        );
        let text = r#"{"id":{"_type_":"datetime_iso","_data_":"x"},"at":"2026-01-01T00:00:00Z","many":[]}"#;
        let error = serde_json::from_str::<Fields>(text)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"datetime_iso\" where \"uuid_hex\""),
            "{error}"
        );
        assert_eq!(unknown_transcoding_in(text.as_bytes()), None);
    }
}
