//! The application layer: applications, repositories, notification logs, snapshotting and
//! configuration.
//!
//! An [`Application`] owns an event store, a repository, an optional snapshot store and a
//! notification log, built from its configuration: environment variables with the reference
//! library's names (see [`config`]), or an [`ApplicationBuilder`]. With nothing configured,
//! events are kept in memory.

mod aggregates;
pub(crate) mod app;
#[cfg(feature = "tokio")]
mod async_app;
mod builder;
pub mod config;
mod error;
mod notification_log;
mod repository;
mod snapshotting;
mod subscription;
mod trace;
mod upstream;

pub use aggregates::Aggregates;
pub use app::Application;
#[cfg(feature = "tokio")]
pub use async_app::{AsyncApplication, AsyncNotificationLog, AsyncRepository};
pub use builder::ApplicationBuilder;
pub use config::ConfigError;
pub use config::Environment;
pub use error::ApplicationError;
pub use notification_log::{LocalNotificationLog, NotificationLog, Section, DEFAULT_SECTION_SIZE};
pub(crate) use repository::found_or_else;
pub use repository::Repository;
pub use snapshotting::AfterSave;
#[cfg(feature = "tokio")]
pub use subscription::AsyncApplicationSubscription;
pub use subscription::{ApplicationSubscription, Tracked};
pub use upstream::UpstreamEvent;
