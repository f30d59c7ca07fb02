//! The recorder conformance suite (feature `testing`): one set of checks that every recorder
//! backend must pass, so that in-memory, SQLite, PostgreSQL and third-party recorders behave
//! the same.
//!
//! It also holds [`AggregateTest`], a given/when/then harness for the commands of aggregates:
//! given past events (or none), when a command, then these events, this error, or no events.
//! Add the feature to the dev-dependency
//! (`eventsourcing = { ..., features = ["testing"] }` under `[dev-dependencies]`) to use either
//! in a project's tests.
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

use std::sync::Arc;

use crate::persistence::{AggregateRecorder, ApplicationRecorder, ProcessRecorder};

mod aggregate;
#[cfg(feature = "tokio")]
mod async_face;
mod concurrency;
mod data_keys;
mod fixtures;
mod insert;
mod notifications;
mod select;
mod tracking;

pub use aggregate::{AggregateTest, CommandOutcome, CreationOutcome, Given, GivenNoEvents, Then};
#[cfg(feature = "tokio")]
pub use async_face::{AsyncFace, AsyncFaceFactory, AsyncRecorderFactory};
pub use concurrency::{
    check_concurrent_inserts, check_racing_trackers, check_racing_writers,
    check_racing_writers_notifications, check_tailing_reader,
};
pub use data_keys::check_data_keys;
pub use fixtures::{stored_event, EVENTS_PER_THREAD, THREADS, TOPIC};
pub use insert::{check_insert_and_select, check_insert_conflicts};
pub use notifications::{check_failed_insert_consumes_no_notification, check_notifications};
pub use select::check_select_variants;
pub use tracking::{check_batch_tracking, check_tracking, check_tracking_atomicity};

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
