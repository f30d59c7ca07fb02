//! Snapshots of the World aggregate (digest §1.14 C and §1.10): what a snapshot holds, and
//! rebuilding from a snapshot alone or from a snapshot plus the events after it.

use eventsourcing::prelude::*;
use serde_json::json;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct World {
    history: Vec<String>,
}

#[aggregate]
impl World {
    #[created]
    pub fn create() -> Self {
        World {
            history: Vec::new(),
        }
    }

    #[event("SomethingHappened")]
    pub fn make_it_so(&mut self, what: String) {
        self.history.push(what);
    }
}

fn world() -> World {
    let mut world = World::create();
    world.make_it_so("dinosaurs".to_string());
    world.make_it_so("trucks".to_string());
    world.make_it_so("internet".to_string());
    world
}

#[test]
fn snapshot_of_world() {
    let world = world();
    let snapshot = Snapshot::take(&world).unwrap();
    assert_eq!(snapshot.originator_id, world.id());
    assert_eq!(snapshot.originator_version, world.version());
    assert_eq!(snapshot.originator_version, 4);
    assert_eq!(snapshot.topic, "domain_snapshots:World");
    assert_eq!(snapshot.state["history"], json!(world.history));
    assert_eq!(
        snapshot.state["history"],
        json!(["dinosaurs", "trucks", "internet"])
    );
    // The timestamps as the reference's snapshots hold them.
    let datetime = |t: DateTime<Utc>| json!({"_type_": "datetime_iso", "_data_": t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()});
    assert_eq!(snapshot.state["_created_on"], datetime(world.created_on()));
    assert_eq!(
        snapshot.state["_modified_on"],
        datetime(world.modified_on())
    );
    assert_eq!(snapshot.state.len(), 3);
    // The snapshot's own timestamp is when it was taken, after the last event.
    assert!(snapshot.timestamp >= world.modified_on());

    // copy = snapshot.mutate(None)
    let copy = World::from_snapshot(snapshot.clone()).unwrap();
    assert_eq!(copy.id(), world.id());
    assert_eq!(copy.version(), world.version());
    assert_eq!(copy.created_on(), world.created_on());
    assert_eq!(copy.modified_on(), world.modified_on());
    assert_eq!(copy.history, world.history);
    // Restored aggregates have no pending events (Python sets `_pending_events = []`).
    assert!(copy.pending_events().is_empty());
    assert_eq!(world.pending_events().len(), 4);

    // `take_snapshot` / `Snapshot::restore` are the same operations as methods.
    let again = world.take_snapshot().unwrap();
    assert_eq!(again.state, snapshot.state);
    let restored: World = snapshot.restore().unwrap();
    assert_eq!(restored, copy);
}

#[test]
fn snapshot_state_survives_json_storage() {
    let mut world = world();
    world.collect_events();
    let snapshot = world.take_snapshot().unwrap();
    let stored = serde_json::to_vec(&snapshot.state).unwrap();
    let loaded = Snapshot {
        state: serde_json::from_slice(&stored).unwrap(),
        ..snapshot
    };
    let copy = World::from_snapshot(loaded).unwrap();
    assert_eq!(copy, world);
}

#[test]
fn snapshot_then_subsequent_events() {
    let mut world = world();
    let mut events = world.collect_events();
    let snapshot = world.take_snapshot().unwrap();
    world.make_it_so("robots".to_string());
    world.make_it_so("space".to_string());
    events.extend(world.collect_events());
    assert_eq!(events.len(), 6);

    // A snapshot folds like an event: snapshot first, then the events after its version.
    let mut copy = World::from_snapshot(snapshot.clone()).unwrap();
    for event in events
        .iter()
        .filter(|e| e.originator_version > snapshot.originator_version)
    {
        copy.apply_event(event.clone()).unwrap();
    }
    assert_eq!(copy.version(), 6);
    assert_eq!(
        copy.history,
        ["dinosaurs", "trucks", "internet", "robots", "space"]
    );
    assert_eq!(copy.modified_on(), world.modified_on());
    assert_eq!(copy.created_on(), world.created_on());
    assert_eq!(copy, world);

    // The same result as replaying every event.
    let replayed = World::from_events(events).unwrap();
    assert_eq!(replayed, copy);
}

#[test]
fn snapshot_at_an_earlier_version_is_that_version() {
    let mut world = World::create();
    world.make_it_so("dinosaurs".to_string());
    let early = world.take_snapshot().unwrap();
    let early_modified_on = world.modified_on();
    world.make_it_so("trucks".to_string());

    let copy = World::from_snapshot(early).unwrap();
    assert_eq!(copy.version(), 2);
    assert_eq!(copy.history, ["dinosaurs"]);
    assert_eq!(copy.modified_on(), early_modified_on);
    assert!(copy.modified_on() < world.modified_on());
}
