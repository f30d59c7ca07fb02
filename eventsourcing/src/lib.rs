#![forbid(unsafe_code)]
#![doc = include_str!("../../README.md")]

pub mod application;
pub mod domain;
pub mod interface;
pub mod memory;
pub mod persistence;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod registry;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod system;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use eventsourcing_derive::{aggregate, created, event};

pub use chrono;
pub use serde_json;
pub use uuid;

/// The names most programs need: the macros, the traits whose methods aggregates use, and the
/// types that appear in aggregate and event definitions.
pub mod prelude {
    pub use crate::application::{Application, ApplicationError};
    pub use crate::domain::{Aggregate, AggregateEvent, DomainEvent, Snapshot};
    pub use crate::{aggregate, created, event};
    pub use chrono::{DateTime, Utc};
    pub use serde::{Deserialize, Serialize};
    pub use uuid::Uuid;
}
