//! The cargo shipping example (digest §6.2): the reference's `TestBookingService`, every
//! assertion, over a fresh `BookingService(BookingApplication())` per test; the same scenario
//! over SQLite, replayed by a new application object; and the refusals.

use chrono::{Duration, Utc};
use eventsourcing::persistence::EventQuery;
use eventsourcing::prelude::*;
use eventsourcing_examples::cargo_shipping::{
    select_preferred_itinerary, BookingApplication, BookingError, BookingService, CargoDetails,
    CargoError, CargoEvent,
};

fn service() -> BookingService {
    let builder = Application::builder(BookingApplication::NAME)
        .without_process_env()
        .memory();
    BookingService::new(BookingApplication::build(builder).unwrap())
}

/// `cargo_details["next_expected_activity"]`, for comparing with the reference's tuples.
fn next(details: &CargoDetails) -> Option<Vec<&str>> {
    details
        .next_expected_activity
        .as_ref()
        .map(|next| next.iter().map(String::as_str).collect())
}

#[test]
fn test_admin_can_book_new_cargo() {
    let service = service();
    let arrival_deadline = Utc::now() + Duration::weeks(3);

    let cargo_id = service
        .book_new_cargo("NLRTM", "USDAL", arrival_deadline)
        .unwrap();

    let cargo_details = service.get_cargo_details(&cargo_id).unwrap();
    assert!(!cargo_details.id.is_empty());
    assert_eq!(cargo_details.id, cargo_id);
    assert_eq!(cargo_details.origin, "NLRTM");
    assert_eq!(cargo_details.destination, "USDAL");

    service.change_destination(&cargo_id, "AUMEL").unwrap();
    let cargo_details = service.get_cargo_details(&cargo_id).unwrap();
    assert_eq!(cargo_details.destination, "AUMEL");
    assert_eq!(cargo_details.arrival_deadline, arrival_deadline);
}

/// The reference's scenario, on `service`.
fn scenario_cargo_from_hongkong_to_stockholm(service: &BookingService) -> String {
    // Test setup: a cargo should be shipped from Hongkong to Stockholm, and it should arrive in
    // no more than two weeks.
    let origin = "HONGKONG";
    let destination = "STOCKHOLM";
    let arrival_deadline = Utc::now() + Duration::weeks(2);

    // Use case 1: booking.
    let tracking_id = service
        .book_new_cargo(origin, destination, arrival_deadline)
        .unwrap();

    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.transport_status, "NOT_RECEIVED");
    assert_eq!(cargo_details.routing_status, "NOT_ROUTED");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(cargo_details.estimated_time_of_arrival, None);
    assert_eq!(next(&cargo_details), None);

    // Use case 2: routing.
    let routes_details = service
        .request_possible_routes_for_cargo(&tracking_id)
        .unwrap();
    let route_details = select_preferred_itinerary(&routes_details).unwrap();
    service.assign_route(&tracking_id, route_details).unwrap();

    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.transport_status, "NOT_RECEIVED");
    assert_eq!(cargo_details.routing_status, "ROUTED");
    assert!(!cargo_details.is_misdirected);
    assert!(cargo_details.estimated_time_of_arrival.is_some());
    assert_eq!(next(&cargo_details), Some(vec!["RECEIVE", "HONGKONG"]));

    // Use case 3: handling.
    // Handling begins: cargo is received in Hongkong.
    service
        .register_handling_event(&tracking_id, None, "HONGKONG", "RECEIVE")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.transport_status, "IN_PORT");
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("HONGKONG")
    );
    assert_eq!(next(&cargo_details), Some(vec!["LOAD", "HONGKONG", "V1"]));

    // Load onto voyage V1.
    service
        .register_handling_event(&tracking_id, Some("V1"), "HONGKONG", "LOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number.as_deref(), Some("V1"));
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("HONGKONG")
    );
    assert_eq!(cargo_details.transport_status, "ONBOARD_CARRIER");
    assert_eq!(next(&cargo_details), Some(vec!["UNLOAD", "NEWYORK", "V1"]));

    // Incorrectly unload in Tokyo.
    service
        .register_handling_event(&tracking_id, Some("V1"), "TOKYO", "UNLOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number, None);
    assert_eq!(cargo_details.last_known_location.as_deref(), Some("TOKYO"));
    assert_eq!(cargo_details.transport_status, "IN_PORT");
    assert!(cargo_details.is_misdirected);
    assert_eq!(next(&cargo_details), None);

    // Reroute.
    let routes_details = service
        .request_possible_routes_for_cargo(&tracking_id)
        .unwrap();
    let route_details = select_preferred_itinerary(&routes_details).unwrap();
    service.assign_route(&tracking_id, route_details).unwrap();

    // Load in Tokyo.
    service
        .register_handling_event(&tracking_id, Some("V3"), "TOKYO", "LOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number.as_deref(), Some("V3"));
    assert_eq!(cargo_details.last_known_location.as_deref(), Some("TOKYO"));
    assert_eq!(cargo_details.transport_status, "ONBOARD_CARRIER");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(next(&cargo_details), Some(vec!["UNLOAD", "HAMBURG", "V3"]));

    // Unload in Hamburg.
    service
        .register_handling_event(&tracking_id, Some("V3"), "HAMBURG", "UNLOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number, None);
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("HAMBURG")
    );
    assert_eq!(cargo_details.transport_status, "IN_PORT");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(next(&cargo_details), Some(vec!["LOAD", "HAMBURG", "V4"]));

    // Load in Hamburg.
    service
        .register_handling_event(&tracking_id, Some("V4"), "HAMBURG", "LOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number.as_deref(), Some("V4"));
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("HAMBURG")
    );
    assert_eq!(cargo_details.transport_status, "ONBOARD_CARRIER");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(
        next(&cargo_details),
        Some(vec!["UNLOAD", "STOCKHOLM", "V4"])
    );

    // Unload in Stockholm.
    service
        .register_handling_event(&tracking_id, Some("V4"), "STOCKHOLM", "UNLOAD")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number, None);
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("STOCKHOLM")
    );
    assert_eq!(cargo_details.transport_status, "IN_PORT");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(next(&cargo_details), Some(vec!["CLAIM", "STOCKHOLM"]));

    // Finally, cargo is claimed in Stockholm.
    service
        .register_handling_event(&tracking_id, None, "STOCKHOLM", "CLAIM")
        .unwrap();
    let cargo_details = service.get_cargo_details(&tracking_id).unwrap();
    assert_eq!(cargo_details.current_voyage_number, None);
    assert_eq!(
        cargo_details.last_known_location.as_deref(),
        Some("STOCKHOLM")
    );
    assert_eq!(cargo_details.transport_status, "CLAIMED");
    assert!(!cargo_details.is_misdirected);
    assert_eq!(next(&cargo_details), None);

    tracking_id
}

#[test]
fn test_scenario_cargo_from_hongkong_to_stockholm() {
    scenario_cargo_from_hongkong_to_stockholm(&service());
}

/// The scenario over SQLite, then a new application object over the same file: replaying the
/// stored events (locations and activities stored by name) gives the same details, estimated
/// time of arrival included.
#[test]
fn scenario_over_sqlite_replays_to_the_same_details() {
    let dir = std::env::temp_dir().join(format!("es-cargo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("cargo.db");
    let _ = std::fs::remove_file(&db);
    let builder = || {
        Application::builder(BookingApplication::NAME)
            .without_process_env()
            .sqlite(&db)
    };

    let service = BookingService::new(BookingApplication::build(builder()).unwrap());
    let tracking_id = scenario_cargo_from_hongkong_to_stockholm(&service);
    let details = service.get_cargo_details(&tracking_id).unwrap();
    drop(service);

    let service = BookingService::new(BookingApplication::build(builder()).unwrap());
    assert_eq!(service.get_cargo_details(&tracking_id).unwrap(), details);

    // What was stored: the names, as the reference's transcodings store them.
    let app = service.application();
    let id = Uuid::parse_str(&tracking_id).unwrap();
    let events = app
        .application()
        .events()
        .get::<CargoEvent>(id, &EventQuery::new())
        .unwrap();
    assert_eq!(events.len(), 11);
    match &events[0].payload {
        CargoEvent::BookingStarted {
            origin,
            destination,
            ..
        } => {
            assert_eq!(origin.name(), "HONGKONG");
            assert_eq!(destination.name(), "STOCKHOLM");
        }
        other => panic!("expected BookingStarted, got {other:?}"),
    }
    let state = &app
        .application()
        .recorder()
        .select_notifications(1, 1)
        .unwrap()[0]
        .state;
    let state: serde_json::Value = serde_json::from_slice(state).unwrap();
    assert_eq!(state["origin"], "HONGKONG");
    assert_eq!(state["destination"], "STOCKHOLM");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn handling_events_the_route_cannot_explain_are_refused_and_not_recorded() {
    let service = service();
    let deadline = Utc::now() + Duration::weeks(2);
    let tracking_id = service
        .book_new_cargo("HONGKONG", "STOCKHOLM", deadline)
        .unwrap();
    let id = Uuid::parse_str(&tracking_id).unwrap();

    // Not routed yet.
    let error = service
        .register_handling_event(&tracking_id, None, "HONGKONG", "RECEIVE")
        .unwrap_err();
    assert!(matches!(error, BookingError::Cargo(CargoError::NotRouted)));

    let routes = service
        .request_possible_routes_for_cargo(&tracking_id)
        .unwrap();
    service
        .assign_route(&tracking_id, select_preferred_itinerary(&routes).unwrap())
        .unwrap();
    let version = service.application().get_cargo(id).unwrap().version();

    // Loaded onto a voyage the route does not have.
    let error = service
        .register_handling_event(&tracking_id, Some("V9"), "HONGKONG", "LOAD")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Can't find leg with origin=HONGKONG and voyage_number=V9"
    );
    assert_eq!(
        service.application().get_cargo(id).unwrap().version(),
        version
    );

    // Names the service does not know.
    assert!(matches!(
        service.register_handling_event(&tracking_id, None, "PARIS", "RECEIVE"),
        Err(BookingError::UnknownLocation(_))
    ));
    assert!(matches!(
        service.register_handling_event(&tracking_id, None, "HONGKONG", "LOSE"),
        Err(BookingError::UnknownHandlingActivity(_))
    ));
    assert!(matches!(
        service.get_cargo_details("not-a-uuid"),
        Err(BookingError::InvalidTrackingId(_))
    ));
    assert!(matches!(
        service.get_cargo_details(&Uuid::new_v4().to_string()),
        Err(BookingError::Application(e)) if e.is_not_found()
    ));

    // No routes between these places.
    let other = service.book_new_cargo("NLRTM", "USDAL", deadline).unwrap();
    let error = service
        .request_possible_routes_for_cargo(&other)
        .unwrap_err();
    assert_eq!(error.to_string(), "Can't find routes from NLRTM to USDAL");

    // A route that is not one of the cargo's possible routes.
    let mut route = routes[0].clone();
    route.legs.pop();
    assert!(matches!(
        service.assign_route(&tracking_id, &route),
        Err(BookingError::NotAPossibleRoute)
    ));
}
