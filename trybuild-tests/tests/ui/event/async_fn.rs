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
    pub async fn renamed(&mut self, name: String) {
        self.name = name;
    }
}

fn main() {}
