//! Upcasting end to end, through applications over one SQLite file (digest §1.11, §2.6): a
//! program at version 1 of an aggregate stores events and snapshots; later versions of the
//! program (v2, v3) read them through new application objects over the same file, with the
//! upcast functions of the events (`#[event(version = N, upcast = [...])]`) and of the
//! aggregate's snapshots (`#[aggregate(version = N, upcast = [...])]`). All versions say
//! `#[aggregate(module = "dogs")]`, so that they share topics, as one type would over time.

use eventsourcing::application::{Application, ApplicationBuilder};
use eventsourcing::persistence::{EventQuery, StoredEvent};
use eventsourcing::prelude::*;
use eventsourcing_tests::TempDb;
use serde_json::{json, Map, Value};

/// Version 1: a dog has a name and tricks.
mod v1 {
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Dog {
        pub name: String,
        pub tricks: Vec<String>,
    }

    #[aggregate(module = "dogs")]
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
}

/// The upcast functions, v1 → v2 → v3, of the events' and of the aggregate's stored state.
mod upcast {
    use serde_json::{json, Map, Value};

    /// `Registered` v1 → v2: dogs now have a breed.
    pub fn registered_v1_v2(state: &mut Map<String, Value>) {
        state.insert("breed".into(), json!("unknown"));
    }

    /// `TrickAdded` v1 → v2: tricks now have a level.
    pub fn trick_added_v1_v2(state: &mut Map<String, Value>) {
        state.insert("level".into(), json!(1));
    }

    /// `TrickAdded` v2 → v3: and maybe a treat.
    pub fn trick_added_v2_v3(state: &mut Map<String, Value>) {
        state.insert("treat".into(), Value::Null);
    }

    /// The aggregate v1 → v2: a breed, and tricks as objects with a level.
    pub fn dog_v1_v2(state: &mut Map<String, Value>) {
        state.insert("breed".into(), json!("unknown"));
        let tricks = match state.remove("tricks") {
            Some(Value::Array(tricks)) => tricks,
            _ => Vec::new(),
        };
        let tricks: Vec<Value> = tricks
            .into_iter()
            .map(|name| json!({ "name": name, "level": 1 }))
            .collect();
        state.insert("tricks".into(), Value::Array(tricks));
    }

    /// The aggregate v2 → v3: treats and nicknames.
    pub fn dog_v2_v3(state: &mut Map<String, Value>) {
        state.insert("treats".into(), json!([]));
        state.insert("nicknames".into(), json!([]));
    }
}

/// A trick with a level (v2 on).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trick {
    pub name: String,
    pub level: u8,
}

/// Version 2: breeds, and tricks with levels. `Registered` and `TrickAdded` are at version 2,
/// and so is the aggregate.
mod v2 {
    use super::{upcast, Trick};
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Dog {
        pub name: String,
        pub breed: String,
        pub tricks: Vec<Trick>,
    }

    #[aggregate(module = "dogs", version = 2, upcast = [upcast::dog_v1_v2])]
    impl Dog {
        #[created("Registered", version = 2, upcast = [upcast::registered_v1_v2])]
        pub fn register(name: String, breed: String) -> Self {
            Dog {
                name,
                breed,
                tricks: Vec::new(),
            }
        }

        #[event("TrickAdded", version = 2, upcast = [upcast::trick_added_v1_v2])]
        pub fn add_trick(&mut self, trick: String, level: u8) {
            self.tricks.push(Trick { name: trick, level });
        }
    }
}

/// Version 3: treats and nicknames, and a new event. `TrickAdded` and the aggregate are at
/// version 3; `Registered` stays at version 2.
mod v3 {
    use super::{upcast, Trick};
    use eventsourcing::prelude::*;

    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Dog {
        pub name: String,
        pub breed: String,
        pub tricks: Vec<Trick>,
        pub treats: Vec<String>,
        pub nicknames: Vec<String>,
    }

    #[aggregate(
        module = "dogs",
        version = 3,
        upcast = [upcast::dog_v1_v2, upcast::dog_v2_v3]
    )]
    impl Dog {
        #[created("Registered", version = 2, upcast = [upcast::registered_v1_v2])]
        pub fn register(name: String, breed: String) -> Self {
            Dog {
                name,
                breed,
                tricks: Vec::new(),
                treats: Vec::new(),
                nicknames: Vec::new(),
            }
        }

        #[event(
            "TrickAdded",
            version = 3,
            upcast = [upcast::trick_added_v1_v2, upcast::trick_added_v2_v3]
        )]
        pub fn add_trick(&mut self, trick: String, level: u8, treat: Option<String>) {
            self.tricks.push(Trick { name: trick, level });
            self.treats.extend(treat);
        }

        #[event("Nicknamed")]
        pub fn nickname(&mut self, nickname: String) {
            self.nicknames.push(nickname);
        }
    }
}

fn builder(db: &TempDb) -> ApplicationBuilder {
    Application::builder("Dogs")
        .without_process_env()
        .sqlite(db.path())
}

fn stored_snapshots(app: &Application, id: Uuid) -> Vec<StoredEvent> {
    app.snapshots()
        .expect("snapshotting is enabled")
        .recorder()
        .select_events(id, &EventQuery::new())
        .unwrap()
}

fn stored_state(app: &Application, id: Uuid, version: u64) -> Map<String, Value> {
    let stored = app
        .recorder()
        .select_events(id, &EventQuery::new().gt(version - 1).lte(version))
        .unwrap();
    serde_json::from_slice(&stored[0].state).unwrap()
}

fn trick(name: &str, level: u8) -> Trick {
    Trick {
        name: name.to_string(),
        level,
    }
}

#[test]
fn events_and_snapshots_of_older_versions_load_in_newer_ones() {
    let db = TempDb::new("upcasting");

    // The program at version 1: Fido with two tricks (a snapshot at 2 automatically, and one
    // taken by hand at 3), then Rex with a trick, saved without snapshots.
    let (fido, rex) = {
        let app = builder(&db)
            .snapshotting_interval::<v1::Dog>(2)
            .build()
            .unwrap();
        let mut fido = v1::Dog::register("Fido".into());
        fido.add_trick("roll over".into());
        fido.add_trick("play dead".into());
        app.save(&mut fido).unwrap();
        app.take_snapshot::<v1::Dog>(fido.id(), Some(3)).unwrap();
        assert_eq!(stored_snapshots(&app, fido.id()).len(), 2);
        let mut rex = v1::Dog::register("Rex".into());
        rex.add_trick("sit".into());
        builder(&db).build().unwrap().save(&mut rex).unwrap();
        assert!(stored_snapshots(&app, rex.id()).is_empty());

        // Version 1 writes no class_version, in events or snapshots.
        assert!(!stored_state(&app, fido.id(), 1).contains_key("class_version"));
        let snapshot = app
            .mapper()
            .to_snapshot(&stored_snapshots(&app, fido.id())[0]);
        assert!(!snapshot.unwrap().state.contains_key("class_version"));
        (fido.id(), rex.id())
    };

    // The program at version 2, without snapshots: everything from the v1 events, upcast.
    {
        let app = builder(&db).build().unwrap();
        let dog: v2::Dog = app.repository().get(fido).unwrap();
        assert_eq!(dog.name, "Fido");
        assert_eq!(dog.breed, "unknown");
        assert_eq!(dog.tricks, [trick("roll over", 1), trick("play dead", 1)]);
        assert_eq!(dog.version(), 3);
        let rex_dog: v2::Dog = app.repository().get(rex).unwrap();
        assert_eq!(rex_dog.tricks, [trick("sit", 1)]);

        // The stored v1 events decode as v2 events, with the upcasts' defaults.
        let section = app.log().section("1,10").unwrap();
        let event: DomainEvent<v2::DogEvent> =
            app.mapper().to_domain_event(&section.items[0]).unwrap();
        assert_eq!(
            event.payload,
            v2::DogEvent::Registered {
                name: "Fido".into(),
                breed: "unknown".into()
            }
        );
        let event: DomainEvent<v2::DogEvent> =
            app.mapper().to_domain_event(&section.items[1]).unwrap();
        assert_eq!(
            event.payload,
            v2::DogEvent::TrickAdded {
                trick: "roll over".into(),
                level: 1
            }
        );
    }

    // The program at version 2, with snapshots: Fido from the v1 snapshots (upcast), plus
    // events; the same dog as from events alone. Then v2 writes.
    let buster_id = {
        let app = builder(&db)
            .snapshotting_interval::<v2::Dog>(2)
            .build()
            .unwrap();
        let from_snapshot: v2::Dog = app.repository().get(fido).unwrap();
        let from_events: v2::Dog = builder(&db)
            .build()
            .unwrap()
            .repository()
            .get(fido)
            .unwrap();
        assert_eq!(from_snapshot, from_events);
        let at_2: v2::Dog = app.repository().get_at(fido, 2).unwrap();
        assert_eq!(at_2.tricks, [trick("roll over", 1)]);
        let at_1: v2::Dog = app.repository().get_at(fido, 1).unwrap();
        assert!(at_1.tricks.is_empty());

        let mut dog = from_snapshot;
        dog.add_trick("fetch".into(), 3);
        app.save(&mut dog).unwrap();
        // The automatic snapshot at 4 is of version 2.
        let snapshots = stored_snapshots(&app, fido);
        assert_eq!(snapshots.len(), 3);
        let snapshot = app.mapper().to_snapshot(&snapshots[2]).unwrap();
        assert_eq!(snapshot.originator_version, 4);
        assert_eq!(snapshot.state["class_version"], json!(2));
        assert_eq!(snapshot.state["breed"], json!("unknown"));
        let state = stored_state(&app, fido, 4);
        assert_eq!(state["class_version"], json!(2));
        assert_eq!(state["level"], json!(3));

        let mut buster = v2::Dog::register("Buster".into(), "beagle".into());
        buster.add_trick("beg".into(), 2);
        app.save(&mut buster).unwrap();
        assert_eq!(
            stored_state(&app, buster.id(), 1)["class_version"],
            json!(2)
        );
        buster.id()
    };

    // The program at version 3: v1 and v2 snapshots and events, upcast to v3.
    let app = builder(&db).snapshotting(true).build().unwrap();
    // Latest: the v2 snapshot at 4, upcast v2 → v3.
    let dog: v3::Dog = app.repository().get(fido).unwrap();
    assert_eq!(dog.version(), 4);
    assert_eq!(
        dog.tricks,
        [
            trick("roll over", 1),
            trick("play dead", 1),
            trick("fetch", 3)
        ]
    );
    assert_eq!(dog.breed, "unknown");
    assert!(dog.nicknames.is_empty());
    assert!(dog.treats.is_empty());
    // At 3: the v1 snapshot at 3, upcast v1 → v2 → v3.
    let at_3: v3::Dog = app.repository().get_at(fido, 3).unwrap();
    assert_eq!(at_3.tricks, [trick("roll over", 1), trick("play dead", 1)]);
    assert!(at_3.nicknames.is_empty());
    // At 2 from the v1 snapshot at 2; the same as replaying v1 events with no snapshots.
    let at_2: v3::Dog = app.repository().get_at(fido, 2).unwrap();
    let replayed: v3::Dog = builder(&db)
        .build()
        .unwrap()
        .repository()
        .get_at(fido, 2)
        .unwrap();
    assert_eq!(at_2, replayed);
    // Rex from v1 events only; Buster from v2 events.
    let rex_dog: v3::Dog = app.repository().get(rex).unwrap();
    assert_eq!(rex_dog.tricks, [trick("sit", 1)]);
    let mut events = app
        .events()
        .get::<v3::DogEvent>(rex, &EventQuery::new())
        .unwrap();
    assert_eq!(
        events.pop().unwrap().payload,
        v3::DogEvent::TrickAdded {
            trick: "sit".into(),
            level: 1,
            treat: None
        }
    );
    let section = app.log().section("7,8").unwrap();
    assert_eq!(section.items[0].originator_id, buster_id);
    let buster: v3::Dog = app.repository().get(buster_id).unwrap();
    assert_eq!(buster.breed, "beagle");
    assert_eq!(buster.tricks, [trick("beg", 2)]);

    // v3 writes on top of it all, and a new application object reads it back.
    let mut dog = dog;
    dog.nickname("Fidolino".into());
    dog.add_trick("high five".into(), 2, Some("biscuit".into()));
    app.save(&mut dog).unwrap();
    app.take_snapshot::<v3::Dog>(fido, None).unwrap();
    let snapshot = app
        .mapper()
        .to_snapshot(stored_snapshots(&app, fido).last().unwrap())
        .unwrap();
    assert_eq!(snapshot.state["class_version"], json!(3));
    drop(app);
    let app = builder(&db).snapshotting(true).build().unwrap();
    let dog: v3::Dog = app.repository().get(fido).unwrap();
    assert_eq!(dog.version(), 6);
    assert_eq!(dog.nicknames, ["Fidolino"]);
    assert_eq!(dog.treats, ["biscuit"]);
    assert_eq!(dog.tricks.len(), 4);
}

/// An older program meets a newer program's data. A snapshot of a newer aggregate version is
/// not restored: the repository replays from the events instead. Events of a newer version are
/// read as a tolerant reader would, ignoring the fields the older version doesn't know (as the
/// reference does too): the older program sees its own view of the aggregate.
#[test]
fn older_versions_read_newer_data_from_events() {
    let db = TempDb::new("upcasting_newer");
    let app = builder(&db)
        .snapshotting_interval::<v2::Dog>(2)
        .build()
        .unwrap();
    let mut dog = v2::Dog::register("Fido".into(), "collie".into());
    dog.add_trick("roll over".into(), 3);
    app.save(&mut dog).unwrap();
    assert_eq!(stored_snapshots(&app, dog.id()).len(), 1);
    drop(app);

    let with_snapshots = builder(&db).snapshotting(true).build().unwrap();
    let old: v1::Dog = with_snapshots.repository().get(dog.id()).unwrap();
    assert_eq!(old.name, "Fido");
    assert_eq!(old.tricks, ["roll over"]);
    assert_eq!(old.version(), 2);
    let from_events: v1::Dog = builder(&db)
        .build()
        .unwrap()
        .repository()
        .get(dog.id())
        .unwrap();
    assert_eq!(old, from_events);
}
