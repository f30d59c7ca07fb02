use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }

    #[event]
    pub fn reset(&mut self) {
        *self = Dog { name: String::new() };
    }
}

fn main() {}
