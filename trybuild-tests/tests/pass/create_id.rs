// An aggregate that derives its id from its creation arguments with `create_id`.
use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    name: String,
    body: String,
}

#[aggregate]
impl Page {
    #[created]
    pub fn create(name: String, body: String) -> Self {
        Page { name, body }
    }

    fn create_id(name: &str) -> Uuid {
        eventsourcing::domain::url_id(&format!("/pages/{name}"))
    }
}

fn main() {
    let page = Page::create("Erth".into(), "a planet".into());
    assert_eq!(page.id(), eventsourcing::domain::url_id("/pages/Erth"));
    assert_eq!(Page::create("Erth".into(), String::new()).id(), page.id());
}
