//! The aggregate base: metadata of a new aggregate and of its events (digest §1.14 A), and the
//! initial version (§1.14 D).

use chrono::{TimeDelta, Utc};
use eventsourcing::prelude::*;

/// Digest §1.14 A uses `Aggregate` itself, with `Aggregate.Created` and the bare
/// `AggregateEvent`. Adapted: Rust has no instantiable base aggregate, so this is the smallest
/// aggregate there is: no state, a created event that takes the id, and an event with no fields.
mod base {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Base {}

    #[aggregate]
    impl Base {
        #[created]
        pub fn create(id: Uuid) -> Self {
            Base {}
        }

        #[event("Event")]
        pub fn trigger_event(&mut self) {}
    }
}

use base::{Base, BaseEvent};

#[test]
fn base_aggregate_metadata_and_events() {
    let before = Utc::now();
    let aggregate_id = Uuid::new_v4();
    let mut aggregate = Base::create(aggregate_id);
    assert_eq!(aggregate.id(), aggregate_id);
    assert_eq!(aggregate.version(), 1);
    // Python asserts isinstance(created_on, datetime): the type says so here, so check the value.
    assert!(aggregate.created_on() >= before);
    assert!(aggregate.created_on() - before < TimeDelta::seconds(10));
    assert_eq!(aggregate.created_on(), aggregate.modified_on());

    aggregate.trigger_event();
    assert_eq!(aggregate.version(), 2);
    assert!(aggregate.modified_on() > aggregate.created_on());

    let pending_events = aggregate.collect_events();
    assert_eq!(pending_events.len(), 2);
    assert!(aggregate.pending_events().is_empty());

    assert!(matches!(pending_events[0].payload, BaseEvent::Created));
    assert!(pending_events[0].payload.is_created());
    assert_eq!(pending_events[0].name(), "Created");
    assert_eq!(pending_events[0].originator_id, aggregate.id());
    assert_eq!(pending_events[0].originator_version, 1);
    assert_eq!(pending_events[0].timestamp, aggregate.created_on());

    assert!(matches!(pending_events[1].payload, BaseEvent::Event));
    assert!(!pending_events[1].payload.is_created());
    assert_eq!(pending_events[1].name(), "Event");
    assert_eq!(pending_events[1].originator_id, aggregate.id());
    assert_eq!(pending_events[1].originator_version, 2);
    assert_eq!(pending_events[1].timestamp, aggregate.modified_on());
}

#[test]
fn timestamps_of_consecutive_events_strictly_increase() {
    let mut aggregate = Base::create(Uuid::new_v4());
    for _ in 0..100 {
        aggregate.trigger_event();
    }
    let events = aggregate.collect_events();
    assert_eq!(events.len(), 101);
    for pair in events.windows(2) {
        assert!(pair[1].timestamp > pair[0].timestamp);
        assert_eq!(pair[1].originator_version, pair[0].originator_version + 1);
    }
}

#[test]
fn replay_rebuilds_the_metadata() {
    let mut aggregate = Base::create(Uuid::new_v4());
    aggregate.trigger_event();
    aggregate.trigger_event();
    let events = aggregate.collect_events();
    let copy = Base::from_events(events).unwrap();
    assert_eq!(copy.id(), aggregate.id());
    assert_eq!(copy.version(), 3);
    assert_eq!(copy.created_on(), aggregate.created_on());
    assert_eq!(copy.modified_on(), aggregate.modified_on());
    assert!(copy.pending_events().is_empty());
    assert_eq!(copy, aggregate);
}

/// Digest §1.14 D: `class MyAggregate(Aggregate): INITIAL_VERSION = 0`.
mod initial_version {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub count: u32,
    }

    #[aggregate(initial_version = 0)]
    impl MyAggregate {
        #[created]
        pub fn create() -> Self {
            MyAggregate { count: 0 }
        }

        #[event]
        pub fn incremented(&mut self) {
            self.count += 1;
        }
    }
}

#[test]
fn initial_version_zero() {
    use initial_version::MyAggregate;

    assert_eq!(<MyAggregate as Aggregate>::INITIAL_VERSION, 0);
    assert_eq!(<Base as Aggregate>::INITIAL_VERSION, 1);

    let mut agg = MyAggregate::create();
    assert_eq!(agg.version(), 0);
    assert_eq!(agg.pending_events()[0].originator_version, 0);

    agg.incremented();
    assert_eq!(agg.version(), 1);
    assert_eq!(agg.count, 1);

    let events = agg.collect_events();
    let versions: Vec<u64> = events.iter().map(|e| e.originator_version).collect();
    assert_eq!(versions, [0, 1]);

    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.version(), 1);
    assert_eq!(copy.count, 1);
    assert_eq!(copy, agg);
}
