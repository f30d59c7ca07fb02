// `crate = "..."`: the macros used through a crate that re-exports eventsourcing.
mod framework {
    pub use eventsourcing as es;
}

use framework::es::prelude::*;

#[aggregate(crate = "crate::framework::es")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
}

#[aggregate(crate = "crate::framework::es")]
impl Dog {
    #[created]
    pub fn register(name: String) -> Self {
        Dog { name }
    }
}

fn main() {
    let dog = Dog::register("Fido".into());
    assert_eq!(dog.version(), 1);
    assert!(dog.take_snapshot().is_ok());
}
