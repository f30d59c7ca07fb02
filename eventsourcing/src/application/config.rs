//! Configuration by environment variables, with the reference library's names and semantics.
//!
//! [`Environment`] and [`ConfigError`] live in the persistence layer, since backends read their
//! settings from the same configuration (see
//! [`InfrastructureFactory`](crate::persistence::InfrastructureFactory)); they are re-exported
//! here with the names of the variables an application reads.

pub use crate::persistence::{
    strtobool, ConfigError, Environment, CIPHER_KEY, CIPHER_TOPIC, COMPRESSOR_TOPIC, HASH_CHAIN,
    PER_AGGREGATE_KEYS,
};
pub use crate::registry::{INFRASTRUCTURE_FACTORY, PERSISTENCE_MODULE};

/// The SQLite database: a file path, `:memory:`, or a `file:` URI. Required for SQLite.
pub const SQLITE_DBNAME: &str = "SQLITE_DBNAME";
/// Seconds a writer waits for SQLite's write lock (an integer; default 5).
pub const SQLITE_LOCK_TIMEOUT: &str = "SQLITE_LOCK_TIMEOUT";
/// Whether snapshots are stored (`y`/`yes`/`t`/`true`/`on`/`1` or `n`/`no`/`f`/`false`/`off`/`0`).
pub const IS_SNAPSHOTTING_ENABLED: &str = "IS_SNAPSHOTTING_ENABLED";
/// Whether tables are created on first use (default yes).
pub const CREATE_TABLE: &str = "CREATE_TABLE";
