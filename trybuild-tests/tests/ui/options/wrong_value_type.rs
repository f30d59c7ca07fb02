use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate(initial_version = "zero", module = dogs)]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
