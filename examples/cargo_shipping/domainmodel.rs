//! The domain model of cargo shipping: the `Cargo` aggregate and its value types.

use std::fmt;
use std::str::FromStr;

use eventsourcing::prelude::*;

/// Locations in the world. Stored, and presented, by name ("HONGKONG").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Location {
    /// Hamburg.
    Hamburg,
    /// Hong Kong.
    HongKong,
    /// New York.
    NewYork,
    /// Stockholm.
    Stockholm,
    /// Tokyo.
    Tokyo,
    /// Rotterdam.
    Nlrtm,
    /// Dallas.
    Usdal,
    /// Melbourne.
    Aumel,
}

impl Location {
    /// Every location.
    pub const ALL: [Location; 8] = [
        Location::Hamburg,
        Location::HongKong,
        Location::NewYork,
        Location::Stockholm,
        Location::Tokyo,
        Location::Nlrtm,
        Location::Usdal,
        Location::Aumel,
    ];

    /// The location's name, as the reference's `Location.X.value`.
    pub fn name(self) -> &'static str {
        match self {
            Location::Hamburg => "HAMBURG",
            Location::HongKong => "HONGKONG",
            Location::NewYork => "NEWYORK",
            Location::Stockholm => "STOCKHOLM",
            Location::Tokyo => "TOKYO",
            Location::Nlrtm => "NLRTM",
            Location::Usdal => "USDAL",
            Location::Aumel => "AUMEL",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`Location`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown location {0:?}")]
pub struct UnknownLocation(pub String);

impl FromStr for Location {
    type Err = UnknownLocation;

    /// The location named `name` (the reference's `Location[name]`).
    fn from_str(name: &str) -> Result<Self, UnknownLocation> {
        Location::ALL
            .into_iter()
            .find(|location| location.name() == name)
            .ok_or_else(|| UnknownLocation(name.to_string()))
    }
}

/// What can happen to cargo in a port. Stored, and presented, by name ("RECEIVE").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HandlingActivity {
    /// Received in port.
    Receive,
    /// Loaded onto a carrier.
    Load,
    /// Unloaded from a carrier.
    Unload,
    /// Claimed by the customer.
    Claim,
}

impl HandlingActivity {
    /// Every handling activity.
    pub const ALL: [HandlingActivity; 4] = [
        HandlingActivity::Receive,
        HandlingActivity::Load,
        HandlingActivity::Unload,
        HandlingActivity::Claim,
    ];

    /// The activity's name, as the reference's `HandlingActivity.X.value`.
    pub fn name(self) -> &'static str {
        match self {
            HandlingActivity::Receive => "RECEIVE",
            HandlingActivity::Load => "LOAD",
            HandlingActivity::Unload => "UNLOAD",
            HandlingActivity::Claim => "CLAIM",
        }
    }
}

impl fmt::Display for HandlingActivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`HandlingActivity`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown handling activity {0:?}")]
pub struct UnknownHandlingActivity(pub String);

impl FromStr for HandlingActivity {
    type Err = UnknownHandlingActivity;

    fn from_str(name: &str) -> Result<Self, UnknownHandlingActivity> {
        HandlingActivity::ALL
            .into_iter()
            .find(|activity| activity.name() == name)
            .ok_or_else(|| UnknownHandlingActivity(name.to_string()))
    }
}

/// A leg of an itinerary: from one location to another on a voyage. Locations are names, as in
/// the reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    /// Where the leg starts.
    pub origin: String,
    /// Where the leg ends.
    pub destination: String,
    /// The voyage.
    pub voyage_number: String,
}

impl Leg {
    /// A leg.
    pub fn new(origin: &str, destination: &str, voyage_number: &str) -> Self {
        Leg {
            origin: origin.to_string(),
            destination: destination.to_string(),
            voyage_number: voyage_number.to_string(),
        }
    }
}

/// An itinerary along which cargo is shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Itinerary {
    /// Where it starts.
    pub origin: String,
    /// Where it ends.
    pub destination: String,
    /// Its legs, in order.
    pub legs: Vec<Leg>,
}

impl Itinerary {
    /// An itinerary.
    pub fn new(origin: &str, destination: &str, legs: Vec<Leg>) -> Self {
        Itinerary {
            origin: origin.to_string(),
            destination: destination.to_string(),
            legs,
        }
    }
}

/// The routes known between two locations (the reference's `REGISTERED_ROUTES`), or `None`.
pub fn registered_routes(origin: Location, destination: Location) -> Option<Vec<Itinerary>> {
    match (origin, destination) {
        (Location::HongKong, Location::Stockholm) => Some(vec![Itinerary::new(
            "HONGKONG",
            "STOCKHOLM",
            vec![
                Leg::new("HONGKONG", "NEWYORK", "V1"),
                Leg::new("NEWYORK", "STOCKHOLM", "V2"),
            ],
        )]),
        (Location::Tokyo, Location::Stockholm) => Some(vec![Itinerary::new(
            "TOKYO",
            "STOCKHOLM",
            vec![
                Leg::new("TOKYO", "HAMBURG", "V3"),
                Leg::new("HAMBURG", "STOCKHOLM", "V4"),
            ],
        )]),
        _ => None,
    }
}

/// What is expected to happen to the cargo next: an activity at a location, on a voyage for
/// loading and unloading (the reference's 2- or 3-tuple).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextExpectedActivity {
    /// The activity.
    pub activity: HandlingActivity,
    /// Where.
    pub location: Location,
    /// On which voyage, for loading and unloading.
    pub voyage_number: Option<String>,
}

impl NextExpectedActivity {
    fn new(activity: HandlingActivity, location: Location, voyage_number: Option<String>) -> Self {
        NextExpectedActivity {
            activity,
            location,
            voyage_number,
        }
    }
}

/// A handling event the cargo refuses (the reference raises in the event's `apply`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CargoError {
    /// Handling registered before a route was assigned (the reference's
    /// `assert self.route is not None`).
    #[error("the cargo has no route")]
    NotRouted,
    /// Loaded where the route has no leg of that voyage.
    #[error(
        "Can't find leg with origin={location} and voyage_number={}",
        .voyage_number.as_deref().unwrap_or("None")
    )]
    LegNotFound {
        /// Where the cargo was loaded.
        location: Location,
        /// The voyage it was loaded onto.
        voyage_number: Option<String>,
    },
    /// Unloaded at the end of a leg the route does not continue from (the reference's
    /// `legs[i + 1]` index error, and its `assert` on the next leg's origin).
    #[error(
        "the route has no leg from {location} after voyage {}",
        .voyage_number.as_deref().unwrap_or("None")
    )]
    NoNextLeg {
        /// Where the cargo was unloaded.
        location: Location,
        /// The voyage it was unloaded from.
        voyage_number: Option<String>,
    },
}

/// Cargo: where it is booked from and to, its route, and what has happened to it.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cargo {
    origin: Location,
    destination: Location,
    arrival_deadline: DateTime<Utc>,
    transport_status: String,
    routing_status: String,
    is_misdirected: bool,
    estimated_time_of_arrival: Option<DateTime<Utc>>,
    next_expected_activity: Option<NextExpectedActivity>,
    route: Option<Itinerary>,
    last_known_location: Option<Location>,
    current_voyage_number: Option<String>,
}

#[aggregate]
impl Cargo {
    /// Books new cargo.
    #[created("BookingStarted")]
    pub fn new_booking(
        origin: Location,
        destination: Location,
        arrival_deadline: DateTime<Utc>,
    ) -> Self {
        Cargo {
            origin,
            destination,
            arrival_deadline,
            transport_status: "NOT_RECEIVED".to_string(),
            routing_status: "NOT_ROUTED".to_string(),
            is_misdirected: false,
            estimated_time_of_arrival: None,
            next_expected_activity: None,
            route: None,
            last_known_location: None,
            current_voyage_number: None,
        }
    }

    /// Changes where the cargo goes.
    #[event("DestinationChanged")]
    pub fn change_destination(&mut self, destination: Location) {
        self.destination = destination;
    }

    /// Assigns a route, estimating arrival in a week.
    pub fn assign_route(&mut self, itinerary: Itinerary) {
        let estimated_time_of_arrival = Utc::now() + chrono::Duration::weeks(1);
        self.route_assigned(itinerary, estimated_time_of_arrival);
    }

    #[event("RouteAssigned")]
    fn route_assigned(&mut self, route: Itinerary, estimated_time_of_arrival: DateTime<Utc>) {
        self.route = Some(route);
        self.routing_status = "ROUTED".to_string();
        self.estimated_time_of_arrival = Some(estimated_time_of_arrival);
        self.next_expected_activity = Some(NextExpectedActivity::new(
            HandlingActivity::Receive,
            self.origin,
            None,
        ));
        self.is_misdirected = false;
    }

    /// Registers something that happened to the cargo; refused if the route can't explain it.
    #[event("HandlingEventRegistered")]
    pub fn register_handling_event(
        &mut self,
        tracking_id: Uuid,
        voyage_number: Option<String>,
        location: Location,
        handling_activity: HandlingActivity,
    ) -> Result<(), CargoError> {
        let _ = tracking_id;
        let route = self.route.as_ref().ok_or(CargoError::NotRouted)?;
        match handling_activity {
            HandlingActivity::Receive => {
                let first_voyage = route.legs.first().map(|leg| leg.voyage_number.clone());
                self.transport_status = "IN_PORT".to_string();
                self.last_known_location = Some(location);
                self.next_expected_activity = Some(NextExpectedActivity::new(
                    HandlingActivity::Load,
                    location,
                    first_voyage,
                ));
            }
            HandlingActivity::Load => {
                let leg = route.legs.iter().find(|leg| {
                    leg.origin == location.name()
                        && Some(&leg.voyage_number) == voyage_number.as_ref()
                });
                let Some(leg) = leg else {
                    return Err(CargoError::LegNotFound {
                        location,
                        voyage_number,
                    });
                };
                let next_location =
                    leg.destination
                        .parse::<Location>()
                        .map_err(|_| CargoError::LegNotFound {
                            location,
                            voyage_number: voyage_number.clone(),
                        })?;
                self.transport_status = "ONBOARD_CARRIER".to_string();
                self.next_expected_activity = Some(NextExpectedActivity::new(
                    HandlingActivity::Unload,
                    next_location,
                    voyage_number.clone(),
                ));
                self.current_voyage_number = voyage_number;
            }
            HandlingActivity::Unload => {
                let next = if location == self.destination {
                    Some(Some(NextExpectedActivity::new(
                        HandlingActivity::Claim,
                        location,
                        None,
                    )))
                } else if route
                    .legs
                    .iter()
                    .any(|leg| leg.destination == location.name())
                {
                    // The leg of this voyage, and the next one, which must start here. No leg of
                    // this voyage: the next expected activity stays as it was (as in the
                    // reference, whose loop then finds nothing).
                    match route
                        .legs
                        .iter()
                        .position(|leg| Some(&leg.voyage_number) == voyage_number.as_ref())
                    {
                        Some(i) => {
                            let next_leg = route
                                .legs
                                .get(i + 1)
                                .filter(|next_leg| next_leg.origin == location.name())
                                .ok_or_else(|| CargoError::NoNextLeg {
                                    location,
                                    voyage_number: voyage_number.clone(),
                                })?;
                            Some(Some(NextExpectedActivity::new(
                                HandlingActivity::Load,
                                location,
                                Some(next_leg.voyage_number.clone()),
                            )))
                        }
                        None => None,
                    }
                } else {
                    self.is_misdirected = true;
                    Some(None)
                };
                if let Some(next) = next {
                    self.next_expected_activity = next;
                }
                self.current_voyage_number = None;
                self.last_known_location = Some(location);
                self.transport_status = "IN_PORT".to_string();
            }
            HandlingActivity::Claim => {
                self.next_expected_activity = None;
                self.transport_status = "CLAIMED".to_string();
            }
        }
        Ok(())
    }

    /// Where the cargo was booked from.
    pub fn origin(&self) -> Location {
        self.origin
    }

    /// Where the cargo goes.
    pub fn destination(&self) -> Location {
        self.destination
    }

    /// When it must arrive.
    pub fn arrival_deadline(&self) -> DateTime<Utc> {
        self.arrival_deadline
    }

    /// "NOT_RECEIVED", "IN_PORT", "ONBOARD_CARRIER" or "CLAIMED".
    pub fn transport_status(&self) -> &str {
        &self.transport_status
    }

    /// "NOT_ROUTED" or "ROUTED".
    pub fn routing_status(&self) -> &str {
        &self.routing_status
    }

    /// Whether it was unloaded somewhere its route does not go.
    pub fn is_misdirected(&self) -> bool {
        self.is_misdirected
    }

    /// When it is expected to arrive, once routed.
    pub fn estimated_time_of_arrival(&self) -> Option<DateTime<Utc>> {
        self.estimated_time_of_arrival
    }

    /// What should happen to it next.
    pub fn next_expected_activity(&self) -> Option<&NextExpectedActivity> {
        self.next_expected_activity.as_ref()
    }

    /// Its route, once routed.
    pub fn route(&self) -> Option<&Itinerary> {
        self.route.as_ref()
    }

    /// Where it was last received or unloaded.
    pub fn last_known_location(&self) -> Option<Location> {
        self.last_known_location
    }

    /// The voyage it is on.
    pub fn current_voyage_number(&self) -> Option<&str> {
        self.current_voyage_number.as_deref()
    }
}
