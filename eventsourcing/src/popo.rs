//! In-memory recorders ("plain old Python objects" in the reference library): the fastest
//! backend, and the default when nothing else is configured. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, ErrorKind, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};

/// An in-memory recorder: aggregate, application and process recorder in one.
///
/// Events are kept in one list in insertion order (a notification's id is its position, from
/// 1, so there are no gaps), with an index by aggregate and version. One lock serialises
/// writers and readers, so every insert is atomic and ids follow commit order.
///
/// ```
/// use eventsourcing::persistence::{AggregateRecorder, ApplicationRecorder, EventQuery, StoredEvent};
/// use eventsourcing::popo::InMemoryRecorder;
/// use uuid::Uuid;
///
/// let recorder = InMemoryRecorder::new();
/// let id = Uuid::new_v4();
/// let event = |version| StoredEvent {
///     originator_id: id,
///     originator_version: version,
///     topic: "topic".into(),
///     state: b"{}".to_vec(),
/// };
/// recorder.insert_events(&[event(1), event(2)]).unwrap();
/// let conflict = recorder.insert_events(&[event(3), event(2)]).unwrap_err();
/// assert!(conflict.is_integrity());
/// assert_eq!(recorder.select_events(id, &EventQuery::new()).unwrap().len(), 2);
/// assert_eq!(recorder.max_notification_id().unwrap(), 2);
/// ```
#[derive(Debug, Default)]
pub struct InMemoryRecorder {
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    /// Every event, in insertion order; position + 1 is the notification id.
    events: Vec<StoredEvent>,
    /// For each aggregate: version → position in `events`.
    index: HashMap<Uuid, BTreeMap<u64, usize>>,
    /// For each upstream application: the last notification id processed.
    tracking: HashMap<String, u64>,
}

impl InMemoryRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> Result<MutexGuard<'_, Tables>, PersistenceError> {
        // A panic while holding the lock leaves no half-written batch behind (inserts check
        // everything before changing anything), so a poisoned lock is still consistent.
        Ok(self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Tables {
    fn check_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        let mut batch: HashMap<Uuid, Vec<u64>> = HashMap::new();
        for event in events {
            let exists = self
                .index
                .get(&event.originator_id)
                .is_some_and(|versions| versions.contains_key(&event.originator_version));
            let versions = batch.entry(event.originator_id).or_default();
            if exists || versions.contains(&event.originator_version) {
                return Err(PersistenceError::integrity(format!(
                    "event {} version {} is already stored",
                    event.originator_id, event.originator_version
                )));
            }
            versions.push(event.originator_version);
        }
        Ok(())
    }

    fn check_tracking(&self, tracking: &Tracking) -> Result<(), PersistenceError> {
        let last = self
            .tracking
            .get(&tracking.application_name)
            .copied()
            .unwrap_or(0);
        if tracking.notification_id <= last {
            return Err(PersistenceError::integrity(format!(
                "tracking {} of {:?} is not after the recorded position {last}",
                tracking.notification_id, tracking.application_name
            )));
        }
        Ok(())
    }

    fn append(&mut self, events: &[StoredEvent]) {
        self.events.reserve(events.len());
        for event in events {
            let position = self.events.len();
            self.index
                .entry(event.originator_id)
                .or_default()
                .insert(event.originator_version, position);
            self.events.push(event.clone());
        }
    }
}

impl AggregateRecorder for InMemoryRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        let mut tables = self.tables()?;
        tables.check_events(events)?;
        tables.append(events);
        Ok(())
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let tables = self.tables()?;
        let Some(versions) = tables.index.get(&originator_id) else {
            return Ok(Vec::new());
        };
        let lower = query
            .gt
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let upper = query
            .lte
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included);
        if matches!((query.gt, query.lte), (Some(gt), Some(lte)) if lte <= gt) {
            return Ok(Vec::new());
        }
        let range = versions.range((lower, upper));
        let limit = query.limit.unwrap_or(usize::MAX);
        let selected = if query.desc {
            range
                .rev()
                .take(limit)
                .map(|(_, &i)| tables.events[i].clone())
                .collect()
        } else {
            range
                .take(limit)
                .map(|(_, &i)| tables.events[i].clone())
                .collect()
        };
        Ok(selected)
    }
}

impl ApplicationRecorder for InMemoryRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        let tables = self.tables()?;
        let first = usize::try_from(start.max(1) - 1).map_err(|_| {
            PersistenceError::database(
                ErrorKind::Data,
                format!("notification id {start} is out of range"),
            )
        })?;
        Ok(tables
            .events
            .iter()
            .enumerate()
            .skip(first)
            .take(limit)
            .map(|(i, stored)| Notification {
                id: i as u64 + 1,
                stored: stored.clone(),
            })
            .collect())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        Ok(self.tables()?.events.len() as u64)
    }
}

impl ProcessRecorder for InMemoryRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &Tracking,
    ) -> Result<(), PersistenceError> {
        let mut tables = self.tables()?;
        tables.check_events(events)?;
        tables.check_tracking(tracking)?;
        tables.append(events);
        tables
            .tracking
            .insert(tracking.application_name.clone(), tracking.notification_id);
        Ok(())
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        Ok(self
            .tables()?
            .tracking
            .get(application_name)
            .copied()
            .unwrap_or(0))
    }
}
