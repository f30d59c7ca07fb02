//! Configuration through the process environment (digest §2.4, §2.5, §2.6): the cases where
//! the reference sets `os.environ`.
//!
//! This file holds one test, which changes the process environment step by step: tests run in
//! threads, and changing the environment while another thread reads it is a race, so nothing
//! else may run in this process meanwhile.

use eventsourcing::application::ApplicationError;
use eventsourcing_examples::wiki::Wiki;
use eventsourcing_examples::world::{World, Worlds};
use eventsourcing_tests::TempDb;

/// Every variable the steps below set.
const VARIABLES: [&str; 7] = [
    "IS_SNAPSHOTTING_ENABLED",
    "PERSISTENCE_MODULE",
    "INFRASTRUCTURE_FACTORY",
    "SQLITE_DBNAME",
    "WORLDS_SQLITE_DBNAME",
    "WORLDS_IS_SNAPSHOTTING_ENABLED",
    "CIPHER_KEY",
];

fn clear() {
    for variable in VARIABLES {
        std::env::remove_var(variable);
    }
}

fn snapshotting(worlds: Result<Worlds, ApplicationError>) -> bool {
    worlds.unwrap().app().snapshots().is_some()
}

#[test]
fn process_environment() {
    clear();

    // §2.5: off by default.
    assert!(!snapshotting(Worlds::new()));

    // §2.5: the OS environment turns it on...
    std::env::set_var("IS_SNAPSHOTTING_ENABLED", "y");
    assert!(snapshotting(Worlds::new()));
    // ...and values given in code win over it (the reference's `env` argument).
    assert!(!snapshotting(Worlds::with_builder(
        Worlds::builder().env("IS_SNAPSHOTTING_ENABLED", "n")
    )));
    assert!(!snapshotting(Worlds::with_builder(
        Worlds::builder().snapshotting(false)
    )));

    // §2.5: a default in code (the reference's class attribute) loses to the OS environment.
    std::env::set_var("IS_SNAPSHOTTING_ENABLED", "n");
    assert!(!snapshotting(Worlds::with_builder(
        Worlds::builder().default_env("IS_SNAPSHOTTING_ENABLED", "y")
    )));
    assert!(!snapshotting(Worlds::with_builder(
        Worlds::builder().snapshotting_interval::<World>(2)
    )));
    std::env::remove_var("IS_SNAPSHOTTING_ENABLED");
    assert!(snapshotting(Worlds::with_builder(
        Worlds::builder().default_env("IS_SNAPSHOTTING_ENABLED", "y")
    )));
    // Ignoring the process environment ignores it.
    std::env::set_var("IS_SNAPSHOTTING_ENABLED", "y");
    assert!(!snapshotting(Worlds::with_builder(
        Worlds::builder().without_process_env()
    )));
    // The application-name prefix: WORLDS_IS_SNAPSHOTTING_ENABLED beats the plain name.
    std::env::set_var("WORLDS_IS_SNAPSHOTTING_ENABLED", "n");
    assert!(!snapshotting(Worlds::new()));
    assert!(Wiki::new().unwrap().app().snapshots().is_some());
    clear();

    // §2.6: SQLite chosen by the reference's INFRASTRUCTURE_FACTORY topic; a new application
    // object over the same file sees the same state.
    let db = TempDb::new("process_env");
    std::env::set_var("INFRASTRUCTURE_FACTORY", "eventsourcing.sqlite:Factory");
    std::env::set_var("SQLITE_DBNAME", db.path());
    let application = Worlds::new().unwrap();
    let world_id = application.create_world().unwrap();
    application.make_it_so(world_id, "dinosaurs").unwrap();
    application.make_it_so(world_id, "trucks").unwrap();
    application.make_it_so(world_id, "internet").unwrap();
    drop(application);
    assert!(db.path().exists());
    let application = Worlds::new().unwrap();
    assert_eq!(
        application.get_world_history(world_id).unwrap(),
        ["dinosaurs", "trucks", "internet"]
    );
    drop(application);

    // The prefix rule for the database: WORLDS_SQLITE_DBNAME is for Worlds only.
    let other = TempDb::new("process_env_prefixed");
    std::env::set_var("WORLDS_SQLITE_DBNAME", other.path());
    let worlds = Worlds::new().unwrap();
    assert!(worlds
        .get_world_history(world_id)
        .unwrap_err()
        .is_not_found());
    worlds.create_world().unwrap();
    let wiki = Wiki::new().unwrap();
    // The Wiki still uses SQLITE_DBNAME: the file with the Worlds' first four events.
    assert_eq!(
        wiki.app().log().recorder().max_notification_id().unwrap(),
        4
    );
    assert_eq!(
        worlds.app().log().recorder().max_notification_id().unwrap(),
        1
    );
    drop((worlds, wiki));

    // PERSISTENCE_MODULE comes before INFRASTRUCTURE_FACTORY.
    std::env::set_var("PERSISTENCE_MODULE", "eventsourcing.popo");
    let worlds = Worlds::new().unwrap();
    assert!(worlds
        .get_world_history(world_id)
        .unwrap_err()
        .is_not_found());

    // A bad value in the process environment is a configuration error naming the variable.
    std::env::set_var("CIPHER_KEY", "not a key");
    match Worlds::new() {
        Err(ApplicationError::Config(error)) => assert_eq!(error.variable, "CIPHER_KEY"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    clear();
}
