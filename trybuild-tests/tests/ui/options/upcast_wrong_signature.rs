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

    #[event(version = 2, upcast = [Self::renamed_v1_v2])]
    pub fn renamed(&mut self, name: String) {
        self.name = name;
    }

    fn renamed_v1_v2(state: String) -> String {
        state
    }
}

fn main() {}
