//! Orders: commands that check before they record (digest §1.14 G), and a created event named
//! "Started" (§1.14 H).

use chrono::{NaiveDateTime, TimeDelta, Utc};
use eventsourcing::domain::{ApplyError, DomainError};
use eventsourcing::prelude::*;
use eventsourcing::testing::AggregateTest;
use eventsourcing_tests::{load, store};

/// Python raises `RuntimeError("Order is not confirmed")`. Adapted: the command returns it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("Order is not confirmed")]
    NotConfirmed,
}

/// Python passes naive `datetime.now()` values as event attributes, and the digest notes they
/// must round-trip; `NaiveDateTime` is their Rust counterpart.
fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// The plain, not event-sourced `Order` of the docs.
mod plain {
    use super::OrderError;
    use chrono::NaiveDateTime;

    pub struct Order {
        pub name: String,
        pub confirmed_at: Option<NaiveDateTime>,
        pub pickedup_at: Option<NaiveDateTime>,
    }

    impl Order {
        pub fn new(name: &str) -> Self {
            Order {
                name: name.to_string(),
                confirmed_at: None,
                pickedup_at: None,
            }
        }

        pub fn confirm(&mut self, at: NaiveDateTime) {
            self.confirmed_at = Some(at);
        }

        pub fn pickup(&mut self, at: NaiveDateTime) -> Result<(), OrderError> {
            if self.confirmed_at.is_some() {
                self.pickedup_at = Some(at);
                Ok(())
            } else {
                Err(OrderError::NotConfirmed)
            }
        }
    }
}

#[test]
fn plain_order_must_be_confirmed_before_pickup() {
    let mut order = plain::Order::new("my order");
    assert_eq!(order.pickup(now()), Err(OrderError::NotConfirmed));
    assert_eq!(
        order.pickup(now()).unwrap_err().to_string(),
        "Order is not confirmed"
    );
    assert_eq!(order.pickedup_at, None);
    order.confirm(now());
    assert_eq!(order.pickup(now()), Ok(()));
    assert!(order.pickedup_at.is_some());
    assert_eq!(order.name, "my order");
}

/// The event-sourced `Order`: the `pickup` command checks, then calls the private
/// `@event("PickedUp") _pickup` method.
mod command {
    use super::OrderError;
    use chrono::NaiveDateTime;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub name: String,
        pub confirmed_at: Option<NaiveDateTime>,
        pub pickedup_at: Option<NaiveDateTime>,
    }

    #[aggregate]
    impl Order {
        #[created]
        pub fn create(name: String) -> Self {
            Order {
                name,
                confirmed_at: None,
                pickedup_at: None,
            }
        }

        #[event("Confirmed")]
        pub fn confirm(&mut self, at: NaiveDateTime) {
            self.confirmed_at = Some(at);
        }

        pub fn pickup(&mut self, at: NaiveDateTime) -> Result<(), OrderError> {
            if self.confirmed_at.is_some() {
                self._pickup(at);
                Ok(())
            } else {
                Err(OrderError::NotConfirmed)
            }
        }

        #[event("PickedUp")]
        fn _pickup(&mut self, at: NaiveDateTime) {
            self.pickedup_at = Some(at);
        }
    }
}

#[test]
fn command_method_calls_private_event_method() {
    use command::{Order, OrderEvent};

    let mut order = Order::create("my order".to_string());
    let confirmed = now();
    order.confirm(confirmed);
    std::thread::sleep(std::time::Duration::from_millis(2));
    let picked = now();
    order.pickup(picked).unwrap();

    assert_eq!(order.name, "my order");
    assert_eq!(order.confirmed_at, Some(confirmed));
    assert_eq!(order.pickedup_at, Some(picked));
    assert!(order.pickedup_at.unwrap() > order.confirmed_at.unwrap());
    assert!(order.pickedup_at.unwrap() - order.confirmed_at.unwrap() >= TimeDelta::milliseconds(2));
    assert_eq!(order.version(), 3);

    let events = order.collect_events();
    let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["Created", "Confirmed", "PickedUp"]);
    assert_eq!(events[2].payload, OrderEvent::PickedUp { at: picked });

    // Replaying the collected events, here through their stored (JSON) form, so the naive
    // datetimes round-trip through serialisation as well.
    let loaded: Vec<_> = events
        .iter()
        .map(|e| load::<OrderEvent>(&store(e)).unwrap())
        .collect();
    assert_eq!(loaded, events);
    let copy = Order::from_events(loaded).unwrap();
    assert_eq!(copy.name, order.name);
    assert_eq!(copy.created_on(), order.created_on());
    assert_eq!(copy.modified_on(), order.modified_on());
    assert_eq!(copy.confirmed_at, order.confirmed_at);
    assert_eq!(copy.pickedup_at, order.pickedup_at);
    assert_eq!(copy, order);
}

#[test]
fn command_refuses_unconfirmed_pickup_and_records_nothing() {
    use command::{Order, OrderEvent};

    let then = AggregateTest::<Order>::given([OrderEvent::Created {
        name: "my order".into(),
    }])
    .when(|order| order.pickup(now()));
    let order = then.aggregate().unwrap();
    assert_eq!(order.version(), 1);
    assert_eq!(order.pickedup_at, None);
    then.then_expect_error(OrderError::NotConfirmed);
}

#[test]
fn command_picks_up_a_confirmed_order() {
    use command::{Order, OrderEvent};

    let (confirmed, picked) = (now(), now());
    let order = AggregateTest::<Order>::given([
        OrderEvent::Created {
            name: "my order".into(),
        },
        OrderEvent::Confirmed { at: confirmed },
    ])
    .when(|order| order.pickup(picked))
    .then_expect_events([OrderEvent::PickedUp { at: picked }]);
    assert_eq!(order.confirmed_at, Some(confirmed));
    assert_eq!(order.pickedup_at, Some(picked));
}

/// The event-sourced `Order` whose decorated `pickup` raises when the order is not confirmed.
/// Adapted: the `#[event]` body returns `Result<(), E>`; `Err` plays the part of the raise.
mod raising {
    use super::OrderError;
    use chrono::NaiveDateTime;
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub name: String,
        pub confirmed_at: Option<NaiveDateTime>,
        pub pickedup_at: Option<NaiveDateTime>,
    }

    #[aggregate]
    impl Order {
        #[created]
        pub fn create(name: String) -> Self {
            Order {
                name,
                confirmed_at: None,
                pickedup_at: None,
            }
        }

        #[event("Confirmed")]
        pub fn confirm(&mut self, at: NaiveDateTime) {
            self.confirmed_at = Some(at);
        }

        #[event("PickedUp")]
        pub fn pickup(&mut self, at: NaiveDateTime) -> Result<(), OrderError> {
            if self.confirmed_at.is_some() {
                self.pickedup_at = Some(at);
                Ok(())
            } else {
                Err(OrderError::NotConfirmed)
            }
        }
    }
}

#[test]
fn result_body_err_records_nothing() {
    use raising::{Order, OrderEvent};

    let created = OrderEvent::Created {
        name: "name".into(),
    };
    let then = AggregateTest::<Order>::given([created]).when(|order| order.pickup(now()));
    let order = then.aggregate().unwrap();
    assert_eq!(order.version(), 1);
    assert_eq!(order.modified_on(), order.created_on());
    assert_eq!(order.pickedup_at, None);
    then.then_expect_error(OrderError::NotConfirmed);

    // The same on a new order: nothing is added to its pending events.
    let mut order = Order::create("name".to_string());
    let modified_on = order.modified_on();
    assert_eq!(order.pickup(now()), Err(OrderError::NotConfirmed));
    assert_eq!(order.pending_events().len(), 1);
    assert_eq!(order.modified_on(), modified_on);

    // After the refusal the next event takes the next version: no gap was left.
    order.confirm(now());
    assert_eq!(order.version(), 2);
    let picked = now();
    assert_eq!(order.pickup(picked), Ok(()));
    assert_eq!(order.version(), 3);
    assert_eq!(order.pickedup_at, Some(picked));
    let events = order.collect_events();
    let versions: Vec<u64> = events.iter().map(|e| e.originator_version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(events[2].name(), "PickedUp");

    // Replay runs the body again; it succeeds because the order was confirmed by then.
    let copy = Order::from_events(events).unwrap();
    assert_eq!(copy, order);
}

#[test]
fn result_body_err_on_replay_is_an_apply_error() {
    use raising::{Order, OrderEvent};

    // "Command sourcing": the body's check runs again on replay. A PickedUp event stored for an
    // order that was never confirmed fails to apply.
    let mut order = Order::create("name".to_string());
    let mut events = order.collect_events();
    events.push(DomainEvent {
        metadata: Default::default(),
        originator_id: order.id(),
        originator_version: 2,
        timestamp: Utc::now(),
        payload: OrderEvent::PickedUp { at: now() },
    });
    match Order::from_events(events) {
        Err(DomainError::Apply(ApplyError::Body {
            type_name,
            event,
            source,
        })) => {
            assert_eq!(type_name, "Order");
            assert_eq!(event, "PickedUp");
            assert_eq!(source.to_string(), "Order is not confirmed");
        }
        other => panic!("expected an ApplyError::Body, got {other:?}"),
    }
}

/// Digest §1.14 H: `@aggregate(created_event_name="Started") class Order`.
mod started {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub name: String,
    }

    #[aggregate]
    impl Order {
        #[created("Started")]
        pub fn create(name: String) -> Self {
            Order { name }
        }
    }
}

#[test]
fn created_event_named_started() {
    use started::{Order, OrderEvent};

    let then = AggregateTest::<Order>::given_no_events().when(|| Order::create("my order".into()));
    assert_eq!(then.events()[0].name(), "Started");
    assert_eq!(
        then.events()[0].topic(),
        "domain_order::started:Order.Started"
    );
    then.then_expect_events([OrderEvent::Started {
        name: "my order".into(),
    }]);
}
