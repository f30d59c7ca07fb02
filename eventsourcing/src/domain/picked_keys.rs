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

/// Reads a key: one of `picked` is recognised, any other goes to `seed`.
pub(super) struct KeySeed<K> {
    seed: K,
    picked: &'static [&'static str],
}

impl<K> KeySeed<K> {
    pub(super) fn new(seed: K, picked: &'static [&'static str]) -> Self {
        KeySeed { seed, picked }
    }
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<K> {
    type Value = Key<K, K::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor {
            seed: self.seed,
            picked: self.picked,
            marker: PhantomData,
        })
    }
}

struct KeyVisitor<'de, K> {
    seed: K,
    picked: &'static [&'static str],
    marker: PhantomData<&'de ()>,
}

impl<'de, K: DeserializeSeed<'de>> KeyVisitor<'de, K> {
    fn picked(&self, key: &str) -> Option<usize> {
        self.picked.iter().position(|picked| *picked == key)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for KeyVisitor<'de, K> {
    type Value = Key<K, K::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        match self.picked(key) {
            Some(index) => Ok(Key::Picked(index, self.seed)),
            None => self
                .seed
                .deserialize(key.into_deserializer())
                .map(Key::Other),
        }
    }

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
