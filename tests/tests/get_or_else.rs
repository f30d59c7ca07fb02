//! Get-or-create: `Repository::get_or_else` and `ProcessingEvent::get_or_else` return the
//! aggregate if it exists, else the one the constructor makes; any other error is returned and
//! never turned into a creation; a constructor that makes an aggregate with another id is an
//! error. In memory, in SQLite and in PostgreSQL.

mod system_common;

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use eventsourcing::application::ApplicationError;
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System};
use eventsourcing::testing;
use eventsourcing_tests::backend_tests;
use system_common::{stores, Counter, WorldEvent, Worlds};

#[track_caller]
fn not_called() -> Counter {
    panic!("get_or_else created an aggregate although getting it did not fail with not-found")
}

backend_tests! {
    fn repository_gets_an_aggregate_that_exists(backend) {
        let app = backend.builder("Counters").build().unwrap();
        let mut counter = Counter::create("dinosaurs".into());
        counter.incremented();
        app.save(&mut counter).unwrap();

        let found = app.repository().get_or_else(counter.id(), not_called).unwrap();
        assert_eq!((found.id(), found.version(), found.count), (counter.id(), 2, 1));
        assert!(found.pending_events().is_empty());
    }

    fn repository_creates_an_aggregate_that_does_not_exist(backend) {
        let app = backend.builder("Counters").build().unwrap();
        let id = Counter::create_id("dinosaurs");
        let created = app
            .repository()
            .get_or_else(id, || Counter::create("dinosaurs".into()))
            .unwrap();
        assert_eq!((created.id(), created.version(), created.count), (id, 1, 0));
        assert_eq!(created.pending_events().len(), 1);
        // Created, not saved.
        assert!(app.repository().get::<Counter>(id).unwrap_err().is_not_found());
    }

    fn repository_returns_other_errors_without_creating(backend) {
        let app = backend.builder("Counters").build().unwrap();
        let id = Counter::create_id("dinosaurs");
        // An event of a type Counter does not know, stored under the counter's id.
        app.recorder().insert_events(&[testing::stored_event(id, 1, "not a counter")]).unwrap();

        let error = app.repository().get_or_else(id, not_called).unwrap_err();
        assert!(!error.is_not_found(), "{error}");
        assert!(matches!(error, ApplicationError::Persistence(_)), "{error:?}");
    }

    fn repository_refuses_an_aggregate_created_with_another_id(backend) {
        let app = backend.builder("Counters").build().unwrap();
        let id = Counter::create_id("dinosaurs");
        let error = app
            .repository()
            .get_or_else(id, || Counter::create("trucks".into()))
            .unwrap_err();
        match &error {
            ApplicationError::CreatedWithOtherId { id: asked, created } => {
                assert_eq!((*asked, *created), (id, Counter::create_id("trucks")));
            }
            other => panic!("expected CreatedWithOtherId, got {other:?}"),
        }
        assert!(!error.is_not_found());
        assert!(error.to_string().contains("must give it the id"), "{error}");
    }
}

/// What the probe's policy got from `get_or_else` for one thing that happened.
#[derive(Debug, PartialEq)]
enum Got {
    /// The counter did not exist: the constructor made it.
    Created,
    /// The counter existed, with this count.
    Found(u64),
    /// An error, and whether the constructor was called.
    Error { created: bool, error: String },
}

/// Counts what happens in worlds with `get_or_else`, and notes what it got. The counter of
/// "stranger" is made with another name's id, which `get_or_else` refuses.
struct Probe {
    app: Application,
    got: Mutex<Vec<(String, Got)>>,
}

impl AsRef<Application> for Probe {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Probe {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let WorldEvent::SomethingHappened { what } = event.payload else {
            return Ok(());
        };
        let name = match what.as_str() {
            "stranger" => "someone else".to_string(),
            _ => what.clone(),
        };
        let created = Cell::new(false);
        let got = match processing.get_or_else(Counter::create_id(&what), || {
            created.set(true);
            Counter::create(name)
        }) {
            Ok(mut counter) => {
                let got = match created.get() {
                    true => Got::Created,
                    false => Got::Found(counter.count),
                };
                counter.incremented();
                processing.save(&mut counter)?;
                got
            }
            Err(error) => Got::Error {
                created: created.get(),
                error: error.to_string(),
            },
        };
        self.got.lock().unwrap().push((what, got));
        Ok(())
    }
}

#[test]
fn policies_get_or_create_and_see_other_errors() {
    for store in stores("get-or-else") {
        let worlds = Arc::new(Worlds::new(store.builder("Worlds")));
        let probe = Arc::new(Probe {
            app: store.builder("Probe").build().unwrap(),
            got: Mutex::new(Vec::new()),
        });
        let poisoned = Counter::create_id("poisoned");
        probe
            .app
            .recorder()
            .insert_events(&[testing::stored_event(poisoned, 1, "not a counter")])
            .unwrap();
        let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &probe)).unwrap();

        let world = worlds.create_world();
        for what in [
            "dinosaurs",
            "dinosaurs",
            "poisoned",
            "stranger",
            "dinosaurs",
        ] {
            worlds.make_it_so(world, what);
        }

        let got = std::mem::take(&mut *probe.got.lock().unwrap());
        let [dinosaurs1, dinosaurs2, poisoned_got, stranger, dinosaurs3] = got.try_into().unwrap();
        assert_eq!(dinosaurs1, ("dinosaurs".to_string(), Got::Created));
        assert_eq!(dinosaurs2, ("dinosaurs".to_string(), Got::Found(1)));
        assert_eq!(dinosaurs3, ("dinosaurs".to_string(), Got::Found(2)));
        // A counter that can't be read is not replaced by a new one.
        match poisoned_got {
            (what, Got::Error { created, error }) => {
                assert_eq!(what, "poisoned");
                assert!(!created, "the constructor was called");
                assert!(!error.contains("not found"), "{error}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        match stranger {
            (what, Got::Error { created, error }) => {
                assert_eq!(what, "stranger");
                assert!(created);
                assert!(error.contains("has another id"), "{error}");
            }
            other => panic!("expected an error, got {other:?}"),
        }

        let repository = probe.app.repository();
        let counter: Counter = repository.get(Counter::create_id("dinosaurs")).unwrap();
        assert_eq!(counter.count, 3);
        for nothing_saved in ["stranger", "someone else"] {
            let error = repository
                .get::<Counter>(Counter::create_id(nothing_saved))
                .unwrap_err();
            assert!(error.is_not_found(), "{error}");
        }
        runner.stop().unwrap();
    }
}
