use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate(discardable = "yes")]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
