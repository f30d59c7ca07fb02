//! Aggregate recorder checks: `select_events` filters, orders and limits.

use uuid::Uuid;

use super::fixtures::*;
use crate::persistence::{AggregateRecorder, EventQuery};

/// `select_events` filters versions `> gt` and `<= lte`, orders by version (descending with
/// `desc`), then applies `limit`, for every combination; events inserted out of order come
/// back in version order; another aggregate's events never leak in.
///
/// Expects a fresh, empty recorder.
pub fn check_select_variants(recorder: &dyn AggregateRecorder) {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let event = |v| stored_event(a, v, "a");
    // Inserted out of order, interleaved with another aggregate.
    ok(
        recorder.insert_events(&[event(3), stored_event(b, 1, "b"), event(1)]),
        "insert_events",
    );
    ok(
        recorder.insert_events(&[event(2), stored_event(b, 2, "b")]),
        "insert_events",
    );
    ok(
        recorder.insert_events(&[event(5), event(4), stored_event(b, 3, "b")]),
        "insert_events",
    );
    let q = EventQuery::new;

    // The cases the reference's callers rely on, spelled out.
    assert_eq!(versions(&select(recorder, a, &q())), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        select(recorder, a, &q()),
        (1..=5).map(event).collect::<Vec<_>>()
    );
    assert_eq!(versions(&select(recorder, a, &q().gt(2))), vec![3, 4, 5]);
    assert_eq!(versions(&select(recorder, a, &q().lte(3))), vec![1, 2, 3]);
    assert_eq!(
        versions(&select(recorder, a, &q().gt(1).lte(4))),
        vec![2, 3, 4]
    );
    assert_eq!(
        versions(&select(recorder, a, &q().desc())),
        vec![5, 4, 3, 2, 1]
    );
    assert_eq!(versions(&select(recorder, a, &q().limit(2))), vec![1, 2]);
    assert_eq!(
        versions(&select(recorder, a, &q().desc().limit(1))),
        vec![5],
        "desc + limit 1 must give the latest event"
    );
    assert_eq!(
        versions(&select(recorder, a, &q().lte(3).desc().limit(1))),
        vec![3],
        "lte + desc + limit 1 must give the latest event at or below lte (snapshot lookup)"
    );
    assert_eq!(
        versions(&select(recorder, a, &q().gt(1).lte(4).desc().limit(2))),
        vec![4, 3]
    );
    assert_eq!(
        versions(&select(recorder, a, &q().gt(2).limit(2))),
        vec![3, 4]
    );
    assert!(
        select(recorder, a, &q().lte(0)).is_empty(),
        "lte below the first version must select nothing"
    );
    assert!(
        select(recorder, a, &q().gt(5)).is_empty(),
        "gt at the last version must select nothing"
    );
    assert!(
        select(recorder, a, &q().gt(3).lte(3)).is_empty(),
        "gt == lte selects nothing"
    );
    assert!(
        select(recorder, a, &q().gt(4).lte(2)).is_empty(),
        "lte < gt selects nothing"
    );
    assert!(
        select(recorder, a, &q().limit(0)).is_empty(),
        "limit 0 selects nothing"
    );
    assert_eq!(versions(&select(recorder, b, &q().desc())), vec![3, 2, 1]);

    // Every combination, against a model.
    let bounds = [
        None,
        Some(0),
        Some(1),
        Some(2),
        Some(3),
        Some(4),
        Some(5),
        Some(6),
        Some(u64::MAX),
    ];
    let limits = [
        None,
        Some(0),
        Some(1),
        Some(2),
        Some(3),
        Some(10),
        Some(usize::MAX),
    ];
    for gt in bounds {
        for lte in bounds {
            for desc in [false, true] {
                for limit in limits {
                    let query = EventQuery {
                        gt,
                        lte,
                        desc,
                        limit,
                    };
                    let mut expected: Vec<u64> = (1..=5).filter(|&v| query.includes(v)).collect();
                    if desc {
                        expected.reverse();
                    }
                    expected.truncate(limit.unwrap_or(usize::MAX));
                    assert_eq!(
                        versions(&select(recorder, a, &query)),
                        expected,
                        "select_events with {query:?}"
                    );
                }
            }
        }
    }
}
