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

    pub fn puppy() -> Self {
        Self { name: "Puppy".into() }
    }
}

fn main() {}
