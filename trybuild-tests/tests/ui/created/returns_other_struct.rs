use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

pub struct Cat;

#[aggregate]
impl Dog {
    #[created]
    pub fn register(name: String) -> Cat {
        let _ = name;
        Cat
    }
}

fn main() {}
