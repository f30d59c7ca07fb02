//! The recorder conformance suite (`eventsourcing::testing`) against PostgreSQL, unchanged:
//! each check gets tables in a schema of its own. The handles of the concurrency checks each
//! have their own connection pool, so those checks exercise the server's locking.
//!
//! Skipped, with a message, when no server answers (outside CI).

use std::sync::{Arc, Mutex};

use eventsourcing::persistence::{AggregateRecorder, ApplicationRecorder, ProcessRecorder};
use eventsourcing::postgres::{
    PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDatastore,
};
use eventsourcing::testing::RecorderFactory;
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
    fn schema(&self) -> eventsourcing::postgres::PostgresSettings {
        let schema = TempSchema::new("conformance").expect("PostgreSQL answered before");
        let settings = schema.settings();
        self.schemas.lock().unwrap().push(schema);
        settings
    }

    fn datastore(settings: &eventsourcing::postgres::PostgresSettings) -> Arc<PostgresDatastore> {
        Arc::new(PostgresDatastore::new(settings.clone()).expect("datastore"))
    }

    fn application(
        settings: &eventsourcing::postgres::PostgresSettings,
    ) -> Arc<PostgresApplicationRecorder> {
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

macro_rules! postgres_conformance_tests {
    ($($check:ident)*) => {$(
        #[test]
        fn $check() {
            if let Some(factory) = Postgres::new() {
                eventsourcing::testing::$check(&factory);
            }
        }
    )*};
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
