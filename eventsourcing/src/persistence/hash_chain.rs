//! Tamper-evident history (feature `hash-chain`): each aggregate's events hash-chained, as the
//! reference's older releases chained them (`__previous_hash__`, `__event_hash__`).
//!
//! With the application setting on ([`HASH_CHAIN`](super::HASH_CHAIN)), the mapper writes two
//! fields first in each event's serialised state, before compressing and encrypting it:
//!
//! ```text
//! {"__event_hash__":"<32 hex>","__previous_hash__":"<32 hex, or empty for version 1>",...}
//! ```
//!
//! The event hash is SHA-256 over the event's originator id (16 bytes), version (8 bytes, big
//! endian), topic, the previous hash and the rest of the state as serialised (the object
//! without the two fields), cut to its first 128 bits: to forge an event with a given hash
//! takes about 2^128 tries, and the two fields add 104 bytes to each event (with the whole
//! 256 bits, 168: on small events the larger rows cost more in writes than the hashing). The previous hash is the event hash of the aggregate's event
//! before it, which the application reads from the store when it saves new events of an
//! aggregate it did not create in the same save.
//!
//! [`check_chain`] then finds, in one aggregate's events: an event whose content, id, version
//! or topic was changed after it was written ([`ChainFault::Altered`]), and an event whose
//! predecessor is not the event it was chained to, because events before it were deleted,
//! reordered or inserted ([`ChainFault::Broken`]). Without a cipher, anyone who knows this
//! scheme can recompute a whole chain: it detects accidents, partial restores and edits that
//! did not rewrite every later event; with a cipher (AES-GCM), events can't be forged or
//! altered without the key at all, and the chain adds the detection of deleted, reordered and
//! replayed events, which per-event encryption alone does not give. Deleting an aggregate's
//! last events leaves a valid shorter chain: compare versions with the notification log for
//! that (the command-line tool's `verify` does).
//!
//! Readers that do not know the chain (the Python library, this library with the setting off)
//! read such events as usual: the two fields are ignored.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{ErrorKind, PersistenceError};
use super::metadata::{chain_fields, CHAIN_EVENT_HASH, CHAIN_PREVIOUS_HASH};

/// The hex digits of a hash: 128 bits.
const HASH_HEX: usize = 32;

/// An event's place in its aggregate's chain, as read from its serialised state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The hash the event was written with.
    pub event_hash: String,
    /// The hash of the event before it (empty for an aggregate's first event).
    pub previous_hash: String,
    /// Whether the stored hash is the one its content gives.
    pub intact: bool,
}

/// Something [`check_chain`] found wrong with one event of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainFault {
    /// The event's state has no chain fields (it was written without the setting, or by
    /// another library, or they were removed).
    Unchained {
        /// The event's version.
        version: u64,
    },
    /// The event's content, id, version or topic is not what it was written with.
    Altered {
        /// The event's version.
        version: u64,
    },
    /// The event's predecessor is not the event it was chained to: events before it were
    /// deleted, reordered or inserted.
    Broken {
        /// The event's version.
        version: u64,
    },
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainFault::Unchained { version } => {
                write!(f, "version {version} is not hash-chained")
            }
            ChainFault::Altered { version } => write!(
                f,
                "version {version} was altered: its hash is not the one its content gives"
            ),
            ChainFault::Broken { version } => write!(
                f,
                "the chain is broken before version {version}: the event before it is not the \
                 one it was chained to (events deleted, reordered or inserted)"
            ),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

/// The hash of an event: its id, version, topic, previous hash and serialised state (the JSON
/// object without the chain fields).
fn event_hash(
    originator_id: Uuid,
    version: u64,
    topic: &str,
    previous: &str,
    body: &[u8],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(originator_id.as_bytes());
    hasher.update(version.to_be_bytes());
    hasher.update(topic.as_bytes());
    hasher.update([0]);
    hasher.update(previous.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex(&hasher.finalize()[..HASH_HEX / 2])
}

/// `body` (a serialised JSON object) with the chain fields first; returns it and the event
/// hash.
pub(crate) fn chain(
    originator_id: Uuid,
    version: u64,
    topic: &str,
    previous: &str,
    body: Vec<u8>,
) -> Result<(Vec<u8>, String), PersistenceError> {
    if body.first() != Some(&b'{') {
        return Err(PersistenceError::database(
            ErrorKind::Programming,
            "hash chains need a transcoder that writes JSON objects",
        ));
    }
    let hash = event_hash(originator_id, version, topic, previous, &body);
    let mut out = Vec::with_capacity(body.len() + 2 * HASH_HEX + 48);
    out.extend_from_slice(CHAIN_EVENT_HASH);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(CHAIN_PREVIOUS_HASH);
    out.extend_from_slice(previous.as_bytes());
    out.push(b'"');
    if body.get(1) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(&body[1..]);
    Ok((out, hash))
}

fn is_hash(bytes: &[u8]) -> bool {
    bytes.len() == HASH_HEX && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The chain link of an event, from its serialised state (decrypted and decompressed), or
/// `None` if the state has no chain fields.
pub fn link(originator_id: Uuid, version: u64, topic: &str, state: &[u8]) -> Option<ChainLink> {
    let fields = chain_fields(state)?;
    let (stored_hash, previous, rest) = (fields.event_hash, fields.previous_hash, fields.rest);
    if !is_hash(stored_hash) || !(previous.is_empty() || is_hash(previous)) {
        return None;
    }
    // The body as it was hashed: `{` and what follows the fields (after their comma).
    let mut body = Vec::with_capacity(rest.len() + 1);
    body.push(b'{');
    match rest.first() {
        Some(b',') => body.extend_from_slice(&rest[1..]),
        Some(b'}') => body.extend_from_slice(rest),
        _ => return None,
    }
    let previous = std::str::from_utf8(previous).ok()?;
    let stored_hash = std::str::from_utf8(stored_hash).ok()?;
    let intact = event_hash(originator_id, version, topic, previous, &body) == stored_hash;
    Some(ChainLink {
        event_hash: stored_hash.to_string(),
        previous_hash: previous.to_string(),
        intact,
    })
}

/// The faults of one aggregate's chain, given its events in version order as `(version,
/// link)`: every event chained, unaltered, and chained to the event before it (the first, of
/// version 1, to nothing).
pub fn check_chain(links: &[(u64, Option<ChainLink>)]) -> Vec<ChainFault> {
    let mut faults = Vec::new();
    let mut previous: Option<&str> = None;
    for (i, (version, link)) in links.iter().enumerate() {
        let version = *version;
        let Some(link) = link else {
            faults.push(ChainFault::Unchained { version });
            previous = None;
            continue;
        };
        if !link.intact {
            faults.push(ChainFault::Altered { version });
        }
        let expected = match (i, previous) {
            (0, _) if version == 1 => Some(""),
            (0, _) => None,
            (_, expected) => expected,
        };
        if expected != Some(link.previous_hash.as_str()) {
            faults.push(ChainFault::Broken { version });
        }
        previous = Some(&link.event_hash);
    }
    faults
}

/// The hash an aggregate's next event is chained to: that of its event `stored_state` (of
/// `version`, decrypted and decompressed), which must be chained and intact.
pub(crate) fn head(
    originator_id: Uuid,
    version: u64,
    topic: &str,
    stored_state: &[u8],
) -> Result<String, PersistenceError> {
    match link(originator_id, version, topic, stored_state) {
        Some(link) if link.intact => Ok(link.event_hash),
        Some(_) => Err(PersistenceError::database(
            ErrorKind::Data,
            format!(
                "can't chain to version {version} of aggregate {originator_id}: it was altered"
            ),
        )),
        None => Err(PersistenceError::database(
            ErrorKind::Data,
            format!(
                "can't chain to version {version} of aggregate {originator_id}: it is not \
                 hash-chained (it was saved without the hash chain setting)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_state_is_json_with_the_fields_first_and_checks() {
        let id = Uuid::new_v4();
        let (first, h1) = chain(id, 1, "t", "", b"{\"a\":1}".to_vec()).unwrap();
        let text = String::from_utf8(first.clone()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], 1);
        assert_eq!(value["__event_hash__"], h1.as_str());
        let (second, _) = chain(id, 2, "t", &h1, b"{}".to_vec()).unwrap();
        let _: serde_json::Value = serde_json::from_slice(&second).unwrap();
        let links = [
            (1, link(id, 1, "t", &first)),
            (2, link(id, 2, "t", &second)),
        ];
        assert!(check_chain(&links).is_empty());
        // A changed version, a changed byte, a deleted first event.
        assert_eq!(
            check_chain(&[
                (1, link(id, 1, "t", &first)),
                (3, link(id, 3, "t", &second))
            ]),
            [ChainFault::Altered { version: 3 }]
        );
        let altered = String::from_utf8(first).unwrap().replace("1}", "2}");
        assert_eq!(
            check_chain(&[(1, link(id, 1, "t", altered.as_bytes()))]),
            [ChainFault::Altered { version: 1 }]
        );
        assert_eq!(
            check_chain(&[(2, link(id, 2, "t", &second))]),
            [ChainFault::Broken { version: 2 }]
        );
    }
}
