//! Domain models shared by the examples.
