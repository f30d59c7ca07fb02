use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(&self, name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
