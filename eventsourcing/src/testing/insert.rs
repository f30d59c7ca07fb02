//! Aggregate recorder checks: what is inserted comes back, and conflicting inserts write
//! nothing.

use uuid::Uuid;

use super::fixtures::*;
use crate::persistence::AggregateRecorder;

/// Events come back exactly as inserted (ids, versions, topics, state bytes of any content
/// and size), per aggregate, in version order; an aggregate with no events selects nothing;
/// an empty batch is accepted and writes nothing.
///
/// Expects a fresh, empty recorder.
pub fn check_insert_and_select(recorder: &dyn AggregateRecorder) {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let nil = Uuid::nil();
    let max = Uuid::max();

    assert!(
        select_all(recorder, a).is_empty(),
        "an aggregate with no events must select nothing"
    );
    ok(recorder.insert_events(&[]), "insert_events(&[])");
    assert!(
        select_all(recorder, a).is_empty(),
        "an empty batch must write nothing"
    );

    let mut binary = stored_event(a, 2, "binary");
    binary.state = (0..=255u8).chain([0, 0, 0xff, 0xfe]).collect();
    let mut empty = stored_event(a, 3, "empty");
    empty.state = Vec::new();
    let mut large = stored_event(a, 4, "large");
    large.state = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut unicode = stored_event(a, 5, "unicode");
    unicode.topic = "ünïcödé.módülé:Ägg.Ëvent — \u{1F995} 'quoted' \"double\"".into();
    let mut long_topic = stored_event(a, 6, "long topic");
    long_topic.topic = "x".repeat(10_000).into();
    let first = vec![
        stored_event(a, 1, "first"),
        binary,
        empty,
        large,
        unicode,
        long_topic,
    ];
    ok(recorder.insert_events(&first), "insert_events(events of a)");
    let in_b = vec![stored_event(b, 1, "b1"), stored_event(b, 2, "b2")];
    ok(recorder.insert_events(&in_b), "insert_events(events of b)");
    let edge_ids = vec![stored_event(nil, 1, "nil"), stored_event(max, 1, "max")];
    ok(
        recorder.insert_events(&edge_ids),
        "insert_events(nil and max ids)",
    );

    assert_eq!(
        select_all(recorder, a),
        first,
        "select_events must return the events exactly as inserted"
    );
    assert_eq!(select_all(recorder, b), in_b, "events of another aggregate");
    assert_eq!(
        select_all(recorder, nil),
        edge_ids[..1],
        "the nil uuid as an id"
    );
    assert_eq!(
        select_all(recorder, max),
        edge_ids[1..],
        "the max uuid as an id"
    );
    assert!(
        select_all(recorder, Uuid::new_v4()).is_empty(),
        "an unknown aggregate must select nothing"
    );

    // One batch with events of several aggregates.
    let c = Uuid::new_v4();
    let mixed = vec![
        stored_event(c, 1, "c1"),
        stored_event(a, 7, "a7"),
        stored_event(c, 2, "c2"),
    ];
    ok(
        recorder.insert_events(&mixed),
        "insert_events(several aggregates)",
    );
    assert_eq!(
        select_all(recorder, c),
        vec![mixed[0].clone(), mixed[2].clone()]
    );
    assert_eq!(
        versions(&select_all(recorder, a)),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
}

/// Optimistic concurrency control: inserting a version that is already stored, or the same
/// version twice in one batch, is a [`Conflict`](crate::persistence::PersistenceError::Conflict)
/// naming the first event of the batch that conflicts (an integrity error), and writes nothing
/// of the batch (not even the events of other aggregates in it); the stored event is not
/// replaced; the recorder keeps working afterwards.
///
/// Expects a fresh, empty recorder.
pub fn check_insert_conflicts(recorder: &dyn AggregateRecorder) {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let c = Uuid::new_v4();
    let original = vec![
        stored_event(a, 1, "original"),
        stored_event(a, 2, "original"),
    ];
    ok(recorder.insert_events(&original), "insert_events(a1, a2)");

    conflict(
        recorder.insert_events(&[stored_event(a, 2, "conflicting")]),
        a,
        2,
        "inserting a version that is already stored",
    );
    conflict(
        recorder.insert_events(&[
            stored_event(b, 1, "innocent"),
            stored_event(a, 3, "innocent"),
            stored_event(a, 1, "conflicting"),
        ]),
        a,
        1,
        "a batch whose last event conflicts with a stored one",
    );
    conflict(
        recorder.insert_events(&[
            stored_event(c, 1, "first"),
            stored_event(c, 2, "first"),
            stored_event(c, 1, "duplicate"),
        ]),
        c,
        1,
        "a batch with the same version twice",
    );
    conflict(
        recorder.insert_events(&[stored_event(a, 3, "x"), stored_event(a, 3, "y")]),
        a,
        3,
        "a batch with the same new version of a stored aggregate twice",
    );
    assert_eq!(
        select_all(recorder, a),
        original,
        "a conflicting insert must neither replace the stored events nor add any"
    );
    assert!(
        select_all(recorder, b).is_empty(),
        "a failed batch must write nothing, not even other aggregates' events"
    );
    assert!(
        select_all(recorder, c).is_empty(),
        "a batch with a duplicate must write nothing"
    );
    // The same through insert_owned, which a recorder may implement on its own.
    let d = Uuid::new_v4();
    conflict(
        recorder.insert_owned(vec![
            stored_event(d, 1, "owned"),
            stored_event(a, 2, "owned"),
        ]),
        a,
        2,
        "insert_owned of a batch whose last event conflicts",
    );
    assert!(
        select_all(recorder, d).is_empty(),
        "a failed insert_owned must write nothing"
    );

    // The recorder still works: no transaction was left open, no lock held.
    let next = vec![stored_event(a, 3, "next"), stored_event(b, 1, "next")];
    ok(
        recorder.insert_events(&next),
        "insert_events after failed inserts",
    );
    assert_eq!(versions(&select_all(recorder, a)), vec![1, 2, 3]);
    assert_eq!(select_all(recorder, b), next[1..]);
}
