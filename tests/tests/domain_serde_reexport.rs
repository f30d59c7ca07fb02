//! Value types of a user's own in events and state, deriving serde's traits through the crate's
//! re-export (`#[serde(crate = "eventsourcing::serde")]`), so that a program needs no serde
//! dependency of its own: stored as serde stores them, and read back the same.

use eventsourcing::persistence::EventQuery;
use eventsourcing::prelude::*;
use eventsourcing_tests::{load, store};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(crate = "eventsourcing::serde", rename_all = "UPPERCASE")]
pub enum Currency {
    Eur,
    Usd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "eventsourcing::serde")]
pub struct Money {
    pub cents: i64,
    pub currency: Currency,
}

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    deposits: Vec<Money>,
}

#[aggregate]
impl Account {
    #[created]
    pub fn open() -> Self {
        Account {
            deposits: Vec::new(),
        }
    }

    #[event("Deposited")]
    pub fn deposit(&mut self, amount: Money) {
        self.deposits.push(amount);
    }
}

fn ten_euros() -> Money {
    Money {
        cents: 1000,
        currency: Currency::Eur,
    }
}

#[test]
fn value_types_derived_through_the_reexport_are_stored_and_read_back() {
    let mut account = Account::open();
    account.deposit(ten_euros());
    let events = account.collect_events();

    let stored = store(&events[1]);
    assert_eq!(
        stored.state_json()["amount"],
        serde_json::json!({"cents": 1000, "currency": "EUR"})
    );
    let loaded = load::<AccountEvent>(&stored).unwrap();
    assert_eq!(
        loaded.payload,
        AccountEvent::Deposited {
            amount: ten_euros()
        }
    );
}

#[test]
fn value_types_derived_through_the_reexport_in_an_application_and_its_snapshots() {
    let app = Application::builder("Accounts")
        .without_process_env()
        .memory()
        .snapshotting(true)
        .build()
        .unwrap();
    let mut account = Account::open();
    account.deposit(ten_euros());
    app.save(&mut account).unwrap();
    let copy: Account = app.repository().get(account.id()).unwrap();
    assert_eq!(copy, account);

    // The aggregate's state, value types included, restored from a snapshot.
    app.take_snapshot::<Account>(account.id(), None).unwrap();
    let snapshots = app.snapshots().expect("snapshotting is enabled");
    let snapshot = &snapshots
        .get_snapshots(account.id(), &EventQuery::new())
        .unwrap()[0];
    assert_eq!(
        snapshot.state["deposits"],
        serde_json::json!([{"cents": 1000, "currency": "EUR"}])
    );
    let restored: Account = app.repository().get(account.id()).unwrap();
    assert_eq!(restored, account);
}
