//! The data-key check of the conformance suite (`eventsourcing::testing::check_data_keys`)
//! against every backend: in memory, an SQLite file, and PostgreSQL (a schema of its own;
//! skipped, with a message, when no server answers outside CI).

use std::sync::Arc;

use eventsourcing::memory::{InMemoryDataKeys, InMemoryRecorder};
use eventsourcing::postgres::{
    PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresDataKeys, PostgresDatastore,
};
use eventsourcing::sqlite::{
    SqliteAggregateRecorder, SqliteApplicationRecorder, SqliteDataKeys, SqliteDatastore,
};
use eventsourcing::testing::check_data_keys;
use eventsourcing_tests::pg::TempSchema;
use eventsourcing_tests::TempDb;

#[test]
fn memory() {
    let events = Arc::new(InMemoryRecorder::new());
    let snapshots = Arc::new(InMemoryRecorder::new());
    let keys = InMemoryDataKeys::new(Arc::clone(&events), Some(Arc::clone(&snapshots)));
    check_data_keys(&*events, &*snapshots, &keys);
}

#[test]
fn sqlite_file() {
    let db = TempDb::new("data_key_conformance");
    let datastore = Arc::new(SqliteDatastore::open(db.path().to_string_lossy()).unwrap());
    let events = SqliteApplicationRecorder::new(Arc::clone(&datastore)).unwrap();
    let snapshots = SqliteAggregateRecorder::new(datastore, "stored_snapshots").unwrap();
    let keys = SqliteDataKeys::new(&events, "stored_data_keys", Some("stored_snapshots")).unwrap();
    check_data_keys(&events, &snapshots, &keys);
}

#[test]
fn postgres() {
    let Some(schema) = TempSchema::new("data_key_conformance") else {
        return;
    };
    let datastore = Arc::new(PostgresDatastore::new(schema.settings()).unwrap());
    let events =
        PostgresApplicationRecorder::new(Arc::clone(&datastore), "app_events", "app_tracking")
            .unwrap();
    let snapshots = PostgresAggregateRecorder::new(datastore, "app_snapshots").unwrap();
    let keys = PostgresDataKeys::new(&events, "app_data_keys", Some("app_snapshots")).unwrap();
    check_data_keys(&events, &snapshots, &keys);
}
