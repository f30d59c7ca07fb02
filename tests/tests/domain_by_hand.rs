//! An aggregate written by hand against the public traits (`examples::dogs::by_hand::Dog`)
//! passes the same domain tests as its twin declared with the macros
//! (`examples::dogs::declared::Dog`), stores the same events, reads the twin's events, and is
//! stored beside it in one application on every backend.

use eventsourcing::domain::{
    Aggregate, AggregateEvent, ApplyError, DomainError, DomainEvent, Snapshot,
};
use eventsourcing_examples::dogs::{by_hand, declared, DogSchool, TrickError};
use eventsourcing_tests::{backend_tests, load, store};

/// What the domain tests need of a dog: both twins' commands, with their own return types.
trait Twin: Aggregate + Clone + PartialEq + std::fmt::Debug {
    fn register(name: &str) -> Self;
    fn add_trick(&mut self, trick: &str);
    fn teach(&mut self, tricks: &[&str]) -> Result<(), TrickError>;
    fn tricks(&self) -> &[String];
    fn name(&self) -> &str;
}

impl Twin for declared::Dog {
    fn register(name: &str) -> Self {
        declared::Dog::register(name.to_string())
    }
    fn add_trick(&mut self, trick: &str) {
        declared::Dog::add_trick(self, trick.to_string())
    }
    fn teach(&mut self, tricks: &[&str]) -> Result<(), TrickError> {
        declared::Dog::teach(self, tricks.iter().map(|t| t.to_string()).collect())
    }
    fn tricks(&self) -> &[String] {
        declared::Dog::tricks(self)
    }
    fn name(&self) -> &str {
        declared::Dog::name(self)
    }
}

impl Twin for by_hand::Dog {
    fn register(name: &str) -> Self {
        by_hand::Dog::register(name.to_string()).expect("Registered creates a Dog")
    }
    fn add_trick(&mut self, trick: &str) {
        by_hand::Dog::add_trick(self, trick.to_string()).expect("TrickAdded applies to a Dog")
    }
    fn teach(&mut self, tricks: &[&str]) -> Result<(), TrickError> {
        by_hand::Dog::teach(self, tricks.iter().map(|t| t.to_string()).collect())
    }
    fn tricks(&self) -> &[String] {
        by_hand::Dog::tricks(self)
    }
    fn name(&self) -> &str {
        by_hand::Dog::name(self)
    }
}

/// Runs each test body against both twins.
macro_rules! twin_tests {
    ($(fn $name:ident<$dog:ident>() $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn run<$dog: Twin>() $body

                #[test]
                fn declared() {
                    run::<eventsourcing_examples::dogs::declared::Dog>();
                }

                #[test]
                fn by_hand() {
                    run::<eventsourcing_examples::dogs::by_hand::Dog>();
                }
            }
        )*
    };
}

twin_tests! {
    fn registering_records_the_created_event<D>() {
        let dog = D::register("Fido");
        assert_eq!(dog.version(), 1);
        assert_eq!(dog.name(), "Fido");
        assert!(dog.tricks().is_empty());
        assert_eq!(dog.created_on(), dog.modified_on());
        let pending = dog.pending_events();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].originator_id, dog.id());
        assert_eq!(pending[0].originator_version, 1);
        assert_eq!(pending[0].name(), "Registered");
        assert_eq!(pending[0].topic(), "dogs:Dog.Registered");
        assert!(pending[0].payload.is_created());
        assert_eq!(D::TOPIC, "dogs:Dog");
        assert_eq!(dog.id().get_version_num(), 4);
    }

    fn commands_record_events_at_the_next_versions<D>() {
        let mut dog = D::register("Fido");
        dog.add_trick("roll over");
        dog.teach(&["play dead", "sit"]).unwrap();
        assert_eq!(dog.tricks(), ["roll over", "play dead", "sit"]);
        assert_eq!(dog.version(), 3);
        let names: Vec<_> = dog.pending_events().iter().map(|e| e.name()).collect();
        assert_eq!(names, ["Registered", "TrickAdded", "TricksTaught"]);
        let versions: Vec<_> = dog.pending_events().iter().map(|e| e.originator_version).collect();
        assert_eq!(versions, [1, 2, 3]);
        let timestamps: Vec<_> = dog.pending_events().iter().map(|e| e.timestamp).collect();
        assert!(timestamps.windows(2).all(|w| w[0] < w[1]), "{timestamps:?}");
        assert_eq!(dog.modified_on(), timestamps[2]);
        assert!(!dog.pending_events()[1].payload.is_created());
    }

    fn a_failed_command_leaves_the_dog_exactly_as_it_was<D>() {
        let mut dog = D::register("Fido");
        dog.add_trick("sit");
        let before = dog.clone();
        // The body pushes "fetch" before it finds "sit" known: all of it is undone.
        let error = dog.teach(&["fetch", "sit"]).unwrap_err();
        assert!(
            matches!(&error, TrickError::AlreadyKnown { trick, .. } if trick == "sit"),
            "{error:?}"
        );
        assert_eq!(dog, before);
        assert_eq!(dog.tricks(), ["sit"]);
        assert_eq!(dog.version(), 2);
        assert_eq!(dog.pending_events().len(), 2);
        // And it goes on as if the call had not happened.
        dog.teach(&["fetch"]).unwrap();
        assert_eq!(dog.version(), 3);
        let copy = D::from_events(dog.collect_events()).unwrap();
        assert_eq!(copy.tricks(), ["sit", "fetch"]);
    }

    fn replay_rebuilds_an_equal_dog<D>() {
        let mut dog = D::register("Fido");
        dog.add_trick("roll over");
        dog.teach(&["play dead"]).unwrap();
        let events = dog.collect_events();
        let copy = D::from_events(events.clone()).unwrap();
        assert_eq!(copy, dog);
        assert!(copy.pending_events().is_empty());
        assert_eq!(copy.modified_on(), events[2].timestamp);
        assert_eq!(copy.created_on(), events[0].timestamp);

        // One event at a time, too.
        let mut partial = D::from_events(events[..1].to_vec()).unwrap();
        partial.apply_event(events[1].clone()).unwrap();
        assert_eq!(partial.tricks(), ["roll over"]);
        assert_eq!(partial.version(), 2);
    }

    fn replay_errors_are_errors_not_panics<D>() {
        let mut dog = D::register("Fido");
        dog.add_trick("sit");
        let events = dog.collect_events();
        assert!(matches!(
            D::from_events(Vec::new()),
            Err(DomainError::NoEvents { type_name: "Dog" })
        ));
        assert!(matches!(
            D::from_events(events[1..].to_vec()),
            Err(DomainError::Apply(ApplyError::NotCreatedEvent { event: "TrickAdded", .. }))
        ));
        let mut copy = D::from_events(events.clone()).unwrap();
        let mut created_again = events[0].clone();
        created_again.originator_version = 3;
        assert!(matches!(
            copy.apply_event(created_again),
            Err(DomainError::Apply(ApplyError::CreatedEventOnExisting { event: "Registered", .. }))
        ));
        // Out of sequence: refused, and nothing changes.
        let before = copy.clone();
        assert!(matches!(copy.apply_event(events[1].clone()), Err(DomainError::Version(_))));
        assert_eq!(copy, before);
    }

    fn a_stored_event_whose_body_fails_on_replay_fails_the_replay<D>() {
        // A history no command could have made: "sit" taught twice. Replaying it runs the body
        // again, which fails, and the replay returns the body's error (the aggregate is
        // discarded).
        let mut dog = D::register("Fido");
        dog.teach(&["sit"]).unwrap();
        let mut events = dog.collect_events();
        let mut again = events[1].clone();
        again.originator_version = 3;
        events.push(again);
        match D::from_events(events) {
            Err(DomainError::Apply(ApplyError::Body { event, source, .. })) => {
                assert_eq!(event, "TricksTaught");
                assert!(source.to_string().contains("already knows \"sit\""), "{source}");
            }
            other => panic!("expected the body's error, got {other:?}"),
        }
    }

    fn snapshots_restore_an_equal_dog<D>() {
        let mut dog = D::register("Fido");
        dog.add_trick("roll over");
        dog.collect_events();
        let snapshot = dog.take_snapshot().unwrap();
        assert_eq!(snapshot.topic, "dogs:Dog");
        assert_eq!(snapshot.originator_version, 2);
        assert_eq!(snapshot.state["tricks"], serde_json::json!(["roll over"]));
        let mut keys: Vec<_> = snapshot.state.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["_created_on", "_modified_on", "name", "tricks"]);
        let restored = D::from_snapshot(snapshot).unwrap();
        assert_eq!(restored, dog);
    }
}

/// The twins store the same state under the same topics, and decode each other's events.
#[test]
fn the_twins_store_the_same_events_and_read_each_others() {
    let mut declared = declared::Dog::register("Fido".into());
    declared.add_trick("sit".into());
    declared.teach(vec!["fetch".into()]).unwrap();
    let declared_events = declared.collect_events();
    let stored: Vec<_> = declared_events.iter().map(store).collect();

    let by_hand_events: Vec<DomainEvent<by_hand::DogEvent>> =
        stored.iter().map(|s| load(s).unwrap()).collect();
    assert_eq!(
        by_hand_events[2].payload,
        by_hand::DogEvent::TricksTaught {
            tricks: vec!["fetch".into()]
        }
    );
    // Stored back by the hand-written twin: the same bytes.
    let restored: Vec<_> = by_hand_events.iter().map(store).collect();
    assert_eq!(restored, stored);
    assert_eq!(
        stored[1].state_json(),
        serde_json::json!({
            "timestamp": declared_events[1].timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "trick": "sit",
        })
    );

    let by_hand_dog = by_hand::Dog::from_events(by_hand_events).unwrap();
    assert_eq!(by_hand_dog.tricks(), declared.tricks());
    assert_eq!(by_hand_dog.id(), declared.id());
    assert_eq!(by_hand_dog.version(), declared.version());

    // The event types are described alike.
    assert_eq!(
        <declared::DogEvent as AggregateEvent>::TYPES,
        <by_hand::DogEvent as AggregateEvent>::TYPES
    );

    // And the snapshots restore across.
    let snapshot: Snapshot = by_hand_dog.take_snapshot().unwrap();
    let declared_again: declared::Dog = snapshot.restore().unwrap();
    assert_eq!(declared_again.tricks(), declared.tricks());
}

backend_tests! {
    /// Both kinds of dog in one application: saved, got back by either twin, snapshotted.
    fn both_kinds_in_one_application(backend) -> Result<(), Box<dyn std::error::Error>> {
        let school = DogSchool::with_builder(
            backend
                .configure(DogSchool::builder())
                .snapshotting_interval::<by_hand::Dog>(2),
        )?;
        let fido = school.register_declared("Fido")?;
        let rex = school.register_by_hand("Rex")?;
        school.teach(fido, &["roll over"])?;
        school.teach(rex, &["sit", "fetch"])?;
        assert!(school.teach(rex, &["beg", "sit"]).is_err());
        assert_eq!(school.tricks(fido)?, ["roll over"]);
        assert_eq!(school.tricks(rex)?, ["sit", "fetch"]);

        let rex_by_hand: by_hand::Dog = school.app().repository().get(rex)?;
        assert_eq!(rex_by_hand.version(), 2);
        // Version 2 is a multiple of the interval: a snapshot was taken when it was saved.
        let snapshots = school.app().snapshots().expect("snapshotting is on");
        assert_eq!(snapshots.get_snapshots(rex, &eventsourcing::persistence::EventQuery::new())?.len(), 1);
        let fido_by_hand: by_hand::Dog = school.app().repository().get(fido)?;
        assert_eq!(fido_by_hand.tricks(), ["roll over"]);

        // Both are in one notification log, in order.
        let topics: Vec<String> = school
            .app()
            .log()
            .select(1, 10)?
            .into_iter()
            .map(|n| n.topic.to_string())
            .collect();
        assert_eq!(
            topics,
            [
                "dogs:Dog.Registered",
                "dogs:Dog.Registered",
                "dogs:Dog.TricksTaught",
                "dogs:Dog.TricksTaught",
            ]
        );
        Ok(())
    }
}
