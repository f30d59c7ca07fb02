//! Bad input gives a one-line error on stderr and exit status 2, never a panic, and creates
//! nothing.

mod common;

use common::*;

#[test]
fn a_missing_sqlite_file_is_an_error_and_is_not_created() {
    let dir = TempDir::new("cli-missing");
    let path = dir.path().join("nothing-here.db");
    for command in ["info", "tail", "verify", "export"] {
        let error = run(&sqlite_env(&path), &[command]);
        assert!(error.error().contains("no SQLite database at"), "{error:?}");
    }
    assert!(!path.exists());
}

#[test]
fn an_sqlite_file_without_events_holds_no_application() {
    let db = TempDb::new("cli-no-app");
    rusqlite::Connection::open(db.path())
        .unwrap()
        .execute_batch("CREATE TABLE other (x)")
        .unwrap();
    let error = run(&sqlite_env(db.path()), &["--app", "Worlds", "tail"]);
    assert!(
        error.error().contains("no application \"Worlds\""),
        "{error:?}"
    );
    let error = run(&sqlite_env(db.path()), &["verify"]);
    assert!(error.error().contains("holds no application"), "{error:?}");
    // Nothing was created.
    let tables: i64 = rusqlite::Connection::open(db.path())
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = TempDir::new("cli-not-db");
    let path = dir.unique_file("db");
    std::fs::write(
        &path,
        "this is not an SQLite database, it is a text file of some length",
    )
    .unwrap();
    let error = run(&sqlite_env(&path), &["info"]);
    assert!(error.error().contains("not a database"), "{error:?}");
}

#[test]
fn configuration_errors_name_what_to_set() {
    let error = run(&[], &["info"]);
    assert!(error.error().contains("PERSISTENCE_MODULE"), "{error:?}");
    let memory = [(
        "PERSISTENCE_MODULE".to_string(),
        "eventsourcing.memory".to_string(),
    )];
    let error = run(&memory, &["info"]);
    assert!(error.error().contains("in-memory"), "{error:?}");
    let error = run(&[], &["--persistence-module", "mongo", "info"]);
    assert!(error.error().contains("\"mongo\""), "{error:?}");
    let error = run(&[], &["--persistence-module", "sqlite", "info"]);
    assert!(error.error().contains("SQLITE_DBNAME"), "{error:?}");
    let db = TempDb::new("cli-bad-flags");
    write_worlds(&sqlite_env(db.path()));
    let error = run(&sqlite_env(db.path()), &["history", "not-a-uuid"]);
    assert!(error.error().contains("not an aggregate id"), "{error:?}");
    let error = run(
        &with(&sqlite_env(db.path()), &[("COMPRESSOR_TOPIC", "lz4")]),
        &["verify"],
    );
    assert!(error.error().contains("COMPRESSOR_TOPIC"), "{error:?}");
    // Unknown flags are clap's errors (status 2 too).
    assert_eq!(run(&[], &["info", "--bogus"]).code, 2);
}
