use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    __aggregate: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { __aggregate: name }
    }
}

fn main() {}
