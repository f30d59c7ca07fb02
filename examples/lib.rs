//! The reference library's example applications, written with `eventsourcing`.
//!
//! Each module holds an example's aggregates and its application — a struct of its own that
//! contains an [`Application`](eventsourcing::application::Application) and offers the
//! example's commands and queries:
//!
//! - [`world`]: `Worlds`, the application of the reference's tutorial (worlds where things
//!   happen), with snapshotting and the notification log.
//! - [`wiki`]: `Wiki`, pages with unique names: a page and its name index are saved together,
//!   atomically, and the index's id is derived from the name, so that the event store itself
//!   refuses a second page of the same name.
//! - [`cargo_shipping`]: the booking application of the DDD book's cargo shipping sample:
//!   cargo booked, routed, and tracked through handling events.
//! - [`order`]: `Orders`, a command that checks before it records, in the reference's two
//!   styles (a check in the command, or a refusal in the event method).
//! - [`bank_accounts`]: `BankAccounts`, accounts with deposits, withdrawals, transfers between
//!   accounts (both accounts saved atomically), overdraft limits and closing.
//! - [`dogs`]: `DogSchool`, the reference's dog school with two twin aggregates: one declared
//!   with the macros, one written by hand against the public traits, stored side by side.
//! - `bank_service` (feature `service`): the bank accounts behind an HTTP API (axum), over the
//!   async face of the application: `cargo run --example bank_service --features service`.
//! - `bank_system` (feature `system`): the bank accounts deployed as processes around one
//!   store — the bank, a process application following it, and a projection of the balances,
//!   the followers run as workers with standby replicas:
//!   `cargo run --example bank_system --features system -- leader` (and `worker ledger`, …).
//!
//! Every application type has a constructor taking an
//! [`ApplicationBuilder`](eventsourcing::application::ApplicationBuilder), so that a test or a
//! program chooses where events are stored; `new()` configures from the process environment
//! (in memory unless `PERSISTENCE_MODULE` says otherwise).
//!
//! The runnable programs in `examples/` (`cargo run --example worlds`, `wiki`,
//! `bank_accounts`) call each module's `demo` function; [`setup`] configures them: SQLite in a
//! file by default, so that a second run sees what the first one stored.

pub mod bank_accounts;
#[cfg(feature = "service")]
pub mod bank_service;
#[cfg(feature = "system")]
pub mod bank_system;
pub mod cargo_shipping;
pub mod dogs;
pub mod order;
pub mod setup;
pub mod wiki;
pub mod world;
