use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created(topic = "dogs:Registered", topic = "dogs:Created")]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
