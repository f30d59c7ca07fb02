// `apply` changes an aggregate without recording an event: only the library can call it, since
// only the library can make the `Sealed` it takes.
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

    #[event]
    pub fn trick_added(&mut self, trick: String) {
        self.tricks.push(trick);
    }
}

fn main() {
    let mut dog = Dog::register();
    let mut sealed = Sealed::new();
    let _ = dog.apply(DogEvent::TrickAdded { trick: "sit".into() }, &mut sealed);
}
