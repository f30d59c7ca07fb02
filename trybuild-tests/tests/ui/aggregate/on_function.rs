use eventsourcing::prelude::*;

#[aggregate]
pub fn dog() {}

fn main() {}
