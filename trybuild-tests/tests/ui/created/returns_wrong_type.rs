use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Option<Self> {
        Some(Dog { name })
    }
}

fn main() {}
