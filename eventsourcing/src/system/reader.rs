//! Reading a notification log from a position, page by page.

use std::sync::Arc;

use crate::application::{ApplicationError, NotificationLog};
use crate::persistence::Notification;

/// Reads a notification log from a position: the reference library's `NotificationLogReader`.
///
/// [`select`](NotificationLogReader::select) pages through the log with `select(start, limit)`;
/// [`read`](NotificationLogReader::read) follows sections ("1,10", then each section's
/// `next_id`). Both cope with gaps in the ids, and stop at the end of the log.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::application::LocalNotificationLog;
/// use eventsourcing::persistence::{AggregateRecorder, StoredEvent};
/// use eventsourcing::memory::InMemoryRecorder;
/// use eventsourcing::system::NotificationLogReader;
///
/// let recorder = Arc::new(InMemoryRecorder::new());
/// let id = uuid::Uuid::new_v4();
/// for v in 1..=25 {
///     let event = StoredEvent { originator_id: id, originator_version: v, topic: "t".into(), state: vec![] };
///     recorder.insert_events(&[event]).unwrap();
/// }
/// let reader = NotificationLogReader::new(Arc::new(LocalNotificationLog::new(recorder, 10)), 10);
/// let ids: Vec<u64> = reader.select(20).map(|n| n.unwrap().id).collect();
/// assert_eq!(ids, (20..=25).collect::<Vec<_>>());
/// assert_eq!(reader.read(1).count(), 25);
/// ```
#[derive(Clone)]
pub struct NotificationLogReader {
    log: Arc<dyn NotificationLog>,
    section_size: usize,
}

impl std::fmt::Debug for NotificationLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationLogReader")
            .field("section_size", &self.section_size)
            .finish_non_exhaustive()
    }
}

impl NotificationLogReader {
    /// The reference's default page size.
    pub const DEFAULT_SECTION_SIZE: usize = 10;

    /// A reader of `log`, `section_size` notifications at a time.
    pub fn new(log: Arc<dyn NotificationLog>, section_size: usize) -> Self {
        NotificationLogReader {
            log,
            section_size: section_size.max(1),
        }
    }

    /// The notifications from `start` to the end of the log, selected a page at a time.
    pub fn select(
        &self,
        start: u64,
    ) -> impl Iterator<Item = Result<Notification, ApplicationError>> + '_ {
        let mut next = Some(start);
        let mut page = std::vec::IntoIter::default();
        std::iter::from_fn(move || loop {
            if let Some(notification) = page.next() {
                return Some(Ok(notification));
            }
            let start = next.take()?;
            match self.log.select(start, self.section_size) {
                Err(e) => return Some(Err(e)),
                Ok(notifications) => {
                    if notifications.len() == self.section_size {
                        next = notifications.last().and_then(|n| n.id.checked_add(1));
                    }
                    page = notifications.into_iter();
                }
            }
        })
    }

    /// The notifications from `start` to the end of the log, read section by section.
    pub fn read(
        &self,
        start: u64,
    ) -> impl Iterator<Item = Result<Notification, ApplicationError>> + '_ {
        let mut next = Some(format!(
            "{},{}",
            start,
            start.saturating_add(self.section_size as u64 - 1)
        ));
        let mut page = std::vec::IntoIter::default();
        std::iter::from_fn(move || loop {
            if let Some(notification) = page.next() {
                return Some(Ok(notification));
            }
            let section_id = next.take()?;
            match self.log.section(&section_id) {
                Err(e) => return Some(Err(e)),
                Ok(section) => {
                    next = section.next_id;
                    page = section.items.into_iter();
                }
            }
        })
    }
}
