// Derives written below #[aggregate] see the metadata field: Clone copies it, PartialEq
// compares it, Debug shows it.
use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq)]
#[derive(Serialize, Deserialize)]
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
    pub fn renamed(&mut self, name: String) {
        self.name = name;
    }
}

fn main() {
    let mut dog = Dog::register("Fido".into());
    let copy = dog.clone();
    assert_eq!(copy.version(), 1);
    assert_eq!(copy, dog);
    dog.renamed("Fido".into());
    assert_ne!(copy, dog, "same fields, different version");
    assert!(dog.take_snapshot().is_ok());
}
