//! The notification log: an application's events in the order they were recorded, read in
//! sections, for projections and downstream applications.

use std::sync::Arc;

use super::error::ApplicationError;
use crate::persistence::{ApplicationRecorder, Notification};

/// The number of notifications in a section unless configured otherwise (the reference's).
pub const DEFAULT_SECTION_SIZE: usize = 10;

/// A section of a notification log: what was asked for by a section id "first,last", as it
/// actually is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// "first,last": the ids of the first and last notifications in the section, or `None` if
    /// the section is empty.
    pub id: Option<String>,
    /// The notifications.
    pub items: Vec<Notification>,
    /// The id of the next section, set only when this section is full (there may be more).
    pub next_id: Option<String>,
}

/// A notification log: sections addressed "first,last", or a selection from a position.
///
/// [`LocalNotificationLog`] reads an application's recorder; the interface layer serves a log
/// as JSON and reads it back, so that a follower can read a leader in another process.
pub trait NotificationLog: Send + Sync {
    /// The section `section_id` ("first,last", such as "1,10"). The section's own id says what
    /// it actually holds: fewer notifications at the end of the log, and possibly ids beyond
    /// "last" where the log has gaps.
    fn section(&self, section_id: &str) -> Result<Section, ApplicationError>;

    /// At most `limit` notifications with ids from `start`.
    fn select(&self, start: u64, limit: usize) -> Result<Vec<Notification>, ApplicationError>;

    /// At most `limit` notifications with ids from `start` whose topic is one of `topics` (all
    /// of them if `topics` is empty): the reference's `select(start, limit, topics=...)`.
    /// Topics no stored event has match nothing.
    ///
    /// By default, reads pages of [`select`](Self::select) and keeps the matching ones; the
    /// logs of this crate filter in the database (or, over HTTP, on the server).
    fn select_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, ApplicationError> {
        if topics.is_empty() {
            return self.select(start, limit);
        }
        crate::persistence::filter_pages(start, limit, topics, |start| self.select(start, limit))
    }
}

/// The notification log of an application in this process.
///
/// ```
/// use eventsourcing::application::LocalNotificationLog;
/// use eventsourcing::persistence::{AggregateRecorder, StoredEvent};
/// use eventsourcing::memory::InMemoryRecorder;
/// use std::sync::Arc;
///
/// let recorder = Arc::new(InMemoryRecorder::new());
/// let id = uuid::Uuid::new_v4();
/// let events: Vec<StoredEvent> = (1..=4)
///     .map(|v| StoredEvent { originator_id: id, originator_version: v, topic: "t".into(), state: vec![] })
///     .collect();
/// recorder.insert_events(&events).unwrap();
///
/// let log = LocalNotificationLog::new(recorder, 10);
/// let section = log.section("1,10").unwrap();
/// assert_eq!(section.id.as_deref(), Some("1,4"));
/// assert_eq!(section.items.len(), 4);
/// assert_eq!(section.next_id, None);
/// ```
#[derive(Clone)]
pub struct LocalNotificationLog {
    recorder: Arc<dyn ApplicationRecorder>,
    section_size: usize,
}

impl std::fmt::Debug for LocalNotificationLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNotificationLog")
            .field("section_size", &self.section_size)
            .finish_non_exhaustive()
    }
}

impl LocalNotificationLog {
    /// The log of `recorder`, in sections of `section_size` notifications.
    pub fn new(recorder: Arc<dyn ApplicationRecorder>, section_size: usize) -> Self {
        LocalNotificationLog {
            recorder,
            section_size,
        }
    }

    /// The number of notifications in a full section.
    pub fn section_size(&self) -> usize {
        self.section_size
    }

    /// The recorder the log reads.
    pub fn recorder(&self) -> &Arc<dyn ApplicationRecorder> {
        &self.recorder
    }
}

/// Parses "first,last".
fn parse_section_id(section_id: &str) -> Result<(i64, i64), ApplicationError> {
    let invalid = || ApplicationError::InvalidSectionId(section_id.to_string());
    let (first, last) = section_id.split_once(',').ok_or_else(invalid)?;
    let first = first.trim().parse::<i64>().map_err(|_| invalid())?;
    let last = last.trim().parse::<i64>().map_err(|_| invalid())?;
    Ok((first, last))
}

/// The first id and the number of notifications the section `section_id` asks for, in a log
/// whose sections hold `section_size`.
pub(crate) fn section_request(
    section_id: &str,
    section_size: usize,
) -> Result<(u64, usize), ApplicationError> {
    let (first, last) = parse_section_id(section_id)?;
    let start = first.max(1);
    // Saturating: the ids come from outside (a URL, say), and must not overflow.
    let requested = last.saturating_sub(start).saturating_add(1).max(0);
    let limit = usize::try_from(requested)
        .unwrap_or(usize::MAX)
        .min(section_size);
    Ok((start as u64, limit))
}

/// The section of `items`, read with `limit`: its actual id, and the next section's id when it
/// is full.
pub(crate) fn section_of(items: Vec<Notification>, limit: usize) -> Section {
    let (id, next_id) = match (items.first(), items.last()) {
        (Some(first), Some(last)) => {
            let next_id = (items.len() == limit).then(|| {
                format!(
                    "{},{}",
                    last.id.saturating_add(1),
                    last.id.saturating_add(limit as u64)
                )
            });
            (Some(format!("{},{}", first.id, last.id)), next_id)
        }
        _ => (None, None),
    };
    Section { id, items, next_id }
}

/// Refuses a `limit` above the section size ([`ApplicationError::LimitTooLarge`]).
pub(crate) fn check_limit(limit: usize, section_size: usize) -> Result<(), ApplicationError> {
    if limit > section_size {
        return Err(ApplicationError::LimitTooLarge {
            limit,
            section_size,
        });
    }
    Ok(())
}

impl LocalNotificationLog {
    /// The section `section_id` ("first,last"): see [`NotificationLog::section`]. (An inherent
    /// method too, so that `app.log().section("1,10")` works without importing the trait.)
    pub fn section(&self, section_id: &str) -> Result<Section, ApplicationError> {
        let (start, limit) = section_request(section_id, self.section_size)?;
        Ok(section_of(self.select(start, limit)?, limit))
    }

    /// At most `limit` notifications with ids from `start`: see [`NotificationLog::select`].
    /// A `limit` above the section size is [`ApplicationError::LimitTooLarge`].
    pub fn select(&self, start: u64, limit: usize) -> Result<Vec<Notification>, ApplicationError> {
        check_limit(limit, self.section_size)?;
        Ok(self.recorder.select_notifications(start, limit)?)
    }

    /// At most `limit` notifications with ids from `start` whose topic is one of `topics`:
    /// see [`NotificationLog::select_of`]. Filtered in the database.
    pub fn select_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, ApplicationError> {
        check_limit(limit, self.section_size)?;
        Ok(self
            .recorder
            .select_notifications_of(start, limit, topics)?)
    }
}

impl NotificationLog for LocalNotificationLog {
    fn section(&self, section_id: &str) -> Result<Section, ApplicationError> {
        LocalNotificationLog::section(self, section_id)
    }

    fn select(&self, start: u64, limit: usize) -> Result<Vec<Notification>, ApplicationError> {
        LocalNotificationLog::select(self, start, limit)
    }

    fn select_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, ApplicationError> {
        LocalNotificationLog::select_of(self, start, limit, topics)
    }
}
