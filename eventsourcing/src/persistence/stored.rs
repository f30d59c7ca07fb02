//! The stored forms of events, notifications and tracking positions.

use std::borrow::Cow;
use std::ops::Deref;

use uuid::Uuid;

/// A domain event as a recorder stores it: who it belongs to, where in that sequence, what type
/// it is, and its state as bytes (serialised, then optionally compressed, then optionally
/// encrypted, by the [`Mapper`](super::Mapper)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredEvent {
    /// The id of the aggregate the event belongs to.
    pub originator_id: Uuid,
    /// The event's position in the aggregate's sequence.
    pub originator_version: u64,
    /// The topic of the event's type. Borrowed when the event was just mapped (topics of
    /// generated event types are static strings), owned when it was read from a database.
    pub topic: Cow<'static, str>,
    /// The event's state, as bytes.
    pub state: Vec<u8>,
}

impl StoredEvent {
    /// Whether this is an event of a forgotten aggregate, as a notification log presents it
    /// when per-aggregate keys are on: its id, version and topic, and an empty state (see
    /// [`KeyedRecorder`](super::KeyedRecorder)). No mapper writes an empty state (encrypted,
    /// compressed or JSON state has at least two bytes), and the mapper of an application with
    /// per-aggregate keys reads one as
    /// [`PersistenceError::Forgotten`](super::PersistenceError::Forgotten)
    /// ([`Mapper::is_forgotten`](super::Mapper::is_forgotten)).
    pub fn is_forgotten(&self) -> bool {
        self.state.is_empty()
    }
}

/// A stored event with its position in the application's notification log.
///
/// Notification ids increase in the order events were committed. A notification dereferences
/// to its [`StoredEvent`] (the reference library's `Notification` subclasses `StoredEvent`), so
/// `notification.topic` and `mapper.to_domain_event(&notification)` work directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// The notification id: the event's position in the application's log (from 1).
    pub id: u64,
    /// The stored event.
    pub stored: StoredEvent,
}

impl Deref for Notification {
    type Target = StoredEvent;

    fn deref(&self) -> &StoredEvent {
        &self.stored
    }
}

impl AsRef<StoredEvent> for Notification {
    fn as_ref(&self) -> &StoredEvent {
        &self.stored
    }
}

/// A record that a follower has processed an upstream application's notification: written in
/// the same transaction as whatever processing it produced, so that each notification is
/// processed exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tracking {
    /// The name of the upstream application.
    pub application_name: String,
    /// The id of the upstream notification that was processed.
    pub notification_id: u64,
}

impl Tracking {
    /// A tracking record of `notification_id` from the application `application_name`.
    pub fn new(application_name: impl Into<String>, notification_id: u64) -> Self {
        Tracking {
            application_name: application_name.into(),
            notification_id,
        }
    }
}

/// The row that marks a tracking table of the reference's 9.5 shape (`('__migration__', 1)`).
pub(crate) const MIGRATION_ROW: &str = "__migration__";

/// How a tracking table keeps an application's position: the reference library changed it in
/// 9.5, and both shapes are found in stores. A table this library creates has the 9.5 shape,
/// as the reference's newest release creates it (and would otherwise rename and migrate ours);
/// a table of either shape that exists is used as it is, never migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrackingShape {
    /// One row per upstream application, updated in place (primary key `application_name`;
    /// the reference's 9.5 shape, with a `__migration__` row).
    SingleRow,
    /// One row per processed notification (primary key `(application_name,
    /// notification_id)`; the reference's 9.1 shape).
    MultiRow,
}

impl TrackingShape {
    /// The shape of the tracking table `table`, whose primary key has `columns` columns.
    pub(crate) fn of_key_columns(
        table: &str,
        columns: i64,
    ) -> Result<TrackingShape, super::PersistenceError> {
        match columns {
            1 => Ok(TrackingShape::SingleRow),
            2 => Ok(TrackingShape::MultiRow),
            other => Err(super::PersistenceError::database(
                super::ErrorKind::Programming,
                format!(
                    "{table} is not a tracking table: its primary key has {other} columns \
                     (expected application_name, or application_name and notification_id)"
                ),
            )),
        }
    }
}
