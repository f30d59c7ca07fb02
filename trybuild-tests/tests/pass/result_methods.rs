// Event methods returning Result<(), E> and a created constructor returning Result<Self, E>:
// on Err nothing is recorded.
use eventsourcing::prelude::*;

#[derive(Debug)]
pub struct TooManyTricks;

impl std::fmt::Display for TooManyTricks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many tricks")
    }
}

impl std::error::Error for TooManyTricks {}

/// Aliases of `Result` under other names are checked by the type system.
type DogResult<T> = std::result::Result<T, String>;
type Registration = Result<Dog, String>;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    tricks: Vec<String>,
}

#[aggregate]
impl Dog {
    #[created("Registered")]
    pub fn register(name: String) -> Registration {
        if name.is_empty() {
            return Err("a dog needs a name".into());
        }
        Ok(Dog { name, tricks: Vec::new() })
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) -> Result<(), TooManyTricks> {
        if self.tricks.len() == 2 {
            return Err(TooManyTricks);
        }
        self.tricks.push(trick);
        Ok(())
    }

    #[event("Renamed")]
    pub fn rename(&mut self, name: String) -> std::io::Result<()> {
        self.name = name;
        Ok(())
    }

    #[event("Forgotten")]
    pub fn forget(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.tricks.pop().map(drop).ok_or_else(|| "no trick to forget".into())
    }

    #[event]
    pub fn checked(&mut self) -> DogResult<()> {
        Ok(())
    }
}

fn main() {
    assert!(Dog::register(String::new()).is_err());

    let mut dog = Dog::register("Fido".into()).unwrap();
    dog.add_trick("sit".into()).unwrap();
    dog.add_trick("roll over".into()).unwrap();
    assert!(dog.add_trick("play dead".into()).is_err());
    assert_eq!(dog.version(), 3);
    dog.rename("Rex".into()).unwrap();
    dog.forget().unwrap();
    dog.forget().unwrap();
    assert!(dog.forget().is_err());
    dog.checked().unwrap();
    assert_eq!(dog.version(), 7);

    let events = dog.collect_events();
    assert_eq!(events.len(), 7);
    assert_eq!(Dog::from_events(events).unwrap(), dog);
}
