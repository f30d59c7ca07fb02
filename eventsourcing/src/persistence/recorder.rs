//! The recorder traits: where stored events are written and read.
//!
//! Three flavours, as in the reference library: an [`AggregateRecorder`] stores the events of
//! aggregates (and snapshots); an [`ApplicationRecorder`] also gives every event a position in
//! a total order, the notification log; a [`ProcessRecorder`] also records which upstream
//! notifications were processed, atomically with the events the processing produced.
//!
//! Every backend runs the same conformance suite (`eventsourcing::testing`, feature `testing`).

use uuid::Uuid;

use super::error::PersistenceError;
use super::stored::{Notification, StoredEvent, Tracking};

/// Which of an aggregate's events to select: versions after `gt`, up to `lte`, oldest first
/// (or newest first with `desc`), at most `limit`.
///
/// ```
/// use eventsourcing::persistence::EventQuery;
///
/// // The latest event at or below version 10.
/// let query = EventQuery::new().lte(10).desc().limit(1);
/// assert_eq!(query.lte, Some(10));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventQuery {
    /// Only versions greater than this.
    pub gt: Option<u64>,
    /// Only versions less than or equal to this.
    pub lte: Option<u64>,
    /// Newest first.
    pub desc: bool,
    /// At most this many events.
    pub limit: Option<usize>,
}

impl EventQuery {
    /// Every event, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only versions greater than `version`.
    pub fn gt(mut self, version: u64) -> Self {
        self.gt = Some(version);
        self
    }

    /// Only versions less than or equal to `version`.
    pub fn lte(mut self, version: u64) -> Self {
        self.lte = Some(version);
        self
    }

    /// Newest first.
    pub fn desc(mut self) -> Self {
        self.desc = true;
        self
    }

    /// At most `limit` events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether `version` passes the `gt` and `lte` bounds.
    pub fn includes(&self, version: u64) -> bool {
        self.gt.is_none_or(|gt| version > gt) && self.lte.is_none_or(|lte| version <= lte)
    }
}

/// Stores the events of aggregates, each aggregate's events in the order of their versions.
pub trait AggregateRecorder: Send + Sync {
    /// Inserts events atomically: all of them or none. An event whose (originator id, version)
    /// is already stored — or appears twice in `events` — is an integrity error
    /// ([`ErrorKind::Integrity`](super::ErrorKind::Integrity)) and nothing of the batch is
    /// written. This is the optimistic concurrency control everything else relies on.
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError>;

    /// Inserts events the caller has no further use for, with the same rules as
    /// [`insert_events`](AggregateRecorder::insert_events). By default it is `insert_events`;
    /// a recorder that keeps the events themselves (in memory) takes them without copying.
    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.insert_events(&events)
    }

    /// The events of one aggregate that `query` selects, ordered by version.
    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError>;
}

/// An [`AggregateRecorder`] whose events also have a position in one total order: the
/// application's notification log.
pub trait ApplicationRecorder: AggregateRecorder {
    /// At most `limit` notifications with ids from `start`, in id order.
    ///
    /// Ids increase in commit order, so a reader that has seen id `n` never later finds a new
    /// notification below `n`. In memory and SQLite there are no gaps; in PostgreSQL a rolled
    /// back insert leaves one.
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError>;

    /// The highest notification id, or 0 if there are none.
    fn max_notification_id(&self) -> Result<u64, PersistenceError>;

    /// At most `limit` notifications with ids from `start` whose topic is one of `topics` (all
    /// of them if `topics` is empty), in id order: the reference's `topics=` filter. Topics no
    /// stored event has match nothing.
    ///
    /// By default, reads pages of `limit` notifications and keeps the matching ones; backends
    /// filter in the database instead.
    fn select_notifications_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, PersistenceError> {
        if topics.is_empty() {
            return self.select_notifications(start, limit);
        }
        filter_pages(start, limit, topics, |start| {
            self.select_notifications(start, limit)
        })
    }

    /// The signal this recorder notifies after each commit, for subscriptions to wait on (see
    /// [`CommitSignal`](super::CommitSignal)). `None` by default: subscriptions then read the
    /// log again at a short interval.
    fn commit_signal(&self) -> Option<super::CommitSignal> {
        None
    }
}

/// The notifications of `topics` from `start`, at most `limit`, read a page at a time with
/// `select` (which reads up to `limit` notifications from a position).
pub(crate) fn filter_pages<E>(
    start: u64,
    limit: usize,
    topics: &[String],
    mut select: impl FnMut(u64) -> Result<Vec<Notification>, E>,
) -> Result<Vec<Notification>, E> {
    let mut found = Vec::new();
    let mut start = start;
    while found.len() < limit {
        let page = select(start)?;
        let Some(last) = page.last().map(|n| n.id) else {
            break;
        };
        let full = page.len() >= limit;
        found.extend(
            page.into_iter()
                .filter(|n| topics.iter().any(|t| *t == n.topic)),
        );
        if !full {
            break;
        }
        let Some(next) = last.checked_add(1) else {
            break;
        };
        start = next;
    }
    found.truncate(limit);
    Ok(found)
}

/// An [`ApplicationRecorder`] that also records which upstream notifications have been
/// processed, in the same transaction as the events the processing produced: exactly-once
/// processing.
pub trait ProcessRecorder: ApplicationRecorder {
    /// Inserts events and tracking records atomically: all of them or none.
    ///
    /// Besides the rules of [`insert_events`](AggregateRecorder::insert_events), a tracking
    /// record at or below its application's current position is an integrity error, so a
    /// position never moves backwards and no notification is processed twice. A follower that
    /// processes a batch of notifications records the first and the last of them: if another
    /// follower of the same application recorded any notification of the batch first, the
    /// first record is refused, and with it everything the batch produced.
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError>;

    /// The id of the last notification of `application_name` that was processed, or 0.
    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError>;
}

/// Table and schema names go into SQL text, so recorders accept only plain identifiers:
/// letters, digits and underscores, not starting with a digit, at most 63 characters.
pub(crate) fn check_identifier(name: &str, what: &str) -> Result<(), PersistenceError> {
    let invalid = |why: &str| {
        Err(PersistenceError::database(
            super::ErrorKind::Programming,
            format!("{name:?} is not a valid {what}: {why}"),
        ))
    };
    if name.len() > 63 {
        return invalid("it is longer than 63 characters (use a shorter application name)");
    }
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return invalid("use letters, digits and underscores, not starting with a digit");
    }
    Ok(())
}
