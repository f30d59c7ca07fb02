use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog;

#[aggregate]
impl Dog {
    #[created]
    pub fn register() -> Self {
        Dog
    }
}

fn main() {}
