//! The examples' aggregates, command by command, in the given/when/then style of
//! `eventsourcing::testing::AggregateTest`: given past events, when a command, then the events
//! it records or the error it returns. The application-level tests (`app_*.rs`,
//! `cargo_shipping.rs`) check the same rules through the applications and their stores.

use chrono::{Duration, Utc};
use eventsourcing::prelude::*;
use eventsourcing::testing::AggregateTest;
use eventsourcing_examples::bank_accounts::{
    BankAccount, BankAccountError, BankAccountEvent, Decimal,
};
use eventsourcing_examples::cargo_shipping::{
    registered_routes, Cargo, CargoError, CargoEvent, HandlingActivity, Location,
    NextExpectedActivity,
};
use eventsourcing_examples::order::{Order, OrderError, OrderEvent, StrictOrder, StrictOrderEvent};
use eventsourcing_examples::wiki::{Index, IndexEvent, Page, PageEvent};
use eventsourcing_examples::world::{World, WorldEvent};

fn d(amount: &str) -> Decimal {
    amount.parse().unwrap()
}

// Bank accounts.

fn opened() -> BankAccountEvent {
    BankAccountEvent::Opened {
        full_name: "Alice".into(),
        email_address: "alice@example.com".into(),
    }
}

fn transaction(amount: &str) -> BankAccountEvent {
    BankAccountEvent::TransactionAppended {
        amount: d(amount),
        transaction_id: None,
    }
}

#[test]
fn an_account_opens_with_a_zero_balance() {
    let account = AggregateTest::<BankAccount>::given_no_events()
        .when(|| BankAccount::open("Alice".into(), "alice@example.com".into()))
        .then_expect_events([opened()]);
    assert_eq!(account.balance(), d("0.00"));
    assert_eq!(account.overdraft_limit(), d("0.00"));
    assert!(!account.is_closed());
}

#[test]
fn deposits_and_withdrawals_append_transactions() {
    let account = AggregateTest::<BankAccount>::given([opened()])
        .when(|account| account.append_transaction(d("200.00"), None))
        .then_expect_events([transaction("200.00")]);
    assert_eq!(account.balance(), d("200.00"));

    let account = AggregateTest::<BankAccount>::given([opened(), transaction("200.00")])
        .when(|account| account.append_transaction(d("-50.00"), None))
        .then_expect_events([transaction("-50.00")]);
    assert_eq!(account.balance(), d("150.00"));
}

#[test]
fn a_withdrawal_beyond_the_balance_is_refused() {
    AggregateTest::<BankAccount>::given([opened(), transaction("150.00")])
        .when(|account| account.append_transaction(d("-151.00"), None))
        .then_expect_error_matches(|error| {
            matches!(
                error,
                BankAccountError::InsufficientFunds { balance, overdraft_limit, amount, .. }
                    if *balance == d("150") && *overdraft_limit == d("0") && *amount == d("-151")
            )
        });
}

#[test]
fn a_withdrawal_into_the_overdraft_but_not_beyond_it() {
    let given = [
        opened(),
        BankAccountEvent::OverdraftLimitSet {
            overdraft_limit: d("500.00"),
        },
    ];
    let account = AggregateTest::<BankAccount>::given(given.clone())
        .when(|account| account.append_transaction(d("-500.00"), None))
        .then_expect_events([transaction("-500.00")]);
    assert_eq!(account.balance(), d("-500.00"));

    let given = AggregateTest::<BankAccount>::given(given);
    let id = given.id();
    given
        .when(|account| account.append_transaction(d("-500.01"), None))
        .then_expect_error_matches(
            |error| matches!(error, BankAccountError::InsufficientFunds { account_id, .. } if *account_id == id),
        );
}

#[test]
fn a_closed_account_takes_no_transactions_and_no_overdraft_limit() {
    let id = Uuid::new_v4();
    let closed = || {
        AggregateTest::<BankAccount>::given([opened(), transaction("50"), BankAccountEvent::Closed])
            .with_id(id)
    };
    let is_closed =
        |error: &BankAccountError| matches!(error, BankAccountError::AccountClosed(i) if *i == id);
    closed()
        .when(|account| account.append_transaction(d("1"), None))
        .then_expect_error_matches(is_closed);
    closed()
        .when(|account| account.append_transaction(d("-1"), None))
        .then_expect_error_matches(is_closed);
    closed()
        .when(|account| account.set_overdraft_limit(d("500")))
        .then_expect_error_matches(is_closed);
}

#[test]
fn overdraft_limits_are_set_and_never_negative() {
    AggregateTest::<BankAccount>::given([opened()])
        .when(|account| account.set_overdraft_limit(d("500.00")))
        .then_expect_events([BankAccountEvent::OverdraftLimitSet {
            overdraft_limit: d("500.00"),
        }]);
    AggregateTest::<BankAccount>::given([opened()])
        .when(|account| account.set_overdraft_limit(d("-500.00")))
        .then_expect_error_matches(|error| {
            matches!(error, BankAccountError::NegativeOverdraftLimit(limit) if *limit == d("-500"))
        });
}

#[test]
fn closing_an_account() {
    let account = AggregateTest::<BankAccount>::given([opened(), transaction("10")])
        .when(|account| account.close())
        .then_expect_events([BankAccountEvent::Closed]);
    assert!(account.is_closed());
    assert_eq!(account.balance(), d("10"));
}

// Orders: a command that checks before it records, and an event method that refuses.

fn created_order() -> OrderEvent {
    OrderEvent::Created {
        name: "my order".into(),
    }
}

#[test]
fn an_order_is_created() {
    let order = AggregateTest::<Order>::given_no_events()
        .when(|| Order::create("my order".into()))
        .then_expect_events([created_order()]);
    assert_eq!(order.name(), "my order");
    assert_eq!(order.confirmed_at(), None);
}

#[test]
fn an_unconfirmed_order_is_not_picked_up() {
    AggregateTest::<Order>::given([created_order()])
        .when(|order| order.pickup(Utc::now()))
        .then_expect_error(OrderError::NotConfirmed);
}

#[test]
fn a_confirmed_order_is_picked_up() {
    let confirmed = Utc::now() - Duration::hours(1);
    let picked = Utc::now();
    let order =
        AggregateTest::<Order>::given([created_order(), OrderEvent::Confirmed { at: confirmed }])
            .when(|order| order.pickup(picked))
            .then_expect_events([OrderEvent::PickedUp { at: picked }]);
    assert_eq!(order.confirmed_at(), Some(confirmed));
    assert_eq!(order.picked_up_at(), Some(picked));
}

#[test]
fn a_strict_order_refuses_in_the_event_method_and_records_nothing() {
    let created = StrictOrderEvent::Created {
        name: "my order".into(),
    };
    AggregateTest::<StrictOrder>::given([created.clone()])
        .when(|order| order.pickup(Utc::now()))
        .then_expect_error(OrderError::NotConfirmed);

    let picked = Utc::now();
    let order = AggregateTest::<StrictOrder>::given([
        created,
        StrictOrderEvent::Confirmed { at: Utc::now() },
    ])
    .when(|order| order.pickup(picked))
    .then_expect_events([StrictOrderEvent::PickedUp { at: picked }]);
    assert_eq!(order.picked_up_at(), Some(picked));
}

// Cargo shipping.

fn deadline() -> DateTime<Utc> {
    "2030-01-01T00:00:00Z".parse().unwrap()
}

fn booked() -> CargoEvent {
    CargoEvent::BookingStarted {
        origin: Location::HongKong,
        destination: Location::Stockholm,
        arrival_deadline: deadline(),
    }
}

fn routed() -> CargoEvent {
    let route = registered_routes(Location::HongKong, Location::Stockholm).unwrap()[0].clone();
    CargoEvent::RouteAssigned {
        route,
        estimated_time_of_arrival: deadline() - Duration::days(3),
    }
}

fn handled(
    tracking_id: Uuid,
    voyage_number: Option<&str>,
    location: Location,
    handling_activity: HandlingActivity,
) -> CargoEvent {
    CargoEvent::HandlingEventRegistered {
        tracking_id,
        voyage_number: voyage_number.map(str::to_string),
        location,
        handling_activity,
    }
}

#[test]
fn cargo_is_booked() {
    let cargo = AggregateTest::<Cargo>::given_no_events()
        .when(|| Cargo::new_booking(Location::HongKong, Location::Stockholm, deadline()))
        .then_expect_events([booked()]);
    assert_eq!(cargo.routing_status(), "NOT_ROUTED");
    assert_eq!(cargo.transport_status(), "NOT_RECEIVED");
    assert_eq!(cargo.next_expected_activity(), None);
}

#[test]
fn the_destination_of_cargo_changes() {
    let cargo = AggregateTest::<Cargo>::given([booked()])
        .when(|cargo| cargo.change_destination(Location::Hamburg))
        .then_expect_events([CargoEvent::DestinationChanged {
            destination: Location::Hamburg,
        }]);
    assert_eq!(cargo.destination(), Location::Hamburg);
}

#[test]
fn a_route_is_assigned_with_an_arrival_estimated_a_week_ahead() {
    let route = registered_routes(Location::HongKong, Location::Stockholm).unwrap()[0].clone();
    let then =
        AggregateTest::<Cargo>::given([booked()]).when(|cargo| cargo.assign_route(route.clone()));
    // The estimate is taken from the clock, so the expected event uses the one recorded.
    let eta = match then.events().first().map(|event| &event.payload) {
        Some(CargoEvent::RouteAssigned {
            estimated_time_of_arrival,
            ..
        }) => *estimated_time_of_arrival,
        other => panic!("expected RouteAssigned, got {other:?}"),
    };
    assert!(
        (eta - (Utc::now() + Duration::weeks(1)))
            .num_seconds()
            .abs()
            < 60
    );
    let cargo = then.then_expect_events([CargoEvent::RouteAssigned {
        route,
        estimated_time_of_arrival: eta,
    }]);
    assert_eq!(cargo.routing_status(), "ROUTED");
    assert_eq!(
        cargo.next_expected_activity(),
        Some(&NextExpectedActivity {
            activity: HandlingActivity::Receive,
            location: Location::HongKong,
            voyage_number: None,
        })
    );
}

#[test]
fn handling_before_routing_is_refused() {
    let given = AggregateTest::<Cargo>::given([booked()]);
    let id = given.id();
    given
        .when(|cargo| {
            cargo.register_handling_event(id, None, Location::HongKong, HandlingActivity::Receive)
        })
        .then_expect_error(CargoError::NotRouted);
}

#[test]
fn cargo_is_received_then_loaded_onto_the_first_voyage() {
    let given = AggregateTest::<Cargo>::given([booked(), routed()]);
    let id = given.id();
    let cargo = given
        .when(|cargo| {
            cargo.register_handling_event(id, None, Location::HongKong, HandlingActivity::Receive)
        })
        .then_expect_events([handled(
            id,
            None,
            Location::HongKong,
            HandlingActivity::Receive,
        )]);
    assert_eq!(cargo.transport_status(), "IN_PORT");
    assert_eq!(cargo.last_known_location(), Some(Location::HongKong));

    let given = AggregateTest::<Cargo>::given([
        booked(),
        routed(),
        handled(id, None, Location::HongKong, HandlingActivity::Receive),
    ])
    .with_id(id);
    let cargo = given
        .when(|cargo| {
            cargo.register_handling_event(
                id,
                Some("V1".into()),
                Location::HongKong,
                HandlingActivity::Load,
            )
        })
        .then_expect_events([handled(
            id,
            Some("V1"),
            Location::HongKong,
            HandlingActivity::Load,
        )]);
    assert_eq!(cargo.transport_status(), "ONBOARD_CARRIER");
    assert_eq!(cargo.current_voyage_number(), Some("V1"));
}

#[test]
fn loading_onto_a_voyage_the_route_does_not_have_is_refused() {
    let given = AggregateTest::<Cargo>::given([booked(), routed()]);
    let id = given.id();
    given
        .when(|cargo| {
            cargo.register_handling_event(
                id,
                Some("V9".into()),
                Location::HongKong,
                HandlingActivity::Load,
            )
        })
        .then_expect_error(CargoError::LegNotFound {
            location: Location::HongKong,
            voyage_number: Some("V9".into()),
        });
}

#[test]
fn cargo_unloaded_off_its_route_is_misdirected() {
    let id = Uuid::new_v4();
    let cargo = AggregateTest::<Cargo>::given([
        booked(),
        routed(),
        handled(id, None, Location::HongKong, HandlingActivity::Receive),
        handled(id, Some("V1"), Location::HongKong, HandlingActivity::Load),
    ])
    .with_id(id)
    .when(|cargo| {
        cargo.register_handling_event(
            id,
            Some("V1".into()),
            Location::Tokyo,
            HandlingActivity::Unload,
        )
    })
    .then_expect_events([handled(
        id,
        Some("V1"),
        Location::Tokyo,
        HandlingActivity::Unload,
    )]);
    assert!(cargo.is_misdirected());
    assert_eq!(cargo.next_expected_activity(), None);
}

// The wiki's pages and indexes, and the worlds.

#[test]
fn an_index_gets_the_id_derived_from_its_name() {
    let page_id = Uuid::new_v4();
    let index = AggregateTest::<Index>::given_no_events()
        .when(|| Index::create("Earth".into(), page_id))
        .then_expect_events([IndexEvent::Created {
            name: "Earth".into(),
            r#ref: page_id,
        }]);
    assert_eq!(index.id(), Index::create_id("Earth"));
    assert_eq!(index.page_id(), page_id);
}

#[test]
fn a_page_is_renamed_and_rewritten() {
    let given = [PageEvent::Created {
        name: "Erth".into(),
        body: "Lorem ipsum...".into(),
    }];
    let page = AggregateTest::<Page>::given(given.clone())
        .when(|page| page.update_name("Earth".into()))
        .then_expect_events([PageEvent::NameUpdated {
            name: "Earth".into(),
        }]);
    assert_eq!((page.name(), page.body()), ("Earth", "Lorem ipsum..."));
    AggregateTest::<Page>::given(given)
        .when(|page| page.update_body("Neque porro...".into()))
        .then_expect_events([PageEvent::BodyUpdated {
            body: "Neque porro...".into(),
        }]);
}

#[test]
fn things_happen_in_a_world() {
    let id = Uuid::new_v4();
    let world = AggregateTest::<World>::given([
        WorldEvent::Created,
        WorldEvent::SomethingHappened {
            what: "dinosaurs".into(),
        },
    ])
    .with_id(id)
    .when(|world| world.make_it_so("trucks".into()))
    .then_expect_events([WorldEvent::SomethingHappened {
        what: "trucks".into(),
    }]);
    assert_eq!(world.id(), id);
    assert_eq!(world.history(), ["dinosaurs", "trucks"]);

    let world = AggregateTest::<World>::given_no_events()
        .when(|| World::create_with_id(id))
        .then_expect_events([WorldEvent::Created]);
    assert_eq!(world.id(), id);
}
