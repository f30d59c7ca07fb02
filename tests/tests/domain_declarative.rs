//! The declarative syntax, case by case (digest §1.14 F.1–F.15, and I): naming the created
//! event, arguments as event fields, ids derived from arguments or given as an argument, event
//! names given or inferred, and commands that trigger events only when something changes.
//! F.16 (World) is in `domain_world.rs`, F.17 (Page/Index) in `domain_page_index.rs`.

use eventsourcing::domain::url_id;
use eventsourcing::prelude::*;
use eventsourcing_tests::store;
use serde_json::json;

/// The JSON keys of an event's stored state, sorted.
fn stored_keys<E: AggregateEvent>(event: &DomainEvent<E>) -> Vec<String> {
    let state = store(event).state_json();
    let mut keys: Vec<String> = state.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// F.1: `class MyAggregate(Aggregate): class Created(Aggregate.Created): pass`, then
/// `MyAggregate()`. An unnamed `#[created]` event is called "Created".
mod f01 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {}

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create() -> Self {
            MyAggregate {}
        }
    }
}

#[test]
fn f01_created_event_is_called_created_by_default() {
    use f01::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create();
    let pending_events = agg.collect_events();
    assert_eq!(pending_events.len(), 1);
    assert!(matches!(
        pending_events[0].payload,
        MyAggregateEvent::Created
    ));
    assert_eq!(pending_events[0].name(), "Created");
    assert_eq!(
        pending_events[0].topic(),
        "domain_declarative::f01:MyAggregate.Created"
    );

    // copy = pending_events[0].mutate(None)
    let copy = MyAggregate::from_created_event(pending_events[0].clone()).unwrap();
    assert_eq!(copy.id(), agg.id());
    assert_eq!(copy.created_on(), agg.created_on());
    assert_eq!(copy.version(), 1);
}

/// F.2: the created event's fields come from `__init__(self, name)`: here, from the
/// `#[created]` constructor's arguments.
mod f02 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            Self { name }
        }
    }
}

#[test]
fn f02_created_event_fields_are_the_constructor_arguments() {
    use f02::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    assert_eq!(agg.name, "foo");
    let pending_events = agg.collect_events();
    assert_eq!(pending_events.len(), 1);
    match &pending_events[0].payload {
        MyAggregateEvent::Created { name } => assert_eq!(name, "foo"),
    }
    assert_eq!(stored_keys(&pending_events[0]), ["name", "timestamp"]);

    let copy = MyAggregate::from_created_event(pending_events[0].clone()).unwrap();
    assert_eq!(copy.name, agg.name);
    assert_eq!(copy, agg);
}

/// F.3: the dataclass style (`name: str` annotated on the class). In Rust the struct's fields
/// are always declared; the constructor here builds the struct by its name rather than `Self`.
mod f03 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }
    }
}

#[test]
fn f03_dataclass_style() {
    use f03::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    assert_eq!(agg.name, "foo");
    let events = agg.collect_events();
    assert!(matches!(&events[0].payload, MyAggregateEvent::Created { name } if name == "foo"));
}

/// F.4: `name: str = "bar"`, so `MyAggregate()` and `MyAggregate("foo")` both work. Adapted:
/// Rust has no default arguments, so the default is a plain function calling the constructor.
mod f04 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }

        pub fn create_default() -> Self {
            Self::create("bar".to_string())
        }
    }
}

#[test]
fn f04_default_argument() {
    use f04::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create_default();
    assert_eq!(agg.name, "bar");
    // As in Python, the event carries every parameter, defaults included.
    let events = agg.collect_events();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0].payload, MyAggregateEvent::Created { name } if name == "bar"));

    let agg = MyAggregate::create("foo".to_string());
    assert_eq!(agg.name, "foo");
}

/// F.5: `history: List[str] = field(default_factory=list, init=False)`: state that is not an
/// argument. Adapted: the constructor body initialises the field, and the event has no field
/// for it.
mod f05 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub history: Vec<String>,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create() -> Self {
            MyAggregate {
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
fn f05_state_that_is_not_an_argument() {
    use f05::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create();
    assert_eq!(agg.history, Vec::<String>::new());
    agg.make_it_so("dinosaurs".to_string());
    assert_eq!(agg.history, ["dinosaurs"]);

    let events = agg.collect_events();
    assert!(matches!(events[0].payload, MyAggregateEvent::Created));
    assert_eq!(stored_keys(&events[0]), ["timestamp"]);
    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.history, ["dinosaurs"]);
}

/// F.6: `class MyAggregate(Aggregate, created_event_name="Started")`. F.7 (an explicit
/// `Started` class as the only created class) and F.8 (`Created` and `Started` both defined,
/// plus `created_event_name="Started"`) come to the same in Rust: an aggregate has exactly one
/// created event, and its name is the one given to `#[created]`.
mod f06 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created("Started")]
        pub fn start(name: String) -> Self {
            MyAggregate { name }
        }
    }
}

#[test]
fn f06_to_f08_created_event_named_started() {
    use f06::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::start("foo".to_string());
    let events = agg.collect_events();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0].payload, MyAggregateEvent::Started { name } if name == "foo"));
    assert!(events[0].payload.is_created());
    assert_eq!(events[0].name(), "Started");
    assert_eq!(
        events[0].topic(),
        "domain_declarative::f06:MyAggregate.Started"
    );
    // Started is the only created event: no "Created" is defined beside it.
    assert_eq!(
        <MyAggregateEvent as AggregateEvent>::topics().collect::<Vec<_>>(),
        ["domain_declarative::f06:MyAggregate.Started"]
    );
    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.name, "foo");
}

/// F.9: `created_event_name="Opened"`, with `Created` and `Started` defined but unused.
mod f09 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created("Opened")]
        pub fn open(name: String) -> Self {
            MyAggregate { name }
        }
    }
}

#[test]
fn f09_created_event_named_opened() {
    use f09::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::open("foo".to_string());
    let events = agg.collect_events();
    assert!(matches!(&events[0].payload, MyAggregateEvent::Opened { name } if name == "foo"));
    assert_eq!(events[0].name(), "Opened");
    assert_eq!(
        events[0].topic(),
        "domain_declarative::f09:MyAggregate.Opened"
    );
}

/// F.10: `create_id(name)` derives the id from the created event's `name`.
mod f10 {
    use eventsourcing::domain::url_id;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }

        pub fn create_id(name: &str) -> Uuid {
            url_id(&format!("/my_aggregates/{name}"))
        }
    }
}

#[test]
fn f10_create_id() {
    use f10::MyAggregate;

    let mut agg = MyAggregate::create("foo".to_string());
    assert_eq!(agg.name, "foo");
    assert_eq!(agg.id(), MyAggregate::create_id("foo"));
    assert_eq!(agg.id(), url_id("/my_aggregates/foo"));
    // uuid.uuid5(uuid.NAMESPACE_URL, "/my_aggregates/foo") in Python.
    assert_eq!(agg.id().to_string(), "a708ecf0-7d84-5730-b65b-809923a8085b");
    assert_ne!(
        MyAggregate::create("bar".to_string()).id(),
        agg.id(),
        "a different name gives a different id"
    );

    let events = agg.collect_events();
    assert_eq!(events[0].originator_id, agg.id());
    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.id(), MyAggregate::create_id("foo"));
}

/// F.11: `id: UUID` annotated on the class: the caller gives the id. Adapted: the constructor
/// takes an argument named `id`, which becomes the aggregate's id and not an event field.
mod f11 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {}

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(id: Uuid) -> Self {
            MyAggregate {}
        }
    }
}

#[test]
fn f11_id_argument() {
    use f11::MyAggregate;

    let agg_id = Uuid::new_v4();
    let mut agg = MyAggregate::create(agg_id);
    assert_eq!(agg.id(), agg_id);
    let events = agg.collect_events();
    assert_eq!(events[0].originator_id, agg_id);
    // The id is the event's originator id, not one of its fields.
    assert_eq!(stored_keys(&events[0]), ["timestamp"]);
    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.id(), agg_id);
}

/// F.12: `__init__(self, id: UUID)` sets `self._id = id`: the body receives the id too.
mod f12 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
        pub own_id: Uuid,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(id: Uuid, name: String) -> Self {
            MyAggregate { name, own_id: id }
        }

        // An explicit id wins over create_id, as `id or create_id(...)` does in Python.
        pub fn create_id(name: &str) -> Uuid {
            eventsourcing::domain::url_id(&format!("/names/{name}"))
        }
    }
}

#[test]
fn f12_id_argument_seen_by_the_body() {
    use f12::{MyAggregate, MyAggregateEvent};

    let agg_id = Uuid::new_v4();
    let mut agg = MyAggregate::create(agg_id, "foo".to_string());
    assert_eq!(agg.id(), agg_id);
    assert_eq!(agg.own_id, agg_id);
    assert_ne!(agg.id(), MyAggregate::create_id("foo"));

    let events = agg.collect_events();
    assert!(matches!(&events[0].payload, MyAggregateEvent::Created { name } if name == "foo"));
    assert_eq!(stored_keys(&events[0]), ["name", "timestamp"]);
    // On replay the body gets the event's originator id.
    let copy = MyAggregate::from_events(events).unwrap();
    assert_eq!(copy.id(), agg_id);
    assert_eq!(copy.own_id, agg_id);
    assert_eq!(copy, agg);
}

/// F.13: `@event("NameUpdated") def update_name(self, name)`.
mod f13 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }

        #[event("NameUpdated")]
        pub fn update_name(&mut self, name: String) {
            self.name = name;
        }
    }
}

#[test]
fn f13_named_event() {
    use f13::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    agg.update_name("bar".to_string());
    assert_eq!(agg.name, "bar");
    assert_eq!(agg.version(), 2);

    let pending_events = agg.collect_events();
    assert_eq!(pending_events.len(), 2);
    assert!(
        matches!(&pending_events[0].payload, MyAggregateEvent::Created { name } if name == "foo")
    );
    assert!(
        matches!(&pending_events[1].payload, MyAggregateEvent::NameUpdated { name } if name == "bar")
    );
    assert_eq!(pending_events[1].name(), "NameUpdated");
    assert_eq!(
        pending_events[1].topic(),
        "domain_declarative::f13:MyAggregate.NameUpdated"
    );
    let copy = MyAggregate::from_events(pending_events).unwrap();
    assert_eq!(copy.name, "bar");
}

/// F.14: `@event def name_updated(self, name)`: the name is inferred from the method.
mod f14 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
        pub picked_up: bool,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate {
                name,
                picked_up: false,
            }
        }

        #[event]
        pub fn name_updated(&mut self, name: String) {
            self.name = name;
        }

        // Digest §1.8: a leading underscore gives an empty first part, so `_pickup` → "Pickup".
        #[event]
        fn _pickup(&mut self) {
            self.picked_up = true;
        }

        pub fn pickup(&mut self) {
            self._pickup();
        }
    }
}

#[test]
fn f14_inferred_event_name() {
    use f14::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    agg.name_updated("bar".to_string());
    assert_eq!(agg.name, "bar");

    let pending_events = agg.collect_events();
    assert_eq!(pending_events.len(), 2);
    assert!(
        matches!(&pending_events[0].payload, MyAggregateEvent::Created { name } if name == "foo")
    );
    assert!(
        matches!(&pending_events[1].payload, MyAggregateEvent::NameUpdated { name } if name == "bar")
    );
    assert_eq!(pending_events[1].name(), "NameUpdated");

    agg.pickup();
    assert!(agg.picked_up);
    let events = agg.collect_events();
    assert!(matches!(events[0].payload, MyAggregateEvent::Pickup));
    assert_eq!(events[0].name(), "Pickup");
    assert_eq!(events[0].originator_version, 3);
}

/// F.15: a command that triggers its event only when the name changes.
mod f15 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }

        pub fn update_name(&mut self, name: &str) {
            if name != self.name {
                self.name_updated(name.to_string());
            }
        }

        #[event]
        fn name_updated(&mut self, name: String) {
            self.name = name;
        }
    }
}

#[test]
fn f15_two_pending_events_not_eight() {
    use f15::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    for _ in 0..3 {
        agg.update_name("foo");
    }
    for _ in 0..4 {
        agg.update_name("bar");
    }
    assert_eq!(agg.name, "bar");
    assert_eq!(agg.version(), 2);
    let events = agg.collect_events();
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[1].payload, MyAggregateEvent::NameUpdated { name } if name == "bar"));
}

/// Digest §1.14 I: `@event("NameChanged") def set_name(self, name)` is the same as a
/// `NameChanged` event class with a `name` field whose `apply` sets the name. (Python's other
/// form, `@event(NameChanged)` with a hand-written class, has no Rust equivalent: event types
/// are always generated from the method.)
mod event_docstring {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct MyAggregate {
        pub name: String,
    }

    #[aggregate]
    impl MyAggregate {
        #[created]
        pub fn create(name: String) -> Self {
            MyAggregate { name }
        }

        #[event("NameChanged")]
        pub fn set_name(&mut self, name: String) {
            self.name = name;
        }
    }
}

#[test]
fn i_event_method_is_an_event_class_with_apply() {
    use event_docstring::{MyAggregate, MyAggregateEvent};

    let mut agg = MyAggregate::create("foo".to_string());
    agg.set_name("bar".to_string());
    assert_eq!(agg.name, "bar");
    let events = agg.collect_events();
    let changed = &events[1];
    assert_eq!(
        changed.payload,
        MyAggregateEvent::NameChanged {
            name: "bar".to_string()
        }
    );
    assert_eq!(
        changed.topic(),
        "domain_declarative::event_docstring:MyAggregate.NameChanged"
    );
    let state = store(changed).state_json();
    assert_eq!(state["name"], json!("bar"));
    assert_eq!(
        state["timestamp"],
        serde_json::to_value(changed.timestamp).unwrap()
    );
    assert_eq!(state.as_object().unwrap().len(), 2);

    // Applying the event runs the method body: the "apply" of the event class.
    let mut copy = MyAggregate::from_created_event(events[0].clone()).unwrap();
    assert_eq!(copy.name, "foo");
    copy.apply_event(changed.clone()).unwrap();
    assert_eq!(copy.name, "bar");
    assert_eq!(copy.version(), 2);
    assert!(copy.pending_events().is_empty());
}
