//! The `TokioRunner`: a system's followers as tokio tasks, woken by their leaders' commits, on
//! every backend: counting what happens in worlds; a runner dropped at random points and
//! started again while the leader writes, never counting an event twice or missing one; and a
//! leader whose events are saved through the async face.

use std::sync::Arc;
use std::time::Duration;

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, System, TokioRunner};
use eventsourcing_tests::{backend_tests, Backend};

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

pub struct Worlds {
    app: Application,
}

impl AsRef<Application> for Worlds {
    fn as_ref(&self) -> &Application {
        &self.app
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
    fn count(&self, what: &str) -> u64 {
        match self
            .app
            .repository()
            .get::<Counter>(Counter::create_id(what))
        {
            Ok(counter) => counter.count,
            Err(e) if e.is_not_found() => 0,
            Err(e) => panic!("can't get the counter of {what}: {e}"),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn worlds_builder(backend: &Backend) -> ApplicationBuilder {
    backend.builder("Worlds")
}

fn system(backend: &Backend) -> (Arc<Worlds>, Arc<Counters>) {
    let worlds = Arc::new(Worlds {
        app: worlds_builder(backend).build().expect("worlds"),
    });
    let counters = Arc::new(Counters {
        app: backend.builder("Counters").build().expect("counters"),
    });
    (worlds, counters)
}

fn make_it_so(worlds: &Worlds, world: &mut World, what: &str) {
    world.make_it_so(what.to_string());
    worlds.app.save(world).expect("saved");
}

backend_tests! {
    /// The reference's system example, run by tokio tasks.
    fn counts_what_happens(backend) {
        let (worlds, counters) = system(backend);
        runtime().block_on(async {
            let runner = TokioRunner::start(System::new().pipe(&worlds, &counters)).expect("starts");
            let mut w1 = World::create();
            let mut w2 = World::create();
            for what in ["dinosaurs", "trucks"] {
                make_it_so(&worlds, &mut w1, what);
            }
            make_it_so(&worlds, &mut w2, "dinosaurs");
            runner.wait_until_caught_up(Duration::from_secs(30)).await.expect("caught up");
            assert_eq!((counters.count("dinosaurs"), counters.count("trucks")), (2, 1));
            runner.stop().await.expect("stopped cleanly");
        });
    }

    /// While the leader writes, the runner is dropped at growing random points (mid-batch
    /// included) and started again, 20 times: every event is counted exactly once.
    fn a_runner_dropped_mid_stream_never_counts_twice(backend) {
        const EVENTS: usize = 300;
        let (worlds, counters) = system(backend);
        let writer = {
            let worlds = Arc::clone(&worlds);
            std::thread::spawn(move || {
                let mut world = World::create();
                worlds.app.save(&mut world).expect("created");
                for i in 0..EVENTS {
                    make_it_so(&worlds, &mut world, if i % 2 == 0 { "even" } else { "odd" });
                    if i % 10 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        let runtime = runtime();
        for round in 0..20u64 {
            runtime.block_on(async {
                let runner =
                    TokioRunner::start(System::new().pipe(&worlds, &counters)).expect("starts");
                tokio::time::sleep(Duration::from_micros(500 + round * 397 % 5000)).await;
                drop(runner);
            });
        }
        writer.join().expect("the writer ran");
        runtime.block_on(async {
            let runner = TokioRunner::start(System::new().pipe(&worlds, &counters)).expect("starts");
            runner.wait_until_caught_up(Duration::from_secs(60)).await.expect("caught up");
            runner.stop().await.expect("stopped cleanly");
        });
        assert_eq!(counters.count("even") + counters.count("odd"), EVENTS as u64);
        assert_eq!(counters.count("even"), EVENTS as u64 / 2);
    }

    /// A leader whose events are saved through the async face of another application object
    /// over the same store: the runner is woken by the recorder, not by a `save` call it hears.
    fn follows_a_leader_written_through_the_async_face(backend) {
        let (worlds, counters) = system(backend);
        runtime().block_on(async {
            let writer = worlds_builder(backend).build_async().await.expect("async worlds");
            let runner = TokioRunner::start(System::new().pipe(&worlds, &counters)).expect("starts");
            let mut world = World::create();
            writer.save(&mut world).await.expect("saved");
            for _ in 0..5 {
                world.make_it_so("trucks".into());
                writer.save(&mut world).await.expect("saved");
            }
            runner.wait_until_caught_up(Duration::from_secs(30)).await.expect("caught up");
            assert_eq!(counters.count("trucks"), 5);
            runner.stop().await.expect("stopped cleanly");
        });
    }
}

/// Outside a runtime, starting is a clear error.
#[test]
fn starting_outside_a_runtime_is_an_error() {
    let backend = Backend::memory();
    let (worlds, counters) = system(&backend);
    let error = TokioRunner::start(System::new().pipe(&worlds, &counters)).unwrap_err();
    assert!(
        error.to_string().contains("inside a tokio runtime"),
        "{error}"
    );
}
