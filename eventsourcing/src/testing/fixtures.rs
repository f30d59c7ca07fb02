//! What the checks share: the events they store, and assertions that say what was expected.

use std::fmt::Debug;

use uuid::Uuid;

use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};

/// How many threads the concurrency checks run.
pub const THREADS: usize = 8;

/// How many events each writer of [`check_concurrent_inserts`](super::check_concurrent_inserts) inserts.
pub const EVENTS_PER_THREAD: usize = 1_000;

/// The topic of the events the checks store.
pub const TOPIC: &str = "eventsourcing.testing:Event";

/// A stored event whose state names its aggregate, version and `tag`, so that a selected
/// event can be told apart from another writer's event at the same version.
pub fn stored_event(originator_id: Uuid, originator_version: u64, tag: &str) -> StoredEvent {
    StoredEvent {
        originator_id,
        originator_version,
        topic: TOPIC.into(),
        state: format!(
            "{{\"id\": \"{}\", \"version\": {originator_version}, \"tag\": \"{tag}\"}}",
            originator_id.simple()
        )
        .into_bytes(),
    }
}

pub(super) fn ok<T>(result: Result<T, PersistenceError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected success, got error: {e} ({e:?})"),
    }
}

/// A refused tracking record: an integrity error, and not an aggregate's
/// [`Conflict`](PersistenceError::Conflict).
#[track_caller]
pub(super) fn tracking_refused<T: Debug>(result: Result<T, PersistenceError>, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected an integrity error, got Ok({value:?})"),
        Err(e) => assert!(
            e.is_integrity() && e.conflict().is_none(),
            "{what}: expected an integrity error about the tracking record (not an aggregate's \
             conflict), got {}: {e} ({e:?})",
            e.kind()
        ),
    }
}

/// A typed conflict naming the aggregate and the version that conflicted.
#[track_caller]
pub(super) fn conflict<T: Debug>(
    result: Result<T, PersistenceError>,
    id: Uuid,
    version: u64,
    what: &str,
) {
    match result {
        Ok(value) => panic!("{what}: expected a conflict, got Ok({value:?})"),
        Err(e) => assert!(
            e.conflict() == Some((id, version)),
            "{what}: expected PersistenceError::Conflict {{ originator_id: {id}, \
             originator_version: {version} }} (the error must name the aggregate and version \
             that conflicted), got {}: {e} ({e:?})",
            e.kind()
        ),
    }
}

pub(super) fn select(
    recorder: &dyn AggregateRecorder,
    id: Uuid,
    query: &EventQuery,
) -> Vec<StoredEvent> {
    ok(
        recorder.select_events(id, query),
        &format!("select_events({id}, {query:?})"),
    )
}

pub(super) fn select_all(recorder: &dyn AggregateRecorder, id: Uuid) -> Vec<StoredEvent> {
    select(recorder, id, &EventQuery::new())
}

pub(super) fn versions(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.originator_version).collect()
}

pub(super) fn notifications(
    recorder: &dyn ApplicationRecorder,
    start: u64,
    limit: usize,
) -> Vec<Notification> {
    ok(
        recorder.select_notifications(start, limit),
        &format!("select_notifications({start}, {limit})"),
    )
}

pub(super) fn max_notification_id(recorder: &dyn ApplicationRecorder) -> u64 {
    ok(recorder.max_notification_id(), "max_notification_id()")
}

/// Every notification, read in pages.
pub(super) fn all_notifications(recorder: &dyn ApplicationRecorder) -> Vec<Notification> {
    const PAGE: usize = 1_000;
    let mut all: Vec<Notification> = Vec::new();
    let mut start = 1;
    loop {
        let page = notifications(recorder, start, PAGE);
        let Some(last) = page.last() else { break };
        start = last.id + 1;
        let full = page.len() == PAGE;
        all.extend(page);
        if !full {
            break;
        }
    }
    all
}

/// Ids strictly increasing, and 1, 2, 3, … when the backend is gapless.
pub(super) fn assert_ids_increasing(notifications: &[Notification], gapless: bool, what: &str) {
    for pair in notifications.windows(2) {
        assert!(
            pair[1].id > pair[0].id,
            "{what}: notification ids must strictly increase, got {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
    if gapless {
        let ids: Vec<u64> = notifications.iter().map(|n| n.id).collect();
        let expected: Vec<u64> = (1..=notifications.len() as u64).collect();
        assert_eq!(
            ids, expected,
            "{what}: notification ids must be 1, 2, 3, … with no gaps"
        );
    }
}

pub(super) fn stored_events(notifications: &[Notification]) -> Vec<StoredEvent> {
    notifications.iter().map(|n| n.stored.clone()).collect()
}

pub(super) fn max_tracking_id(recorder: &dyn ProcessRecorder, name: &str) -> u64 {
    ok(
        recorder.max_tracking_id(name),
        &format!("max_tracking_id({name:?})"),
    )
}

pub(super) fn insert_tracked(
    recorder: &dyn ProcessRecorder,
    events: &[StoredEvent],
    name: &str,
    id: u64,
) -> Result<(), PersistenceError> {
    recorder.insert_events_with_tracking(events, &[Tracking::new(name, id)])
}
