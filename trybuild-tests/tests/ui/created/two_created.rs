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

    #[created("Adopted")]
    pub fn adopt(name: String) -> Self {
        Dog { name }
    }
}

fn main() {}
