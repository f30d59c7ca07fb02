//! SQLite recorders (feature `sqlite`, on by default; SQLite is compiled in, so nothing needs
//! installing).
//!
//! The tables are the reference library's: `stored_events` (the application's events; the
//! implicit `rowid` is the notification id, so ids are gapless and in commit order),
//! `stored_snapshots` (snapshots), and `tracking` (process applications' positions), created
//! on first use. Originator ids are stored as 32-character hex text, as the reference stores
//! them.

mod datastore;
mod error;
mod factory;
mod lease;
mod recorder;
mod view;

pub use datastore::{SqliteDatastore, Synchronous, DATA_VERSION_INTERVAL, DEFAULT_LOCK_TIMEOUT};
pub use factory::{SqliteFactory, SQLITE_DBNAME, SQLITE_LOCK_TIMEOUT};
pub use lease::SqliteLease;
pub use recorder::{SqliteAggregateRecorder, SqliteApplicationRecorder};
pub use rusqlite;
pub use view::{SqliteView, SqliteViewTransaction};
