//! Event metadata (causation and correlation ids) in stored state: written as the first fields
//! of the serialised JSON object, read back without parsing the rest.
//!
//! ```text
//! {"__causation_id__":"<uuid>","__correlation_id__":"<uuid>",...the event's own fields}
//! ```
//!
//! Each field is there only if set. With a hash chain, its fields come before these (and the
//! event hash covers them). Readers that don't know them ignore them: the event types'
//! deserializers skip unknown fields, and the Python library's events take them as extra
//! attributes, which its aggregates' `__init__` never see (the reference filters keyword
//! arguments by the method's parameters).

use uuid::Uuid;

use super::error::{ErrorKind, PersistenceError};
use crate::domain::EventMetadata;

const CAUSATION: &[u8] = b"\"__causation_id__\":\"";
const CORRELATION: &[u8] = b"\"__correlation_id__\":\"";
/// How a hash-chained state begins, up to the event hash (see the module `hash_chain`).
pub(crate) const CHAIN_EVENT_HASH: &[u8] = b"{\"__event_hash__\":\"";
/// What comes between the event hash and the previous hash.
pub(crate) const CHAIN_PREVIOUS_HASH: &[u8] = b"\",\"__previous_hash__\":\"";
const UUID_LEN: usize = 36;

/// The hash chain's fields at the start of a serialised state.
#[cfg_attr(not(feature = "hash-chain"), allow(dead_code))] // the hashes: `hash_chain`'s
pub(crate) struct ChainFields<'a> {
    /// The event hash, as stored (not checked to be hex).
    pub(crate) event_hash: &'a [u8],
    /// The previous hash, as stored (empty for an aggregate's first event).
    pub(crate) previous_hash: &'a [u8],
    /// What follows the fields: `,` and the rest of the object, or `}`.
    pub(crate) rest: &'a [u8],
}

/// The hash chain's fields at the start of `state`, if it begins with them.
pub(crate) fn chain_fields(state: &[u8]) -> Option<ChainFields<'_>> {
    let after = state.strip_prefix(CHAIN_EVENT_HASH)?;
    let end = after.iter().position(|&b| b == b'"')?;
    let (event_hash, after) = (
        &after[..end],
        after[end..].strip_prefix(CHAIN_PREVIOUS_HASH)?,
    );
    let end = after.iter().position(|&b| b == b'"')?;
    Some(ChainFields {
        event_hash,
        previous_hash: &after[..end],
        rest: &after[end + 1..],
    })
}

/// `body` (a serialised JSON object) with `metadata`'s fields first.
pub(crate) fn splice(body: Vec<u8>, metadata: &EventMetadata) -> Result<Vec<u8>, PersistenceError> {
    if metadata.is_empty() {
        return Ok(body);
    }
    if body.first() != Some(&b'{') {
        return Err(PersistenceError::database(
            ErrorKind::Programming,
            "causation and correlation ids need a transcoder that writes JSON objects",
        ));
    }
    let mut out = Vec::with_capacity(body.len() + 100);
    out.push(b'{');
    let fields = [
        (CAUSATION, metadata.causation_id),
        (CORRELATION, metadata.correlation_id),
    ];
    let mut first = true;
    for (name, id) in fields {
        let Some(id) = id else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(name);
        out.extend_from_slice(
            id.hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'"');
    }
    if body.get(1) != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(&body[1..]);
    Ok(out)
}

/// The metadata at the start of a serialised state (after a hash chain's fields), if any.
pub(crate) fn parse(plain: &[u8]) -> EventMetadata {
    let mut metadata = EventMetadata::default();
    // The fields follow the object's `{`, or the chain's fields and their comma.
    let rest = match chain_fields(plain) {
        Some(chain) => chain.rest.strip_prefix(b","),
        None => plain.strip_prefix(b"{"),
    };
    let Some(mut rest) = rest else {
        return metadata;
    };
    if let Some((id, after)) = field(rest, CAUSATION) {
        metadata.causation_id = Some(id);
        rest = after;
    }
    if let Some((id, _)) = field(rest, CORRELATION) {
        metadata.correlation_id = Some(id);
    }
    metadata
}

/// The id of the field `name` at the start of `rest`, and what follows it (after its comma).
fn field<'a>(rest: &'a [u8], name: &[u8]) -> Option<(Uuid, &'a [u8])> {
    let after = rest.strip_prefix(name)?;
    let id = Uuid::try_parse_ascii(after.get(..UUID_LEN)?).ok()?;
    let after = after.get(UUID_LEN..)?.strip_prefix(b"\"")?;
    Some((id, after.strip_prefix(b",").unwrap_or(after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spliced_metadata_is_json_and_parses_back() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for metadata in [
            EventMetadata {
                causation_id: Some(a),
                correlation_id: Some(b),
            },
            EventMetadata::correlated(b),
            EventMetadata {
                causation_id: Some(a),
                correlation_id: None,
            },
        ] {
            for body in [&b"{\"x\":1}"[..], b"{}"] {
                let spliced = splice(body.to_vec(), &metadata).unwrap();
                let json: serde_json::Value = serde_json::from_slice(&spliced).unwrap();
                assert_eq!(json.get("x").is_some(), body.len() > 2);
                assert_eq!(parse(&spliced), metadata);
            }
        }
        assert_eq!(parse(b"{\"x\":1}"), EventMetadata::default());
        assert_eq!(
            splice(b"{}".to_vec(), &EventMetadata::default()).unwrap(),
            b"{}"
        );
    }
}
