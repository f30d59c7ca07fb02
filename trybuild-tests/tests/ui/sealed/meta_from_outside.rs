// Nor can anyone else reach an aggregate's metadata mutably, or build a `Sealed` by hand.
use eventsourcing::domain::{Aggregate, Sealed};
use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    tricks: Vec<String>,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register() -> Self {
        Dog { tricks: Vec::new() }
    }
}

fn main() {
    let mut dog = Dog::register();
    let other = Dog::register();
    *dog.meta_mut(&Sealed { replaying: false, keep_failure: false, failure: None }) = other.meta().clone();
}
