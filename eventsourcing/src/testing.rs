//! The recorder conformance suite (feature `testing`): one set of checks that every recorder
//! backend must pass, so that in-memory, SQLite, PostgreSQL and third-party recorders behave
//! the same.
//!
//! The checks follow the recorder contracts of the reference library (insert is atomic; a
//! conflict on an aggregate version, with a stored event or inside the batch, is an integrity
//! error and writes nothing; `select_events` filters `gt`/`lte`, orders, then limits;
//! notification ids follow commit order; tracking positions never move backwards) and the
//! failures other event stores have had (lost or doubled events under concurrent writers,
//! readers of the notification log skipping events committed out of order).
//!
//! There are two layers:
//!
//! - `check_*` functions take recorders and check one behaviour. Each expects a **fresh,
//!   empty** recorder (or handles on one fresh, empty database).
//! - Functions named like the checks without the prefix (such as [`aggregate_select_variants`])
//!   take a [`RecorderFactory`], make the fresh recorders and run one check. [`CHECKS`] lists
//!   them all, [`run_all`] runs them all, and the
//!   [`recorder_conformance_tests!`](crate::recorder_conformance_tests) macro generates one
//!   `#[test]` per check.
//!
//! The checks are test code: they panic, with a message saying what was expected, when a
//! recorder does not conform.
//!
//! ```
//! use std::sync::Arc;
//! use eventsourcing::persistence::{AggregateRecorder, ApplicationRecorder, ProcessRecorder};
//! use eventsourcing::memory::InMemoryRecorder;
//! use eventsourcing::testing::{self, RecorderFactory};
//!
//! struct InMemory;
//!
//! impl RecorderFactory for InMemory {
//!     fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
//!         Arc::new(InMemoryRecorder::new())
//!     }
//!     fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
//!         Arc::new(InMemoryRecorder::new())
//!     }
//!     fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
//!         Arc::new(InMemoryRecorder::new())
//!     }
//! }
//!
//! testing::aggregate_select_variants(&InMemory);
//! testing::process_tracking(&InMemory);
//! // Or every check: testing::run_all(&InMemory);
//! // Or one #[test] per check: eventsourcing::recorder_conformance_tests!(InMemory);
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, EventQuery, Notification, PersistenceError,
    ProcessRecorder, StoredEvent, Tracking,
};

/// Makes fresh, empty recorders of one backend for the checks.
///
/// Every method must return a recorder of a new, empty database (or new, empty tables): each
/// check starts from nothing. For a file database that means a new file per call.
pub trait RecorderFactory: Sync {
    /// A fresh, empty aggregate recorder (the kind that stores snapshots).
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder>;

    /// A fresh, empty application recorder.
    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder>;

    /// A fresh, empty process recorder.
    fn process_recorder(&self) -> Arc<dyn ProcessRecorder>;

    /// `n` handles on one fresh, empty aggregate-recorder database, for the concurrency
    /// checks (thread `i` uses handle `i % n`).
    ///
    /// Where the backend can, return independent handles (their own connections or pools on
    /// the same database), so that the checks exercise the database's own locking and not
    /// only a lock inside one handle. The default returns `n` clones of one recorder.
    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AggregateRecorder>> {
        let recorder = self.aggregate_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// `n` handles on one fresh, empty application-recorder database (see
    /// [`aggregate_recorder_handles`](RecorderFactory::aggregate_recorder_handles)).
    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ApplicationRecorder>> {
        let recorder = self.application_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// `n` handles on one fresh, empty process-recorder database (see
    /// [`aggregate_recorder_handles`](RecorderFactory::aggregate_recorder_handles)).
    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ProcessRecorder>> {
        let recorder = self.process_recorder();
        (0..n.max(1)).map(|_| Arc::clone(&recorder)).collect()
    }

    /// Whether the backend's notification ids have no gaps: 1, 2, 3, … in commit order, with
    /// a failed insert consuming no id. True for the in-memory and SQLite recorders; false for
    /// PostgreSQL, whose sequence leaves a gap where an insert was rolled back. Either way,
    /// ids must increase in commit order, so a reader never misses an event.
    fn gapless_notification_ids(&self) -> bool {
        true
    }
}

/// One check of the suite: its name and the function that runs it with a factory.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// The check's name, which is also the name of its function in this module.
    pub name: &'static str,
    /// Runs the check with fresh recorders from the factory; panics if the recorder fails it.
    pub run: fn(&dyn RecorderFactory),
}

/// A [`Check`] per function name.
macro_rules! checks {
    ($($check:ident),* $(,)?) => {
        &[$(Check { name: stringify!($check), run: $check }),*]
    };
}

/// Every check of the suite, in the order [`run_all`] runs them.
pub const CHECKS: &[Check] = checks![
    aggregate_insert_and_select,
    aggregate_select_variants,
    aggregate_insert_conflicts,
    aggregate_racing_writers,
    application_insert_and_select,
    application_select_variants,
    application_insert_conflicts,
    application_notifications,
    application_failed_insert_consumes_no_notification,
    application_concurrent_inserts,
    application_racing_writers,
    application_tailing_reader,
    process_insert_and_select,
    process_select_variants,
    process_insert_conflicts,
    process_notifications,
    process_tracking,
    process_tracking_atomicity,
    process_batch_tracking,
    process_racing_trackers,
];

/// Runs every check in [`CHECKS`], each with fresh recorders from `factory`.
pub fn run_all(factory: &dyn RecorderFactory) {
    for check in CHECKS {
        (check.run)(factory);
    }
}

/// Generates one `#[test]` per check of the recorder conformance suite
/// ([`testing::CHECKS`](crate::testing::CHECKS)), each calling the check with the factory
/// expression (evaluated afresh in each test), plus a test that no check is missing.
///
/// Use it inside a module per backend:
///
/// ```ignore
/// mod sqlite_file {
///     eventsourcing::recorder_conformance_tests!(crate::SqliteFileFactory::new());
/// }
/// ```
#[macro_export]
macro_rules! recorder_conformance_tests {
    ($factory:expr) => {
        $crate::recorder_conformance_tests!(@tests ($factory)
            aggregate_insert_and_select
            aggregate_select_variants
            aggregate_insert_conflicts
            aggregate_racing_writers
            application_insert_and_select
            application_select_variants
            application_insert_conflicts
            application_notifications
            application_failed_insert_consumes_no_notification
            application_concurrent_inserts
            application_racing_writers
            application_tailing_reader
            process_insert_and_select
            process_select_variants
            process_insert_conflicts
            process_notifications
            process_tracking
            process_tracking_atomicity
            process_batch_tracking
            process_racing_trackers
        );
    };
    (@tests ($factory:expr) $($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                let factory = $factory;
                $crate::testing::$check(&factory);
            }
        )*

        #[test]
        fn every_conformance_check_is_generated() {
            let generated: &[&str] = &[$(stringify!($check)),*];
            let all: Vec<&str> = $crate::testing::CHECKS.iter().map(|c| c.name).collect();
            assert_eq!(generated, all.as_slice(), "recorder_conformance_tests! is out of date");
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The checks with a factory.

/// [`check_insert_and_select`] on a fresh aggregate recorder.
pub fn aggregate_insert_and_select(factory: &dyn RecorderFactory) {
    check_insert_and_select(&*factory.aggregate_recorder());
}

/// [`check_select_variants`] on a fresh aggregate recorder.
pub fn aggregate_select_variants(factory: &dyn RecorderFactory) {
    check_select_variants(&*factory.aggregate_recorder());
}

/// [`check_insert_conflicts`] on a fresh aggregate recorder.
pub fn aggregate_insert_conflicts(factory: &dyn RecorderFactory) {
    check_insert_conflicts(&*factory.aggregate_recorder());
}

/// [`check_racing_writers`] on handles of a fresh aggregate recorder.
pub fn aggregate_racing_writers(factory: &dyn RecorderFactory) {
    check_racing_writers(&factory.aggregate_recorder_handles(THREADS));
}

/// [`check_insert_and_select`] on a fresh application recorder.
pub fn application_insert_and_select(factory: &dyn RecorderFactory) {
    check_insert_and_select(&*factory.application_recorder());
}

/// [`check_select_variants`] on a fresh application recorder.
pub fn application_select_variants(factory: &dyn RecorderFactory) {
    check_select_variants(&*factory.application_recorder());
}

/// [`check_insert_conflicts`] on a fresh application recorder.
pub fn application_insert_conflicts(factory: &dyn RecorderFactory) {
    check_insert_conflicts(&*factory.application_recorder());
}

/// [`check_notifications`] on a fresh application recorder.
pub fn application_notifications(factory: &dyn RecorderFactory) {
    check_notifications(
        &*factory.application_recorder(),
        factory.gapless_notification_ids(),
    );
}

/// [`check_failed_insert_consumes_no_notification`] on a fresh application recorder.
pub fn application_failed_insert_consumes_no_notification(factory: &dyn RecorderFactory) {
    check_failed_insert_consumes_no_notification(
        &*factory.application_recorder(),
        factory.gapless_notification_ids(),
    );
}

/// [`check_concurrent_inserts`] on handles of a fresh application recorder.
pub fn application_concurrent_inserts(factory: &dyn RecorderFactory) {
    check_concurrent_inserts(
        &factory.application_recorder_handles(THREADS),
        factory.gapless_notification_ids(),
    );
}

/// [`check_racing_writers_notifications`] on handles of a fresh application recorder.
pub fn application_racing_writers(factory: &dyn RecorderFactory) {
    check_racing_writers_notifications(
        &factory.application_recorder_handles(THREADS),
        factory.gapless_notification_ids(),
    );
}

/// [`check_tailing_reader`] on handles of a fresh application recorder.
pub fn application_tailing_reader(factory: &dyn RecorderFactory) {
    check_tailing_reader(
        &factory.application_recorder_handles(THREADS),
        factory.gapless_notification_ids(),
    );
}

/// [`check_insert_and_select`] on a fresh process recorder.
pub fn process_insert_and_select(factory: &dyn RecorderFactory) {
    check_insert_and_select(&*factory.process_recorder());
}

/// [`check_select_variants`] on a fresh process recorder.
pub fn process_select_variants(factory: &dyn RecorderFactory) {
    check_select_variants(&*factory.process_recorder());
}

/// [`check_insert_conflicts`] on a fresh process recorder.
pub fn process_insert_conflicts(factory: &dyn RecorderFactory) {
    check_insert_conflicts(&*factory.process_recorder());
}

/// [`check_notifications`] on a fresh process recorder.
pub fn process_notifications(factory: &dyn RecorderFactory) {
    check_notifications(
        &*factory.process_recorder(),
        factory.gapless_notification_ids(),
    );
}

/// [`check_tracking`] on a fresh process recorder.
pub fn process_tracking(factory: &dyn RecorderFactory) {
    check_tracking(
        &*factory.process_recorder(),
        factory.gapless_notification_ids(),
    );
}

/// [`check_tracking_atomicity`] on a fresh process recorder.
pub fn process_tracking_atomicity(factory: &dyn RecorderFactory) {
    check_tracking_atomicity(
        &*factory.process_recorder(),
        factory.gapless_notification_ids(),
    );
}

/// [`check_batch_tracking`] on a fresh process recorder.
pub fn process_batch_tracking(factory: &dyn RecorderFactory) {
    check_batch_tracking(&*factory.process_recorder());
}

/// [`check_racing_trackers`] on handles of a fresh process recorder.
pub fn process_racing_trackers(factory: &dyn RecorderFactory) {
    check_racing_trackers(
        &factory.process_recorder_handles(THREADS),
        factory.gapless_notification_ids(),
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// How many threads the concurrency checks run.
pub const THREADS: usize = 8;

/// How many events each writer of [`check_concurrent_inserts`] inserts.
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

fn ok<T>(result: Result<T, PersistenceError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected success, got error: {e} ({e:?})"),
    }
}

/// A refused tracking record: an integrity error, and not an aggregate's
/// [`Conflict`](PersistenceError::Conflict).
#[track_caller]
fn tracking_refused<T: Debug>(result: Result<T, PersistenceError>, what: &str) {
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
fn conflict<T: Debug>(result: Result<T, PersistenceError>, id: Uuid, version: u64, what: &str) {
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

fn select(recorder: &dyn AggregateRecorder, id: Uuid, query: &EventQuery) -> Vec<StoredEvent> {
    ok(
        recorder.select_events(id, query),
        &format!("select_events({id}, {query:?})"),
    )
}

fn select_all(recorder: &dyn AggregateRecorder, id: Uuid) -> Vec<StoredEvent> {
    select(recorder, id, &EventQuery::new())
}

fn versions(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.originator_version).collect()
}

fn notifications(
    recorder: &dyn ApplicationRecorder,
    start: u64,
    limit: usize,
) -> Vec<Notification> {
    ok(
        recorder.select_notifications(start, limit),
        &format!("select_notifications({start}, {limit})"),
    )
}

fn max_notification_id(recorder: &dyn ApplicationRecorder) -> u64 {
    ok(recorder.max_notification_id(), "max_notification_id()")
}

/// Every notification, read in pages.
fn all_notifications(recorder: &dyn ApplicationRecorder) -> Vec<Notification> {
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
fn assert_ids_increasing(notifications: &[Notification], gapless: bool, what: &str) {
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

fn stored_events(notifications: &[Notification]) -> Vec<StoredEvent> {
    notifications.iter().map(|n| n.stored.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Aggregate recorder checks.

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

/// Optimistic concurrency control: inserting a version that is already stored, or the same
/// version twice in one batch, is a [`PersistenceError::Conflict`] naming the first event of
/// the batch that conflicts (an integrity error), and writes nothing of the batch (not even the
/// events of other aggregates in it); the stored event is not replaced; the recorder keeps
/// working afterwards.
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

/// Each run of the race: which threads' inserts succeeded, by round.
fn race(
    handles: &[&dyn AggregateRecorder],
    shared: Uuid,
    private: &[Uuid],
    rounds: u64,
) -> Vec<usize> {
    let barrier = Barrier::new(THREADS);
    let results: Vec<Vec<Result<(), PersistenceError>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = handles[t % handles.len()];
                let barrier = &barrier;
                let own = private[t];
                scope.spawn(move || {
                    (1..=rounds)
                        .map(|round| {
                            let tag = format!("thread {t}");
                            let batch = [
                                stored_event(own, round, &tag),
                                stored_event(shared, round, &tag),
                            ];
                            barrier.wait();
                            recorder.insert_events(&batch)
                        })
                        .collect()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racing writer panicked"))
            .collect()
    });
    (0..rounds as usize)
        .map(|round| {
            let mut winners = Vec::new();
            for (t, results) in results.iter().enumerate() {
                match &results[round] {
                    Ok(()) => winners.push(t),
                    Err(e) => assert!(
                        e.conflict() == Some((shared, round as u64 + 1)),
                        "round {}: a writer that lost the race must get a conflict naming the \
                         raced aggregate {shared} and version {}, thread {t} got {}: {e}",
                        round + 1,
                        round + 1,
                        e.kind()
                    ),
                }
            }
            assert_eq!(
                winners.len(),
                1,
                "round {}: exactly one of {THREADS} writers racing to insert the same version \
                 must win, winners: {winners:?}",
                round + 1
            );
            winners[0]
        })
        .collect()
}

/// How many versions the racing checks race for.
const RACE_ROUNDS: u64 = 100;

fn check_race(handles: &[&dyn AggregateRecorder]) -> (Uuid, Vec<Uuid>, Vec<usize>) {
    let shared = Uuid::new_v4();
    let private: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    let winners = race(handles, shared, &private, RACE_ROUNDS);
    let recorder = handles[0];
    let expected: Vec<StoredEvent> = winners
        .iter()
        .zip(1..)
        .map(|(t, version)| stored_event(shared, version, &format!("thread {t}")))
        .collect();
    assert_eq!(
        select_all(recorder, shared),
        expected,
        "each raced version must be stored once, as the winner wrote it"
    );
    for (t, &own) in private.iter().enumerate() {
        let won: Vec<u64> = (1..=RACE_ROUNDS)
            .filter(|&round| winners[round as usize - 1] == t)
            .collect();
        assert_eq!(
            versions(&select_all(recorder, own)),
            won,
            "thread {t}'s own events must be stored exactly in the rounds it won (a losing \
             batch must write nothing)"
        );
    }
    (shared, private, winners)
}

/// [`THREADS`] threads race, round after round, each to insert the same next version of one
/// aggregate, batched with an event of its own aggregate: exactly one wins each round, every
/// loser gets an integrity error, the winner's event is stored once, and no loser's own event
/// is written.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_writers(handles: &[Arc<dyn AggregateRecorder>]) {
    assert!(!handles.is_empty(), "check_racing_writers needs a recorder");
    let handles: Vec<&dyn AggregateRecorder> = handles.iter().map(|h| &**h).collect();
    check_race(&handles);
}

/// [`check_racing_writers`] on application recorders, also checking the notification log:
/// exactly the winners' events, each once, in commit order, with ids strictly increasing
/// (and gapless if `gapless`: the losers consumed no ids).
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_writers_notifications(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(!handles.is_empty(), "check_racing_writers needs a recorder");
    let aggregate: Vec<&dyn AggregateRecorder> = handles
        .iter()
        .map(|h| &**h as &dyn AggregateRecorder)
        .collect();
    let (shared, private, winners) = check_race(&aggregate);
    let log = all_notifications(&*handles[0]);
    assert_ids_increasing(&log, gapless, "after racing writers");
    let expected: Vec<StoredEvent> = winners
        .iter()
        .zip(1..)
        .flat_map(|(&t, round)| {
            let tag = format!("thread {t}");
            [
                stored_event(private[t], round, &tag),
                stored_event(shared, round, &tag),
            ]
        })
        .collect();
    assert_eq!(
        stored_events(&log),
        expected,
        "the notification log must hold the winners' batches, each once, in commit order"
    );
    if gapless {
        assert_eq!(max_notification_id(&*handles[0]), expected.len() as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// Application recorder checks.

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

/// One writer's aggregates in a concurrency check.
const AGGREGATES_PER_THREAD: usize = 10;

/// Writer `t` inserts `events` events, one per insert, round robin over its own
/// [`AGGREGATES_PER_THREAD`] aggregates; returns the aggregates.
fn write_own_aggregates(recorder: &dyn AggregateRecorder, t: usize, events: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..AGGREGATES_PER_THREAD).map(|_| Uuid::new_v4()).collect();
    for i in 0..events {
        let id = ids[i % AGGREGATES_PER_THREAD];
        let version = (i / AGGREGATES_PER_THREAD) as u64 + 1;
        let event = stored_event(id, version, &format!("thread {t}"));
        ok(
            recorder.insert_events(std::slice::from_ref(&event)),
            &format!("writer {t}: insert_events({id} v{version})"),
        );
    }
    ids
}

/// After concurrent writers: every event present exactly once in the log, ids strictly
/// increasing (gapless if `gapless`), each aggregate's versions in order, and each
/// aggregate's events selectable.
fn check_written_once(
    recorder: &dyn ApplicationRecorder,
    writers: &[Vec<Uuid>],
    events_per_writer: usize,
    gapless: bool,
) {
    let total = writers.len() * events_per_writer;
    let log = all_notifications(recorder);
    assert_ids_increasing(&log, gapless, "after concurrent inserts");
    assert_eq!(
        log.len(),
        total,
        "every event inserted by concurrent writers must be in the log exactly once"
    );
    if gapless {
        assert_eq!(max_notification_id(recorder), total as u64);
    } else {
        assert_eq!(
            Some(max_notification_id(recorder)),
            log.last().map(|n| n.id)
        );
    }
    let mut next_version: HashMap<Uuid, u64> = HashMap::new();
    for (t, ids) in writers.iter().enumerate() {
        for id in ids {
            next_version.insert(*id, 1);
            let events = select_all(recorder, *id);
            let per_aggregate = events_per_writer / AGGREGATES_PER_THREAD;
            let expected: Vec<StoredEvent> = (1..=per_aggregate as u64)
                .map(|v| stored_event(*id, v, &format!("thread {t}")))
                .collect();
            assert_eq!(
                events, expected,
                "the events of writer {t}'s aggregate {id}"
            );
        }
    }
    for n in &log {
        let next = next_version
            .get_mut(&n.originator_id)
            .unwrap_or_else(|| panic!("notification {} is of an aggregate nobody wrote", n.id));
        assert_eq!(
            n.originator_version, *next,
            "notification {}: each aggregate's versions must appear once each, in order",
            n.id
        );
        *next += 1;
    }
}

/// [`THREADS`] threads each insert [`EVENTS_PER_THREAD`] events of their own aggregates, one
/// insert per event, at the same time: every event is stored exactly once, the notification
/// ids strictly increase (with no gaps if `gapless`), and each aggregate's versions appear in
/// the log in order.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_concurrent_inserts(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(
        !handles.is_empty(),
        "check_concurrent_inserts needs a recorder"
    );
    let writers: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                scope.spawn(move || write_own_aggregates(recorder, t, EVENTS_PER_THREAD))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a writer panicked"))
            .collect()
    });
    check_written_once(&*handles[0], &writers, EVENTS_PER_THREAD, gapless);
}

/// Counts a writer as finished when dropped.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many events each writer of [`check_tailing_reader`] inserts.
const TAILED_EVENTS_PER_WRITER: usize = 300;

/// A reader tails the notification log while [`THREADS`] − 1 writers insert: it never sees an
/// id at or below one it has already seen, never sees an event twice, and, reading from
/// just after the last id it saw, ends up having seen every event (no event committed
/// behind its back). With `gapless`, every id it reads is the one after the previous.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`; the reader
/// uses the last handle).
pub fn check_tailing_reader(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(!handles.is_empty(), "check_tailing_reader needs a recorder");
    let writers_count = THREADS - 1;
    let total = writers_count * TAILED_EVENTS_PER_WRITER;
    let finished = AtomicUsize::new(0);
    let reader_handle = &*handles[(THREADS - 1) % handles.len()];
    let (writers, seen) = std::thread::scope(|scope| {
        let finished = &finished;
        let threads: Vec<_> = (0..writers_count)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                scope.spawn(move || {
                    // Counted as finished even if it panics, so the reader stops waiting.
                    let _done = Finished(finished);
                    write_own_aggregates(recorder, t, TAILED_EVENTS_PER_WRITER)
                })
            })
            .collect();
        let reader = scope.spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut seen: HashSet<(Uuid, u64)> = HashSet::with_capacity(total);
            let mut last_id = 0;
            loop {
                // Read the flag before selecting: if every writer had finished before this
                // select began, the select must see everything.
                let all_written = finished.load(Ordering::SeqCst) == writers_count;
                let page = notifications(reader_handle, last_id + 1, 37);
                for n in &page {
                    assert!(
                        n.id > last_id,
                        "the tailing reader read id {} after id {last_id}: ids went backwards",
                        n.id
                    );
                    if gapless {
                        assert_eq!(
                            n.id,
                            last_id + 1,
                            "the tailing reader read id {} after id {last_id}: a gap",
                            n.id
                        );
                    }
                    assert!(
                        seen.insert((n.originator_id, n.originator_version)),
                        "the tailing reader read {} v{} twice",
                        n.originator_id,
                        n.originator_version
                    );
                    last_id = n.id;
                }
                if page.is_empty() {
                    if all_written {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the tailing reader timed out having read {} of {total} events",
                        seen.len()
                    );
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            seen
        });
        let writers: Vec<Vec<Uuid>> = threads
            .into_iter()
            .map(|t| t.join().expect("a writer panicked"))
            .collect();
        (writers, reader.join().expect("the tailing reader panicked"))
    });
    assert_eq!(
        seen.len(),
        total,
        "the tailing reader must read every event exactly once: it missed {} (events were \
         committed behind its position)",
        total - seen.len()
    );
    check_written_once(&*handles[0], &writers, TAILED_EVENTS_PER_WRITER, gapless);
}

// ---------------------------------------------------------------------------------------------
// Process recorder checks.

fn max_tracking_id(recorder: &dyn ProcessRecorder, name: &str) -> u64 {
    ok(
        recorder.max_tracking_id(name),
        &format!("max_tracking_id({name:?})"),
    )
}

fn insert_tracked(
    recorder: &dyn ProcessRecorder,
    events: &[StoredEvent],
    name: &str,
    id: u64,
) -> Result<(), PersistenceError> {
    recorder.insert_events_with_tracking(events, &[Tracking::new(name, id)])
}

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

/// [`THREADS`] followers race, round after round, to record the same upstream notification
/// with an event of their own: exactly one wins each round (an upstream event is processed
/// once), the losers get integrity errors and their events are not written, and the
/// position ends at the last round.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_trackers(handles: &[Arc<dyn ProcessRecorder>], gapless: bool) {
    assert!(
        !handles.is_empty(),
        "check_racing_trackers needs a recorder"
    );
    const ROUNDS: u64 = 50;
    let upstream = "upstream";
    let own: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    let barrier = Barrier::new(THREADS);
    let results: Vec<Vec<Result<(), PersistenceError>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                let barrier = &barrier;
                let id = own[t];
                scope.spawn(move || {
                    (1..=ROUNDS)
                        .map(|round| {
                            let event = stored_event(id, round, &format!("thread {t}"));
                            barrier.wait();
                            insert_tracked(recorder, &[event], upstream, round)
                        })
                        .collect()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racing follower panicked"))
            .collect()
    });
    let recorder = &*handles[0];
    let mut expected_log = Vec::new();
    for round in 1..=ROUNDS {
        let mut winners = Vec::new();
        for (t, results) in results.iter().enumerate() {
            match &results[round as usize - 1] {
                Ok(()) => winners.push(t),
                Err(e) => assert!(
                    e.is_integrity() && e.conflict().is_none(),
                    "round {round}: a follower that lost the race must get an integrity \
                     error about the tracking record, thread {t} got {}: {e}",
                    e.kind()
                ),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {THREADS} followers recording the same upstream \
             notification must win, winners: {winners:?}"
        );
        let t = winners[0];
        expected_log.push(stored_event(own[t], round, &format!("thread {t}")));
    }
    assert_eq!(max_tracking_id(recorder, upstream), ROUNDS);
    let log = all_notifications(recorder);
    assert_ids_increasing(&log, gapless, "after racing followers");
    assert_eq!(
        stored_events(&log),
        expected_log,
        "only the winners' events must be written, each once, in round order"
    );
}
