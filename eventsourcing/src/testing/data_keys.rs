//! Checks of a backend's [`DataKeyRecorder`] (per-aggregate keys).

use uuid::Uuid;

use super::fixtures::stored_event;
use crate::persistence::{
    AggregateRecorder, DataKeyRecorder, EventQuery, Forgetting, PersistenceError, ProcessRecorder,
    StoredDataKey, Tracking,
};

fn key(originator_id: Uuid, byte: u8) -> StoredDataKey {
    StoredDataKey {
        originator_id,
        wrapped: Some(vec![byte; 60]),
    }
}

fn wrapped(keys: &dyn DataKeyRecorder, id: Uuid) -> Option<Option<Vec<u8>>> {
    let rows = keys.select_data_keys(&[id]).expect("select data keys");
    assert!(rows.len() <= 1, "one row per aggregate");
    rows.into_iter().next().map(|row| row.wrapped)
}

/// Checks a data-key recorder `keys` whose keys are kept with the events of `events` and
/// whose forgetting removes snapshots from `snapshots` (all three fresh and empty, on one
/// database): keys are written atomically with events and tracking records, a second key for
/// an aggregate and a version conflict each write nothing (no orphan key), forgetting keeps
/// the row without its key and removes the aggregate's snapshots only, forgetting again or an
/// unknown id is told apart, and re-encrypting is all or nothing.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::memory::{InMemoryDataKeys, InMemoryRecorder};
/// use eventsourcing::testing::check_data_keys;
///
/// let events = Arc::new(InMemoryRecorder::new());
/// let snapshots = Arc::new(InMemoryRecorder::new());
/// let keys = InMemoryDataKeys::new(Arc::clone(&events), Some(Arc::clone(&snapshots)));
/// check_data_keys(&*events, &*snapshots, &keys);
/// ```
pub fn check_data_keys(
    events: &dyn ProcessRecorder,
    snapshots: &dyn AggregateRecorder,
    keys: &dyn DataKeyRecorder,
) {
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert!(keys
        .select_data_keys(&[])
        .expect("select no keys")
        .is_empty());
    assert_eq!(wrapped(keys, a), None, "no key before one is stored");

    // Events, tracking and a key, atomically.
    keys.insert_events_with_keys(
        &[stored_event(a, 1, "a1"), stored_event(a, 2, "a2")],
        &[Tracking::new("Upstream", 3)],
        &[key(a, 1)],
    )
    .expect("insert events with a key");
    assert_eq!(
        events.select_events(a, &EventQuery::new()).unwrap().len(),
        2
    );
    assert_eq!(events.max_tracking_id("Upstream").unwrap(), 3);
    assert_eq!(wrapped(keys, a), Some(Some(vec![1; 60])));

    // A second key for the aggregate: refused, nothing written.
    let error = keys
        .insert_events_with_keys(&[stored_event(a, 3, "a3")], &[], &[key(a, 2)])
        .expect_err("a second key for an aggregate is refused");
    assert!(error.is_integrity(), "an integrity error: {error}");
    assert_eq!(
        events.select_events(a, &EventQuery::new()).unwrap().len(),
        2
    );
    assert_eq!(wrapped(keys, a), Some(Some(vec![1; 60])));

    // A version conflict: refused as a conflict, and the new key is not stored.
    let error = keys
        .insert_events_with_keys(
            &[stored_event(c, 1, "c1"), stored_event(a, 1, "again")],
            &[],
            &[key(c, 3)],
        )
        .expect_err("a version conflict is refused");
    assert!(
        matches!(error, PersistenceError::Conflict { originator_id, originator_version: 1 } if originator_id == a),
        "a version conflict on the events: {error}"
    );
    assert_eq!(
        wrapped(keys, c),
        None,
        "no orphan key after a refused insert"
    );
    assert!(events
        .select_events(c, &EventQuery::new())
        .unwrap()
        .is_empty());

    keys.insert_events_with_keys(&[stored_event(b, 1, "b1")], &[], &[key(b, 4)])
        .expect("insert b");
    keys.insert_events_with_keys(&[stored_event(c, 1, "c1")], &[], &[key(c, 5)])
        .expect("insert c");
    let mut both = keys.select_data_keys(&[a, b, Uuid::new_v4()]).unwrap();
    both.sort_by_key(|row| row.originator_id);
    let mut expected = vec![key(a, 1), key(b, 4)];
    expected.sort_by_key(|row| row.originator_id);
    assert_eq!(both, expected, "the rows of the ids that have one");

    // Forgetting: the row stays without its key, the aggregate's snapshots go, others stay.
    snapshots
        .insert_events(&[
            stored_event(a, 2, "snapshot"),
            stored_event(b, 1, "snapshot"),
        ])
        .unwrap();
    assert_eq!(keys.forget_data_key(a).unwrap(), Forgetting::Forgotten);
    assert_eq!(wrapped(keys, a), Some(None));
    assert!(snapshots
        .select_events(a, &EventQuery::new())
        .unwrap()
        .is_empty());
    assert_eq!(
        snapshots
            .select_events(b, &EventQuery::new())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        events.select_events(a, &EventQuery::new()).unwrap().len(),
        2
    );
    assert_eq!(
        keys.forget_data_key(a).unwrap(),
        Forgetting::AlreadyForgotten
    );
    assert_eq!(
        keys.forget_data_key(Uuid::new_v4()).unwrap(),
        Forgetting::Unknown
    );
    // A forgotten aggregate's row refuses a new key.
    assert!(keys
        .insert_events_with_keys(&[stored_event(a, 3, "a3")], &[], &[key(a, 6)])
        .is_err());

    // Re-encrypting: all or none.
    let failing = |wrapped: &[u8]| {
        if wrapped[0] == 5 {
            Err(PersistenceError::database(
                crate::persistence::ErrorKind::Data,
                "refused",
            ))
        } else {
            Ok(vec![wrapped[0] + 100; 60])
        }
    };
    assert!(keys.rewrap_data_keys(&failing).is_err());
    assert_eq!(
        wrapped(keys, b),
        Some(Some(vec![4; 60])),
        "nothing re-encrypted"
    );
    let count = keys
        .rewrap_data_keys(&|wrapped: &[u8]| Ok(vec![wrapped[0] + 100; 60]))
        .unwrap();
    assert_eq!(count, 2, "the keys of aggregates not forgotten");
    assert_eq!(wrapped(keys, b), Some(Some(vec![104; 60])));
    assert_eq!(wrapped(keys, c), Some(Some(vec![105; 60])));
    assert_eq!(wrapped(keys, a), Some(None));

    // Many ids at once.
    let many: Vec<Uuid> = (0..1200).map(|_| Uuid::new_v4()).chain([b]).collect();
    assert_eq!(keys.select_data_keys(&many).unwrap().len(), 1);
}
