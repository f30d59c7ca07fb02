//! Reading the keys of a stored state map (an event's, a snapshot's) where a few keys hold
//! metadata rather than the fields of the type being deserialised: those are recognised and
//! handed back, the others go on to the type's own key visitor, and no key is copied.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

/// A key of stored state: one of the picked keys (its index, and the seed it did not use), or
/// another key, read by the seed.
pub(super) enum Key<K, T> {
    Picked(usize, K),
    Other(T),
}

/// The keys to pick out, as a type, so that recognising them compiles to comparisons with
/// constants (every key of every stored event goes through it).
pub(super) trait PickedKeys {
    /// The keys.
    const KEYS: &'static [&'static str];
}

/// Reads a key: one of `P::KEYS` is recognised, any other goes to `seed`.
pub(super) struct KeySeed<K, P> {
    seed: K,
    marker: PhantomData<P>,
}

impl<K, P: PickedKeys> KeySeed<K, P> {
    pub(super) fn new(seed: K) -> Self {
        KeySeed {
            seed,
            marker: PhantomData,
        }
    }
}

impl<'de, K: DeserializeSeed<'de>, P: PickedKeys> DeserializeSeed<'de> for KeySeed<K, P> {
    type Value = Key<K, K::Value>;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor::<K, P> {
            seed: self.seed,
            marker: PhantomData,
        })
    }
}

struct KeyVisitor<'de, K, P> {
    seed: K,
    marker: PhantomData<(&'de (), P)>,
}

impl<'de, K: DeserializeSeed<'de>, P: PickedKeys> KeyVisitor<'de, K, P> {
    #[inline]
    fn picked(&self, key: &str) -> Option<usize> {
        P::KEYS.iter().position(|picked| *picked == key)
    }
}

impl<'de, K: DeserializeSeed<'de>, P: PickedKeys> Visitor<'de> for KeyVisitor<'de, K, P> {
    type Value = Key<K, K::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    #[inline]
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        match self.picked(key) {
            Some(index) => Ok(Key::Picked(index, self.seed)),
            None => self
                .seed
                .deserialize(key.into_deserializer())
                .map(Key::Other),
        }
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        match self.picked(key) {
            Some(index) => Ok(Key::Picked(index, self.seed)),
            None => self
                .seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Key::Other),
        }
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        self.visit_str(&key)
    }
}
