//! The booking application: books cargo, routes it and registers what happens to it.

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;

use super::domainmodel::{
    registered_routes, Cargo, CargoError, HandlingActivity, Itinerary, Location,
    UnknownHandlingActivity, UnknownLocation,
};

/// What can go wrong booking and handling cargo.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Storing or getting cargo failed, or there is no cargo with that tracking id.
    #[error(transparent)]
    Application(#[from] ApplicationError),
    /// The cargo refused a handling event.
    #[error(transparent)]
    Cargo(#[from] CargoError),
    /// No routes are registered between the two locations.
    #[error("Can't find routes from {from} to {to}")]
    NoRoutes {
        /// Where the cargo is (or was booked from).
        from: Location,
        /// Where it goes.
        to: Location,
    },
    /// The route details given are not one of the cargo's possible routes.
    #[error("not a possible route for this cargo")]
    NotAPossibleRoute,
    /// A location name the service does not know.
    #[error(transparent)]
    UnknownLocation(#[from] UnknownLocation),
    /// A handling activity name the service does not know.
    #[error(transparent)]
    UnknownHandlingActivity(#[from] UnknownHandlingActivity),
    /// A tracking id that is not a UUID.
    #[error("invalid tracking id {0:?}")]
    InvalidTrackingId(String),
}

/// The booking application (the reference's `BookingApplication`).
pub struct BookingApplication {
    app: Application,
}

impl BookingApplication {
    /// The application's name (its environment variables' prefix).
    pub const NAME: &'static str = "BookingApplication";

    /// The application, configured from the environment (in memory if nothing is configured).
    pub fn new() -> Result<Self, ApplicationError> {
        Self::build(Application::builder(Self::NAME))
    }

    /// The application built by `builder` (to choose where it stores its events).
    pub fn build(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(BookingApplication {
            app: builder.build()?,
        })
    }

    /// The underlying application.
    pub fn application(&self) -> &Application {
        &self.app
    }

    /// Books new cargo; returns its tracking id.
    pub fn book_new_cargo(
        &self,
        origin: Location,
        destination: Location,
        arrival_deadline: DateTime<Utc>,
    ) -> Result<Uuid, BookingError> {
        let mut cargo = Cargo::new_booking(origin, destination, arrival_deadline);
        self.app.save(&mut cargo)?;
        Ok(cargo.id())
    }

    /// Changes where the cargo goes.
    pub fn change_destination(
        &self,
        tracking_id: Uuid,
        destination: Location,
    ) -> Result<(), BookingError> {
        let mut cargo = self.get_cargo(tracking_id)?;
        cargo.change_destination(destination);
        Ok(self.app.save(&mut cargo)?)
    }

    /// The routes from where the cargo is (or its origin) to its destination.
    pub fn request_possible_routes_for_cargo(
        &self,
        tracking_id: Uuid,
    ) -> Result<Vec<Itinerary>, BookingError> {
        let cargo = self.get_cargo(tracking_id)?;
        let from = cargo.last_known_location().unwrap_or(cargo.origin());
        let to = cargo.destination();
        registered_routes(from, to).ok_or(BookingError::NoRoutes { from, to })
    }

    /// Assigns a route to the cargo.
    pub fn assign_route(
        &self,
        tracking_id: Uuid,
        itinerary: Itinerary,
    ) -> Result<(), BookingError> {
        let mut cargo = self.get_cargo(tracking_id)?;
        cargo.assign_route(itinerary);
        Ok(self.app.save(&mut cargo)?)
    }

    /// Registers something that happened to the cargo.
    pub fn register_handling_event(
        &self,
        tracking_id: Uuid,
        voyage_number: Option<String>,
        location: Location,
        handling_activity: HandlingActivity,
    ) -> Result<(), BookingError> {
        let mut cargo = self.get_cargo(tracking_id)?;
        cargo.register_handling_event(tracking_id, voyage_number, location, handling_activity)?;
        Ok(self.app.save(&mut cargo)?)
    }

    /// The cargo with this tracking id.
    pub fn get_cargo(&self, tracking_id: Uuid) -> Result<Cargo, BookingError> {
        Ok(self.app.repository().get(tracking_id)?)
    }
}
