//! The workloads added for issues 10 and 11, a module per group; the older ones are in
//! `main.rs`.

pub(crate) mod concurrent;
pub(crate) mod stats;
pub(crate) mod subscribe;
