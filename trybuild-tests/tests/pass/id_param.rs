// A created constructor that takes the new aggregate's id as its `id` argument.
use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    owner: String,
    opened_by: Uuid,
}

#[aggregate]
impl Account {
    #[created("Opened")]
    pub fn open(id: Uuid, owner: String) -> Self {
        Account { owner, opened_by: id }
    }

    // With an `id` argument, `create_id` is not used.
    fn create_id(owner: &str) -> Uuid {
        eventsourcing::domain::url_id(owner)
    }
}

fn main() {
    let id = Uuid::new_v4();
    let mut account = Account::open(id, "Alice".into());
    assert_eq!(account.id(), id);
    assert_eq!(account.opened_by, id);

    let events = account.collect_events();
    // The id is the event's originator id, not one of its fields.
    assert!(matches!(&events[0].payload, AccountEvent::Opened { owner } if owner == "Alice"));
    let copy = Account::from_events(events).unwrap();
    assert_eq!(copy.id(), id);
    assert_eq!(copy.opened_by, id);
}
