use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    tricks: Vec<String>,
}

#[aggregate]
impl Dog {
    #[created("Registered")]
    pub fn register(name: String) -> Self {
        Dog {
            name,
            tricks: Vec::new(),
        }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }

    #[event]
    fn tricks_cleared(&mut self) {
        self.tricks.clear();
    }

    pub fn tricks(&self) -> &[String] {
        &self.tricks
    }
}

#[test]
fn dog() {
    let mut dog = Dog::register("Fido".into());
    dog.add_trick("roll over".into());
    dog.tricks_cleared();
    assert_eq!(dog.version(), 3);
    let events = dog.collect_events();
    let copy = Dog::from_events(events.clone()).unwrap();
    assert_eq!(copy, dog);
    println!("{:?}", events);
    println!("{}", events[1].topic());
}
