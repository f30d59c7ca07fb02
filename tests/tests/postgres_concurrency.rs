//! Concurrency across processes on PostgreSQL: two OS processes, each with several threads,
//! save to the same application (same name, same schema) at once. Each thread saves aggregates
//! of its own, and all of them race to append the next version of a few shared aggregates
//! (reloading and trying again when another writer got there first). Meanwhile this process
//! tails the notification log.
//!
//! Then: every event a writer reported as saved is in the table exactly once, and nothing else
//! is; each version of a shared aggregate has one winner, whose event is the one stored; the
//! tailing reader saw ids strictly increasing and, once the writers were done, had seen every
//! id in the table (none skipped, though writers committed concurrently); and each aggregate's
//! notification ids increase with its versions.
//!
//! The test spawns its own test binary twice as the writer processes: the test
//! `writer_child_process` does nothing unless the environment variable [`SCHEMA_ENV`] names the
//! schema. Skipped, with a message, when no server answers (outside CI).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventsourcing::prelude::*;
use eventsourcing_tests::pg::{self, TempSchema};
use eventsourcing_tests::world::World;
use serde_json::{json, Value};

/// The schema, in a writer process.
const SCHEMA_ENV: &str = "ES_PG_CONCURRENCY_SCHEMA";
/// The writer's number, in a writer process.
const CHILD_ENV: &str = "ES_PG_CONCURRENCY_CHILD";
/// The shared aggregates' ids, comma-separated, in a writer process.
const SHARED_ENV: &str = "ES_PG_CONCURRENCY_SHARED";
/// What a writer prints before each line of JSON it reports.
const REPORT: &str = "ES-PG-REPORT ";

const PROCESSES: usize = 2;
const THREADS: usize = 4;
/// Saves of its own aggregates, per thread.
const OWN_SAVES: usize = 25;
/// Appends to shared aggregates won, per thread.
const RACES: usize = 12;
const SHARED: usize = 3;

fn racers(schema: &str) -> Application {
    Application::builder("Racers")
        .without_process_env()
        .envs(pg::schema_env(schema))
        .build()
        .unwrap()
}

fn report(line: Value) {
    println!("{REPORT}{line}");
}

/// A writer process: threads saving their own aggregates and racing on the shared ones.
#[test]
fn writer_child_process() {
    let Ok(schema) = std::env::var(SCHEMA_ENV) else {
        return; // only a writer process when the parent test runs it
    };
    let child: usize = std::env::var(CHILD_ENV).unwrap().parse().unwrap();
    let shared: Vec<Uuid> = std::env::var(SHARED_ENV)
        .unwrap()
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect();
    let app = racers(&schema);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (app, shared) = (&app, &shared);
            scope.spawn(move || {
                let mut losses = 0u64;
                for round in 0..OWN_SAVES.max(RACES) {
                    if round < OWN_SAVES {
                        // One or two aggregates of 1 to 3 events, in one save.
                        let mut batch: Vec<World> = (0..1 + (round + thread) % 2)
                            .map(|i| {
                                let mut world = World::create();
                                for n in 1..1 + (round + i) % 3 {
                                    world.make_it_so(format!("own {n}"));
                                }
                                world
                            })
                            .collect();
                        let versions: Vec<(Uuid, u64)> =
                            batch.iter().map(|w| (w.id(), w.version())).collect();
                        app.save(&mut batch).unwrap();
                        for (id, last) in versions {
                            for version in 1..=last {
                                report(json!({"own": id.to_string(), "version": version}));
                            }
                        }
                    }
                    if round < RACES {
                        let id = shared[(child + thread + round) % shared.len()];
                        let what = format!("process {child} thread {thread} round {round}");
                        loop {
                            let mut world: World = app.repository().get(id).unwrap();
                            world.make_it_so(what.clone());
                            match app.save(&mut world) {
                                Ok(()) => {
                                    report(json!({
                                        "won": id.to_string(),
                                        "version": world.version(),
                                        "what": what,
                                    }));
                                    break;
                                }
                                Err(e) if e.is_integrity() => losses += 1,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                }
                report(json!({ "losses": losses }));
            });
        }
    });
    report(json!({ "done": child }));
}

#[test]
fn two_processes_with_several_threads_each_save_to_one_application() {
    if std::env::var_os(SCHEMA_ENV).is_some() {
        return;
    }
    let Some(schema) = TempSchema::new("concurrency") else {
        return;
    };
    let started = Instant::now();
    let app = racers(schema.name());
    let mut shared: Vec<World> = (0..SHARED).map(|_| World::create()).collect();
    app.save(&mut shared).unwrap();
    let shared_ids: Vec<Uuid> = shared.iter().map(|w| w.id()).collect();

    let writers_done = AtomicBool::new(false);
    let (outputs, (tailed, tailed_during)) = std::thread::scope(|scope| {
        // The tailing reader: from the last id it saw, until the writers are done and nothing
        // more is there.
        let tailer = scope.spawn(|| {
            let mut seen: Vec<u64> = Vec::new();
            let mut during = 0;
            let mut last = 0;
            loop {
                let done = writers_done.load(Ordering::SeqCst);
                if !done {
                    during = seen.len();
                }
                let page = app.recorder().select_notifications(last + 1, 20).unwrap();
                for notification in &page {
                    assert!(
                        notification.id > last,
                        "notification {} after {last}",
                        notification.id
                    );
                    last = notification.id;
                    seen.push(last);
                }
                if page.is_empty() {
                    if done {
                        return (seen, during);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let children: Vec<_> = (0..PROCESSES)
            .map(|child| {
                Command::new(std::env::current_exe().unwrap())
                    .args([
                        "writer_child_process",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(SCHEMA_ENV, schema.name())
                    .env(CHILD_ENV, child.to_string())
                    .env(
                        SHARED_ENV,
                        shared_ids
                            .iter()
                            .map(Uuid::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    )
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<String> = children
            .into_iter()
            .map(|mut child| {
                scope.spawn(move || {
                    let mut stdout = String::new();
                    child
                        .stdout
                        .take()
                        .unwrap()
                        .read_to_string(&mut stdout)
                        .unwrap();
                    let output = child.wait_with_output().unwrap();
                    assert!(
                        output.status.success(),
                        "a writer process failed: {}\n{stdout}\n{}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                    );
                    stdout
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|reader| reader.join().unwrap())
            .collect();
        writers_done.store(true, Ordering::SeqCst);
        (outputs, tailer.join().unwrap())
    });

    // What the writers reported.
    let mut reported: BTreeMap<(Uuid, u64), usize> = BTreeMap::new();
    let mut wins: BTreeMap<(Uuid, u64), String> = BTreeMap::new();
    let (mut losses, mut done) = (0, 0);
    for world in &shared {
        reported.insert((world.id(), 1), 1);
    }
    for line in outputs.iter().flat_map(|o| o.lines()) {
        // The test harness may have started the line ("test writer_child_process ... ").
        let Some((_, json)) = line.split_once(REPORT) else {
            continue;
        };
        let value: Value = serde_json::from_str(json).unwrap();
        let id_version = |key: &str| {
            value[key].as_str().map(|id| {
                (
                    id.parse::<Uuid>().unwrap(),
                    value["version"].as_u64().unwrap(),
                )
            })
        };
        if let Some(key) = id_version("own") {
            *reported.entry(key).or_default() += 1;
        } else if let Some(key) = id_version("won") {
            *reported.entry(key).or_default() += 1;
            let what = value["what"].as_str().unwrap().to_string();
            assert!(
                wins.insert(key, what).is_none(),
                "two winners of version {} of {}",
                key.1,
                key.0
            );
        } else if let Some(n) = value["losses"].as_u64() {
            losses += n;
        } else if value["done"].is_u64() {
            done += 1;
        }
    }
    assert_eq!(done, PROCESSES);
    assert_eq!(wins.len(), PROCESSES * THREADS * RACES);
    assert!(
        reported.values().all(|&n| n == 1),
        "an event reported twice"
    );

    // What the table holds: every reported event, once, and nothing else.
    let mut admin = pg::connect().unwrap();
    let rows = admin
        .query(
            &format!(
                "SELECT originator_id, originator_version, notification_id FROM {}.racers_events",
                schema.name()
            ),
            &[],
        )
        .unwrap();
    let mut stored: BTreeMap<(Uuid, u64), u64> = BTreeMap::new();
    for row in &rows {
        let id: Uuid = row.get(0);
        let version: i64 = row.get(1);
        let notification_id: i64 = row.get(2);
        assert!(
            stored
                .insert((id, version as u64), notification_id as u64)
                .is_none(),
            "{id} version {version} is stored twice"
        );
    }
    let reported_keys: BTreeSet<_> = reported.keys().copied().collect();
    let stored_keys: BTreeSet<_> = stored.keys().copied().collect();
    assert_eq!(
        reported_keys.difference(&stored_keys).collect::<Vec<_>>(),
        Vec::<&(Uuid, u64)>::new(),
        "reported as saved, but missing"
    );
    assert_eq!(
        stored_keys.difference(&reported_keys).collect::<Vec<_>>(),
        Vec::<&(Uuid, u64)>::new(),
        "stored, but not reported as saved"
    );

    // Each shared aggregate: versions 1..=N, one win for each after the first, and the stored
    // event of each version is the winner's.
    let mut wins_per_aggregate: HashMap<Uuid, usize> = HashMap::new();
    for (id, _) in wins.keys() {
        *wins_per_aggregate.entry(*id).or_default() += 1;
    }
    for id in &shared_ids {
        let versions: Vec<u64> = stored.keys().filter(|k| k.0 == *id).map(|k| k.1).collect();
        let n = wins_per_aggregate.get(id).copied().unwrap_or(0);
        assert_eq!(versions, (1..=n as u64 + 1).collect::<Vec<_>>());
        let world: World = app.repository().get(*id).unwrap();
        let winners: Vec<&str> = wins
            .range((*id, 0)..=(*id, u64::MAX))
            .map(|(_, what)| what.as_str())
            .collect();
        assert_eq!(world.history(), winners);
    }

    // The tailing reader missed nothing, and each aggregate's ids increase with its versions.
    let tailed_set: BTreeSet<u64> = tailed.iter().copied().collect();
    let stored_ids: BTreeSet<u64> = stored.values().copied().collect();
    assert_eq!(tailed_set.len(), tailed.len());
    let skipped: Vec<u64> = stored_ids.difference(&tailed_set).copied().collect();
    assert!(skipped.is_empty(), "the tailing reader skipped {skipped:?}");
    assert_eq!(tailed_set, stored_ids);
    let mut previous: Option<((Uuid, u64), u64)> = None;
    for (&(id, version), &notification_id) in &stored {
        if let Some(((previous_id, _), previous_notification)) = previous {
            if previous_id == id {
                assert!(
                    notification_id > previous_notification,
                    "{id}: version {version} has notification id {notification_id}, \
                     not after {previous_notification}"
                );
            }
        }
        previous = Some(((id, version), notification_id));
    }
    eprintln!(
        "{} events from {PROCESSES} processes of {THREADS} threads, {} races won and {losses} \
         lost, {} notifications tailed ({tailed_during} while the writers ran), in {:?}",
        stored.len(),
        wins.len(),
        tailed.len(),
        started.elapsed()
    );
    assert!(
        tailed_during > 0,
        "the reader saw nothing while the writers ran"
    );
    assert!(
        losses > 0,
        "no writer ever lost a race: the shared aggregates were not contended"
    );
}
