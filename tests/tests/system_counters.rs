//! The reference's system example (digest §4.6): worlds, and counters of what happens in them,
//! run by both runners, in memory, in SQLite and in PostgreSQL (a schema per test; skipped, with
//! a message, when no server answers outside CI).

use std::sync::Arc;
use std::time::Duration;

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;
use eventsourcing::system::{
    MultiThreadedRunner, PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System,
};
use eventsourcing_tests::pg::TempSchema;

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    history: Vec<String>,
}

#[aggregate]
impl World {
    #[created]
    pub fn create() -> Self {
        World {
            history: Vec::new(),
        }
    }

    #[event("SomethingHappened")]
    pub fn make_it_so(&mut self, what: String) {
        self.history.push(what);
    }
}

pub struct WorldsApplication {
    app: Application,
}

impl AsRef<Application> for WorldsApplication {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl WorldsApplication {
    fn create_world(&self) -> Result<Uuid, ApplicationError> {
        let mut world = World::create();
        self.app.save(&mut world)?;
        Ok(world.id())
    }

    fn make_it_so(&self, world_id: Uuid, what: &str) -> Result<(), ApplicationError> {
        let mut world: World = self.app.repository().get(world_id)?;
        world.make_it_so(what.to_string());
        self.app.save(&mut world)
    }
}

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

#[aggregate]
impl Counter {
    pub fn create_id(name: &str) -> Uuid {
        eventsourcing::domain::url_id(&format!("/counters/{name}"))
    }

    #[created]
    pub fn create(name: String) -> Self {
        let _ = name;
        Counter { count: 0 }
    }

    #[event]
    pub fn incremented(&mut self) {
        self.count += 1;
    }
}

pub struct Counters {
    app: Application,
}

impl AsRef<Application> for Counters {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Counters {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        if let WorldEvent::SomethingHappened { what } = event.payload {
            let id = Counter::create_id(&what);
            let mut counter = processing.get_or_else(id, || Counter::create(what))?;
            counter.incremented();
            processing.save(&mut counter)?;
        }
        Ok(())
    }
}

impl Counters {
    fn get_count(&self, what: &str) -> Result<u64, ApplicationError> {
        match self
            .app
            .repository()
            .get::<Counter>(Counter::create_id(what))
        {
            Ok(counter) => Ok(counter.count),
            Err(e) if e.is_not_found() => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Builders of the two applications: in memory, in SQLite files, and in a PostgreSQL schema
/// (kept until the returned guard is dropped) when a server answers.
fn builders(tag: &str) -> Vec<(ApplicationBuilder, ApplicationBuilder, Option<TempSchema>)> {
    let dir = std::env::temp_dir().join(format!("es-system-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(dir.join("worlds.db"));
    let _ = std::fs::remove_file(dir.join("counters.db"));
    let mut builders = vec![
        (
            Application::builder("WorldsApplication")
                .without_process_env()
                .memory(),
            Application::builder("Counters")
                .without_process_env()
                .memory(),
            None,
        ),
        (
            Application::builder("WorldsApplication")
                .without_process_env()
                .sqlite(dir.join("worlds.db")),
            Application::builder("Counters")
                .without_process_env()
                .sqlite(dir.join("counters.db")),
            None,
        ),
    ];
    if let Some(schema) = TempSchema::new(tag) {
        builders.push((
            Application::builder("WorldsApplication")
                .without_process_env()
                .envs(schema.env()),
            Application::builder("Counters")
                .without_process_env()
                .envs(schema.env()),
            Some(schema),
        ));
    }
    builders
}

fn counts(counters: &Counters) -> (u64, u64, u64) {
    (
        counters.get_count("dinosaurs").unwrap(),
        counters.get_count("trucks").unwrap(),
        counters.get_count("internet").unwrap(),
    )
}

#[test]
fn single_threaded_runner() {
    for (worlds, counters, _schema) in builders("single") {
        let worlds = Arc::new(WorldsApplication {
            app: worlds.build().unwrap(),
        });
        let counters = Arc::new(Counters {
            app: counters.build().unwrap(),
        });
        let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();

        let w1 = worlds.create_world().unwrap();
        let w2 = worlds.create_world().unwrap();
        let w3 = worlds.create_world().unwrap();
        assert_eq!(counts(&counters), (0, 0, 0));

        for w in [w1, w2, w3] {
            worlds.make_it_so(w, "dinosaurs").unwrap();
        }
        assert_eq!(counts(&counters), (3, 0, 0));
        for w in [w1, w2] {
            worlds.make_it_so(w, "trucks").unwrap();
        }
        assert_eq!(counts(&counters), (3, 2, 0));
        worlds.make_it_so(w1, "internet").unwrap();
        assert_eq!(counts(&counters), (3, 2, 1));
        runner.stop().unwrap();
    }
}

#[test]
fn multi_threaded_runner() {
    for (worlds, counters, _schema) in builders("multi") {
        let worlds = Arc::new(WorldsApplication {
            app: worlds.build().unwrap(),
        });
        let counters = Arc::new(Counters {
            app: counters.build().unwrap(),
        });
        let runner = MultiThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();

        let w1 = worlds.create_world().unwrap();
        let w2 = worlds.create_world().unwrap();
        let w3 = worlds.create_world().unwrap();
        for w in [w1, w2, w3] {
            worlds.make_it_so(w, "dinosaurs").unwrap();
        }
        for w in [w1, w2] {
            worlds.make_it_so(w, "trucks").unwrap();
        }
        worlds.make_it_so(w1, "internet").unwrap();
        runner
            .wait_until_caught_up(Duration::from_secs(10))
            .unwrap();
        assert_eq!(counts(&counters), (3, 2, 1));
        runner.stop().unwrap();
    }
}
