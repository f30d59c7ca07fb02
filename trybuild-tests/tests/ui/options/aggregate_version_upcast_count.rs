use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    name: String,
}

#[aggregate(version = 3, upcast = [Self::v1_v2])]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }

    fn v1_v2(_state: &mut eventsourcing::serde_json::Map<String, eventsourcing::serde_json::Value>) {}
}

fn main() {}
