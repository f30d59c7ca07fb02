//! The conformance suite catches the bugs it is there to catch: recorders with the classic
//! faults (a batch that is not atomic, limit applied before the version filter, a tracking
//! position that can move backwards, a version check outside the insert's transaction, a
//! conflict that doesn't say which event conflicted, notification ids that become visible out
//! of order) each fail the check that targets them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsourcing::memory::InMemoryRecorder;
use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};
use eventsourcing::testing;
use uuid::Uuid;

/// Inserts a batch one event at a time: a conflict leaves the events before it written.
#[derive(Default)]
struct NotAtomic(InMemoryRecorder);

impl AggregateRecorder for NotAtomic {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        events
            .iter()
            .try_for_each(|e| self.0.insert_events(std::slice::from_ref(e)))
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.0.select_events(id, query)
    }
}

#[test]
#[should_panic(expected = "must neither replace the stored events nor add any")]
fn a_batch_that_is_not_atomic_fails() {
    testing::check_insert_conflicts(&NotAtomic::default());
}

/// Applies `limit` before filtering by version.
#[derive(Default)]
struct LimitFirst(InMemoryRecorder);

impl AggregateRecorder for LimitFirst {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.0.insert_events(events)
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut unfiltered = EventQuery::new();
        unfiltered.desc = query.desc;
        unfiltered.limit = query.limit;
        let events = self.0.select_events(id, &unfiltered)?;
        Ok(events
            .into_iter()
            .filter(|e| query.includes(e.originator_version))
            .collect())
    }
}

#[test]
#[should_panic(expected = "must give the latest event at or below lte")]
fn limit_before_filter_fails() {
    testing::check_select_variants(&LimitFirst::default());
}

/// Rejects only a tracking record already written, so a position can move backwards.
#[derive(Default)]
struct BackwardsTracking {
    events: InMemoryRecorder,
    tracking: Mutex<HashMap<String, Vec<u64>>>,
}

impl AggregateRecorder for BackwardsTracking {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.events.insert_events(events)
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.events.select_events(id, query)
    }
}

impl ApplicationRecorder for BackwardsTracking {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        self.events.select_notifications(start, limit)
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        self.events.max_notification_id()
    }
}

impl ProcessRecorder for BackwardsTracking {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        let mut positions = self.tracking.lock().unwrap();
        for record in tracking {
            let ids = positions
                .entry(record.application_name.clone())
                .or_default();
            if ids.contains(&record.notification_id) {
                return Err(PersistenceError::integrity("duplicate tracking"));
            }
        }
        self.events.insert_events(events)?;
        for record in tracking {
            let ids = positions
                .entry(record.application_name.clone())
                .or_default();
            ids.push(record.notification_id);
        }
        Ok(())
    }

    fn max_tracking_id(&self, name: &str) -> Result<u64, PersistenceError> {
        let positions = self.tracking.lock().unwrap();
        Ok(positions
            .get(name)
            .and_then(|ids| ids.iter().max().copied())
            .unwrap_or(0))
    }
}

#[test]
#[should_panic(expected = "positions never move backwards")]
fn a_tracking_position_that_moves_backwards_fails() {
    testing::check_tracking_atomicity(&BackwardsTracking::default(), true);
}

/// Reports a version conflict as an integrity error that doesn't say which event conflicted.
#[derive(Default)]
struct UntypedConflict(InMemoryRecorder);

impl AggregateRecorder for UntypedConflict {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.0
            .insert_events(events)
            .map_err(|e| match e.conflict() {
                Some(_) => PersistenceError::integrity(e.to_string()),
                None => e,
            })
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.0.select_events(id, query)
    }
}

#[test]
#[should_panic(expected = "the error must name the aggregate and version that conflicted")]
fn a_conflict_that_does_not_say_which_event_fails() {
    testing::check_insert_conflicts(&UntypedConflict::default());
}

/// Checks for a conflict, lets go of the lock, then inserts: the check and the insert are
/// not one transaction.
#[derive(Default)]
struct CheckThenInsert {
    events: Mutex<Vec<StoredEvent>>,
}

impl AggregateRecorder for CheckThenInsert {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        {
            let stored = self.events.lock().unwrap();
            let conflict = events.iter().find(|e| {
                stored.iter().any(|s| {
                    s.originator_id == e.originator_id
                        && s.originator_version == e.originator_version
                })
            });
            if let Some(e) = conflict {
                return Err(PersistenceError::Conflict {
                    originator_id: e.originator_id,
                    originator_version: e.originator_version,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(2));
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut events: Vec<StoredEvent> = self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.originator_id == id && query.includes(e.originator_version))
            .cloned()
            .collect();
        events.sort_by_key(|e| e.originator_version);
        Ok(events)
    }
}

#[test]
#[should_panic(expected = "writers racing to insert the same version must win")]
fn a_version_check_outside_the_insert_fails() {
    let recorder: Arc<dyn AggregateRecorder> = Arc::new(CheckThenInsert::default());
    testing::check_racing_writers(&[recorder]);
}

/// Takes notification ids when an insert starts, but makes the events visible when it ends,
/// so a later id can be visible before an earlier one (interleaved inserts without a table
/// lock).
#[derive(Default)]
struct OutOfOrderIds {
    next_id: AtomicU64,
    visible: Mutex<BTreeMap<u64, StoredEvent>>,
}

impl AggregateRecorder for OutOfOrderIds {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        let first = self
            .next_id
            .fetch_add(events.len() as u64, Ordering::SeqCst)
            + 1;
        if first & 1 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut visible = self.visible.lock().unwrap();
        for (i, event) in events.iter().enumerate() {
            visible.insert(first + i as u64, event.clone());
        }
        Ok(())
    }

    fn select_events(
        &self,
        id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut events: Vec<StoredEvent> = self
            .visible
            .lock()
            .unwrap()
            .values()
            .filter(|e| e.originator_id == id && query.includes(e.originator_version))
            .cloned()
            .collect();
        events.sort_by_key(|e| e.originator_version);
        Ok(events)
    }
}

impl ApplicationRecorder for OutOfOrderIds {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        Ok(self
            .visible
            .lock()
            .unwrap()
            .range(start..)
            .take(limit)
            .map(|(&id, stored)| Notification {
                id,
                stored: stored.clone(),
            })
            .collect())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        Ok(self
            .visible
            .lock()
            .unwrap()
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0))
    }
}

#[test]
#[should_panic(expected = "the tailing reader must read every event exactly once")]
fn ids_visible_out_of_order_fail_the_tailing_reader() {
    // Not claimed gapless: the check must still find the events the reader skipped.
    let recorder: Arc<dyn ApplicationRecorder> = Arc::new(OutOfOrderIds::default());
    testing::check_tailing_reader(&[recorder], false);
}
