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

    fn create_id(title: &str) -> Uuid {
        eventsourcing::domain::url_id(title)
    }
}

fn main() {}
