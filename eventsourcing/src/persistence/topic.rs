//! Topics read from a database, interned: a handful of distinct topics are read again and again,
//! so each is allocated once and shared as a `&'static str` instead of once per stored event.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{OnceLock, RwLock};

/// At most this many distinct topics are interned per process; beyond it (a database with
/// an unbounded number of topics), topics are allocated per event as usual, so the memory kept
/// stays bounded.
const MAX_INTERNED: usize = 4096;

/// Topics longer than this are not interned (no topic of a generated event type is nearly as
/// long), so what stays in memory is bounded in size as well as number.
const MAX_INTERNED_LEN: usize = 256;

/// FNV-1a: topics are short, few and ours; SipHash cost more than the rest of a lookup.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Pool = HashMap<&'static [u8], &'static str, BuildHasherDefault<Fnv>>;

fn interned() -> &'static RwLock<Pool> {
    static TOPICS: OnceLock<RwLock<Pool>> = OnceLock::new();
    TOPICS.get_or_init(Default::default)
}

/// The topic in `bytes`, borrowed from the intern pool when possible. `None` if the bytes are
/// not UTF-8.
pub(crate) fn topic_from_bytes(bytes: &[u8]) -> Option<Cow<'static, str>> {
    let pool = interned();
    if let Some(topic) = pool.read().unwrap_or_else(|p| p.into_inner()).get(bytes) {
        return Some(Cow::Borrowed(topic));
    }
    let topic = std::str::from_utf8(bytes).ok()?;
    let mut pool = pool.write().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = pool.get(bytes) {
        return Some(Cow::Borrowed(existing));
    }
    if pool.len() >= MAX_INTERNED || bytes.len() > MAX_INTERNED_LEN {
        return Some(Cow::Owned(topic.to_string()));
    }
    let leaked: &'static str = Box::leak(topic.to_string().into_boxed_str());
    pool.insert(leaked.as_bytes(), leaked);
    Some(Cow::Borrowed(leaked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_refuses_invalid_utf8() {
        let a = topic_from_bytes(b"dogs:Dog.Registered").unwrap();
        let b = topic_from_bytes(b"dogs:Dog.Registered").unwrap();
        assert!(matches!((&a, &b), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
        assert_eq!(a, "dogs:Dog.Registered");
        assert!(topic_from_bytes(&[0xff, 0xfe]).is_none());
    }
}
