use eventsourcing::prelude::*;

#[aggregate]
pub enum Dog {
    Puppy,
    Adult,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register() -> Self {
        Dog::Puppy
    }
}

fn main() {}
