use eventsourcing::prelude::*;

#[aggregate]
#[derive(Serialize, Deserialize)]
pub struct Dog {
    class_version: u32,
    _created_on: String,
    #[serde(rename = "_modified_on")]
    changed: String,
    #[serde(rename = "version_of_class")]
    class_version_kept: u32,
}

#[aggregate]
impl Dog {
    #[created]
    pub fn register() -> Self {
        Dog {
            class_version: 1,
            _created_on: String::new(),
            changed: String::new(),
            class_version_kept: 1,
        }
    }
}

fn main() {}
