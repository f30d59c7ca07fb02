//! Process recorder checks: tracking records, and their atomicity with the events.

use uuid::Uuid;

use super::fixtures::*;
use crate::persistence::{ProcessRecorder, Tracking};

/// Tracking: `max_tracking_id` is 0 for an application never tracked; inserting events with
/// a tracking record stores both; a tracking record with no events moves the position; a
/// position may skip ahead; each upstream application has its own position; a plain insert
/// leaves positions alone; a process recorder's events are in its notification log.
///
/// Expects a fresh, empty recorder.
pub fn check_tracking(recorder: &dyn ProcessRecorder, gapless: bool) {
    let upstream = "upstream";
    let other = "other";
    assert_eq!(
        max_tracking_id(recorder, upstream),
        0,
        "an unknown application's position"
    );
    assert_eq!(
        max_tracking_id(recorder, ""),
        0,
        "an unknown application's position"
    );

    let a = Uuid::new_v4();
    ok(
        insert_tracked(recorder, &[stored_event(a, 1, "a1")], upstream, 1),
        "insert_events_with_tracking(a1, upstream 1)",
    );
    assert_eq!(max_tracking_id(recorder, upstream), 1);
    assert_eq!(select_all(recorder, a), vec![stored_event(a, 1, "a1")]);

    ok(
        insert_tracked(recorder, &[], upstream, 2),
        "insert_events_with_tracking(no events, upstream 2)",
    );
    assert_eq!(
        max_tracking_id(recorder, upstream),
        2,
        "a tracking record with no events must move the position"
    );

    ok(
        insert_tracked(
            recorder,
            &[stored_event(a, 2, "a2"), stored_event(a, 3, "a3")],
            upstream,
            5,
        ),
        "insert_events_with_tracking(a2 a3, upstream 5)",
    );
    assert_eq!(
        max_tracking_id(recorder, upstream),
        5,
        "a position may skip ahead"
    );

    ok(
        insert_tracked(recorder, &[stored_event(a, 4, "a4")], other, 1),
        "insert_events_with_tracking(a4, other 1)",
    );
    assert_eq!(
        max_tracking_id(recorder, other),
        1,
        "each application has its own position"
    );
    assert_eq!(max_tracking_id(recorder, upstream), 5);
    assert_eq!(
        max_tracking_id(recorder, "Upstream"),
        0,
        "names are case-sensitive"
    );

    ok(
        recorder.insert_events(&[stored_event(a, 5, "a5")]),
        "insert_events(a5) on a process recorder",
    );
    assert_eq!(
        max_tracking_id(recorder, upstream),
        5,
        "a plain insert leaves positions alone"
    );
    assert_eq!(max_tracking_id(recorder, other), 1);

    let log = notifications(recorder, 1, 100);
    assert_eq!(
        versions(&stored_events(&log)),
        vec![1, 2, 3, 4, 5],
        "a process recorder's events are in its notification log"
    );
    assert_ids_increasing(&log, gapless, "process recorder log");
}

/// Several tracking records in one insert, as a follower records a batch (its first and last
/// notifications): each must be after the position the records before it leave, so a batch
/// that overlaps what another follower recorded is refused whole, with its events.
///
/// Expects a fresh, empty recorder.
pub fn check_batch_tracking(recorder: &dyn ProcessRecorder) {
    let upstream = "upstream";
    let a = Uuid::new_v4();
    let batch = |first: u64, last: u64| {
        [
            Tracking::new(upstream, first),
            Tracking::new(upstream, last),
        ]
    };
    ok(
        recorder.insert_events_with_tracking(&[stored_event(a, 1, "a1")], &batch(1, 3)),
        "a batch of notifications 1 to 3",
    );
    assert_eq!(max_tracking_id(recorder, upstream), 3);
    tracking_refused(
        recorder.insert_events_with_tracking(&[stored_event(a, 2, "a2")], &batch(2, 5)),
        "a batch from 2 to 5 after 1 to 3 were recorded (an overlapping batch)",
    );
    assert_eq!(
        select_all(recorder, a).len(),
        1,
        "the events of a refused batch must not be written"
    );
    assert_eq!(max_tracking_id(recorder, upstream), 3);
    tracking_refused(
        recorder.insert_events_with_tracking(&[stored_event(a, 2, "a2")], &batch(6, 4)),
        "records out of order in one insert (the second is not after the first)",
    );
    assert_eq!(max_tracking_id(recorder, upstream), 3);
    ok(
        recorder.insert_events_with_tracking(&[stored_event(a, 2, "a2")], &batch(4, 6)),
        "the next batch, 4 to 6",
    );
    assert_eq!(max_tracking_id(recorder, upstream), 6);
    ok(
        recorder.insert_events_with_tracking(
            &[],
            &[Tracking::new("other", 2), Tracking::new(upstream, 7)],
        ),
        "records of two upstream applications in one insert",
    );
    assert_eq!(max_tracking_id(recorder, "other"), 2);
    assert_eq!(max_tracking_id(recorder, upstream), 7);
    assert_eq!(select_all(recorder, a).len(), 2);
}

/// Tracking and atomicity: a tracking record already written, or at or below the
/// application's position (positions never move backwards; 0 is "nothing processed"), is an
/// integrity error, and the events of that batch are not written; an event conflict in a
/// batch with a new tracking record is an integrity error and the position does not move;
/// failed batches consume no notification ids if `gapless`.
///
/// Expects a fresh, empty recorder.
pub fn check_tracking_atomicity(recorder: &dyn ProcessRecorder, gapless: bool) {
    let upstream = "upstream";
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    ok(
        insert_tracked(recorder, &[stored_event(a, 1, "a1")], upstream, 3),
        "insert_events_with_tracking(a1, upstream 3)",
    );

    tracking_refused(
        insert_tracked(recorder, &[stored_event(b, 1, "b1")], upstream, 3),
        "a tracking record that is already written",
    );
    tracking_refused(
        insert_tracked(recorder, &[stored_event(b, 1, "b1")], upstream, 2),
        "a tracking record below the position (positions never move backwards)",
    );
    tracking_refused(
        insert_tracked(recorder, &[], upstream, 1),
        "a tracking record below the position, with no events",
    );
    tracking_refused(
        insert_tracked(recorder, &[stored_event(b, 1, "b1")], "fresh", 0),
        "tracking notification 0 (ids start at 1; 0 means nothing processed)",
    );
    assert!(
        select_all(recorder, b).is_empty(),
        "the events of a batch with a rejected tracking record must not be written"
    );
    assert_eq!(max_tracking_id(recorder, upstream), 3);
    assert_eq!(max_tracking_id(recorder, "fresh"), 0);

    conflict(
        insert_tracked(
            recorder,
            &[stored_event(b, 1, "b1"), stored_event(a, 1, "conflict")],
            upstream,
            4,
        ),
        a,
        1,
        "an event conflict in a batch with a new tracking record",
    );
    assert_eq!(
        max_tracking_id(recorder, upstream),
        3,
        "the tracking record of a failed batch must not be written"
    );
    assert!(select_all(recorder, b).is_empty());
    assert_eq!(select_all(recorder, a), vec![stored_event(a, 1, "a1")]);

    if gapless {
        assert_eq!(
            max_notification_id(recorder),
            1,
            "failed batches must not consume notification ids"
        );
    }

    // The recorder still works, and the position can still move forward.
    ok(
        insert_tracked(recorder, &[stored_event(b, 1, "b1")], upstream, 4),
        "insert_events_with_tracking(b1, upstream 4) after failures",
    );
    assert_eq!(max_tracking_id(recorder, upstream), 4);
    let log = notifications(recorder, 1, 10);
    assert_eq!(
        stored_events(&log),
        vec![stored_event(a, 1, "a1"), stored_event(b, 1, "b1")]
    );
    assert_ids_increasing(&log, gapless, "after failed tracked inserts");
}
