use eventsourcing::prelude::*;

pub struct Dog {
    name: String,
}

impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
