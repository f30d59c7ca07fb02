//! An SQLite store survives reopening: events written, every handle dropped, and the file
//! reopened by another process reads back byte-identical events, notifications, snapshots and
//! tracking positions — and carries on where the first process stopped.
//!
//! The parent test writes, drops everything, then runs this test binary again
//! (`std::env::current_exe()`) with `--exact child_reopens_and_reads_back`, and the database
//! file, the cipher key and the expected aggregates in environment variables. The child opens
//! the file, checks what it can, prints every stored record as a JSON line prefixed with
//! `REOPENED `, and appends one event; the parent compares the lines with what it wrote and
//! reopens the file once more to see the child's event.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use eventsourcing::persistence::{
    AesCipher, AggregateRecorder, ApplicationRecorder, EventQuery, EventStore, Mapper,
    Notification, ProcessRecorder, StoredEvent, Tracking, ZlibCompressor,
};
use eventsourcing::prelude::*;
use eventsourcing::sqlite::{SqliteAggregateRecorder, SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_tests::world::{World, WorldEvent};
use eventsourcing_tests::TempDir;
use serde_json::{json, Value};

const DB_VAR: &str = "EVENTSOURCING_TESTS_REOPEN_DB";
const KEY_VAR: &str = "EVENTSOURCING_TESTS_REOPEN_KEY";
const WORLDS_VAR: &str = "EVENTSOURCING_TESTS_REOPEN_WORLDS";
const PREFIX: &str = "REOPENED ";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stored_json(kind: &str, id: Option<u64>, stored: &StoredEvent) -> Value {
    json!({
        "kind": kind,
        "id": id,
        "originator_id": stored.originator_id.to_string(),
        "originator_version": stored.originator_version,
        "topic": stored.topic,
        "state": hex(&stored.state),
    })
}

fn notification_json(n: &Notification) -> Value {
    stored_json("notification", Some(n.id), &n.stored)
}

fn mapper(key: &str) -> Arc<Mapper> {
    Arc::new(
        Mapper::default()
            .with_compressor(ZlibCompressor::default())
            .with_cipher(AesCipher::new(key).expect("cipher key")),
    )
}

/// The recorders of the database file: events (with tracking) and snapshots.
fn open(path: &str) -> (Arc<SqliteApplicationRecorder>, Arc<SqliteAggregateRecorder>) {
    let datastore = Arc::new(SqliteDatastore::open(path).expect("open the database file"));
    let events =
        Arc::new(SqliteApplicationRecorder::new(Arc::clone(&datastore)).expect("events table"));
    let snapshots = Arc::new(
        SqliteAggregateRecorder::new(datastore, "stored_snapshots").expect("snapshots table"),
    );
    (events, snapshots)
}

/// Every record of the database, as the JSON lines the child prints.
fn dump(
    events: &SqliteApplicationRecorder,
    snapshots: &SqliteAggregateRecorder,
    worlds: &[Uuid],
) -> Vec<Value> {
    let mut lines: Vec<Value> = events
        .select_notifications(1, usize::MAX)
        .unwrap()
        .iter()
        .map(notification_json)
        .collect();
    for id in worlds {
        for stored in events.select_events(*id, &EventQuery::new()).unwrap() {
            lines.push(stored_json("event", None, &stored));
        }
        for stored in snapshots.select_events(*id, &EventQuery::new()).unwrap() {
            lines.push(stored_json("snapshot", None, &stored));
        }
    }
    lines.push(json!({
        "kind": "tracking",
        "upstream": events.max_tracking_id("upstream").unwrap(),
        "max_notification_id": events.max_notification_id().unwrap(),
    }));
    lines
}

#[test]
fn sqlite_store_survives_reopening_in_another_process() {
    let dir = TempDir::new("reopen");
    let path = dir.unique_file("db").to_string_lossy().into_owned();
    let key = AesCipher::create_key(32).unwrap();

    // Write: three worlds' events in several transactions (one of them with a tracking
    // record), a snapshot, and a failed conflicting insert.
    let (worlds, written) = {
        let (events, snapshots) = open(&path);
        let store = EventStore::new(mapper(&key), events.clone() as Arc<dyn AggregateRecorder>);
        let mut worlds = Vec::new();
        for (i, name) in ["earth", "mars", "venus"].into_iter().enumerate() {
            let mut world = World::create();
            world.make_it_so(format!("{name} formed"));
            world.make_it_so(format!("life on {name}: {}", "?".repeat(i * 100)));
            let new = world.collect_events();
            if i == 1 {
                let stored: Vec<StoredEvent> = new
                    .iter()
                    .map(|e| store.mapper().from_domain_event(e).unwrap())
                    .collect();
                events
                    .insert_events_with_tracking(&stored, &[Tracking::new("upstream", 7)])
                    .unwrap();
            } else {
                store.put(&new).unwrap();
            }
            worlds.push(world);
        }
        worlds[0].make_it_so("dinosaurs".into());
        let latest = worlds[0].collect_events();
        store.put(&latest).unwrap();
        let conflict = store.put(&latest).unwrap_err();
        assert!(conflict.is_integrity());
        let snapshot = Snapshot::take(&worlds[0]).unwrap();
        snapshots
            .insert_events(&[store.mapper().from_snapshot(&snapshot).unwrap()])
            .unwrap();

        let ids: Vec<Uuid> = worlds.iter().map(|w| w.id()).collect();
        let written = dump(&events, &snapshots, &ids);
        assert_eq!(events.max_notification_id().unwrap(), 10);
        (worlds, written)
        // Every handle (store, recorders, datastore and its connections) is dropped here.
    };
    let wal = format!("{path}-wal");
    assert!(
        !std::path::Path::new(&wal).exists(),
        "the last connection to close removes the WAL file: a handle is still open"
    );

    // Reopen in another process: this test binary, running only the child test.
    let world_ids: Vec<String> = worlds
        .iter()
        .map(|w| format!("{}:{}", w.id(), w.version()))
        .collect();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reopens_and_reads_back",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VAR, &path)
        .env(KEY_VAR, &key)
        .env(WORLDS_VAR, world_ids.join(","))
        .output()
        .expect("run the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run:\n{stdout}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        // libtest may print "test child_... ... " on the line before the first of ours.
        .filter_map(|line| line.find(PREFIX).map(|at| &line[at + PREFIX.len()..]))
        .map(|line| serde_json::from_str(line).expect("a JSON line from the child"))
        .collect();
    let (header, read) = lines.split_first().expect("the child printed nothing");
    let child_pid = header["pid"].as_u64().expect("the child's pid comes first");
    assert_ne!(
        child_pid,
        u64::from(std::process::id()),
        "the child is another process"
    );
    assert_eq!(
        read, written,
        "the reopened file must hold exactly what was written, byte for byte"
    );

    // The child carried on: its event got the next notification id, and this process sees it.
    let (events, snapshots) = open(&path);
    assert_eq!(events.max_notification_id().unwrap(), 11);
    let store = EventStore::new(mapper(&key), events.clone() as Arc<dyn AggregateRecorder>);
    let earth = World::from_events(
        store
            .get::<WorldEvent>(worlds[0].id(), &EventQuery::new())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(earth.version(), worlds[0].version() + 1);
    assert_eq!(earth.history().last().unwrap(), "written by the child");
    assert_eq!(events.max_tracking_id("upstream").unwrap(), 8);
    drop((events, snapshots, store));
}

/// The child half of the test above: does nothing unless the parent set the environment.
#[test]
fn child_reopens_and_reads_back() {
    let Ok(path) = std::env::var(DB_VAR) else {
        return;
    };
    let key = std::env::var(KEY_VAR).expect("the cipher key");
    let expected: BTreeMap<Uuid, u64> = std::env::var(WORLDS_VAR)
        .expect("the worlds")
        .split(',')
        .map(|w| {
            let (id, version) = w.split_once(':').unwrap();
            (id.parse().unwrap(), version.parse().unwrap())
        })
        .collect();
    let worlds: Vec<Uuid> = expected.keys().copied().collect();
    assert!(std::path::Path::new(&path).exists());

    let (events, snapshots) = open(&path);
    println!("{PREFIX}{}", json!({ "pid": std::process::id() }));
    for line in dump(
        &events,
        &snapshots,
        &worlds_in_written_order(&events, &worlds),
    ) {
        println!("{PREFIX}{line}");
    }

    // The events decode and rebuild each world at its version; the snapshot restores too.
    let store = EventStore::new(mapper(&key), events.clone() as Arc<dyn AggregateRecorder>);
    for (id, version) in &expected {
        let world =
            World::from_events(store.get::<WorldEvent>(*id, &EventQuery::new()).unwrap()).unwrap();
        assert_eq!(world.version(), *version);
        assert!(world.history()[0].ends_with("formed"));
    }
    let earth_id = worlds_in_written_order(&events, &worlds)[0];
    let stored = snapshots
        .select_events(earth_id, &EventQuery::new().desc().limit(1))
        .unwrap();
    let snapshot = store.mapper().to_snapshot(&stored[0]).unwrap();
    let earth: World = snapshot.restore().unwrap();
    assert_eq!(earth.history().last().unwrap(), "dinosaurs");

    // Carry on: a conflict with an event written by the other process is still an integrity
    // error; a new event and tracking record are written after the old ones.
    let mut earth = World::from_events(
        store
            .get::<WorldEvent>(earth_id, &EventQuery::new())
            .unwrap(),
    )
    .unwrap();
    let mut stale = earth.clone();
    earth.make_it_so("written by the child".into());
    let new = earth.collect_events();
    stale.make_it_so("a stale write".into());
    let mut stale_events = stale.collect_events();
    stale_events[0].originator_version -= 1;
    assert!(store.put(&stale_events).unwrap_err().is_integrity());
    let stored: Vec<StoredEvent> = new
        .iter()
        .map(|e| store.mapper().from_domain_event(e).unwrap())
        .collect();
    assert!(events
        .insert_events_with_tracking(&stored, &[Tracking::new("upstream", 7)])
        .unwrap_err()
        .is_integrity());
    events
        .insert_events_with_tracking(&stored, &[Tracking::new("upstream", 8)])
        .unwrap();
}

/// The worlds in the order their first events were written (the order the parent dumps them).
fn worlds_in_written_order(events: &SqliteApplicationRecorder, worlds: &[Uuid]) -> Vec<Uuid> {
    let mut order = Vec::new();
    for n in events.select_notifications(1, usize::MAX).unwrap() {
        if worlds.contains(&n.originator_id) && !order.contains(&n.originator_id) {
            order.push(n.originator_id);
        }
    }
    order
}
