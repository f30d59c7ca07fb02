use eventsourcing::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

fn main() {}
