//! An event method called from another event's body, or from a constructor body, applies its
//! body as part of that event: one event is recorded, and replaying it gives the same state
//! (the reference library records an event for each call, with the same version twice).

use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    balance: i64,
    history: Vec<String>,
}

#[aggregate]
impl Account {
    #[created]
    pub fn open(initial: i64) -> Self {
        let mut account = Account {
            balance: 0,
            history: Vec::new(),
        };
        // An event method on the value being built: part of the created event.
        account.deposited(initial);
        account
    }

    #[event]
    pub fn deposited(&mut self, amount: i64) {
        self.balance += amount;
        self.history.push(format!("+{amount}"));
    }

    #[event]
    pub fn paid_with_fee(&mut self, amount: i64, fee: i64) {
        // Event methods called from an event's body: part of this event.
        self.deposited(-amount);
        self.deposited(-fee);
        self.history.push("paid".into());
    }
}

#[test]
fn nested_event_methods_are_part_of_the_outer_event() {
    let mut account = Account::open(100);
    assert_eq!(account.version(), 1);
    assert_eq!(account.pending_events().len(), 1);
    assert_eq!(account.balance, 100);

    account.paid_with_fee(30, 2);
    assert_eq!(account.version(), 2);
    assert_eq!(account.balance, 68);
    let events = account.collect_events();
    let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["Created", "PaidWithFee"]);
    let versions: Vec<u64> = events.iter().map(|e| e.originator_version).collect();
    assert_eq!(versions, [1, 2]);

    // Replaying runs the bodies again, nested calls included, and records nothing.
    let copy = Account::from_events(events).unwrap();
    assert_eq!(copy.balance, 68);
    assert_eq!(copy.history, ["+100", "+-30", "+-2", "paid"]);
    assert!(copy.pending_events().is_empty());
    assert_eq!(copy, account);

    // After a replay, event methods record again.
    let mut copy = copy;
    copy.deposited(5);
    assert_eq!(copy.version(), 3);
    assert_eq!(copy.pending_events().len(), 1);
}

#[test]
fn restored_from_a_snapshot_event_methods_record() {
    let mut account = Account::open(10);
    account.collect_events();
    let mut copy = Account::from_snapshot(account.take_snapshot().unwrap()).unwrap();
    copy.deposited(1);
    assert_eq!(copy.pending_events().len(), 1);
    assert_eq!(copy.version(), 2);
}

/// A struct built without its constructor (here with `Default`) is no aggregate yet: its id is
/// nil and its version 0, and event methods record events on it as usual.
#[aggregate]
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    count: u32,
}

#[aggregate]
impl Tally {
    #[created]
    pub fn create() -> Self {
        Tally { count: 0 }
    }

    #[event]
    pub fn counted(&mut self) {
        self.count += 1;
    }
}

#[test]
fn a_default_struct_records_events() {
    let mut tally = Tally::default();
    assert_eq!(tally.version(), 0);
    assert!(tally.id().is_nil());
    tally.counted();
    assert_eq!(tally.version(), 1);
    assert_eq!(tally.pending_events().len(), 1);
    let _ = Tally::create();
}
