use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created(version = 0)]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
