use eventsourcing::prelude::*;

#[aggregate]
pub struct Dog<T> {
    name: T,
}

#[aggregate]
impl<T> Dog<T> {
    #[created]
    pub fn register(name: T) -> Self {
        Dog { name }
    }
}

fn main() {}
