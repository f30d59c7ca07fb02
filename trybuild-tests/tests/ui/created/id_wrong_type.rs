use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register(id: String, name: String) -> Self {
        let _ = id;
        Dog { name }
    }
}

fn main() {}
