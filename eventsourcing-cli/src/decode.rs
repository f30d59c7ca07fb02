//! Decoding a stored state without the Rust types of its events: [`decode_state`], the one
//! place where stored bytes become JSON, for every command.

use eventsourcing::persistence::{CipherError, Mapper, PersistenceError};
use serde_json::{Map, Value};

/// What a stored state holds, once decoded.
///
/// One variant today. When aggregates' data keys can be destroyed (events "forgotten"), their
/// events will decode to a variant of their own here, so that `verify` reports them as
/// forgotten rather than faulty, and `history` shows them as such.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    /// The state, a JSON object, as the application stored it.
    Json(Map<String, Value>),
}

impl Decoded {
    /// The JSON object, if the state could be read.
    pub(crate) fn json(&self) -> Option<&Map<String, Value>> {
        match self {
            Decoded::Json(map) => Some(map),
        }
    }
}

/// At which step decoding a stored state failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
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
        Ok(Value::Object(map)) => Ok(Decoded::Json(map)),
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

/// The timestamp of a decoded event or snapshot (`"timestamp"`, as the reference writes it,
/// `{"_type_": "datetime_iso", "_data_": "..."}`, or as a plain string).
pub(crate) fn timestamp(state: &Map<String, Value>) -> Option<&str> {
    match state.get("timestamp")? {
        Value::String(text) => Some(text),
        Value::Object(object) => object.get("_data_")?.as_str(),
        _ => None,
    }
}

/// The state without its timestamp (shown apart), as compact JSON.
pub(crate) fn fields(state: &Map<String, Value>) -> String {
    let mut fields = state.clone();
    fields.remove("timestamp");
    Value::Object(fields).to_string()
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
