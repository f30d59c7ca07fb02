// #[aggregate(module = "...", initial_version = 0, version = 2, upcast = [...])].
use eventsourcing::prelude::*;
use eventsourcing::serde_json::{json, Map, Value};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    age: u32,
}

#[aggregate(module = "kennel", initial_version = 0, version = 2, upcast = [Self::upcast_v1_v2])]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name, age: 0 }
    }

    #[event]
    pub fn had_birthday(&mut self) {
        self.age += 1;
    }

    /// Version 1 had no `age`.
    fn upcast_v1_v2(state: &mut Map<String, Value>) {
        state.insert("age".into(), json!(0));
    }
}

fn main() {
    assert_eq!(Dog::TOPIC, "kennel:Dog");
    assert_eq!(Dog::INITIAL_VERSION, 0);
    assert_eq!(Dog::CLASS_VERSION, 2);

    let mut dog = Dog::register("Fido".into());
    assert_eq!(dog.version(), 0);
    dog.had_birthday();
    assert_eq!(dog.version(), 1);
    assert_eq!(dog.pending_events()[0].topic(), "kennel:Dog.Created");

    let mut snapshot = dog.take_snapshot().unwrap();
    assert_eq!(snapshot.state["class_version"], json!(2));
    // A snapshot taken at version 1 of the aggregate is upcast when restored.
    snapshot.state.remove("class_version");
    snapshot.state.remove("age");
    let old = Dog::from_snapshot(snapshot).unwrap();
    assert_eq!(old.age, 0);
    assert_eq!(old.name, "Fido");
}
