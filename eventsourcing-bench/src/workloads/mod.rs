//! The workloads added for issues 10, 11 and 14, a module per group; the older ones are in
//! `main.rs`.

pub(crate) mod concurrent;
pub(crate) mod stats;
pub(crate) mod subscribe;
pub(crate) mod write;
