//! Versioning and upcasting (digest §1.11): the MyAggregate walk-through, v1 to v4. Each version
//! is its own module with `#[aggregate(module = "myagg")]`, so that all four agree on the
//! topics, as one Python class would over time. Events and snapshots written by older versions
//! load into newer ones, with the defaults the upcast functions fill in.

use eventsourcing::prelude::*;
use eventsourcing_tests::{load, store, StoredEvent};
use serde_json::{json, Map, Value};

/// The upcast functions, shared by the events and the aggregate of every version (Python
/// defines the same static methods on both `Created` and the aggregate class).
mod upcast {
    use serde_json::{json, Map, Value};

    pub fn v1_v2(state: &mut Map<String, Value>) {
        state.insert("b".to_string(), json!(0));
    }

    pub fn v2_v3(state: &mut Map<String, Value>) {
        state.insert("c".to_string(), json!(0.0));
    }

    pub fn v3_v4(state: &mut Map<String, Value>) {
        state.insert("d".to_string(), json!(false));
    }
}

/// v1: `__init__(self, a: str)`, `Created.a: str`.
mod v1 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct MyAggregate {
        pub a: String,
    }

    #[aggregate(module = "myagg")]
    impl MyAggregate {
        #[created]
        pub fn create(a: String) -> Self {
            MyAggregate { a }
        }
    }
}

/// v2: adds `b: int`; `Created` and the aggregate are at version 2. Adapted: Python's
/// `create(cls, a, b=0)` default becomes an explicit argument.
mod v2 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct MyAggregate {
        pub a: String,
        pub b: i64,
    }

    #[aggregate(module = "myagg", version = 2, upcast = [super::upcast::v1_v2])]
    impl MyAggregate {
        #[created(version = 2, upcast = [super::upcast::v1_v2])]
        pub fn create(a: String, b: i64) -> Self {
            MyAggregate { a, b }
        }
    }
}

/// v3: adds `c: float`; `Created` and the aggregate are at version 3.
mod v3 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct MyAggregate {
        pub a: String,
        pub b: i64,
        pub c: f64,
    }

    #[aggregate(
        module = "myagg",
        version = 3,
        upcast = [Self::upcast_v1_v2, Self::upcast_v2_v3]
    )]
    impl MyAggregate {
        #[created(version = 3, upcast = [Self::upcast_v1_v2, Self::upcast_v2_v3])]
        pub fn create(a: String, b: i64, c: f64) -> Self {
            MyAggregate { a, b, c }
        }

        fn upcast_v1_v2(state: &mut serde_json::Map<String, serde_json::Value>) {
            super::upcast::v1_v2(state);
        }

        fn upcast_v2_v3(state: &mut serde_json::Map<String, serde_json::Value>) {
            super::upcast::v2_v3(state);
        }
    }
}

/// v4: `__init__` also sets `d = False`, and `set_d(d)` records `DUpdated`. The aggregate is
/// at version 4; `Created` stays at version 3.
mod v4 {
    use super::upcast;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct MyAggregate {
        pub a: String,
        pub b: i64,
        pub c: f64,
        pub d: bool,
    }

    #[aggregate(
        module = "myagg",
        version = 4,
        upcast = [upcast::v1_v2, upcast::v2_v3, upcast::v3_v4]
    )]
    impl MyAggregate {
        #[created(version = 3, upcast = [upcast::v1_v2, upcast::v2_v3])]
        pub fn create(a: String, b: i64, c: f64) -> Self {
            MyAggregate { a, b, c, d: false }
        }

        #[event("DUpdated")]
        pub fn set_d(&mut self, d: bool) {
            self.d = d;
        }
    }
}

const CREATED_TOPIC: &str = "myagg:MyAggregate.Created";

#[test]
fn every_version_has_the_same_topics() {
    assert_eq!(<v1::MyAggregate as Aggregate>::TOPIC, "myagg:MyAggregate");
    assert_eq!(<v2::MyAggregate as Aggregate>::TOPIC, "myagg:MyAggregate");
    assert_eq!(<v3::MyAggregate as Aggregate>::TOPIC, "myagg:MyAggregate");
    assert_eq!(<v4::MyAggregate as Aggregate>::TOPIC, "myagg:MyAggregate");
    assert_eq!(
        v1::MyAggregate::create("text".into()).pending_events()[0].topic(),
        CREATED_TOPIC
    );
    assert_eq!(
        v4::MyAggregate::create("text".into(), 1, 1.5).pending_events()[0].topic(),
        CREATED_TOPIC
    );
    assert_eq!(
        <v4::MyAggregateEvent as AggregateEvent>::topics().collect::<Vec<_>>(),
        [CREATED_TOPIC, "myagg:MyAggregate.DUpdated"]
    );
}

#[test]
fn class_versions() {
    assert_eq!(<v1::MyAggregate as Aggregate>::CLASS_VERSION, 1);
    assert_eq!(<v2::MyAggregate as Aggregate>::CLASS_VERSION, 2);
    assert_eq!(<v3::MyAggregate as Aggregate>::CLASS_VERSION, 3);
    assert_eq!(<v4::MyAggregate as Aggregate>::CLASS_VERSION, 4);

    let mut agg = v4::MyAggregate::create("text".into(), 1, 1.5);
    agg.set_d(true);
    let events = agg.collect_events();
    assert_eq!(events[0].payload.class_version(), 3);
    assert_eq!(events[1].payload.class_version(), 1);
}

/// The stored state of events: `class_version` is written only above 1.
#[test]
fn stored_event_state_records_the_class_version() {
    let v1_event = store(&v1::MyAggregate::create("text".into()).collect_events()[0]);
    assert_eq!(v1_event.topic, CREATED_TOPIC);
    let state = v1_event.state_json();
    assert_eq!(state["a"], json!("text"));
    assert!(state.get("class_version").is_none());
    assert_eq!(state.as_object().unwrap().len(), 2); // timestamp, a

    let v2_event = store(&v2::MyAggregate::create("text".into(), 2).collect_events()[0]);
    let state = v2_event.state_json();
    assert_eq!(state["b"], json!(2));
    assert_eq!(state["class_version"], json!(2));

    let mut v4_agg = v4::MyAggregate::create("text".into(), 2, 3.5);
    v4_agg.set_d(true);
    let v4_events: Vec<StoredEvent> = v4_agg.collect_events().iter().map(store).collect();
    let created = v4_events[0].state_json();
    assert_eq!(created["class_version"], json!(3));
    assert_eq!(created["c"], json!(3.5));
    let d_updated = v4_events[1].state_json();
    assert_eq!(v4_events[1].topic, "myagg:MyAggregate.DUpdated");
    assert_eq!(d_updated["d"], json!(true));
    assert!(d_updated.get("class_version").is_none());
}

/// Old stored events, each version's, for one aggregate created with `a = "text"`.
fn stored_v1() -> (v1::MyAggregate, Vec<StoredEvent>) {
    let mut agg = v1::MyAggregate::create("text".into());
    let events = agg.collect_events().iter().map(store).collect();
    (agg, events)
}

#[test]
fn v1_events_load_into_v2_v3_and_v4() {
    let (original, stored) = stored_v1();

    let events: Vec<DomainEvent<v2::MyAggregateEvent>> =
        stored.iter().map(|s| load(s).unwrap()).collect();
    assert_eq!(
        events[0].payload,
        v2::MyAggregateEvent::Created {
            a: "text".into(),
            b: 0
        }
    );
    let agg = v2::MyAggregate::from_events(events).unwrap();
    assert_eq!((agg.a.as_str(), agg.b), ("text", 0));

    let events: Vec<DomainEvent<v3::MyAggregateEvent>> =
        stored.iter().map(|s| load(s).unwrap()).collect();
    let agg = v3::MyAggregate::from_events(events).unwrap();
    assert_eq!((agg.a.as_str(), agg.b, agg.c), ("text", 0, 0.0));

    let events: Vec<DomainEvent<v4::MyAggregateEvent>> =
        stored.iter().map(|s| load(s).unwrap()).collect();
    assert_eq!(
        events[0].payload,
        v4::MyAggregateEvent::Created {
            a: "text".into(),
            b: 0,
            c: 0.0
        }
    );
    let mut agg = v4::MyAggregate::from_events(events).unwrap();
    assert_eq!(agg.a, "text");
    assert_eq!(agg.b, 0);
    assert_eq!(agg.c, 0.0);
    assert!(!agg.d);
    assert_eq!(agg.id(), original.id());
    assert_eq!(agg.version(), original.version());
    assert_eq!(agg.created_on(), original.created_on());

    // The upcast aggregate carries on with new events.
    agg.set_d(true);
    assert!(agg.d);
    assert_eq!(agg.version(), 2);
    assert_eq!(agg.pending_events()[0].originator_version, 2);
}

#[test]
fn v2_and_v3_events_keep_their_values_when_upcast() {
    let stored = store(&v2::MyAggregate::create("text".into(), 7).collect_events()[0]);
    let event = load::<v4::MyAggregateEvent>(&stored).unwrap();
    assert_eq!(
        event.payload,
        v4::MyAggregateEvent::Created {
            a: "text".into(),
            b: 7,
            c: 0.0
        }
    );

    let stored = store(&v3::MyAggregate::create("text".into(), 7, 2.5).collect_events()[0]);
    assert_eq!(stored.state_json()["class_version"], json!(3));
    let agg = v4::MyAggregate::from_events([load(&stored).unwrap()]).unwrap();
    assert_eq!((agg.b, agg.c, agg.d), (7, 2.5, false));
}

#[test]
fn current_events_round_trip_without_upcasting() {
    let mut agg = v4::MyAggregate::create("text".into(), 1, 1.5);
    agg.set_d(true);
    let events = agg.collect_events();
    let loaded: Vec<DomainEvent<v4::MyAggregateEvent>> =
        events.iter().map(|e| load(&store(e)).unwrap()).collect();
    assert_eq!(loaded, events);
    let copy = v4::MyAggregate::from_events(loaded).unwrap();
    assert_eq!(copy, agg);
}

/// A snapshot's state as it would be stored and read back (JSON).
fn stored_snapshot(snapshot: Snapshot) -> Snapshot {
    let bytes = serde_json::to_vec(&snapshot.state).unwrap();
    let state: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
    Snapshot { state, ..snapshot }
}

#[test]
fn snapshot_state_records_the_class_version() {
    let v1_snapshot = v1::MyAggregate::create("text".into())
        .take_snapshot()
        .unwrap();
    assert_eq!(v1_snapshot.topic, "myagg:MyAggregate");
    assert!(v1_snapshot.state.get("class_version").is_none());
    assert_eq!(v1_snapshot.state.len(), 3); // a, _created_on, _modified_on

    let v2_snapshot = v2::MyAggregate::create("text".into(), 2)
        .take_snapshot()
        .unwrap();
    assert_eq!(v2_snapshot.state["class_version"], json!(2));

    let v4_snapshot = v4::MyAggregate::create("text".into(), 2, 2.5)
        .take_snapshot()
        .unwrap();
    assert_eq!(v4_snapshot.state["class_version"], json!(4));
    assert_eq!(v4_snapshot.state["d"], json!(false));
    assert_eq!(v4_snapshot.state.len(), 7);
}

#[test]
fn v1_snapshot_loads_into_v4() {
    let mut original = v1::MyAggregate::create("text".into());
    original.collect_events();
    let snapshot = stored_snapshot(original.take_snapshot().unwrap());

    let agg = v4::MyAggregate::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(agg.a, "text");
    assert_eq!(agg.b, 0);
    assert_eq!(agg.c, 0.0);
    assert!(!agg.d);
    assert_eq!(agg.id(), original.id());
    assert_eq!(agg.version(), original.version());
    assert_eq!(agg.created_on(), original.created_on());
    assert_eq!(agg.modified_on(), original.modified_on());

    // Each intermediate version loads it too.
    let agg2 = v2::MyAggregate::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(agg2.b, 0);
    let agg3 = v3::MyAggregate::from_snapshot(snapshot).unwrap();
    assert_eq!((agg3.b, agg3.c), (0, 0.0));
}

#[test]
fn v2_and_v3_snapshots_load_into_v4_keeping_their_values() {
    let v2_snapshot = stored_snapshot(
        v2::MyAggregate::create("text".into(), 5)
            .take_snapshot()
            .unwrap(),
    );
    let agg = v4::MyAggregate::from_snapshot(v2_snapshot).unwrap();
    assert_eq!(
        (agg.a.as_str(), agg.b, agg.c, agg.d),
        ("text", 5, 0.0, false)
    );

    let v3_snapshot = stored_snapshot(
        v3::MyAggregate::create("text".into(), 5, 6.5)
            .take_snapshot()
            .unwrap(),
    );
    let agg = v4::MyAggregate::from_snapshot(v3_snapshot).unwrap();
    assert_eq!(
        (agg.a.as_str(), agg.b, agg.c, agg.d),
        ("text", 5, 6.5, false)
    );
}

#[test]
fn v4_snapshot_round_trips_and_continues_with_events() {
    let mut agg = v4::MyAggregate::create("text".into(), 5, 6.5);
    agg.set_d(true);
    let mut events = agg.collect_events();
    let snapshot = stored_snapshot(agg.take_snapshot().unwrap());
    let copy = v4::MyAggregate::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(copy, agg);

    agg.set_d(false);
    events.extend(agg.collect_events());
    let mut copy = v4::MyAggregate::from_snapshot(snapshot).unwrap();
    copy.apply_event(events[2].clone()).unwrap();
    assert!(!copy.d);
    assert_eq!(copy.version(), 3);
    assert_eq!(copy, agg);
}

#[test]
fn v1_snapshot_plus_v4_events() {
    // A v1 snapshot, then events written after the upgrade to v4.
    let original = v1::MyAggregate::create("text".into());
    let snapshot = stored_snapshot(original.take_snapshot().unwrap());
    let mut agg = v4::MyAggregate::from_snapshot(snapshot.clone()).unwrap();
    agg.set_d(true);
    let later = agg.collect_events();

    let mut copy = v4::MyAggregate::from_snapshot(snapshot).unwrap();
    for event in later {
        copy.apply_event(load(&store(&event)).unwrap()).unwrap();
    }
    assert_eq!(
        (copy.a.as_str(), copy.b, copy.c, copy.d),
        ("text", 0, 0.0, true)
    );
    assert_eq!(copy.version(), 2);
}

/// A renamed event type keeps decoding events stored under its old topic through `aliases`;
/// `topic = "..."` fixes the stored topic whatever the module or name.
mod renamed {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub a: String,
    }

    #[aggregate(module = "myagg")]
    impl MyAggregate {
        #[created(
            "Registered",
            topic = "myagg:MyAggregate.Registered",
            aliases = ["myagg:MyAggregate.Created"]
        )]
        pub fn register(a: String) -> Self {
            MyAggregate { a }
        }
    }
}

#[test]
fn aliases_decode_events_stored_under_an_old_topic() {
    let (original, stored) = stored_v1();
    let events: Vec<DomainEvent<renamed::MyAggregateEvent>> =
        stored.iter().map(|s| load(s).unwrap()).collect();
    assert_eq!(events[0].topic(), "myagg:MyAggregate.Registered");
    let agg = renamed::MyAggregate::from_events(events).unwrap();
    assert_eq!(agg.a, "text");
    assert_eq!(agg.id(), original.id());

    // v1 doesn't know the new topic.
    let new = store(&renamed::MyAggregate::register("x".into()).collect_events()[0]);
    assert_eq!(new.topic, "myagg:MyAggregate.Registered");
    let error = load::<v1::MyAggregateEvent>(&new).unwrap_err();
    assert!(
        error.to_string().contains("myagg:MyAggregate.Registered"),
        "{error}"
    );
}
