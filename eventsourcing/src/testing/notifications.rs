//! Application recorder checks: the notification log.

use uuid::Uuid;

use super::fixtures::*;
use crate::persistence::ApplicationRecorder;

/// The notification log: empty at first (`max_notification_id` 0); then every event once,
/// in insertion order, ids strictly increasing (1, 2, 3, … if `gapless`);
/// `select_notifications` from any start with any limit, a start beyond the end giving
/// nothing.
///
/// Expects a fresh, empty recorder.
pub fn check_notifications(recorder: &dyn ApplicationRecorder, gapless: bool) {
    assert_eq!(
        max_notification_id(recorder),
        0,
        "max_notification_id of an empty log"
    );
    assert!(
        notifications(recorder, 1, 10).is_empty(),
        "an empty log has no notifications"
    );
    assert!(
        notifications(recorder, 0, 10).is_empty(),
        "an empty log has no notifications"
    );

    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let c = Uuid::new_v4();
    let batches = [
        vec![
            stored_event(a, 1, "a1"),
            stored_event(b, 1, "b1"),
            stored_event(a, 2, "a2"),
        ],
        vec![stored_event(c, 1, "c1")],
        vec![],
        vec![stored_event(a, 3, "a3"), stored_event(b, 2, "b2")],
    ];
    let mut inserted = Vec::new();
    for batch in &batches {
        ok(recorder.insert_events(batch), "insert_events");
        inserted.extend(batch.iter().cloned());
        let max = max_notification_id(recorder);
        if gapless {
            assert_eq!(
                max,
                inserted.len() as u64,
                "max_notification_id after inserting"
            );
        }
    }

    let all = notifications(recorder, 1, 100);
    assert_eq!(
        stored_events(&all),
        inserted,
        "select_notifications must return every event once, in insertion order"
    );
    assert_ids_increasing(&all, gapless, "select_notifications(1, 100)");
    let max = max_notification_id(recorder);
    assert_eq!(
        all.last().map(|n| n.id),
        Some(max),
        "max_notification_id must be the id of the last notification"
    );
    assert_eq!(
        notifications(recorder, 0, 100),
        all,
        "start 0 selects from the beginning"
    );

    // Starts and limits.
    assert_eq!(notifications(recorder, 1, 2), all[..2], "limit");
    assert_eq!(
        notifications(recorder, all[2].id, 2),
        all[2..4],
        "start and limit"
    );
    assert_eq!(
        notifications(recorder, all[1].id + 1, 100),
        all[2..],
        "start is inclusive: ids >= start"
    );
    assert_eq!(
        notifications(recorder, max, 10),
        all[5..],
        "start at the last id"
    );
    assert!(
        notifications(recorder, 1, 0).is_empty(),
        "limit 0 selects nothing"
    );
    assert!(
        notifications(recorder, max + 1, 10).is_empty(),
        "start beyond the end"
    );
    assert!(
        notifications(recorder, max + 1000, 10).is_empty(),
        "start far beyond the end"
    );
    assert!(
        notifications(recorder, u64::MAX, 10).is_empty(),
        "start u64::MAX"
    );
    assert_eq!(
        notifications(recorder, 1, usize::MAX),
        all,
        "limit usize::MAX"
    );

    // Page through the log, as a notification log reader does.
    let mut paged = Vec::new();
    let mut start = 1;
    loop {
        let page = notifications(recorder, start, 2);
        assert!(page.len() <= 2, "a page has at most limit notifications");
        let Some(last) = page.last() else { break };
        start = last.id + 1;
        paged.extend(page);
    }
    assert_eq!(paged, all, "reading the log in pages of 2");

    // A notification is its stored event.
    let first = &all[0];
    assert_eq!(first.originator_id, a);
    assert_eq!(first.originator_version, 1);
    assert_eq!(first.topic, TOPIC);
    assert_eq!(
        select_all(recorder, b),
        vec![inserted[1].clone(), inserted[5].clone()]
    );
}

/// A failed insert (a conflict with a stored event, or a duplicate inside the batch) adds
/// nothing to the notification log, and, if `gapless`, consumes no notification id.
///
/// Expects a fresh, empty recorder.
pub fn check_failed_insert_consumes_no_notification(
    recorder: &dyn ApplicationRecorder,
    gapless: bool,
) {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    ok(
        recorder.insert_events(&[stored_event(a, 1, "a1")]),
        "insert_events(a1)",
    );
    conflict(
        recorder.insert_events(&[stored_event(b, 1, "b1"), stored_event(a, 1, "again")]),
        a,
        1,
        "a conflict with a stored event",
    );
    conflict(
        recorder.insert_events(&[stored_event(b, 1, "b1"), stored_event(b, 1, "again")]),
        b,
        1,
        "a duplicate inside the batch",
    );
    if gapless {
        assert_eq!(
            max_notification_id(recorder),
            1,
            "a failed insert must not consume a notification id"
        );
    }
    ok(
        recorder.insert_events(&[stored_event(a, 2, "a2")]),
        "insert_events(a2)",
    );
    let log = notifications(recorder, 1, 10);
    assert_eq!(
        stored_events(&log),
        vec![stored_event(a, 1, "a1"), stored_event(a, 2, "a2")],
        "failed inserts must add nothing to the notification log"
    );
    assert_ids_increasing(&log, gapless, "after failed inserts");
    assert_eq!(max_notification_id(recorder), log[1].id);
}
