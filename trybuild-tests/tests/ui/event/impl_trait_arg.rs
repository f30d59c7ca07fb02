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

    #[event]
    pub fn renamed(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }
}

fn main() {}
