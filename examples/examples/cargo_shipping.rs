//! Cargo shipping: books cargo from Hong Kong to Stockholm, routes it, misdirects it to Tokyo,
//! reroutes it, and follows it to Stockholm, printing the cargo's details at each step.
//!
//! `cargo run -p eventsourcing-examples --example cargo_shipping`

#![allow(clippy::print_stdout)]

use chrono::{Duration, Utc};
use eventsourcing_examples::cargo_shipping::{
    select_preferred_itinerary, BookingApplication, BookingError, BookingService,
};

fn show(service: &BookingService, tracking_id: &str, step: &str) -> Result<(), BookingError> {
    let details = service.get_cargo_details(tracking_id)?;
    println!("{step}");
    println!(
        "    transport status: {}, routing status: {}, misdirected: {}",
        details.transport_status, details.routing_status, details.is_misdirected
    );
    println!(
        "    last known location: {}, current voyage: {}",
        details.last_known_location.as_deref().unwrap_or("-"),
        details.current_voyage_number.as_deref().unwrap_or("-")
    );
    println!(
        "    next expected activity: {}",
        details
            .next_expected_activity
            .map_or("-".to_string(), |next| next.join(" "))
    );
    Ok(())
}

fn reroute(service: &BookingService, tracking_id: &str) -> Result<(), BookingError> {
    let routes = service.request_possible_routes_for_cargo(tracking_id)?;
    let route = select_preferred_itinerary(&routes).ok_or(BookingError::NotAPossibleRoute)?;
    let legs: Vec<String> = route
        .legs
        .iter()
        .map(|leg| {
            format!(
                "{} -> {} on {}",
                leg.origin, leg.destination, leg.voyage_number
            )
        })
        .collect();
    println!("Route: {}", legs.join(", "));
    service.assign_route(tracking_id, route)
}

fn main() -> Result<(), BookingError> {
    let service = BookingService::new(BookingApplication::new()?);

    let deadline = Utc::now() + Duration::weeks(2);
    let tracking_id = service.book_new_cargo("HONGKONG", "STOCKHOLM", deadline)?;
    let details = service.get_cargo_details(&tracking_id)?;
    println!(
        "Booked cargo {} from {} to {}, to arrive by {}",
        details.id, details.origin, details.destination, details.arrival_deadline
    );
    show(&service, &tracking_id, "Booked")?;

    reroute(&service, &tracking_id)?;
    show(&service, &tracking_id, "Routed")?;

    let steps = [
        (None, "HONGKONG", "RECEIVE"),
        (Some("V1"), "HONGKONG", "LOAD"),
        (Some("V1"), "TOKYO", "UNLOAD"),
    ];
    for (voyage, location, activity) in steps {
        service.register_handling_event(&tracking_id, voyage, location, activity)?;
        show(
            &service,
            &tracking_id,
            &format!(
                "{activity} at {location}{}",
                voyage.map_or(String::new(), |v| format!(" ({v})"))
            ),
        )?;
    }

    println!("Misdirected to Tokyo: rerouting");
    reroute(&service, &tracking_id)?;
    show(&service, &tracking_id, "Rerouted")?;

    let steps = [
        (Some("V3"), "TOKYO", "LOAD"),
        (Some("V3"), "HAMBURG", "UNLOAD"),
        (Some("V4"), "HAMBURG", "LOAD"),
        (Some("V4"), "STOCKHOLM", "UNLOAD"),
        (None, "STOCKHOLM", "CLAIM"),
    ];
    for (voyage, location, activity) in steps {
        service.register_handling_event(&tracking_id, voyage, location, activity)?;
        show(
            &service,
            &tracking_id,
            &format!(
                "{activity} at {location}{}",
                voyage.map_or(String::new(), |v| format!(" ({v})"))
            ),
        )?;
    }

    // Something the route can't explain is refused, and nothing is recorded.
    let refused = service.register_handling_event(&tracking_id, Some("V9"), "TOKYO", "LOAD");
    if let Err(error) = refused {
        println!("Refused: {error}");
    }
    Ok(())
}
