//! Decoding a stored state without the Rust types of its events: [`decode_state`], the one
//! place where stored bytes become JSON, for every command, and [`Decoder`], which opens an
//! application's states with its settings (and, with per-aggregate keys, under each
//! aggregate's data key) before decoding them.

use std::sync::Arc;

use eventsourcing::persistence::{
    CipherError, Keyring, Mapper, OpenedState, PersistenceError, StoredEvent,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Failure;

/// What a stored state holds, once decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    /// The state, a JSON object, as the application stored it, and its serialised bytes
    /// (decrypted and decompressed: what the hash chain hashes).
    Json {
        state: Map<String, Value>,
        plain: Vec<u8>,
    },
    /// The aggregate was forgotten (per-aggregate keys): its data key was destroyed, so the
    /// state can't be read. Not a fault: the store is as forgetting leaves it.
    Forgotten,
}

impl Decoded {
    /// The JSON object, if the state could be read.
    pub(crate) fn json(&self) -> Option<&Map<String, Value>> {
        match self {
            Decoded::Json { state, .. } => Some(state),
            Decoded::Forgotten => None,
        }
    }

    /// The serialised state (decrypted and decompressed), if the state could be read.
    pub(crate) fn plain(&self) -> Option<&[u8]> {
        match self {
            Decoded::Json { plain, .. } => Some(plain),
            Decoded::Forgotten => None,
        }
    }
}

/// At which step decoding a stored state failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Finding the aggregate's data key (per-aggregate keys): the key table has no row for it.
    NoKey,
    /// Decrypting the aggregate's data key with the application key (`CIPHER_KEY`).
    Key,
    /// Decrypting it (a wrong key, or altered bytes).
    Decrypt,
    /// Decompressing it.
    Decompress,
    /// Reading it as a JSON object.
    Json,
}

/// Why a stored state does not decode: the step, and a message that says what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeFault {
    pub(crate) step: Step,
    pub(crate) message: String,
}

impl std::fmt::Display for DecodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether `bytes` start like a zlib stream (what the reference's `ZlibCompressor` writes).
fn looks_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Decodes a stored event's or snapshot's state as `mapper` would: decrypts, decompresses,
/// and reads the JSON object, which is returned as it is (no upcasting, no Rust types).
///
/// Every command decodes stored state through this function, so what counts as decodable is
/// decided here once.
pub(crate) fn decode_state(mapper: &Mapper, state: &[u8]) -> Result<Decoded, DecodeFault> {
    let plain = mapper.plain_state(state).map_err(|error| match error {
        PersistenceError::Cipher(CipherError::Damaged) => DecodeFault {
            step: Step::Decrypt,
            message: "can't decrypt the state: authentication failed (the CIPHER_KEY is not the \
                      one it was encrypted with, or the bytes were altered)"
                .into(),
        },
        PersistenceError::Cipher(error) => DecodeFault {
            step: Step::Decrypt,
            message: format!(
                "can't decrypt the state: {error} (is the store encrypted? if not, unset \
                 CIPHER_KEY)"
            ),
        },
        PersistenceError::Decompression(error) => DecodeFault {
            step: Step::Decompress,
            message: format!(
                "can't decompress the state: {error} (is the store compressed? if not, unset \
                 COMPRESSOR_TOPIC)"
            ),
        },
        other => DecodeFault {
            step: Step::Decrypt,
            message: format!("can't open the state: {other}"),
        },
    })?;
    match serde_json::from_slice::<Value>(&plain) {
        Ok(Value::Object(map)) => Ok(Decoded::Json {
            state: map,
            plain: plain.into_owned(),
        }),
        Ok(other) => Err(DecodeFault {
            step: Step::Json,
            message: format!(
                "the state is JSON but not an object: {}",
                truncate(&other.to_string(), 60)
            ),
        }),
        Err(error) => {
            let hint = if !mapper.is_compressed() && looks_zlib(&plain) {
                " (it looks zlib-compressed: set COMPRESSOR_TOPIC=eventsourcing.compressor:\
                 ZlibCompressor)"
            } else if !mapper.is_encrypted() && std::str::from_utf8(&plain).is_err() {
                " (it is not text: is the store encrypted? set CIPHER_KEY)"
            } else {
                ""
            };
            Err(DecodeFault {
                step: Step::Json,
                message: format!("the state is not JSON: {error}{hint}"),
            })
        }
    }
}

/// What reading a stored state gave.
pub(crate) type State = Result<Decoded, DecodeFault>;

/// How an application's stored states are opened and decoded: its mapper (with the cipher
/// and compressor of its settings; with per-aggregate keys, the compressor only) and, with
/// per-aggregate keys, its keyring (the key table, and `CIPHER_KEY` to decrypt the data keys).
pub(crate) struct Decoder {
    mapper: Mapper,
    keyring: Option<Arc<Keyring>>,
    /// The key table, for messages.
    key_table: String,
}

impl Decoder {
    /// A decoder of states sealed by `mapper` only.
    pub(crate) fn plain(mapper: Mapper) -> Self {
        Decoder {
            mapper,
            keyring: None,
            key_table: String::new(),
        }
    }

    /// A decoder of states encrypted under per-aggregate keys (kept in `key_table`), then
    /// opened by `mapper` (which has no cipher).
    pub(crate) fn keyed(mapper: Mapper, keyring: Arc<Keyring>, key_table: &str) -> Self {
        Decoder {
            mapper,
            keyring: Some(keyring),
            key_table: key_table.to_string(),
        }
    }

    /// Decodes states as the store holds them (`(aggregate id, stored state)`, events' or
    /// snapshots'), each on its own: with per-aggregate keys, under its aggregate's data key
    /// (all the keys read at once). An error only if the key table can't be read.
    pub(crate) fn decode_stored(&self, states: &[(Uuid, &[u8])]) -> Result<Vec<State>, Failure> {
        let Some(keyring) = &self.keyring else {
            return Ok(states
                .iter()
                .map(|(_, state)| decode_state(&self.mapper, state))
                .collect());
        };
        let opened = keyring.open_states(states)?;
        Ok(opened
            .into_iter()
            .map(|opened| match opened {
                OpenedState::Plain(plain) => decode_state(&self.mapper, &plain),
                OpenedState::Forgotten => Ok(Decoded::Forgotten),
                OpenedState::NoKey => Err(DecodeFault {
                    step: Step::NoKey,
                    message: format!(
                        "the aggregate has no data key (no row in {}): its events were stored \
                         without per-aggregate keys, or its key was lost",
                        self.key_table
                    ),
                }),
                OpenedState::BadKey(_) => Err(DecodeFault {
                    step: Step::Key,
                    message: "can't decrypt the aggregate's data key with CIPHER_KEY: \
                              authentication failed (the CIPHER_KEY is not the key the data \
                              keys are stored under, or the key was altered)"
                        .into(),
                }),
                OpenedState::Damaged(error) => Err(DecodeFault {
                    step: Step::Decrypt,
                    message: match error {
                        CipherError::Damaged => "can't decrypt the state with the aggregate's \
                                                 data key: authentication failed (the bytes \
                                                 were altered)"
                            .into(),
                        other => {
                            format!("can't decrypt the state with the aggregate's data key: {other}")
                        }
                    },
                }),
                other => Err(DecodeFault {
                    step: Step::Key,
                    message: format!("can't open the state: {other:?}"),
                }),
            })
            .collect())
    }

    /// Decodes a state read through the application's own view of its events (a
    /// `KeyedRecorder` with per-aggregate keys, which has decrypted it already, and gives a
    /// forgotten aggregate's notifications an empty state).
    pub(crate) fn decode_opened(&self, stored: &StoredEvent) -> State {
        if self.keyring.is_some() && stored.is_forgotten() {
            return Ok(Decoded::Forgotten);
        }
        decode_state(&self.mapper, &stored.state)
    }
}

/// The timestamp of a decoded event or snapshot (`"timestamp"`, as the reference writes it,
/// `{"_type_": "datetime_iso", "_data_": "..."}`, or as a plain string).
pub(crate) fn timestamp(state: &Map<String, Value>) -> Option<&str> {
    match state.get("timestamp")? {
        Value::String(text) => Some(text),
        Value::Object(object) => object.get("_data_")?.as_str(),
        _ => None,
    }
}

/// The state without its timestamp (shown apart) and its hash-chain fields (which `verify`
/// checks), as compact JSON.
pub(crate) fn fields(state: &Map<String, Value>) -> String {
    let mut fields = state.clone();
    fields.remove("timestamp");
    fields.remove("__event_hash__");
    fields.remove("__previous_hash__");
    fields.remove(CAUSATION_ID);
    fields.remove(CORRELATION_ID);
    let mut shown = Value::Object(fields).to_string();
    let (causation, correlation) = metadata(state);
    match (causation, correlation) {
        (Some(causation), Some(correlation)) => shown.push_str(&format!(
            "  (caused by {causation}, correlation {correlation})"
        )),
        (Some(causation), None) => shown.push_str(&format!("  (caused by {causation})")),
        (None, Some(correlation)) => shown.push_str(&format!("  (correlation {correlation})")),
        (None, None) => {}
    }
    shown
}

/// The fields in which the library stores an event's causation and correlation ids.
const CAUSATION_ID: &str = "__causation_id__";
const CORRELATION_ID: &str = "__correlation_id__";

/// The event's causation id and correlation id, if it was stored with them.
pub(crate) fn metadata(state: &Map<String, Value>) -> (Option<&str>, Option<&str>) {
    (
        state.get(CAUSATION_ID).and_then(Value::as_str),
        state.get(CORRELATION_ID).and_then(Value::as_str),
    )
}

/// `text`, cut to at most `max` characters (with an ellipsis).
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventsourcing::persistence::{AesCipher, Cipher, Compressor, ZlibCompressor};

    #[test]
    fn plain_json_decodes() {
        let decoded = decode_state(&Mapper::default(), br#"{"timestamp":"t","a":1}"#).unwrap();
        assert_eq!(decoded.plain(), Some(&br#"{"timestamp":"t","a":1}"#[..]));
        let json = decoded.json().unwrap();
        assert_eq!(timestamp(json), Some("t"));
        assert_eq!(fields(json), r#"{"a":1}"#);
    }

    #[test]
    fn each_step_says_what_to_check() {
        let key = AesCipher::create_key(16).unwrap();
        let compressed = ZlibCompressor::default().compress(br#"{"a":1}"#).unwrap();
        let sealed = AesCipher::new(&key).unwrap().encrypt(&compressed).unwrap();

        let fault = decode_state(&Mapper::default(), &compressed).unwrap_err();
        assert_eq!(fault.step, Step::Json);
        assert!(fault.message.contains("COMPRESSOR_TOPIC"), "{fault}");

        let fault = decode_state(&Mapper::default(), &sealed).unwrap_err();
        assert!(fault.message.contains("CIPHER_KEY"), "{fault}");

        let other = AesCipher::new(&AesCipher::create_key(16).unwrap()).unwrap();
        let fault = decode_state(&Mapper::default().with_cipher(other), &sealed).unwrap_err();
        assert_eq!(fault.step, Step::Decrypt);

        let mapper = Mapper::default().with_compressor(ZlibCompressor::default());
        let fault = decode_state(&mapper, br#"{"a":1}"#).unwrap_err();
        assert_eq!(fault.step, Step::Decompress);

        let fault = decode_state(&Mapper::default(), b"[1]").unwrap_err();
        assert!(fault.message.contains("not an object"), "{fault}");
    }
}
