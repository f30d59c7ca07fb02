//! The recorder conformance suite (`eventsourcing::testing`) against PostgreSQL, unchanged:
//! each check gets tables in a schema of its own. The handles of the concurrency checks each
//! have their own connection pool, so those checks exercise the server's locking.
//!
//! The suite runs three times: on the blocking face (the tests at the top level), on the
//! async face of native recorders (`async_face`: `PostgresDatastore::native`, whose
//! connections run on the runtime that awaits them), and on the async face of recorders with a
//! runtime of their own (`async_face_own_runtime`: `PostgresDatastore::new`, each call a task
//! there), each async call awaited through `AsyncFace`.
//!
//! Skipped, with a message, when no server answers (outside CI).

use std::sync::{Arc, Mutex};

use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
    AsyncProcessRecorder, Bridge, ProcessRecorder,
};
use eventsourcing::postgres::{
    PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDatastore, PostgresSettings,
};
use eventsourcing::testing::{AsyncRecorderFactory, RecorderFactory};
use eventsourcing_tests::pg::TempSchema;

/// Recorders in new schemas, dropped when the factory is dropped (at the end of each test).
struct Postgres {
    schemas: Mutex<Vec<TempSchema>>,
}

impl Postgres {
    fn new() -> Option<Self> {
        eventsourcing_tests::pg::available().then(|| Postgres {
            schemas: Mutex::new(Vec::new()),
        })
    }

    /// A new schema; returns its settings.
    fn schema(&self) -> PostgresSettings {
        let schema = TempSchema::new("conformance").expect("PostgreSQL answered before");
        let settings = schema.settings();
        self.schemas.lock().unwrap().push(schema);
        settings
    }

    fn datastore(settings: &PostgresSettings) -> Arc<PostgresDatastore> {
        Arc::new(PostgresDatastore::new(settings.clone()).expect("datastore"))
    }

    fn application(settings: &PostgresSettings) -> Arc<PostgresApplicationRecorder> {
        Arc::new(
            PostgresApplicationRecorder::new(
                Self::datastore(settings),
                "stored_events",
                "notification_tracking",
            )
            .expect("application recorder"),
        )
    }
}

impl RecorderFactory for Postgres {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        let settings = self.schema();
        Arc::new(
            PostgresAggregateRecorder::new(Self::datastore(&settings), "stored_snapshots")
                .expect("aggregate recorder"),
        )
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        Self::application(&self.schema())
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        Self::application(&self.schema())
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AggregateRecorder>> {
        let settings = self.schema();
        (0..n.max(1))
            .map(|_| {
                Arc::new(
                    PostgresAggregateRecorder::new(Self::datastore(&settings), "stored_snapshots")
                        .expect("aggregate recorder"),
                ) as Arc<dyn AggregateRecorder>
            })
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ApplicationRecorder>> {
        let settings = self.schema();
        (0..n.max(1))
            .map(|_| Self::application(&settings) as Arc<dyn ApplicationRecorder>)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ProcessRecorder>> {
        let settings = self.schema();
        (0..n.max(1))
            .map(|_| Self::application(&settings) as Arc<dyn ProcessRecorder>)
            .collect()
    }

    fn gapless_notification_ids(&self) -> bool {
        false
    }
}

/// Async recorders in new schemas: native ones (`PostgresDatastore::native`), or ones with a
/// runtime of their own (`PostgresDatastore::new`), made (their tables created) on a runtime of
/// the factory's.
struct PostgresAsync {
    blocking: Postgres,
    native: bool,
    runtime: Bridge,
}

impl PostgresAsync {
    fn new(native: bool) -> Option<Self> {
        Some(PostgresAsync {
            blocking: Postgres::new()?,
            native,
            runtime: Bridge::new("conformance-setup").expect("a runtime"),
        })
    }

    fn datastore(&self, settings: &PostgresSettings) -> Arc<PostgresDatastore> {
        let datastore = if self.native {
            PostgresDatastore::native(settings.clone())
        } else {
            PostgresDatastore::new(settings.clone())
        };
        Arc::new(datastore.expect("datastore"))
    }

    fn aggregate(&self, settings: &PostgresSettings) -> Arc<PostgresAggregateRecorder> {
        let datastore = self.datastore(settings);
        let recorder = self
            .runtime
            .block_on(PostgresAggregateRecorder::new_async(
                datastore,
                "stored_snapshots",
            ))
            .expect("runtime")
            .expect("aggregate recorder");
        Arc::new(recorder)
    }

    fn application(&self, settings: &PostgresSettings) -> Arc<PostgresApplicationRecorder> {
        let datastore = self.datastore(settings);
        let recorder = self
            .runtime
            .block_on(PostgresApplicationRecorder::new_async(
                datastore,
                "stored_events",
                "notification_tracking",
            ))
            .expect("runtime")
            .expect("application recorder");
        Arc::new(recorder)
    }
}

impl AsyncRecorderFactory for PostgresAsync {
    fn aggregate_recorder(&self) -> Arc<dyn AsyncAggregateRecorder> {
        self.aggregate(&self.blocking.schema())
    }

    fn application_recorder(&self) -> Arc<dyn AsyncApplicationRecorder> {
        self.application(&self.blocking.schema())
    }

    fn process_recorder(&self) -> Arc<dyn AsyncProcessRecorder> {
        self.application(&self.blocking.schema())
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncAggregateRecorder>> {
        let settings = self.blocking.schema();
        (0..n.max(1))
            .map(|_| self.aggregate(&settings) as Arc<dyn AsyncAggregateRecorder>)
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncApplicationRecorder>> {
        let settings = self.blocking.schema();
        (0..n.max(1))
            .map(|_| self.application(&settings) as Arc<dyn AsyncApplicationRecorder>)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncProcessRecorder>> {
        let settings = self.blocking.schema();
        (0..n.max(1))
            .map(|_| self.application(&settings) as Arc<dyn AsyncProcessRecorder>)
            .collect()
    }

    fn gapless_notification_ids(&self) -> bool {
        false
    }
}

macro_rules! postgres_conformance_tests {
    (@async $module:ident, $native:expr; $($check:ident)*) => {
        mod $module {
            use eventsourcing::testing::AsyncFace;
            $(
                #[test]
                fn $check() {
                    if let Some(factory) = super::PostgresAsync::new($native) {
                        eventsourcing::testing::$check(&AsyncFace::factory(factory));
                    }
                }
            )*
        }
    };
    ($($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                if let Some(factory) = Postgres::new() {
                    eventsourcing::testing::$check(&factory);
                }
            }
        )*

        postgres_conformance_tests!(@async async_face, true; $($check)*);
        postgres_conformance_tests!(@async async_face_own_runtime, false; $($check)*);
    };
}

postgres_conformance_tests!(
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

/// Every check of the suite has a test above.
#[test]
fn every_check_runs() {
    let source = include_str!("postgres_conformance.rs");
    for check in eventsourcing::testing::CHECKS {
        assert!(
            source.contains(&format!("\n    {}\n", check.name)),
            "{} is not run against PostgreSQL",
            check.name
        );
    }
}
