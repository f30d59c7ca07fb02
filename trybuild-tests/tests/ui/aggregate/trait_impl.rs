use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Default for Dog {
    fn default() -> Self {
        Dog { name: String::new() }
    }
}

fn main() {}
