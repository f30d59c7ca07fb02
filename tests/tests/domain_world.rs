//! The World aggregate: the explicit style (digest §1.14 B) and the declarative style
//! (§1.14 F.16), with the replay of its collected events.

use chrono::{TimeDelta, Utc};
use eventsourcing::prelude::*;

/// Digest §1.14 B: `World(Aggregate)` with a `create()` class method, nested `Created` and
/// `SomethingHappened` event classes, and a `make_it_so` command that triggers the event.
/// Adapted: event types are always generated from methods in Rust, so the explicit style is a
/// public command calling the private `#[event]` method that stands for the event class.
mod explicit {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct World {
        pub history: Vec<String>,
    }

    #[aggregate]
    impl World {
        #[created("Created")]
        pub fn create() -> Self {
            World {
                history: Vec::new(),
            }
        }

        pub fn make_it_so(&mut self, what: &str) {
            self.something_happened(what.to_string());
        }

        #[event("SomethingHappened")]
        fn something_happened(&mut self, what: String) {
            self.history.push(what);
        }
    }
}

/// Digest §1.14 F.16: the method itself is decorated `@event("SomethingHappened")`.
mod declarative {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct World {
        pub history: Vec<String>,
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
}

#[test]
fn explicit_world() {
    use explicit::{World, WorldEvent};

    let before = Utc::now();
    let mut world = World::create();
    // Python asserts isinstance(world, World) and isinstance(created_on, datetime): the types
    // say so here, so check the values instead.
    assert!(world.created_on() >= before);
    assert!(world.created_on() - before < TimeDelta::seconds(10));
    assert_eq!(world.created_on(), world.modified_on());
    assert_eq!(world.version(), 1);

    world.make_it_so("dinosaurs");
    world.make_it_so("trucks");
    world.make_it_so("internet");

    assert_eq!(world.history[0], "dinosaurs");
    assert_eq!(world.history[1], "trucks");
    assert_eq!(world.history[2], "internet");
    assert_eq!(world.history.len(), 3);
    assert!(world.modified_on() > world.created_on());
    assert_eq!(world.version(), 4);
    assert_eq!(world.pending_events().len(), 4);

    let pending_events = world.collect_events();
    assert_eq!(pending_events.len(), 4);
    assert_eq!(world.pending_events().len(), 0);

    assert!(matches!(pending_events[0].payload, WorldEvent::Created));
    assert_eq!(pending_events[0].name(), "Created");
    let whats: Vec<&str> = pending_events[1..]
        .iter()
        .map(|event| match &event.payload {
            WorldEvent::SomethingHappened { what } => what.as_str(),
            other => panic!("expected SomethingHappened, got {other:?}"),
        })
        .collect();
    assert_eq!(whats, ["dinosaurs", "trucks", "internet"]);
    for event in &pending_events[1..] {
        assert_eq!(event.name(), "SomethingHappened");
    }
    assert_eq!(pending_events[0].timestamp, world.created_on());
    assert_eq!(pending_events[3].timestamp, world.modified_on());

    // copy = None; for e in pending_events: copy = e.mutate(copy)
    let mut events = pending_events.into_iter();
    let mut copy = World::from_created_event(events.next().unwrap()).unwrap();
    for event in events {
        copy.apply_event(event).unwrap();
    }
    assert_eq!(copy.id(), world.id());
    assert_eq!(copy.version(), world.version());
    assert_eq!(copy.created_on(), world.created_on());
    assert_eq!(copy.modified_on(), world.modified_on());
    assert_eq!(copy.history, world.history);
    assert_eq!(copy, world);
}

#[test]
fn explicit_world_topics() {
    use explicit::World;

    let mut world = World::create();
    world.make_it_so("dinosaurs");
    let events = world.collect_events();
    assert_eq!(events[0].topic(), "domain_world::explicit:World.Created");
    assert_eq!(
        events[1].topic(),
        "domain_world::explicit:World.SomethingHappened"
    );
    assert_eq!(<World as Aggregate>::TOPIC, "domain_world::explicit:World");
}

#[test]
fn declarative_world() {
    use declarative::{World, WorldEvent};

    let mut world = World::create();
    world.make_it_so("dinosaurs".to_string());
    world.make_it_so("trucks".to_string());
    world.make_it_so("internet".to_string());

    assert_eq!(world.history[0], "dinosaurs");
    assert_eq!(world.history[1], "trucks");
    assert_eq!(world.history[2], "internet");
    assert!(world.modified_on() > world.created_on());

    let events = world.collect_events();
    assert_eq!(events.len(), 4);
    assert!(world.pending_events().is_empty());
    assert!(matches!(events[0].payload, WorldEvent::Created));
    assert!(matches!(
        &events[2].payload,
        WorldEvent::SomethingHappened { what } if what == "trucks"
    ));

    let copy = World::from_events(events).unwrap();
    assert_eq!(copy.history, ["dinosaurs", "trucks", "internet"]);
    assert_eq!(copy.version(), 4);
    assert_eq!(copy, world);
}
