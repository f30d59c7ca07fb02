//! A backend defined outside the library: an `InfrastructureFactory` of this crate, chosen by
//! `PERSISTENCE_MODULE` once registered, or given to one builder; its settings and errors go
//! through the application's configuration like the built-in backends'; and its recorders pass
//! the conformance suite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::memory::InMemoryRecorder;
use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, ConfigError, Environment, ErrorKind, FactoryError,
    InfrastructureFactory, PersistenceError, ProcessRecorder, Recorders,
};
use eventsourcing::prelude::*;
use eventsourcing::registry;
use eventsourcing::testing::RecorderFactory;
use eventsourcing_tests::world::World;

/// The variable naming a journal.
const JOURNAL_NAME: &str = "JOURNAL_NAME";

/// A journal's events and snapshots.
type Journal = (Arc<InMemoryRecorder>, Arc<InMemoryRecorder>);

/// A backend of in-memory journals named by `JOURNAL_NAME`: applications configured with the
/// same name share one journal, as applications configured with the same database file share
/// it. The journal "broken" can't be opened. It remembers what it was asked to build.
#[derive(Default)]
struct Journals {
    journals: Mutex<HashMap<String, Journal>>,
    /// (application name, snapshotting) of every build.
    built: Mutex<Vec<(String, bool)>>,
}

impl Journals {
    /// The journal `name`: its events and its snapshots.
    fn journal(&self, name: &str) -> Journal {
        self.journals
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn built(&self) -> Vec<(String, bool)> {
        self.built.lock().unwrap().clone()
    }
}

impl InfrastructureFactory for Journals {
    fn recorders(&self, env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        let name = env.get(JOURNAL_NAME).ok_or_else(|| {
            ConfigError::new(env.name_of(JOURNAL_NAME), "a journal name is required")
        })?;
        if name == "broken" {
            return Err(PersistenceError::database(
                ErrorKind::Operational,
                "the journal \"broken\" can't be opened",
            )
            .into());
        }
        self.built
            .lock()
            .unwrap()
            .push((env.name().to_string(), snapshotting));
        let (events, snapshots) = self.journal(name);
        Ok(Recorders::new(
            events,
            snapshotting.then_some(snapshots as Arc<dyn AggregateRecorder>),
        ))
    }
}

/// The factory registered as "tests.journals" (once per test process).
fn journals() -> &'static Arc<Journals> {
    static JOURNALS: OnceLock<Arc<Journals>> = OnceLock::new();
    JOURNALS.get_or_init(|| {
        let journals = Arc::new(Journals::default());
        assert!(registry::register("tests.journals", Arc::clone(&journals)).is_none());
        journals
    })
}

fn builder(name: &str) -> ApplicationBuilder {
    journals();
    Application::builder(name).without_process_env()
}

#[track_caller]
fn config_error(result: Result<Application, ApplicationError>) -> ConfigError {
    match result {
        Err(ApplicationError::Config(error)) => error,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn chosen_by_persistence_module_once_registered() {
    let app = |journal: &str| {
        builder("Worlds")
            .env("PERSISTENCE_MODULE", "tests.journals")
            .env("WORLDS_JOURNAL_NAME", journal)
            .build()
            .unwrap()
    };
    let first = app("chosen");
    let mut world = World::create();
    world.make_it_so("dinosaurs".into());
    first.save(&mut world).unwrap();

    // Another application object on the same journal sees the events; on another, nothing.
    let again: World = app("chosen").repository().get(world.id()).unwrap();
    assert_eq!(again.history(), ["dinosaurs"]);
    assert!(app("elsewhere")
        .repository()
        .get::<World>(world.id())
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        journals()
            .journal("chosen")
            .0
            .max_notification_id()
            .unwrap(),
        2
    );
    assert!(journals().built().contains(&("Worlds".to_string(), false)));
}

#[test]
fn chosen_by_infrastructure_factory_topic() {
    let app = builder("Wiki")
        .env("INFRASTRUCTURE_FACTORY", "tests.journals:Factory")
        .env(JOURNAL_NAME, "topic")
        .build()
        .unwrap();
    app.save(&mut World::create()).unwrap();
    assert_eq!(
        journals().journal("topic").0.max_notification_id().unwrap(),
        1
    );
    assert!(registry::factory("tests.journals:Factory").is_some());
    assert!(registry::names().contains(&"tests.journals".to_string()));
}

#[test]
fn given_to_one_builder() {
    let journals = Arc::new(Journals::default());
    // The builder's backend wins over PERSISTENCE_MODULE (here one that would fail).
    let app = Application::builder("Worlds")
        .without_process_env()
        .env("PERSISTENCE_MODULE", "eventsourcing.sqlite")
        .env(JOURNAL_NAME, "mine")
        .snapshotting(true)
        .backend(Arc::clone(&journals))
        .build()
        .unwrap();
    let mut world = World::create();
    app.save(&mut world).unwrap();
    app.take_snapshot::<World>(world.id(), None).unwrap();
    let (events, snapshots) = journals.journal("mine");
    assert_eq!(events.max_notification_id().unwrap(), 1);
    assert_eq!(
        snapshots
            .select_events(world.id(), &Default::default())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(journals.built(), [("Worlds".to_string(), true)]);

    // Recorders given after the backend replace it, and the reverse.
    let recorder = Arc::new(InMemoryRecorder::new());
    let app = Application::builder("Worlds")
        .without_process_env()
        .backend(Arc::clone(&journals))
        .recorders(Arc::clone(&recorder) as _, None)
        .build()
        .unwrap();
    app.save(&mut World::create()).unwrap();
    assert_eq!(recorder.max_notification_id().unwrap(), 1);
    assert_eq!(journals.built().len(), 1);
}

#[test]
fn its_errors_are_the_applications() {
    let error = config_error(
        builder("Worlds")
            .env("PERSISTENCE_MODULE", "tests.journals")
            .build(),
    );
    assert_eq!(error.variable, "JOURNAL_NAME");
    assert_eq!(
        error.to_string(),
        "configuration error in JOURNAL_NAME: a journal name is required"
    );
    let error = builder("Worlds")
        .env("PERSISTENCE_MODULE", "tests.journals")
        .env(JOURNAL_NAME, "broken")
        .build()
        .unwrap_err();
    match error {
        ApplicationError::Persistence(error) => assert_eq!(error.kind(), ErrorKind::Operational),
        other => panic!("expected a persistence error, got {other:?}"),
    }
}

/// Builds recorders without snapshots, whatever it is asked.
struct NoSnapshots;

impl InfrastructureFactory for NoSnapshots {
    fn recorders(
        &self,
        _env: &Environment,
        _snapshotting: bool,
    ) -> Result<Recorders, FactoryError> {
        Ok(Recorders::new(Arc::new(InMemoryRecorder::new()), None))
    }
}

#[test]
fn a_backend_must_make_a_snapshot_recorder_when_snapshotting() {
    registry::register("tests.no_snapshots", NoSnapshots);
    for builder in [
        builder("Worlds").env("PERSISTENCE_MODULE", "tests.no_snapshots"),
        builder("Worlds").backend(NoSnapshots),
    ] {
        let error = config_error(builder.env("WORLDS_IS_SNAPSHOTTING_ENABLED", "y").build());
        assert_eq!(error.variable, "WORLDS_IS_SNAPSHOTTING_ENABLED");
        assert!(
            error.message.contains("made no recorder for snapshots"),
            "{error}"
        );
    }
    // Without snapshotting it is fine.
    builder("Worlds")
        .env("PERSISTENCE_MODULE", "tests.no_snapshots")
        .build()
        .unwrap();
}

#[test]
fn unknown_names_are_errors_that_list_the_registered_ones() {
    let error = config_error(
        builder("Worlds")
            .env("WORLDS_PERSISTENCE_MODULE", "tests.nosuch")
            .build(),
    );
    assert_eq!(error.variable, "WORLDS_PERSISTENCE_MODULE");
    assert!(error.message.contains("\"tests.nosuch\""), "{error}");
    assert!(error.message.contains("tests.journals"), "{error}");
    assert!(registry::factory("tests.nosuch").is_none());
}

#[test]
fn registering_a_name_again_replaces_its_factory() {
    let first = Arc::new(Journals::default());
    let second = Arc::new(Journals::default());
    assert!(registry::register("tests.replaced", Arc::clone(&first)).is_none());
    assert!(registry::register(" tests.replaced ", Arc::clone(&second)).is_some());
    builder("Worlds")
        .env("PERSISTENCE_MODULE", "tests.replaced")
        .env(JOURNAL_NAME, "j")
        .build()
        .unwrap();
    assert!(first.built().is_empty());
    assert_eq!(second.built().len(), 1);
}

/// Fresh recorders of the backend for the conformance suite: a new journal per call, built
/// through the factory as an application's are.
struct JournalRecorders {
    journals: Journals,
    next: Mutex<u64>,
}

impl JournalRecorders {
    fn new() -> Self {
        JournalRecorders {
            journals: Journals::default(),
            next: Mutex::new(0),
        }
    }

    fn fresh(&self) -> Recorders {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        let env = Environment::new("Conformance").with_value(JOURNAL_NAME, next.to_string());
        self.journals.recorders(&env, true).unwrap()
    }
}

impl RecorderFactory for JournalRecorders {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        self.fresh().snapshots.unwrap()
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        self.fresh().events
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        self.fresh().events
    }
}

mod conformance {
    eventsourcing::recorder_conformance_tests!(super::JournalRecorders::new());
}
