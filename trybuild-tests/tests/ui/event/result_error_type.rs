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
    pub fn renamed(&mut self, name: String) -> Result<(), u32> {
        if name.is_empty() {
            return Err(0);
        }
        self.name = name;
        Ok(())
    }
}

fn main() {}
