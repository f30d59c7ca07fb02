//! The given/when/then harness (`eventsourcing::testing::AggregateTest`) itself: what it
//! accepts, what it fills in, and that each expectation fails, with a message showing what was
//! expected and what happened, when the aggregate does something else.

use std::sync::atomic::{AtomicBool, Ordering};

use eventsourcing::prelude::*;
use eventsourcing::testing::AggregateTest;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrickError {
    #[error("{0} is known already")]
    Known(String),
    #[error("a trick has a name")]
    Unnamed,
}

#[aggregate]
#[derive(Debug, Clone, PartialEq)]
pub struct Dog {
    name: String,
    tricks: Vec<String>,
}

#[aggregate]
impl Dog {
    #[created("Registered")]
    pub fn register(name: String) -> Self {
        Dog {
            name,
            tricks: Vec::new(),
        }
    }

    /// A constructor that can refuse.
    pub fn try_register(name: &str) -> Result<Self, TrickError> {
        if name.is_empty() {
            return Err(TrickError::Unnamed);
        }
        Ok(Dog::register(name.to_string()))
    }

    /// A command that checks, then records.
    pub fn add_trick(&mut self, trick: &str) -> Result<(), TrickError> {
        if trick.is_empty() {
            return Err(TrickError::Unnamed);
        }
        if self.tricks.iter().any(|t| t == trick) {
            return Err(TrickError::Known(trick.to_string()));
        }
        self.trick_added(trick.to_string());
        Ok(())
    }

    /// A faulty command: it records, then refuses.
    pub fn add_trick_then_refuse(&mut self, trick: &str) -> Result<(), TrickError> {
        self.trick_added(trick.to_string());
        Err(TrickError::Known(trick.to_string()))
    }

    #[event("TrickAdded")]
    pub fn trick_added(&mut self, trick: String) {
        self.tricks.push(trick);
    }

    pub fn tricks(&self) -> &[String] {
        &self.tricks
    }
}

fn registered() -> DogEvent {
    DogEvent::Registered {
        name: "Fido".into(),
    }
}

fn trick(trick: &str) -> DogEvent {
    DogEvent::TrickAdded {
        trick: trick.into(),
    }
}

// What the harness accepts and fills in.

#[test]
fn given_events_rebuild_the_aggregate_and_the_command_sees_them() {
    let dog = AggregateTest::<Dog>::given([registered(), trick("sit")])
        .when(|dog| {
            assert_eq!(dog.tricks(), ["sit"]);
            assert_eq!(dog.version(), 2);
            dog.add_trick("roll over")
        })
        .then_expect_events([trick("roll over")]);
    assert_eq!(dog.tricks(), ["sit", "roll over"]);
    assert_eq!(dog.version(), 3);
    assert!(dog.pending_events().is_empty());
}

#[test]
fn given_events_get_one_id_versions_in_sequence_and_past_increasing_timestamps() {
    let id = Uuid::new_v4();
    let before = Utc::now();
    let given = AggregateTest::<Dog>::given([registered(), trick("sit"), trick("beg")]).with_id(id);
    assert_eq!(given.id(), id);
    let then = given.when(|dog| {
        assert_eq!(dog.id(), id);
        assert_eq!(dog.version(), 3);
        assert!(dog.created_on() < dog.modified_on());
        assert!(dog.modified_on() <= Utc::now());
        // Within a second of the test: the harness dates them now, not at some fixed epoch.
        assert!(before - dog.created_on() < chrono::TimeDelta::seconds(1));
        dog.add_trick("roll over")
    });
    let events = then.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].originator_id, id);
    assert_eq!(events[0].originator_version, 4);
    assert!(events[0].timestamp > then.aggregate().unwrap().created_on());
    then.then_expect_events([trick("roll over")]);
}

#[test]
fn given_gives_a_random_id_unless_told() {
    let a = AggregateTest::<Dog>::given([registered()]);
    let b = AggregateTest::<Dog>::given([registered()]);
    assert_ne!(a.id(), b.id());
    let id = a.id();
    let dog = a.when(|_| ()).then_expect_no_events();
    assert_eq!(dog.id(), id);
}

mod zero {
    use eventsourcing::prelude::*;

    #[aggregate]
    pub struct Counter {
        pub count: u64,
    }

    #[aggregate(initial_version = 0)]
    impl Counter {
        #[created]
        pub fn create() -> Self {
            Counter { count: 0 }
        }

        #[event]
        pub fn incremented(&mut self) {
            self.count += 1;
        }
    }
}

#[test]
fn given_versions_start_at_the_aggregates_initial_version() {
    use zero::{Counter, CounterEvent};

    let then = AggregateTest::<Counter>::given([CounterEvent::Created, CounterEvent::Incremented])
        .when(|counter| {
            assert_eq!(counter.version(), 1);
            counter.incremented();
        });
    assert_eq!(then.events()[0].originator_version, 2);
    let counter = then.then_expect_events([CounterEvent::Incremented]);
    assert_eq!(counter.count, 2);
}

#[test]
fn commands_may_return_unit_or_result() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.trick_added("sit".into()))
        .then_expect_events([trick("sit")]);
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_events([trick("sit")]);
}

#[test]
fn a_command_may_record_several_events() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| {
            dog.add_trick("sit")?;
            dog.add_trick("beg")
        })
        .then_expect_events([trick("sit"), trick("beg")]);
}

#[test]
fn expected_errors_by_value_or_predicate() {
    AggregateTest::<Dog>::given([registered(), trick("sit")])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_error(TrickError::Known("sit".into()));
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick(""))
        .then_expect_error_matches(|e| matches!(e, TrickError::Unnamed));
}

#[test]
fn creation_by_constructor_returning_the_aggregate_or_a_result() {
    let dog = AggregateTest::<Dog>::given_no_events()
        .when(|| Dog::register("Fido".into()))
        .then_expect_events([registered()]);
    assert_eq!(dog.version(), 1);
    AggregateTest::<Dog>::given_no_events()
        .when(|| Dog::try_register("Fido"))
        .then_expect_events([registered()]);
    let then = AggregateTest::<Dog>::given_no_events().when(|| Dog::try_register(""));
    assert_eq!(then.result(), Err(&TrickError::Unnamed));
    assert!(then.aggregate().is_none());
    assert!(then.events().is_empty());
    then.then_expect_error(TrickError::Unnamed);
}

#[test]
fn a_constructor_may_record_more_than_the_created_event() {
    AggregateTest::<Dog>::given_no_events()
        .when(|| {
            let mut dog = Dog::register("Fido".into());
            dog.trick_added("sit".into());
            dog
        })
        .then_expect_events([registered(), trick("sit")]);
}

#[test]
fn result_events_and_aggregate_show_what_the_command_did() {
    let then =
        AggregateTest::<Dog>::given([registered(), trick("sit")]).when(|dog| dog.add_trick("sit"));
    assert_eq!(then.result(), Err(&TrickError::Known("sit".into())));
    assert!(then.events().is_empty());
    assert_eq!(then.aggregate().unwrap().tricks(), ["sit"]);
}

// Each expectation fails when it should, saying what was expected and what happened.

#[test]
#[should_panic(
    expected = "Dog: the command recorded other events than expected (the first \
                           difference is at [0])\nexpected 1 event:\n    [0] TrickAdded { trick: \
                           \"roll over\" }\nrecorded 1 event:\n    [0] TrickAdded { trick: \
                           \"sit\" }\n"
)]
fn other_events_than_expected_fail() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_events([trick("roll over")]);
}

#[test]
#[should_panic(
    expected = "(the first difference is at [1])\nexpected 2 events:\n    [0] \
                           TrickAdded { trick: \"sit\" }\n    [1] TrickAdded { trick: \"beg\" \
                           }\nrecorded 1 event:\n    [0] TrickAdded { trick: \"sit\" }\n"
)]
fn fewer_events_than_expected_fail() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_events([trick("sit"), trick("beg")]);
}

#[test]
#[should_panic(
    expected = "(the first difference is at [1])\nexpected 1 event:\n    [0] \
                           TrickAdded { trick: \"sit\" }\nrecorded 2 events:"
)]
fn more_events_than_expected_fail() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| {
            dog.add_trick("sit")?;
            dog.add_trick("beg")
        })
        .then_expect_events([trick("sit")]);
}

#[test]
#[should_panic(
    expected = "the command recorded other events than expected (the first difference \
                           is at [0])\nexpected no events\nrecorded 1 event:\n    [0] TrickAdded \
                           { trick: \"sit\" }\n"
)]
fn events_when_none_were_expected_fail() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_no_events();
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to succeed and record 1 event:\n    [0] \
                           TrickAdded { trick: \"sit\" }\nbut it failed with Known(\"sit\")"
)]
fn a_failure_when_events_were_expected_fails() {
    AggregateTest::<Dog>::given([registered(), trick("sit")])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_events([trick("sit")]);
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to succeed and record no events\nbut it \
                           failed with Unnamed"
)]
fn a_failure_when_no_events_were_expected_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick(""))
        .then_expect_no_events();
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to fail with Known(\"sit\"), but it \
                           succeeded and recorded 1 event:\n    [0] TrickAdded { trick: \
                           \"sit\" }\n"
)]
fn a_success_when_an_error_was_expected_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_error(TrickError::Known("sit".into()));
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to fail with Known(\"sit\"), but it failed \
                           with Unnamed"
)]
fn another_error_than_expected_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick(""))
        .then_expect_error(TrickError::Known("sit".into()));
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to fail with an error matching the \
                           predicate, but it failed with Unnamed"
)]
fn an_error_the_predicate_rejects_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick(""))
        .then_expect_error_matches(|e| matches!(e, TrickError::Known(_)));
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to fail, but it succeeded and recorded 1 \
                           event:"
)]
fn a_success_when_an_error_matching_was_expected_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick("sit"))
        .then_expect_error_matches(|_| true);
}

#[test]
#[should_panic(
    expected = "Dog: the command failed with Known(\"sit\"), but recorded events all \
                           the same (a refused command should record nothing)\nrecorded 1 \
                           event:\n    [0] TrickAdded { trick: \"sit\" }\n"
)]
fn an_error_after_recording_fails() {
    AggregateTest::<Dog>::given([registered()])
        .when(|dog| dog.add_trick_then_refuse("sit"))
        .then_expect_error(TrickError::Known("sit".into()));
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to fail with Unnamed, but it succeeded and \
                           recorded 1 event:\n    [0] Registered { name: \"Fido\" }\n"
)]
fn a_constructor_that_succeeds_when_an_error_was_expected_fails() {
    AggregateTest::<Dog>::given_no_events()
        .when(|| Dog::try_register("Fido"))
        .then_expect_error(TrickError::Unnamed);
}

#[test]
#[should_panic(
    expected = "Dog: expected the command to succeed and record 1 event:\n    [0] \
                           Registered { name: \"\" }\nbut it failed with Unnamed"
)]
fn a_constructor_that_fails_when_events_were_expected_fails() {
    AggregateTest::<Dog>::given_no_events()
        .when(|| Dog::try_register(""))
        .then_expect_events([DogEvent::Registered { name: "".into() }]);
}

#[test]
#[should_panic(
    expected = "Dog: the given events don't rebuild the aggregate: can't rebuild a Dog \
                           from no events\ngiven no events\n(for a command that creates the \
                           aggregate, use given_no_events())"
)]
fn no_given_events_fail() {
    let _ = AggregateTest::<Dog>::given([]).when(|dog| dog.add_trick("sit"));
}

#[test]
#[should_panic(
    expected = "Dog: the given events don't rebuild the aggregate: Dog.TrickAdded \
                           can't start a Dog's sequence: the first event must be its created \
                           event\ngiven 1 event:\n    [0] TrickAdded { trick: \"sit\" }\n"
)]
fn given_events_without_the_created_event_first_fail() {
    let _ = AggregateTest::<Dog>::given([trick("sit")]).when(|dog| dog.add_trick("beg"));
}

/// An aggregate whose event body succeeds once and fails ever after: its events do not replay.
mod flaky {
    use super::*;

    static APPLIED: AtomicBool = AtomicBool::new(false);

    #[aggregate]
    #[derive(Clone)]
    pub struct Flaky {}

    #[aggregate]
    impl Flaky {
        #[created]
        pub fn create() -> Self {
            Flaky {}
        }

        #[event]
        pub fn poked(&mut self) -> Result<(), String> {
            if APPLIED.swap(true, Ordering::SeqCst) {
                return Err("poked twice".to_string());
            }
            Ok(())
        }
    }
}

#[test]
#[should_panic(
    expected = "Flaky: the command recorded the expected events, but they don't \
                           replay: Flaky.Poked failed when applied: poked twice"
)]
fn events_that_do_not_replay_fail() {
    use flaky::{Flaky, FlakyEvent};

    AggregateTest::<Flaky>::given([FlakyEvent::Created])
        .when(|flaky| flaky.poked())
        .then_expect_events([FlakyEvent::Poked]);
}
