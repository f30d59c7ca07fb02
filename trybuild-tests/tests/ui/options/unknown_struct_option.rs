use eventsourcing::prelude::*;

#[aggregate(snapshot = true)]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
