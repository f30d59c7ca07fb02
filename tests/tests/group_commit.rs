//! Group commit (issue 14): concurrent saves to one application recorder share transactions,
//! on an SQLite file and on PostgreSQL, and nothing of the recorder's promises changes.
//!
//! 16 threads save to aggregates of their own, and 16 contend for the same aggregates (each
//! round, every contending thread tries to store the same two versions of one shared
//! aggregate, after an event of a new aggregate of its own), so conflicts are mixed into the
//! groups. Then: every save reported as stored is stored whole; every conflicting one was
//! reported to its own caller as a conflict, and nothing of it is stored (not even its own
//! aggregate's event); exactly one contender per round won; each save's events are
//! consecutive in the log; notification ids are gap-free (SQLite) or increasing (PostgreSQL)
//! in commit order; a reader tailing the log while the writers run skipped nothing; and
//! there were fewer transactions than stored saves (SQLite: the datastore's count of commits;
//! PostgreSQL: the distinct `xmin` of the rows).
//!
//! A crash test: a child process saving from 16 threads on an SQLite file, each printing a
//! save's id once it was told the save succeeded, is killed (SIGKILL) during its group
//! commits; every save it reported is stored whole, and none is stored in part.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, EventQuery, Notification, PersistenceError, StoredEvent,
};
use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore};
use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_tests::pg::{self, TempSchema};
use eventsourcing_tests::TempDb;
use uuid::Uuid;

const DISTINCT_WRITERS: usize = 16;
const CONTENDING_WRITERS: usize = 16;
const SAVES_PER_WRITER: u64 = 25;
const SHARED_AGGREGATES: u64 = 4;

fn event(id: Uuid, version: u64) -> StoredEvent {
    StoredEvent {
        originator_id: id,
        originator_version: version,
        topic: "group_commit:Event".into(),
        state: format!("{{\"id\":\"{id}\",\"v\":{version}}}").into_bytes(),
    }
}

/// What one save tried, and what its caller was told.
struct Attempt {
    events: Vec<StoredEvent>,
    /// For a contender: the round, and the shared aggregate's first version it tried.
    contended: Option<(u64, Uuid, u64)>,
    outcome: Result<(), PersistenceError>,
}

/// The figures `exercise` saw.
struct Observed {
    stored_saves: usize,
    notifications: Vec<Notification>,
}

/// Runs the 32 writers and the tailing reader on `recorder`, checks what every save was told
/// against what is stored, and gives what it found.
fn exercise(recorder: Arc<dyn ApplicationRecorder>, gap_free: bool) -> Observed {
    let shared: Vec<Uuid> = (0..SHARED_AGGREGATES).map(|_| Uuid::new_v4()).collect();
    let writing = Arc::new(AtomicBool::new(true));
    let start = Arc::new(Barrier::new(DISTINCT_WRITERS + CONTENDING_WRITERS));

    // The tailing reader: from its last id, in pages, while the writers run, then once more.
    let reader = {
        let recorder = Arc::clone(&recorder);
        let writing = Arc::clone(&writing);
        std::thread::spawn(move || {
            let mut seen: Vec<u64> = Vec::new();
            let mut last = 0;
            loop {
                let done = !writing.load(Ordering::SeqCst);
                loop {
                    let page = recorder.select_notifications(last + 1, 37).unwrap();
                    for n in &page {
                        assert!(n.id > last, "the reader went back: {} after {last}", n.id);
                        if gap_free {
                            assert_eq!(n.id, last + 1, "the reader saw a gap after {last}");
                        }
                        last = n.id;
                        seen.push(n.id);
                    }
                    if page.len() < 37 {
                        break;
                    }
                }
                if done {
                    return seen;
                }
                std::thread::yield_now();
            }
        })
    };

    let mut writers = Vec::new();
    for w in 0..DISTINCT_WRITERS {
        let recorder = Arc::clone(&recorder);
        let start = Arc::clone(&start);
        writers.push(std::thread::spawn(move || {
            start.wait();
            (0..SAVES_PER_WRITER)
                .map(|i| {
                    let id = Uuid::new_v4();
                    let events: Vec<StoredEvent> =
                        (1..=1 + (i + w as u64) % 3).map(|v| event(id, v)).collect();
                    let outcome = recorder.insert_owned(events.clone());
                    Attempt {
                        events,
                        contended: None,
                        outcome,
                    }
                })
                .collect::<Vec<_>>()
        }));
    }
    for _ in 0..CONTENDING_WRITERS {
        let recorder = Arc::clone(&recorder);
        let start = Arc::clone(&start);
        let shared = shared.clone();
        writers.push(std::thread::spawn(move || {
            start.wait();
            (0..SAVES_PER_WRITER)
                .map(|round| {
                    let aggregate = shared[(round % SHARED_AGGREGATES) as usize];
                    let first = 2 * (round / SHARED_AGGREGATES) + 1;
                    let own = Uuid::new_v4();
                    let events = vec![
                        event(own, 1),
                        event(aggregate, first),
                        event(aggregate, first + 1),
                    ];
                    let outcome = recorder.insert_events(&events);
                    Attempt {
                        events,
                        contended: Some((round, aggregate, first)),
                        outcome,
                    }
                })
                .collect::<Vec<_>>()
        }));
    }
    let attempts: Vec<Attempt> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    writing.store(false, Ordering::SeqCst);
    let seen = reader.join().unwrap();

    let mut winners: HashMap<u64, usize> = HashMap::new();
    let mut stored_saves = 0;
    let mut stored_events = 0;
    for attempt in &attempts {
        let own = attempt.events[0].originator_id;
        let stored = recorder.select_events(own, &EventQuery::new()).unwrap();
        match (&attempt.outcome, attempt.contended) {
            (Ok(()), contended) => {
                stored_saves += 1;
                stored_events += attempt.events.len();
                let own_events: Vec<StoredEvent> = attempt
                    .events
                    .iter()
                    .filter(|e| e.originator_id == own)
                    .cloned()
                    .collect();
                assert_eq!(stored, own_events, "a stored save is stored whole");
                if let Some((round, aggregate, first)) = contended {
                    *winners.entry(round).or_default() += 1;
                    let versions = EventQuery::new().gt(first - 1).lte(first + 1);
                    let theirs = recorder.select_events(aggregate, &versions).unwrap();
                    assert_eq!(
                        theirs,
                        attempt.events[1..],
                        "the winner's events are stored"
                    );
                }
            }
            (Err(error), Some((_, aggregate, first))) => {
                assert_eq!(
                    error.conflict(),
                    Some((aggregate, first)),
                    "a contender that lost is told of its own conflict: {error}"
                );
                assert!(stored.is_empty(), "nothing of a conflicting save is stored");
            }
            (Err(error), None) => panic!("a save without conflict failed: {error}"),
        }
    }
    for round in 0..SAVES_PER_WRITER {
        assert_eq!(
            winners.get(&round),
            Some(&1),
            "round {round}: exactly one contender stores the versions"
        );
    }

    let notifications = recorder.select_notifications(1, 1_000_000).unwrap();
    assert_eq!(
        notifications.len(),
        stored_events,
        "the log has every stored event"
    );
    for pair in notifications.windows(2) {
        assert!(pair[0].id < pair[1].id, "ids increase");
    }
    if gap_free {
        let ids: Vec<u64> = notifications.iter().map(|n| n.id).collect();
        assert_eq!(
            ids,
            (1..=stored_events as u64).collect::<Vec<_>>(),
            "ids are gap-free"
        );
    }
    // Each save's events are consecutive, in the order it gave them.
    let position: HashMap<(Uuid, u64), usize> = notifications
        .iter()
        .enumerate()
        .map(|(i, n)| ((n.originator_id, n.originator_version), i))
        .collect();
    for attempt in attempts.iter().filter(|a| a.outcome.is_ok()) {
        let at: Vec<usize> = attempt
            .events
            .iter()
            .map(|e| position[&(e.originator_id, e.originator_version)])
            .collect();
        let first = at[0];
        assert_eq!(
            at,
            (first..first + at.len()).collect::<Vec<_>>(),
            "a save's events are consecutive in the log"
        );
    }
    let all: Vec<u64> = notifications.iter().map(|n| n.id).collect();
    assert_eq!(
        seen, all,
        "the tailing reader saw every notification, in order"
    );
    Observed {
        stored_saves,
        notifications,
    }
}

#[test]
fn sqlite_file_groups_concurrent_saves_and_each_fails_alone() {
    let db = TempDb::new("group_commit");
    let datastore = Arc::new(SqliteDatastore::open(db.path().to_string_lossy()).unwrap());
    let recorder = Arc::new(SqliteApplicationRecorder::new(Arc::clone(&datastore)).unwrap());
    let before = datastore.commits();
    let observed = exercise(recorder, true);
    let commits = datastore.commits() - before;
    eprintln!(
        "sqlite: {} stored saves in {commits} commits ({} events)",
        observed.stored_saves,
        observed.notifications.len()
    );
    assert!(
        commits < observed.stored_saves as u64,
        "saves share transactions: {commits} commits for {} stored saves",
        observed.stored_saves
    );
}

#[test]
fn sqlite_lone_writer_commits_each_save_at_once() {
    let db = TempDb::new("group_commit_lone");
    let datastore = Arc::new(SqliteDatastore::open(db.path().to_string_lossy()).unwrap());
    let recorder = SqliteApplicationRecorder::new(Arc::clone(&datastore)).unwrap();
    let before = datastore.commits();
    for _ in 0..20 {
        let id = Uuid::new_v4();
        recorder
            .insert_events(&[event(id, 1), event(id, 2)])
            .unwrap();
    }
    assert_eq!(datastore.commits() - before, 20, "one commit per save");
    // A lone save that conflicts fails, as before, and stores nothing.
    let id = Uuid::new_v4();
    recorder.insert_events(&[event(id, 1)]).unwrap();
    let error = recorder
        .insert_events(&[event(id, 2), event(id, 1)])
        .unwrap_err();
    assert_eq!(error.conflict(), Some((id, 1)));
    assert_eq!(
        recorder
            .select_events(id, &EventQuery::new())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn postgres_groups_concurrent_saves_and_each_fails_alone() {
    let Some(schema) = TempSchema::new("groupcommit") else {
        return;
    };
    let mut settings = schema.settings();
    settings.pool_size = 4;
    let datastore = Arc::new(PostgresDatastore::new(settings).unwrap());
    let recorder =
        Arc::new(PostgresApplicationRecorder::new(datastore, "stored_events", "tracking").unwrap());
    let observed = exercise(recorder, false);
    let transactions: i64 = pg::connect()
        .unwrap()
        .query_one(
            &format!(
                "SELECT COUNT(DISTINCT xmin::text) FROM {}.stored_events",
                schema.name()
            ),
            &[],
        )
        .unwrap()
        .get(0);
    eprintln!(
        "postgres: {} stored saves in {transactions} transactions",
        observed.stored_saves
    );
    assert!(
        transactions < observed.stored_saves as i64,
        "saves share transactions: {transactions} for {} stored saves",
        observed.stored_saves
    );
}

/// The child of the crash test: saves from 16 threads until killed, printing `ok ID N` (the
/// aggregate and its number of events) once each save is reported stored.
#[test]
#[ignore = "run by sqlite_crash_during_group_commits_loses_only_unreported_saves"]
fn crash_child() {
    let Ok(path) = std::env::var("GROUP_COMMIT_CRASH_DB") else {
        return;
    };
    let datastore = Arc::new(SqliteDatastore::open(&path).unwrap());
    let recorder = Arc::new(SqliteApplicationRecorder::new(datastore).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let recorder = Arc::clone(&recorder);
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for i in 0.. {
                    let id = Uuid::new_v4();
                    let n = 1 + (i + t) % 10;
                    // Each event says how many its save has, so a part of a save would show.
                    let events: Vec<StoredEvent> = (1..=n)
                        .map(|v| StoredEvent {
                            state: format!("{{\"n\":{n},\"v\":{v}}}").into_bytes(),
                            ..event(id, v)
                        })
                        .collect();
                    recorder.insert_owned(events).unwrap();
                    use std::io::Write;
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ok {id} {n}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn sqlite_crash_during_group_commits_loses_only_unreported_saves() {
    let db = TempDb::new("group_commit_crash");
    // Created here, so the child only opens it.
    drop(SqliteApplicationRecorder::new(Arc::new(
        SqliteDatastore::open(db.path().to_string_lossy()).unwrap(),
    )));
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--quiet",
            ])
            .env("GROUP_COMMIT_CRASH_DB", db.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        // Killed at a different moment each round, while it commits groups.
        std::thread::sleep(Duration::from_millis(300 + 170 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let reported: Vec<(Uuid, u64)> = lines
            .join()
            .unwrap()
            .iter()
            .filter_map(|line| {
                let mut words = line.strip_prefix("ok ")?.split(' ');
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            })
            .collect();
        assert!(
            !reported.is_empty(),
            "round {round}: the child saved nothing"
        );
        let recorder = SqliteApplicationRecorder::new(Arc::new(
            SqliteDatastore::open(db.path().to_string_lossy()).unwrap(),
        ))
        .unwrap();
        for (id, n) in &reported {
            let stored = recorder.select_events(*id, &EventQuery::new()).unwrap();
            assert_eq!(
                stored.len() as u64,
                *n,
                "round {round}: a save reported stored is stored whole"
            );
        }
        // Nothing is stored in part, reported or not, and the ids are gap-free.
        let notifications = recorder.select_notifications(1, 10_000_000).unwrap();
        let mut counts: HashMap<Uuid, u64> = HashMap::new();
        for n in &notifications {
            *counts.entry(n.originator_id).or_default() += 1;
        }
        let ids: BTreeSet<u64> = notifications.iter().map(|n| n.id).collect();
        assert_eq!(ids.len(), notifications.len());
        assert_eq!(
            ids.last().copied().unwrap_or(0),
            notifications.len() as u64,
            "round {round}: ids are gap-free"
        );
        for (id, count) in counts {
            let stored = recorder.select_events(id, &EventQuery::new()).unwrap();
            let versions: Vec<u64> = stored.iter().map(|e| e.originator_version).collect();
            assert_eq!(versions, (1..=count).collect::<Vec<_>>());
            let state: serde_json::Value = serde_json::from_slice(&stored[0].state).unwrap();
            assert_eq!(
                state["n"].as_u64(),
                Some(count),
                "round {round}: {id} is stored whole, or not at all"
            );
        }
        eprintln!(
            "round {round}: {} saves reported, {} events stored after SIGKILL",
            reported.len(),
            notifications.len()
        );
    }
}

/// Saves larger than a group's bound, and saves SQLite refuses for another reason than a
/// conflict (a version beyond SQLite's integers), mixed into the groups of 16 writers: the
/// large ones are stored whole, each refused one fails alone with its own error and stores
/// nothing, and the ids stay gap-free.
#[test]
fn sqlite_groups_with_oversized_and_refused_saves() {
    let db = TempDb::new("group_commit_mixed");
    let datastore = Arc::new(SqliteDatastore::open(db.path().to_string_lossy()).unwrap());
    let recorder = Arc::new(SqliteApplicationRecorder::new(Arc::clone(&datastore)).unwrap());
    let big = eventsourcing::sqlite::GROUP_COMMIT_MAX_EVENTS as u64 + 200;
    let start = Arc::new(Barrier::new(16));
    let writers: Vec<_> = (0..16u64)
        .map(|w| {
            let recorder = Arc::clone(&recorder);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..12u64)
                    .map(|i| {
                        let id = Uuid::new_v4();
                        let kind = (w + i) % 6;
                        let mut events: Vec<StoredEvent> = match kind {
                            0 => (1..=big).map(|v| event(id, v)).collect(),
                            _ => (1..=1 + i % 4).map(|v| event(id, v)).collect(),
                        };
                        let refused = kind == 3;
                        if refused {
                            events.push(event(id, u64::MAX));
                        }
                        let outcome = recorder.insert_owned(events.clone());
                        (id, events, refused, outcome)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut expected = 0;
    for (id, events, refused, outcome) in writers.into_iter().flat_map(|w| w.join().unwrap()) {
        let stored = recorder.select_events(id, &EventQuery::new()).unwrap();
        if refused {
            let error = outcome.unwrap_err();
            assert!(error.conflict().is_none(), "not a conflict: {error}");
            assert!(stored.is_empty(), "nothing of a refused save is stored");
        } else {
            outcome.unwrap();
            assert_eq!(stored, events, "a save is stored whole");
            expected += events.len() as u64;
        }
    }
    let ids: Vec<u64> = recorder
        .select_notifications(1, 1_000_000)
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, (1..=expected).collect::<Vec<_>>(), "ids are gap-free");
}
