//! Domain models shared by the examples.

pub mod cargo_shipping;
