//! The reference workloads' domain model, shared by the bench binary and the microbenchmarks:
//! a `Dog` with a created event `Registered { name }` and `TrickAdded { trick }`, with the same
//! topics as the Python side (`dogs:Dog.Registered`, `dogs:Dog.TrickAdded`).

use eventsourcing::prelude::*;

/// The benchmarks' aggregate.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    tricks: Vec<String>,
}

#[aggregate(module = "dogs")]
impl Dog {
    /// Registers a dog.
    #[created("Registered")]
    pub fn register(name: String) -> Self {
        Dog {
            name,
            tricks: Vec::new(),
        }
    }

    /// Teaches the dog a trick.
    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }

    /// The dog's tricks.
    pub fn tricks(&self) -> &[String] {
        &self.tricks
    }
}

/// Tricks per dog in the write workloads: with the created event, 10 events per aggregate.
pub const TRICKS_PER_DOG: usize = 9;
