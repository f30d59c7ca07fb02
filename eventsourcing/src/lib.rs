#![forbid(unsafe_code)]
#![doc = include_str!("../../README.md")]

pub mod application;
pub mod domain;
pub mod interface;
pub mod memory;
mod panics;
pub mod persistence;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod projection;
pub mod registry;
pub use domain::transcoding;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod system;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tokio")]
pub mod worker;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use eventsourcing_derive::{aggregate, created, event};

pub use chrono;
/// The serde crate the macros and the stored state use, re-exported so that a program needs no
/// serde dependency of its own. The aggregate's derives already use it (`#[aggregate]` says so
/// for them); a value type of your own in an event or an aggregate's state derives through it
/// with `#[serde(crate = "eventsourcing::serde")]`:
///
/// ```
/// use eventsourcing::prelude::*;
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// #[serde(crate = "eventsourcing::serde")]
/// pub struct Money {
///     cents: i64,
///     currency: String,
/// }
///
/// #[aggregate]
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub struct Account {
///     balance: i64,
/// }
///
/// #[aggregate]
/// impl Account {
///     #[created] pub fn open() -> Self { Account { balance: 0 } }
///     #[event] pub fn deposited(&mut self, amount: Money) { self.balance += amount.cents }
/// }
///
/// let app = Application::new("Accounts")?;
/// let mut account = Account::open();
/// account.deposited(Money { cents: 250, currency: "EUR".into() });
/// app.save(&mut account)?;
/// let copy: Account = app.repository().get(account.id())?;
/// assert_eq!(copy.version(), 2);
/// # Ok::<(), ApplicationError>(())
/// ```
pub use serde;
pub use serde_json;
pub use uuid;

/// The names most programs need: the macros, the traits whose methods aggregates use, and the
/// types that appear in aggregate and event definitions.
pub mod prelude {
    pub use crate::application::{Application, ApplicationError};
    pub use crate::domain::{Aggregate, AggregateEvent, DomainEvent, Snapshot};
    pub use crate::{aggregate, created, event};
    pub use chrono::{DateTime, Utc};
    pub use serde::{Deserialize, Serialize};
    pub use uuid::Uuid;
}
