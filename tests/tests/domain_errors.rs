//! Errors of the domain layer (digest §1.3, §1.13): events out of sequence (`VersionError`),
//! sequences that can't start an aggregate, bodies that fail on replay, and snapshots that
//! don't fit. Each is an `Err`, never a panic, and a failed apply changes nothing.

use chrono::Utc;
use eventsourcing::domain::{ApplyError, DomainError, VersionError};
use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }
}

/// A dog with three events: Registered, TrickAdded("roll over"), TrickAdded("play dead").
fn dog_events() -> Vec<DomainEvent<DogEvent>> {
    let mut dog = Dog::register("Fido".to_string());
    dog.add_trick("roll over".to_string());
    dog.add_trick("play dead".to_string());
    dog.collect_events()
}

fn expect_version_error(result: Result<(), DomainError>) -> VersionError {
    match result {
        Err(DomainError::Version(error)) => error,
        other => panic!("expected a VersionError, got {other:?}"),
    }
}

#[test]
fn skipped_event_is_a_version_error() {
    let events = dog_events();
    let mut dog = Dog::from_created_event(events[0].clone()).unwrap();
    let error = expect_version_error(dog.apply_event(events[2].clone()));
    assert_eq!(error.event_version, 3);
    assert_eq!(error.expected, 2);
    assert_eq!(error.type_name, "Dog");
    assert_eq!(error.id, dog.id());
    assert_eq!(error.event_id, dog.id());
    assert_eq!(
        error.to_string(),
        format!(
            "event {} v3 is not the next event of Dog {}: expected v2",
            dog.id(),
            dog.id()
        )
    );
    // Nothing changed.
    assert_eq!(dog.version(), 1);
    assert!(dog.tricks.is_empty());
    assert_eq!(dog.modified_on(), events[0].timestamp);
}

#[test]
fn repeated_event_is_a_version_error() {
    let events = dog_events();
    let mut dog = Dog::from_events(events[..2].to_vec()).unwrap();
    let error = expect_version_error(dog.apply_event(events[1].clone()));
    assert_eq!((error.event_version, error.expected), (2, 3));
    assert_eq!(dog.tricks, ["roll over"]);
    assert_eq!(dog.version(), 2);
}

#[test]
fn out_of_order_events_fail_to_replay() {
    let mut events = dog_events();
    events.swap(1, 2);
    match Dog::from_events(events) {
        Err(DomainError::Version(error)) => {
            assert_eq!((error.event_version, error.expected), (3, 2));
        }
        other => panic!("expected a VersionError, got {other:?}"),
    }
}

#[test]
fn event_of_another_aggregate_is_a_version_error() {
    let events = dog_events();
    let mut other = Dog::register("Rex".to_string());
    other.collect_events();
    let error = expect_version_error(other.apply_event(events[1].clone()));
    assert_eq!(error.id, other.id());
    assert_eq!(error.event_id, events[1].originator_id);
    assert_ne!(error.event_id, error.id);
    assert!(other.tricks.is_empty());
}

#[test]
fn no_events_is_an_error() {
    match Dog::from_events(Vec::new()) {
        Err(DomainError::NoEvents { type_name }) => assert_eq!(type_name, "Dog"),
        other => panic!("expected NoEvents, got {other:?}"),
    }
    let error = Dog::from_events(Vec::new()).unwrap_err();
    assert_eq!(error.to_string(), "can't rebuild a Dog from no events");
}

#[test]
fn first_event_not_created_is_an_error() {
    let events = dog_events();
    match Dog::from_events(events[1..].to_vec()) {
        Err(DomainError::Apply(ApplyError::NotCreatedEvent { type_name, event })) => {
            assert_eq!(type_name, "Dog");
            assert_eq!(event, "TrickAdded");
        }
        other => panic!("expected NotCreatedEvent, got {other:?}"),
    }
    match Dog::from_created_event(events[2].clone()) {
        Err(DomainError::Apply(ApplyError::NotCreatedEvent { event, .. })) => {
            assert_eq!(event, "TrickAdded");
        }
        other => panic!("expected NotCreatedEvent, got {other:?}"),
    }
}

#[test]
fn created_event_applied_to_an_existing_aggregate_is_an_error() {
    let events = dog_events();
    let mut dog = Dog::from_events(events.clone()).unwrap();
    // A created event that is otherwise in sequence: the right id and the next version.
    let created_again = DomainEvent {
        metadata: Default::default(),
        originator_id: dog.id(),
        originator_version: dog.version() + 1,
        timestamp: Utc::now(),
        payload: DogEvent::Registered {
            name: "Imposter".to_string(),
        },
    };
    match dog.apply_event(created_again) {
        Err(DomainError::Apply(ApplyError::CreatedEventOnExisting { type_name, event })) => {
            assert_eq!(type_name, "Dog");
            assert_eq!(event, "Registered");
        }
        other => panic!("expected CreatedEventOnExisting, got {other:?}"),
    }
    assert_eq!(dog.name, "Fido");
    assert_eq!(dog.version(), 3);
    assert_eq!(dog.modified_on(), events[2].timestamp);

    // Replaying the created event twice fails the same way.
    let mut twice = events[..1].to_vec();
    twice.push(DomainEvent {
        metadata: Default::default(),
        originator_version: 2,
        ..events[0].clone()
    });
    assert!(matches!(
        Dog::from_events(twice),
        Err(DomainError::Apply(
            ApplyError::CreatedEventOnExisting { .. }
        ))
    ));
}

/// An account whose constructor and withdrawals can refuse: `Result` bodies.
mod account {
    use eventsourcing::prelude::*;

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    pub enum AccountError {
        #[error("an account needs an owner")]
        NoOwner,
        #[error("insufficient funds: balance {balance}, withdrawal {amount}")]
        InsufficientFunds { balance: u64, amount: u64 },
    }

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Account {
        pub owner: String,
        pub balance: u64,
    }

    #[aggregate]
    impl Account {
        #[created("Opened")]
        pub fn open(owner: String) -> Result<Self, AccountError> {
            if owner.is_empty() {
                return Err(AccountError::NoOwner);
            }
            Ok(Account { owner, balance: 0 })
        }

        #[event("Deposited")]
        pub fn deposit(&mut self, amount: u64) {
            self.balance += amount;
        }

        #[event("Withdrawn")]
        pub fn withdraw(&mut self, amount: u64) -> Result<(), AccountError> {
            if amount > self.balance {
                return Err(AccountError::InsufficientFunds {
                    balance: self.balance,
                    amount,
                });
            }
            self.balance -= amount;
            Ok(())
        }
    }
}

#[test]
fn result_constructor_err_creates_nothing() {
    use account::{Account, AccountError};

    assert_eq!(Account::open(String::new()), Err(AccountError::NoOwner));
    let mut account = Account::open("Alice".to_string()).unwrap();
    assert_eq!(account.version(), 1);
    assert_eq!(account.collect_events().len(), 1);
}

#[test]
fn result_body_err_records_nothing_and_keeps_the_version() {
    use account::{Account, AccountError};

    let mut account = Account::open("Alice".to_string()).unwrap();
    account.deposit(10);
    let modified_on = account.modified_on();
    assert_eq!(
        account.withdraw(25),
        Err(AccountError::InsufficientFunds {
            balance: 10,
            amount: 25
        })
    );
    assert_eq!(account.balance, 10);
    assert_eq!(account.version(), 2);
    assert_eq!(account.modified_on(), modified_on);
    assert_eq!(account.pending_events().len(), 2);

    assert_eq!(account.withdraw(4), Ok(()));
    assert_eq!(account.balance, 6);
    assert_eq!(account.version(), 3);
    assert_eq!(account.pending_events()[2].originator_version, 3);
}

#[test]
fn replayed_result_body_err_is_an_apply_error() {
    use account::{Account, AccountEvent};

    let mut account = Account::open("Alice".to_string()).unwrap();
    account.deposit(10);
    let mut events = account.collect_events();
    // A withdrawal the body refuses when it runs again on replay.
    events.push(DomainEvent {
        metadata: Default::default(),
        originator_id: account.id(),
        originator_version: 3,
        timestamp: Utc::now(),
        payload: AccountEvent::Withdrawn { amount: 11 },
    });
    let error = Account::from_events(events.clone()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Account.Withdrawn failed when applied: insufficient funds: balance 10, withdrawal 11"
    );
    match error {
        DomainError::Apply(ApplyError::Body {
            type_name,
            event,
            source,
        }) => {
            assert_eq!(type_name, "Account");
            assert_eq!(event, "Withdrawn");
            assert_eq!(
                source.to_string(),
                "insufficient funds: balance 10, withdrawal 11"
            );
        }
        other => panic!("expected ApplyError::Body, got {other:?}"),
    }

    // apply_event leaves the aggregate as it was.
    let mut copy = Account::from_events(events[..2].to_vec()).unwrap();
    assert!(copy.apply_event(events[2].clone()).is_err());
    assert_eq!(copy.balance, 10);
    assert_eq!(copy.version(), 2);
    assert_eq!(copy.modified_on(), events[1].timestamp);
}

#[test]
fn replayed_result_constructor_err_is_an_apply_error() {
    use account::{Account, AccountEvent};

    let created = DomainEvent {
        metadata: Default::default(),
        originator_id: Uuid::new_v4(),
        originator_version: 1,
        timestamp: Utc::now(),
        payload: AccountEvent::Opened {
            owner: String::new(),
        },
    };
    match Account::from_events([created]) {
        Err(DomainError::Apply(ApplyError::Body {
            type_name,
            event,
            source,
        })) => {
            assert_eq!(type_name, "Account");
            assert_eq!(event, "Opened");
            assert_eq!(source.to_string(), "an account needs an owner");
        }
        other => panic!("expected ApplyError::Body, got {other:?}"),
    }
}

/// Another aggregate type, to restore a Dog's snapshot as.
mod cat {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Cat {
        pub name: String,
        pub tricks: Vec<String>,
    }

    #[aggregate]
    impl Cat {
        #[created]
        pub fn create(name: String) -> Self {
            Cat {
                name,
                tricks: Vec::new(),
            }
        }
    }
}

#[test]
fn snapshot_with_a_wrong_topic_is_an_error() {
    let dog = Dog::from_events(dog_events()).unwrap();
    let snapshot = dog.take_snapshot().unwrap();
    assert_eq!(snapshot.topic, "domain_errors:Dog");

    let renamed = Snapshot {
        topic: "other:Dog".to_string(),
        ..snapshot.clone()
    };
    match Dog::from_snapshot(renamed) {
        Err(DomainError::SnapshotTopic {
            type_name,
            expected,
            topic,
        }) => {
            assert_eq!(type_name, "Dog");
            assert_eq!(expected, "domain_errors:Dog");
            assert_eq!(topic, "other:Dog");
        }
        other => panic!("expected SnapshotTopic, got {other:?}"),
    }

    // The same state fits a Cat's fields, but the topic says it is a Dog.
    match cat::Cat::from_snapshot(snapshot.clone()) {
        Err(DomainError::SnapshotTopic {
            expected, topic, ..
        }) => {
            assert_eq!(expected, "domain_errors::cat:Cat");
            assert_eq!(topic, "domain_errors:Dog");
        }
        other => panic!("expected SnapshotTopic, got {other:?}"),
    }

    // The right topic restores.
    assert_eq!(Dog::from_snapshot(snapshot).unwrap(), dog);
}

#[test]
fn snapshot_with_bad_state_is_an_error() {
    let dog = Dog::from_events(dog_events()).unwrap();
    let snapshot = dog.take_snapshot().unwrap();

    let mut missing_field = snapshot.clone();
    missing_field.state.remove("tricks");
    match Dog::from_snapshot(missing_field) {
        Err(DomainError::SnapshotState { type_name, message }) => {
            assert_eq!(type_name, "Dog");
            assert!(message.contains("tricks"), "{message}");
        }
        other => panic!("expected SnapshotState, got {other:?}"),
    }

    let mut missing_timestamp = snapshot.clone();
    missing_timestamp.state.remove("_modified_on");
    match Dog::from_snapshot(missing_timestamp) {
        Err(DomainError::SnapshotState { message, .. }) => {
            assert_eq!(message, "_modified_on is missing");
        }
        other => panic!("expected SnapshotState, got {other:?}"),
    }

    let mut bad_version = snapshot;
    bad_version
        .state
        .insert("class_version".to_string(), serde_json::json!("two"));
    match Dog::from_snapshot(bad_version) {
        Err(DomainError::SnapshotState { message, .. }) => {
            assert_eq!(message, "class_version is \"two\"");
        }
        other => panic!("expected SnapshotState, got {other:?}"),
    }
}

/// An aggregate that does not derive Serialize/Deserialize can't be snapshotted.
mod unsnapshottable {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Counter {
        pub count: u32,
    }

    #[aggregate]
    impl Counter {
        #[created]
        pub fn create() -> Self {
            Counter { count: 0 }
        }
    }
}

#[test]
fn snapshot_without_serde_is_an_error() {
    let counter = unsnapshottable::Counter::create();
    match counter.take_snapshot() {
        Err(DomainError::SnapshotsNotSupported { type_name }) => assert_eq!(type_name, "Counter"),
        other => panic!("expected SnapshotsNotSupported, got {other:?}"),
    }
}
