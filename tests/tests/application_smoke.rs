use eventsourcing::application::Application;
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
}

fn _assert_send_sync<T: Send + Sync>() {}
#[test]
fn app_is_send_sync() {
    _assert_send_sync::<Application>();
}

#[test]
fn app_flow() {
    for builder in [
        Application::builder("Dogs").without_process_env().memory(),
        Application::builder("Dogs")
            .without_process_env()
            .sqlite(":memory:"),
    ] {
        let app = builder.snapshotting_interval::<Dog>(2).build().unwrap();
        let mut dog = Dog::register("Fido".into());
        dog.add_trick("roll".into());
        dog.add_trick("sit".into());
        app.save(&mut dog).unwrap();
        assert!(dog.pending_events().is_empty());
        let copy: Dog = app.repository().get(dog.id()).unwrap();
        assert_eq!(copy, dog);
        let v2: Dog = app.repository().get_at(dog.id(), 2).unwrap();
        assert_eq!(v2.version(), 2);
        let section = app.log().section("1,10").unwrap();
        assert_eq!(section.id.as_deref(), Some("1,3"));
        let e: DomainEvent<DogEvent> = app.mapper().to_domain_event(&section.items[1]).unwrap();
        assert_eq!(e.name(), "TrickAdded");
        let snaps = app
            .snapshots()
            .unwrap()
            .recorder()
            .select_events(dog.id(), &Default::default())
            .unwrap();
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].originator_version, 2);
    }
}
