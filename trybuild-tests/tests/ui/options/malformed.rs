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

    #[event("Renamed" version = 2)]
    pub fn rename(&mut self, name: String) {
        self.name = name;
    }
}

fn main() {}
