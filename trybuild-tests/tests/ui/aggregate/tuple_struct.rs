use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog(String);

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog(name)
    }
}

fn main() {}
