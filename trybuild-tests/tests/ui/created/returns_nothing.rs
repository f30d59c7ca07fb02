use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) {
        let _ = name;
    }
}

fn main() {}
