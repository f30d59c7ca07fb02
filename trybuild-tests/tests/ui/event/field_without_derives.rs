use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog {
    colour: String,
}

pub struct Collar {
    pub colour: String,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register() -> Self {
        Dog { colour: String::new() }
    }

    #[event]
    pub fn collared(&mut self, collar: Collar) {
        self.colour = collar.colour;
    }
}

fn main() {}
