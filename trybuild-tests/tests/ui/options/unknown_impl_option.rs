use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate(modul = "dogs")]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
