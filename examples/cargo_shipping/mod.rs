//! Cargo shipping, after the sample application of Eric Evans's "Domain-Driven Design": the
//! reference library's cargo shipping example (digest §6.2), in three layers.
//!
//! - [`domainmodel`]: the `Cargo` aggregate, locations, handling activities, itineraries and
//!   the registered routes;
//! - [`application`]: the `BookingApplication`, which books cargo, routes it and registers
//!   handling events;
//! - [`interface`]: the `BookingService`, which presents the application with plain strings,
//!   as a web or command-line front end would.
//!
//! Differences from the reference, each deliberate:
//!
//! - `Location` and `HandlingActivity` are Rust enums that serde stores by name, so no custom
//!   transcodings are registered: serde is the transcoder.
//! - A route's estimated time of arrival is a field of the `RouteAssigned` event, computed when
//!   the route is assigned. The reference computes `now + 1 week` while applying the event, so
//!   replaying it gives a different answer every time; here replay gives the same one.
//! - The reference's `Exception`s and `assert`s are errors ([`domainmodel::CargoError`],
//!   [`application::BookingError`]); a handling event that the cargo's route can't explain is
//!   refused and not recorded.
//! - `BookingService::assign_route` with route details that match none of the possible routes
//!   is an error (the reference silently does nothing).
//!
//! ```
//! use chrono::{Duration, Utc};
//! use eventsourcing_examples::cargo_shipping::{
//!     select_preferred_itinerary, BookingApplication, BookingService,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = BookingService::new(BookingApplication::new()?);
//! let tracking_id =
//!     service.book_new_cargo("HONGKONG", "STOCKHOLM", Utc::now() + Duration::weeks(2))?;
//! let routes = service.request_possible_routes_for_cargo(&tracking_id)?;
//! service.assign_route(&tracking_id, select_preferred_itinerary(&routes).unwrap())?;
//! service.register_handling_event(&tracking_id, None, "HONGKONG", "RECEIVE")?;
//!
//! let details = service.get_cargo_details(&tracking_id)?;
//! assert_eq!(details.transport_status, "IN_PORT");
//! assert_eq!(details.next_expected_activity.unwrap(), ["LOAD", "HONGKONG", "V1"]);
//! # Ok(())
//! # }
//! ```

pub mod application;
pub mod domainmodel;
pub mod interface;

pub use application::{BookingApplication, BookingError};
pub use domainmodel::{
    registered_routes, Cargo, CargoError, CargoEvent, HandlingActivity, Itinerary, Leg, Location,
    NextExpectedActivity,
};
pub use interface::{
    select_preferred_itinerary, BookingService, CargoDetails, ItineraryDetails, LegDetails,
};
