//! PostgreSQL names the conflicting event of an insert that lost a race even when the server's
//! error does not: with row-level security on the events table, a unique violation carries no
//! `Key (…)=(…) already exists` detail, and the recorder compares the batch with the table.
//! (The conformance suite covers the usual case, where the detail names the key.)
//!
//! Skipped, with a message, when no server answers (outside CI).

use std::sync::Arc;

use eventsourcing::persistence::{AggregateRecorder, StoredEvent};
use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore};
use eventsourcing_tests::pg::{self, TempSchema};
use uuid::Uuid;

/// A role that is not a superuser, so that row-level security applies to it.
const ROLE: &str = "eventsourcing_tests_rls";

fn event(id: Uuid, version: u64) -> StoredEvent {
    StoredEvent {
        originator_id: id,
        originator_version: version,
        topic: "tests:Event".into(),
        state: b"{}".to_vec(),
    }
}

#[test]
fn the_conflict_is_found_when_the_server_does_not_name_the_key() {
    let Some(schema) = TempSchema::new("rlsconflict") else {
        return;
    };
    let mut admin = pg::connect().unwrap();
    let settings = schema.settings();
    // Roles belong to the server, not the schema: made once, kept (concurrent runs may race to
    // make it). The recorder creates its tables with `CREATE SCHEMA IF NOT EXISTS`, which
    // needs the right to create schemas even when the schema exists.
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
             ALTER ROLE {ROLE} PASSWORD '{}'; \
             GRANT CREATE ON DATABASE \"{}\" TO {ROLE}; \
             GRANT ALL ON SCHEMA {} TO {ROLE};",
            settings.password.replace('\'', "''"),
            settings.dbname.replace('"', "\"\""),
            schema.name()
        ))
        .unwrap();
    let mut settings = settings;
    settings.user = ROLE.to_string();
    let recorder = PostgresApplicationRecorder::new(
        Arc::new(PostgresDatastore::new(settings.clone()).unwrap()),
        "stored_events",
        "tracking",
    )
    .unwrap();
    // The table's owner is subject to its policies only when they are forced.
    let table = format!("{}.stored_events", schema.name());
    admin
        .batch_execute(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY; \
             CREATE POLICY everything ON {table} USING (true) WITH CHECK (true);"
        ))
        .unwrap();

    let a = Uuid::new_v4();
    recorder.insert_events(&[event(a, 1), event(a, 2)]).unwrap();

    // What the server says: no detail, so the key can't be read from the error.
    let mut client = pg::connect_with(&settings).expect("connect as the role");
    let error = client
        .execute(
            &format!(
                "INSERT INTO {table} (originator_id, originator_version, topic, state) \
                 VALUES ($1, 2, 't', '')"
            ),
            &[&a],
        )
        .unwrap_err();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code(), &postgres::error::SqlState::UNIQUE_VIOLATION);
    assert_eq!(
        db.detail(),
        None,
        "the premise: row-level security hides the key"
    );

    let b = Uuid::new_v4();
    let error = recorder
        .insert_events(&[event(b, 1), event(a, 2)])
        .unwrap_err();
    assert_eq!(error.conflict(), Some((a, 2)), "{error:?}");
    let c = Uuid::new_v4();
    let error = recorder
        .insert_events(&[event(c, 1), event(c, 2), event(c, 1)])
        .unwrap_err();
    assert_eq!(error.conflict(), Some((c, 1)), "{error:?}");
    assert!(recorder
        .select_events(b, &Default::default())
        .unwrap()
        .is_empty());
}
