// A struct without serde derives (or any derive) is an aggregate too; it just can't be
// snapshotted.
use eventsourcing::prelude::*;

#[aggregate]
pub struct Counter {
    count: u64,
}

#[aggregate]
impl Counter {
    #[created]
    pub fn start() -> Self {
        Counter { count: 0 }
    }

    #[event]
    pub fn incremented(&mut self, by: u64) {
        self.count += by;
    }
}

fn main() {
    let mut counter = Counter::start();
    counter.incremented(2);
    counter.incremented(3);
    assert_eq!(counter.count, 5);
    assert!(counter.take_snapshot().is_err());
    let copy = Counter::from_events(counter.collect_events()).unwrap();
    assert_eq!(copy.count, 5);
}
