use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate]
impl Dog {
    pub fn register(name: String) -> Self {
        Dog { name }
    }

    #[event]
    pub fn renamed(&mut self, name: String) {
        self.name = name;
    }
}

fn main() {}
