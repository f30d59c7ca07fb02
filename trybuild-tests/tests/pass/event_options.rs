// Events with a version and upcast functions, an explicit topic, and aliases.
use eventsourcing::prelude::*;
use eventsourcing::serde_json::{json, Map, Value};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    tricks: Vec<(String, u32)>,
}

#[aggregate]
impl Dog {
    #[created("Registered", topic = "dogs:Registered", aliases = ["old_dogs:Dog.Registered"])]
    pub fn register(name: String) -> Self {
        Dog { name, tricks: Vec::new() }
    }

    #[event("TrickAdded", version = 3, upcast = [Self::trick_v1_v2, Self::trick_v2_v3])]
    pub fn add_trick(&mut self, trick: String, level: u32) {
        self.tricks.push((trick, level));
    }

    /// Version 2 renamed `what` to `trick`.
    fn trick_v1_v2(state: &mut Map<String, Value>) {
        if let Some(what) = state.remove("what") {
            state.insert("trick".into(), what);
        }
    }

    /// Version 3 added `level`.
    fn trick_v2_v3(state: &mut Map<String, Value>) {
        state.insert("level".into(), json!(1));
    }
}

fn main() {
    let mut dog = Dog::register("Fido".into());
    dog.add_trick("sit".into(), 2);
    let events = dog.collect_events();
    assert_eq!(events[0].topic(), "dogs:Registered");
    assert_eq!(events[1].payload.class_version(), 3);
    assert!(DogEvent::has_topic("old_dogs:Dog.Registered"));

    // An event stored under an alias still decodes.
    let registered = json!({"timestamp": "2021-01-01T00:00:00Z", "name": "Rex"});
    let (_, event) = DogEvent::deserialize_state("old_dogs:Dog.Registered", registered).unwrap();
    assert!(matches!(event, DogEvent::Registered { name } if name == "Rex"));

    // A version 1 event is upcast twice.
    let topic = events[1].topic();
    let v1 = json!({"timestamp": "2021-01-01T00:00:00Z", "what": "sit"});
    let (_, event) = DogEvent::deserialize_state(topic, v1).unwrap();
    assert!(matches!(event, DogEvent::TrickAdded { trick, level: 1 } if trick == "sit"));
}
