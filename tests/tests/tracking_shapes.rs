//! Tracking tables of both shapes the reference library has used: a new table gets the 9.5
//! shape (one row per upstream application, marked by a `__migration__` row), and a table of
//! the 9.1 shape (a row per record) that exists is used as it is, never migrated or renamed.
//! Either way, positions move forward only, and a recorded position is exactly once.

use std::sync::Arc;

use eventsourcing::persistence::{ProcessRecorder, StoredEvent, Tracking};
use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore};
use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_tests::pg::{self, TempSchema};
use uuid::Uuid;

fn event() -> StoredEvent {
    StoredEvent {
        originator_id: Uuid::new_v4(),
        originator_version: 1,
        topic: "dogs:Dog.Registered".into(),
        state: b"{}".to_vec(),
    }
}

fn tracking(name: &str, id: u64) -> Tracking {
    Tracking {
        application_name: name.into(),
        notification_id: id,
    }
}

/// What every shape does: positions per upstream application, forward only.
fn check_positions(recorder: &dyn ProcessRecorder) {
    assert_eq!(recorder.max_tracking_id("Upstream").unwrap(), 0);
    recorder
        .insert_events_with_tracking(&[event()], &[tracking("Upstream", 3)])
        .unwrap();
    recorder
        .insert_events_with_tracking(&[event()], &[tracking("Upstream", 7), tracking("Other", 2)])
        .unwrap();
    assert_eq!(recorder.max_tracking_id("Upstream").unwrap(), 7);
    assert_eq!(recorder.max_tracking_id("Other").unwrap(), 2);
    for stale in [7, 5] {
        let error = recorder
            .insert_events_with_tracking(&[event()], &[tracking("Upstream", stale)])
            .unwrap_err();
        assert!(error.is_integrity(), "{error}");
    }
    assert_eq!(recorder.max_tracking_id("Upstream").unwrap(), 7);
}

/// The rows of a tracking table, sorted.
type Rows = Vec<(String, i64)>;

mod sqlite {
    use super::*;

    fn rows(path: &std::path::Path, table: &str) -> Rows {
        let connection = rusqlite::Connection::open(path).unwrap();
        let mut statement = connection
            .prepare(&format!(
                "SELECT application_name, notification_id FROM {table} ORDER BY 1, 2"
            ))
            .unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows
    }

    fn recorder(path: &std::path::Path) -> SqliteApplicationRecorder {
        let datastore = Arc::new(SqliteDatastore::open(path.to_str().unwrap()).unwrap());
        SqliteApplicationRecorder::new(datastore).unwrap()
    }

    #[test]
    fn a_new_table_has_the_reference_9_5_shape() {
        let dir = eventsourcing_tests::TempDir::new("shape95");
        let path = dir.path().join("store.db");
        check_positions(&recorder(&path));
        assert_eq!(
            rows(&path, "tracking"),
            [
                ("Other".into(), 2),
                ("Upstream".into(), 7),
                ("__migration__".into(), 1)
            ]
        );
        // Reopened: still the same table and positions.
        assert_eq!(recorder(&path).max_tracking_id("Upstream").unwrap(), 7);
    }

    #[test]
    fn a_table_of_the_9_1_shape_is_used_as_it_is() {
        let dir = eventsourcing_tests::TempDir::new("shape91");
        let path = dir.path().join("store.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE tracking (application_name TEXT, notification_id INTEGER, \
                 PRIMARY KEY (application_name, notification_id)) WITHOUT ROWID; \
                 INSERT INTO tracking VALUES ('Earlier', 1);",
            )
            .unwrap();
        check_positions(&recorder(&path));
        assert_eq!(
            rows(&path, "tracking"),
            [
                ("Earlier".into(), 1),
                ("Other".into(), 2),
                ("Upstream".into(), 3),
                ("Upstream".into(), 7)
            ]
        );
    }
}

mod postgres {
    use super::*;

    fn rows(schema: &TempSchema, table: &str) -> Rows {
        pg::connect()
            .unwrap()
            .query(
                &format!(
                    "SELECT application_name, notification_id FROM {}.{table} ORDER BY 1, 2",
                    schema.name()
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    fn recorder(schema: &TempSchema) -> PostgresApplicationRecorder {
        let datastore = Arc::new(PostgresDatastore::new(schema.settings()).unwrap());
        PostgresApplicationRecorder::new(datastore, "dogs_events", "dogs_tracking").unwrap()
    }

    #[test]
    fn a_new_table_has_the_reference_9_5_shape_and_types() {
        let Some(schema) = TempSchema::new("shape95") else {
            return;
        };
        check_positions(&recorder(&schema));
        assert_eq!(
            rows(&schema, "dogs_tracking"),
            [
                ("Other".into(), 2),
                ("Upstream".into(), 7),
                ("__migration__".into(), 1)
            ]
        );
        // The reference's column types and composite type.
        let mut admin = pg::connect().unwrap();
        let types: Vec<(String, String)> = admin
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = 'dogs_events' ORDER BY ordinal_position",
                &[&schema.name()],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let expected = [
            ("originator_id", "uuid"),
            ("originator_version", "bigint"),
            ("topic", "text"),
            ("state", "bytea"),
            ("notification_id", "bigint"),
        ];
        assert_eq!(
            types,
            expected
                .map(|(c, t)| (c.to_string(), t.to_string()))
                .to_vec()
        );
        let composite: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = $1 AND t.typname = 'stored_event_uuid'",
                &[&schema.name()],
            )
            .unwrap()
            .get(0);
        assert_eq!(composite, 1);
        // Made again over the same tables: nothing changes.
        assert_eq!(recorder(&schema).max_tracking_id("Upstream").unwrap(), 7);
    }

    #[test]
    fn a_table_of_the_9_1_shape_is_used_as_it_is() {
        let Some(schema) = TempSchema::new("shape91") else {
            return;
        };
        pg::connect()
            .unwrap()
            .batch_execute(&format!(
                "CREATE TABLE {0}.dogs_tracking (application_name text, notification_id bigint, \
                 PRIMARY KEY (application_name, notification_id)); \
                 INSERT INTO {0}.dogs_tracking VALUES ('Earlier', 1);",
                schema.name()
            ))
            .unwrap();
        check_positions(&recorder(&schema));
        assert_eq!(
            rows(&schema, "dogs_tracking"),
            [
                ("Earlier".into(), 1),
                ("Other".into(), 2),
                ("Upstream".into(), 3),
                ("Upstream".into(), 7)
            ]
        );
    }

    /// A table made by an earlier release, with `integer` versions, is read and written.
    #[test]
    fn an_events_table_with_integer_versions_is_used_as_it_is() {
        let Some(schema) = TempSchema::new("intversions") else {
            return;
        };
        pg::connect()
            .unwrap()
            .batch_execute(&format!(
                "CREATE TABLE {0}.dogs_events (originator_id uuid NOT NULL, \
                 originator_version integer NOT NULL, topic text, state bytea, \
                 notification_id BIGSERIAL, PRIMARY KEY (originator_id, originator_version))",
                schema.name()
            ))
            .unwrap();
        let recorder = recorder(&schema);
        let mut second = event();
        second.originator_version = 2;
        let mut first = second.clone();
        first.originator_version = 1;
        use eventsourcing::persistence::{AggregateRecorder, EventQuery};
        recorder
            .insert_events(&[first.clone(), second.clone()])
            .unwrap();
        let stored = recorder
            .select_events(
                first.originator_id,
                &EventQuery {
                    gt: Some(1),
                    ..EventQuery::default()
                },
            )
            .unwrap();
        assert_eq!(stored, [second.clone()]);
        assert!(recorder
            .insert_events(&[second])
            .unwrap_err()
            .is_integrity());
    }
}
