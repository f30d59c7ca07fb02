//! The booking service: the application presented with plain strings, as a web page or an API
//! would use it.

use eventsourcing::prelude::*;

use super::application::{BookingApplication, BookingError};
use super::domainmodel::{HandlingActivity, Itinerary, Location};

/// A leg of a route, as plain strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegDetails {
    /// Where the leg starts.
    pub origin: String,
    /// Where it ends.
    pub destination: String,
    /// The voyage.
    pub voyage_number: String,
}

/// A route, as plain strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItineraryDetails {
    /// Where it starts.
    pub origin: String,
    /// Where it ends.
    pub destination: String,
    /// Its legs.
    pub legs: Vec<LegDetails>,
}

impl From<&Itinerary> for ItineraryDetails {
    /// The reference's `dict_from_itinerary`.
    fn from(itinerary: &Itinerary) -> Self {
        ItineraryDetails {
            origin: itinerary.origin.clone(),
            destination: itinerary.destination.clone(),
            legs: itinerary
                .legs
                .iter()
                .map(|leg| LegDetails {
                    origin: leg.origin.clone(),
                    destination: leg.destination.clone(),
                    voyage_number: leg.voyage_number.clone(),
                })
                .collect(),
        }
    }
}

/// Cargo as the service presents it: the reference's `CargoDetails` dict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CargoDetails {
    /// The tracking id.
    pub id: String,
    /// Where it was booked from.
    pub origin: String,
    /// Where it goes.
    pub destination: String,
    /// When it must arrive.
    pub arrival_deadline: DateTime<Utc>,
    /// "NOT_RECEIVED", "IN_PORT", "ONBOARD_CARRIER" or "CLAIMED".
    pub transport_status: String,
    /// "NOT_ROUTED" or "ROUTED".
    pub routing_status: String,
    /// Whether it was unloaded where its route does not go.
    pub is_misdirected: bool,
    /// When it is expected to arrive, once routed.
    pub estimated_time_of_arrival: Option<DateTime<Utc>>,
    /// What should happen next: `[activity, location]`, or `[activity, location, voyage]` for
    /// loading and unloading (the reference's 2- and 3-tuples).
    pub next_expected_activity: Option<Vec<String>>,
    /// Where it was last received or unloaded.
    pub last_known_location: Option<String>,
    /// The voyage it is on.
    pub current_voyage_number: Option<String>,
}

/// The booking application behind plain strings (the reference's `BookingService`).
pub struct BookingService {
    app: BookingApplication,
}

fn parse_tracking_id(tracking_id: &str) -> Result<Uuid, BookingError> {
    Uuid::try_parse(tracking_id).map_err(|_| BookingError::InvalidTrackingId(tracking_id.into()))
}

impl BookingService {
    /// The service of `app`.
    pub fn new(app: BookingApplication) -> Self {
        BookingService { app }
    }

    /// The application.
    pub fn application(&self) -> &BookingApplication {
        &self.app
    }

    /// Books new cargo between two locations (by name); returns its tracking id.
    pub fn book_new_cargo(
        &self,
        origin: &str,
        destination: &str,
        arrival_deadline: DateTime<Utc>,
    ) -> Result<String, BookingError> {
        let tracking_id =
            self.app
                .book_new_cargo(origin.parse()?, destination.parse()?, arrival_deadline)?;
        Ok(tracking_id.to_string())
    }

    /// The cargo's details.
    pub fn get_cargo_details(&self, tracking_id: &str) -> Result<CargoDetails, BookingError> {
        let cargo = self.app.get_cargo(parse_tracking_id(tracking_id)?)?;
        let next_expected_activity = cargo.next_expected_activity().map(|next| {
            let mut details = vec![
                next.activity.name().to_string(),
                next.location.name().to_string(),
            ];
            details.extend(next.voyage_number.clone());
            details
        });
        Ok(CargoDetails {
            id: cargo.id().to_string(),
            origin: cargo.origin().name().to_string(),
            destination: cargo.destination().name().to_string(),
            arrival_deadline: cargo.arrival_deadline(),
            transport_status: cargo.transport_status().to_string(),
            routing_status: cargo.routing_status().to_string(),
            is_misdirected: cargo.is_misdirected(),
            estimated_time_of_arrival: cargo.estimated_time_of_arrival(),
            next_expected_activity,
            last_known_location: cargo.last_known_location().map(|l| l.name().to_string()),
            current_voyage_number: cargo.current_voyage_number().map(str::to_string),
        })
    }

    /// Changes where the cargo goes.
    pub fn change_destination(
        &self,
        tracking_id: &str,
        destination: &str,
    ) -> Result<(), BookingError> {
        self.app
            .change_destination(parse_tracking_id(tracking_id)?, destination.parse()?)
    }

    /// The routes the cargo could take.
    pub fn request_possible_routes_for_cargo(
        &self,
        tracking_id: &str,
    ) -> Result<Vec<ItineraryDetails>, BookingError> {
        let routes = self
            .app
            .request_possible_routes_for_cargo(parse_tracking_id(tracking_id)?)?;
        Ok(routes.iter().map(ItineraryDetails::from).collect())
    }

    /// Assigns the possible route whose details are `route_details`.
    pub fn assign_route(
        &self,
        tracking_id: &str,
        route_details: &ItineraryDetails,
    ) -> Result<(), BookingError> {
        let tracking_id = parse_tracking_id(tracking_id)?;
        let route = self
            .app
            .request_possible_routes_for_cargo(tracking_id)?
            .into_iter()
            .find(|route| ItineraryDetails::from(route) == *route_details)
            .ok_or(BookingError::NotAPossibleRoute)?;
        self.app.assign_route(tracking_id, route)
    }

    /// Registers something that happened to the cargo: a handling activity ("RECEIVE", "LOAD",
    /// "UNLOAD", "CLAIM") at a location, on a voyage for loading and unloading.
    pub fn register_handling_event(
        &self,
        tracking_id: &str,
        voyage_number: Option<&str>,
        location: &str,
        handling_activity: &str,
    ) -> Result<(), BookingError> {
        self.app.register_handling_event(
            parse_tracking_id(tracking_id)?,
            voyage_number.map(str::to_string),
            location.parse::<Location>()?,
            handling_activity.parse::<HandlingActivity>()?,
        )
    }
}

/// The route a customer would choose: the first.
pub fn select_preferred_itinerary(itineraries: &[ItineraryDetails]) -> Option<&ItineraryDetails> {
    itineraries.first()
}
