//! SQLite recorders (feature `sqlite`, on by default; SQLite is compiled in, so nothing needs
//! installing).
//!
//! The tables are the reference library's: `stored_events` (the application's events; the
//! implicit `rowid` is the notification id, so ids are gapless and in commit order),
//! `stored_snapshots` (snapshots), and `tracking` (process applications' positions), created
//! on first use. Originator ids are stored as 32-character hex text, as the reference stores
//! them.
//!
//! Concurrent saves to one recorder share transactions (group commit): a save that arrives
//! while another is being committed is written with the others that arrived meanwhile, in the
//! next transaction, with one commit and one wait for the disk. Each save is still all or
//! nothing (a `SAVEPOINT` each), a save that conflicts fails alone with its own
//! [`Conflict`](crate::persistence::PersistenceError::Conflict), notification ids stay gapless
//! in commit order, and a lone writer writes at once, as before. A shared transaction inserts
//! at most [`GROUP_COMMIT_MAX_EVENTS`] events. Inserts with tracking records (process
//! applications) are not combined.

mod combine;
mod data_keys;
mod datastore;
mod error;
mod factory;
mod inspect;
mod lease;
mod recorder;
mod view;

pub use combine::GROUP_COMMIT_MAX_EVENTS;
pub use data_keys::SqliteDataKeys;
pub use datastore::{SqliteDatastore, Synchronous, DATA_VERSION_INTERVAL, DEFAULT_LOCK_TIMEOUT};
pub use factory::{SqliteFactory, SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT};
pub use inspect::SqliteInspector;
pub use lease::SqliteLease;
pub use recorder::{SqliteAggregateRecorder, SqliteApplicationRecorder};
pub use rusqlite;
pub use view::{SqliteView, SqliteViewTransaction};
