use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

fn main() {}
