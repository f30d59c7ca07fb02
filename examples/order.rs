//! Orders: the reference library's example of commands that check before they record
//! (digest §1.14 G), in both of its styles.
//!
//! [`Order`] is the first style: the command [`Order::pickup`] checks that the order is
//! confirmed and only then calls the event method `picked_up`, which records `PickedUp`. The
//! check is not part of the event, so it does not run again when the order is rebuilt.
//!
//! [`StrictOrder`] is the second style: the event method itself refuses by returning `Err`
//! (the reference raises in the decorated body), and then nothing is recorded.
//!
//! ```
//! use chrono::Utc;
//! use eventsourcing::prelude::*;
//! use eventsourcing_examples::order::{Order, OrderError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut order = Order::create("my order".into());
//! assert_eq!(order.pickup(Utc::now()), Err(OrderError::NotConfirmed));
//! order.confirm(Utc::now());
//! order.pickup(Utc::now())?;
//! let copy = Order::from_events(order.collect_events())?;
//! assert_eq!(copy.picked_up_at(), order.picked_up_at());
//! # Ok(())
//! # }
//! ```

use std::io::Write;

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::prelude::*;

/// Why an order refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An order is picked up only after it is confirmed.
    #[error("Order is not confirmed")]
    NotConfirmed,
}

/// An order that is confirmed, then picked up. The command checks; the event records.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    name: String,
    confirmed_at: Option<DateTime<Utc>>,
    picked_up_at: Option<DateTime<Utc>>,
}

#[aggregate]
impl Order {
    /// A new order: records `Order.Created`.
    #[created]
    pub fn create(name: String) -> Self {
        Order {
            name,
            confirmed_at: None,
            picked_up_at: None,
        }
    }

    /// Confirms the order: records `Order.Confirmed`.
    #[event("Confirmed")]
    pub fn confirm(&mut self, at: DateTime<Utc>) {
        self.confirmed_at = Some(at);
    }

    /// Picks the order up, if it is confirmed (nothing is recorded otherwise).
    pub fn pickup(&mut self, at: DateTime<Utc>) -> Result<(), OrderError> {
        if self.confirmed_at.is_none() {
            return Err(OrderError::NotConfirmed);
        }
        self.picked_up(at);
        Ok(())
    }

    /// Records `Order.PickedUp`: the reference's `@event("PickedUp") def _pickup`.
    #[event("PickedUp")]
    fn picked_up(&mut self, at: DateTime<Utc>) {
        self.picked_up_at = Some(at);
    }

    /// The order's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it was confirmed.
    pub fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.confirmed_at
    }

    /// When it was picked up.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.picked_up_at
    }
}

/// The same order, refusing in the event method itself: `Err` records nothing, and the
/// version does not move.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrictOrder {
    name: String,
    confirmed_at: Option<DateTime<Utc>>,
    picked_up_at: Option<DateTime<Utc>>,
}

#[aggregate]
impl StrictOrder {
    /// A new order.
    #[created]
    pub fn create(name: String) -> Self {
        StrictOrder {
            name,
            confirmed_at: None,
            picked_up_at: None,
        }
    }

    /// Confirms the order.
    #[event("Confirmed")]
    pub fn confirm(&mut self, at: DateTime<Utc>) {
        self.confirmed_at = Some(at);
    }

    /// Picks the order up: refuses, recording nothing, unless it is confirmed.
    #[event("PickedUp")]
    pub fn pickup(&mut self, at: DateTime<Utc>) -> Result<(), OrderError> {
        if self.confirmed_at.is_none() {
            return Err(OrderError::NotConfirmed);
        }
        self.picked_up_at = Some(at);
        Ok(())
    }

    /// When it was picked up.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.picked_up_at
    }
}

/// Why an order command failed in the application.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// The order refused.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Storing or reading failed.
    #[error(transparent)]
    Application(#[from] ApplicationError),
}

/// An application of orders.
pub struct Orders {
    app: Application,
}

impl Orders {
    /// The application's name.
    pub const NAME: &'static str = "Orders";

    /// A builder of the application, configured from the process environment.
    pub fn builder() -> ApplicationBuilder {
        Application::builder(Self::NAME)
    }

    /// The application, as `builder` configures it.
    pub fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(Orders {
            app: builder.build()?,
        })
    }

    /// The underlying application.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// Creates an order; returns its id.
    pub fn create_order(&self, name: &str) -> Result<Uuid, ApplicationError> {
        let mut order = Order::create(name.to_string());
        self.app.save(&mut order)?;
        Ok(order.id())
    }

    /// Confirms an order.
    pub fn confirm(&self, id: Uuid) -> Result<(), ApplicationError> {
        let mut order: Order = self.app.repository().get(id)?;
        order.confirm(Utc::now());
        self.app.save(&mut order)
    }

    /// Picks an order up; refused unless it is confirmed.
    pub fn pickup(&self, id: Uuid) -> Result<(), OrdersError> {
        let mut order: Order = self.app.repository().get(id)?;
        order.pickup(Utc::now())?;
        Ok(self.app.save(&mut order)?)
    }

    /// An order.
    pub fn get_order(&self, id: Uuid) -> Result<Order, ApplicationError> {
        self.app.repository().get(id)
    }
}

/// The example program: creates an order, tries to pick it up too early, confirms it, picks it
/// up, and prints the stored events of every order so far.
pub fn demo(orders: &Orders, out: &mut dyn Write) -> Result<(), Box<dyn std::error::Error>> {
    let id = orders.create_order("my order")?;
    writeln!(out, "created order {id}")?;
    match orders.pickup(id) {
        Err(OrdersError::Order(refused)) => {
            writeln!(out, "pickup before confirming: refused ({refused})")?
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    orders.confirm(id)?;
    orders.pickup(id)?;
    let order = orders.get_order(id)?;
    writeln!(
        out,
        "confirmed at {}, picked up at {} (version {})",
        order
            .confirmed_at()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        order
            .picked_up_at()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        order.version()
    )?;
    let notifications = orders
        .app()
        .log()
        .select(1, orders.app().log().section_size())?;
    writeln!(out, "the first {} stored events:", notifications.len())?;
    for notification in notifications {
        writeln!(
            out,
            "  {:>3} {} v{} {}",
            notification.id,
            notification.originator_id,
            notification.originator_version,
            notification.topic
        )?;
    }
    Ok(())
}
