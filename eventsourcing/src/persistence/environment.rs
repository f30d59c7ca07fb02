//! The configuration of an application, as every layer reads it: values looked up by name
//! with the application-name prefix rule ([`Environment`]), the error of a bad value
//! ([`ConfigError`]), and the mapper's settings (cipher and compressor).
//!
//! It lives in the persistence layer, below the backends and the application, because both
//! read it: the application for its own settings, each backend's
//! [`InfrastructureFactory`](super::InfrastructureFactory) for its database's.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use super::{AesCipher, Cipher, Compressor, Mapper, Transcoder, ZlibCompressor};

/// The cipher: `eventsourcing.cipher:AESCipher` (the default when `CIPHER_KEY` is set) or
/// `eventsourcing.cryptography:AESCipher` (the same AES-GCM layout).
pub const CIPHER_TOPIC: &str = "CIPHER_TOPIC";
/// The cipher key: base64 of 16, 24 or 32 bytes (see `AesCipher::create_key`).
pub const CIPHER_KEY: &str = "CIPHER_KEY";
/// Whether each aggregate's events are encrypted under a data key of its own, stored encrypted
/// under `CIPHER_KEY` (a true or false value; default false). See
/// [`Keyring`](super::Keyring).
pub const PER_AGGREGATE_KEYS: &str = "PER_AGGREGATE_KEYS";
/// Whether each aggregate's events are hash-chained, for a tamper-evident history (a true or
/// false value; default false; feature `hash-chain`). See the module `hash_chain`.
pub const HASH_CHAIN: &str = "HASH_CHAIN";
/// The compressor: `eventsourcing.compressor:ZlibCompressor` (or `zlib`).
pub const COMPRESSOR_TOPIC: &str = "COMPRESSOR_TOPIC";

/// The configuration of one application: values given in code, the process environment, and
/// defaults, looked up by name with the application-name prefix rule.
///
/// A key is looked up first in the values given in code, then in the process environment
/// (as it was when the application was built), then in the defaults; within each layer, the
/// name prefixed with the application's name in upper case (`WORLDS_SQLITE_DBNAME` for the
/// application `Worlds`) comes before the plain name. Values given in code therefore always win
/// over the process environment. (The reference library merges the layers first and then
/// applies the prefix rule, so there a prefixed variable in the process environment beats an
/// unprefixed value given in code; here code wins, which is what a test or a program that
/// configures itself expects.)
///
/// ```
/// use eventsourcing::persistence::Environment;
///
/// let env = Environment::new("Worlds")
///     .with_value("SQLITE_DBNAME", "worlds.db")
///     .with_value("WORLDS_SQLITE_LOCK_TIMEOUT", "10");
/// assert_eq!(env.get("SQLITE_DBNAME"), Some("worlds.db"));
/// assert_eq!(env.get("SQLITE_LOCK_TIMEOUT"), Some("10"));
/// assert_eq!(env.get_bool("IS_SNAPSHOTTING_ENABLED", false), Ok(false));
/// ```
#[derive(Clone, Default)]
pub struct Environment {
    name: String,
    prefix: String,
    explicit: BTreeMap<String, String>,
    process: BTreeMap<String, String>,
    defaults: BTreeMap<String, String>,
}

impl Environment {
    /// The configuration of the application `name`, without the process environment.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Environment {
            prefix: prefix_of(&name),
            name,
            ..Environment::default()
        }
    }

    /// The configuration of the application `name`, with the process environment.
    pub fn from_process(name: impl Into<String>) -> Self {
        let mut env = Self::new(name);
        env.process = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        env
    }

    /// Forgets the process environment: only values given in code and defaults count.
    pub fn clear_process(&mut self) {
        self.process.clear();
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets a value in code (the highest precedence).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.explicit.insert(key.into(), value.into());
    }

    /// Sets a value in code, builder style.
    pub fn with_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets a default (the lowest precedence: the process environment overrides it).
    pub fn set_default(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.defaults.insert(key.into(), value.into());
    }

    /// The same values, looked up with another application's name prefix (a follower reads its
    /// leader's cipher settings this way, as in the reference library).
    pub fn for_application(&self, name: &str) -> Environment {
        Environment {
            name: name.to_string(),
            prefix: prefix_of(name),
            ..self.clone()
        }
    }

    /// The value of `key`, if set to something other than an empty string.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lookup(key).map(|(_, value)| value)
    }

    /// The name of the variable the value of `key` comes from (`WORLDS_CIPHER_KEY` or
    /// `CIPHER_KEY`), for messages; `key` itself if it is not set.
    pub fn name_of(&self, key: &str) -> String {
        self.lookup(key)
            .map_or_else(|| key.to_string(), |(name, _)| name)
    }

    fn lookup(&self, key: &str) -> Option<(String, &str)> {
        let prefixed = format!("{}{key}", self.prefix);
        [&self.explicit, &self.process, &self.defaults]
            .into_iter()
            .find_map(|layer| {
                layer
                    .get(&prefixed)
                    .map(|v| (prefixed.clone(), v))
                    .or_else(|| layer.get(key).map(|v| (key.to_string(), v)))
            })
            .map(|(name, v)| (name, v.trim()))
            .filter(|(_, v)| !v.is_empty())
    }

    /// A mapper with the cipher and compressor this configuration asks for (`CIPHER_KEY`,
    /// `CIPHER_TOPIC`, `COMPRESSOR_TOPIC`). A follower in another process decodes a leader's
    /// notifications with the leader's settings, looked up with the leader's name as the
    /// reference does:
    ///
    /// ```
    /// use eventsourcing::persistence::Environment;
    /// use eventsourcing::persistence::{AesCipher, JsonTranscoder};
    ///
    /// let key = AesCipher::create_key(16).unwrap();
    /// let env = Environment::new("Counters").with_value("WORLDS_CIPHER_KEY", key);
    /// let leaders = env.for_application("Worlds").mapper(JsonTranscoder).unwrap();
    /// assert!(leaders.is_encrypted());
    /// assert!(!env.mapper(JsonTranscoder).unwrap().is_encrypted());
    /// ```
    pub fn mapper<T: Transcoder>(&self, transcoder: T) -> Result<Mapper<T>, ConfigError> {
        Ok(Mapper::new(transcoder)
            .with_shared_compressor(compressor(self)?)
            .with_shared_cipher(cipher(self)?))
    }

    /// The cipher `CIPHER_TOPIC` and `CIPHER_KEY` configure, if any.
    pub fn cipher(&self) -> Result<Option<Arc<dyn Cipher>>, ConfigError> {
        cipher(self)
    }

    /// The value of `key` as a boolean (the reference's `strtobool`), or `default` if unset.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => strtobool(value).ok_or_else(|| {
                ConfigError::new(
                    self.name_of(key),
                    format!("invalid truth value {value:?}: expected y, yes, t, true, on, 1, n, no, f, false, off or 0"),
                )
            }),
        }
    }

    /// The value of `key` parsed as a `T`, or `None` if unset.
    pub fn get_parsed<T: FromStr>(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| {
                ConfigError::new(
                    self.name_of(key),
                    format!("{value:?} is invalid: if set, {expected} is expected"),
                )
            }),
        }
    }
}

/// Shows the values given in code and the defaults — not the whole process environment — with
/// keys, passwords and secrets hidden.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |layer: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            layer
                .iter()
                .map(|(key, value)| {
                    let secret = ["KEY", "PASSWORD", "SECRET", "TOKEN"]
                        .iter()
                        .any(|word| key.to_ascii_uppercase().contains(word));
                    (
                        key.clone(),
                        if secret {
                            "<hidden>".to_string()
                        } else {
                            value.clone()
                        },
                    )
                })
                .collect()
        };
        f.debug_struct("Environment")
            .field("name", &self.name)
            .field("values", &shown(&self.explicit))
            .field("defaults", &shown(&self.defaults))
            .field("process_variables", &self.process.len())
            .finish()
    }
}

fn prefix_of(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("{}_", name.to_uppercase())
    }
}

/// The reference library's `strtobool`: case-insensitive `y, yes, t, true, on, 1` are true and
/// `n, no, f, false, off, 0` are false; anything else is `None`.
pub fn strtobool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A configuration value is missing or invalid. The message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error in {variable}: {message}")]
pub struct ConfigError {
    /// The environment variable the bad value came from (with the application-name prefix if
    /// it was given that way), or the one that is missing.
    pub variable: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// A configuration error of `variable`.
    pub fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

/// The cipher the configuration asks for (`CIPHER_TOPIC`, `CIPHER_KEY`).
fn cipher(env: &Environment) -> Result<Option<Arc<dyn Cipher>>, ConfigError> {
    let topic = env.get(CIPHER_TOPIC);
    let key = env.get(CIPHER_KEY);
    let key = match (topic, key) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::new(
                CIPHER_KEY,
                "'CIPHER_KEY' not set in env, although 'CIPHER_TOPIC' was set",
            ))
        }
        (_, Some(key)) => key,
    };
    match topic.unwrap_or("eventsourcing.cipher:AESCipher") {
        // The reference has two AES-GCM ciphers (PyCryptodome, `cryptography`), one layout.
        "eventsourcing.cipher:AESCipher"
        | "eventsourcing.cryptography:AESCipher"
        | "AESCipher"
        | "aes"
        | "aes-gcm" => {
            let cipher = AesCipher::new(key)
                .map_err(|e| ConfigError::new(env.name_of(CIPHER_KEY), e.to_string()))?;
            Ok(Some(Arc::new(cipher)))
        }
        other => Err(ConfigError::new(
            env.name_of(CIPHER_TOPIC),
            format!("unknown cipher {other:?}: expected eventsourcing.cipher:AESCipher"),
        )),
    }
}

/// The compressor the configuration asks for (`COMPRESSOR_TOPIC`).
fn compressor(env: &Environment) -> Result<Option<Arc<dyn Compressor>>, ConfigError> {
    match env.get(COMPRESSOR_TOPIC) {
        None => Ok(None),
        Some("eventsourcing.compressor:ZlibCompressor" | "ZlibCompressor" | "zlib") => {
            Ok(Some(Arc::new(ZlibCompressor::default())))
        }
        Some(other) => Err(ConfigError::new(
            env.name_of(COMPRESSOR_TOPIC),
            format!(
                "unknown compressor {other:?}: expected eventsourcing.compressor:ZlibCompressor"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_beats_process_beats_defaults_and_prefix_beats_plain_within_a_layer() {
        let mut env = Environment::new("Worlds");
        env.process
            .insert("WORLDS_A".into(), "process-prefixed".into());
        env.process.insert("B".into(), "process".into());
        env.set_default("B", "default");
        env.set_default("C", "default");
        env.set("A", "code");
        assert_eq!(env.get("A"), Some("code"));
        assert_eq!(env.get("B"), Some("process"));
        assert_eq!(env.get("C"), Some("default"));
        env.set("WORLDS_C", "code-prefixed");
        env.set("C", "code");
        assert_eq!(env.get("C"), Some("code-prefixed"));
        assert_eq!(env.get("D"), None);
    }

    #[test]
    fn errors_name_the_variable_the_value_came_from() {
        let env = Environment::new("Worlds")
            .with_value("WORLDS_SQLITE_LOCK_TIMEOUT", "soon")
            .with_value("IS_SNAPSHOTTING_ENABLED", "maybe");
        let error = env
            .get_parsed::<u64>("SQLITE_LOCK_TIMEOUT", "an integer")
            .unwrap_err();
        assert_eq!(error.variable, "WORLDS_SQLITE_LOCK_TIMEOUT");
        let error = env.get_bool("IS_SNAPSHOTTING_ENABLED", false).unwrap_err();
        assert_eq!(error.variable, "IS_SNAPSHOTTING_ENABLED");
        assert_eq!(env.name_of("CIPHER_KEY"), "CIPHER_KEY");
    }

    #[test]
    fn empty_values_are_unset() {
        let env = Environment::new("App").with_value("SQLITE_LOCK_TIMEOUT", " ");
        assert_eq!(env.get("SQLITE_LOCK_TIMEOUT"), None);
    }

    #[test]
    fn strtobool_accepts_the_reference_values() {
        for t in ["y", "YES", "t", "True", "on", "1"] {
            assert_eq!(strtobool(t), Some(true), "{t}");
        }
        for f in ["n", "No", "f", "FALSE", "off", "0"] {
            assert_eq!(strtobool(f), Some(false), "{f}");
        }
        assert_eq!(strtobool("maybe"), None);
        let env = Environment::new("App").with_value("IS_SNAPSHOTTING_ENABLED", "maybe");
        let error = env.get_bool("IS_SNAPSHOTTING_ENABLED", false).unwrap_err();
        assert_eq!(error.variable, "IS_SNAPSHOTTING_ENABLED");
    }
}
