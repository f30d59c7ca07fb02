//! Checks with many threads: racing writers, concurrent inserts, a reader tailing the log while
//! others write, racing followers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::fixtures::*;
use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, PersistenceError, ProcessRecorder, StoredEvent,
};

/// Each run of the race: which threads' inserts succeeded, by round.
fn race(
    handles: &[&dyn AggregateRecorder],
    shared: Uuid,
    private: &[Uuid],
    rounds: u64,
) -> Vec<usize> {
    let barrier = Barrier::new(THREADS);
    let results: Vec<Vec<Result<(), PersistenceError>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = handles[t % handles.len()];
                let barrier = &barrier;
                let own = private[t];
                scope.spawn(move || {
                    (1..=rounds)
                        .map(|round| {
                            let tag = format!("thread {t}");
                            let batch = [
                                stored_event(own, round, &tag),
                                stored_event(shared, round, &tag),
                            ];
                            barrier.wait();
                            recorder.insert_events(&batch)
                        })
                        .collect()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racing writer panicked"))
            .collect()
    });
    (0..rounds as usize)
        .map(|round| {
            let mut winners = Vec::new();
            for (t, results) in results.iter().enumerate() {
                match &results[round] {
                    Ok(()) => winners.push(t),
                    Err(e) => assert!(
                        e.conflict() == Some((shared, round as u64 + 1)),
                        "round {}: a writer that lost the race must get a conflict naming the \
                         raced aggregate {shared} and version {}, thread {t} got {}: {e}",
                        round + 1,
                        round + 1,
                        e.kind()
                    ),
                }
            }
            assert_eq!(
                winners.len(),
                1,
                "round {}: exactly one of {THREADS} writers racing to insert the same version \
                 must win, winners: {winners:?}",
                round + 1
            );
            winners[0]
        })
        .collect()
}

/// How many versions the racing checks race for.
const RACE_ROUNDS: u64 = 100;

fn check_race(handles: &[&dyn AggregateRecorder]) -> (Uuid, Vec<Uuid>, Vec<usize>) {
    let shared = Uuid::new_v4();
    let private: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    let winners = race(handles, shared, &private, RACE_ROUNDS);
    let recorder = handles[0];
    let expected: Vec<StoredEvent> = winners
        .iter()
        .zip(1..)
        .map(|(t, version)| stored_event(shared, version, &format!("thread {t}")))
        .collect();
    assert_eq!(
        select_all(recorder, shared),
        expected,
        "each raced version must be stored once, as the winner wrote it"
    );
    for (t, &own) in private.iter().enumerate() {
        let won: Vec<u64> = (1..=RACE_ROUNDS)
            .filter(|&round| winners[round as usize - 1] == t)
            .collect();
        assert_eq!(
            versions(&select_all(recorder, own)),
            won,
            "thread {t}'s own events must be stored exactly in the rounds it won (a losing \
             batch must write nothing)"
        );
    }
    (shared, private, winners)
}

/// [`THREADS`] threads race, round after round, each to insert the same next version of one
/// aggregate, batched with an event of its own aggregate: exactly one wins each round, every
/// loser gets an integrity error, the winner's event is stored once, and no loser's own event
/// is written.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_writers(handles: &[Arc<dyn AggregateRecorder>]) {
    assert!(!handles.is_empty(), "check_racing_writers needs a recorder");
    let handles: Vec<&dyn AggregateRecorder> = handles.iter().map(|h| &**h).collect();
    check_race(&handles);
}

/// [`check_racing_writers`] on application recorders, also checking the notification log:
/// exactly the winners' events, each once, in commit order, with ids strictly increasing
/// (and gapless if `gapless`: the losers consumed no ids).
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_writers_notifications(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(!handles.is_empty(), "check_racing_writers needs a recorder");
    let aggregate: Vec<&dyn AggregateRecorder> = handles
        .iter()
        .map(|h| &**h as &dyn AggregateRecorder)
        .collect();
    let (shared, private, winners) = check_race(&aggregate);
    let log = all_notifications(&*handles[0]);
    assert_ids_increasing(&log, gapless, "after racing writers");
    let expected: Vec<StoredEvent> = winners
        .iter()
        .zip(1..)
        .flat_map(|(&t, round)| {
            let tag = format!("thread {t}");
            [
                stored_event(private[t], round, &tag),
                stored_event(shared, round, &tag),
            ]
        })
        .collect();
    assert_eq!(
        stored_events(&log),
        expected,
        "the notification log must hold the winners' batches, each once, in commit order"
    );
    if gapless {
        assert_eq!(max_notification_id(&*handles[0]), expected.len() as u64);
    }
}

/// One writer's aggregates in a concurrency check.
const AGGREGATES_PER_THREAD: usize = 10;

/// Writer `t` inserts `events` events, one per insert, round robin over its own
/// [`AGGREGATES_PER_THREAD`] aggregates; returns the aggregates.
fn write_own_aggregates(recorder: &dyn AggregateRecorder, t: usize, events: usize) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..AGGREGATES_PER_THREAD).map(|_| Uuid::new_v4()).collect();
    for i in 0..events {
        let id = ids[i % AGGREGATES_PER_THREAD];
        let version = (i / AGGREGATES_PER_THREAD) as u64 + 1;
        let event = stored_event(id, version, &format!("thread {t}"));
        ok(
            recorder.insert_events(std::slice::from_ref(&event)),
            &format!("writer {t}: insert_events({id} v{version})"),
        );
    }
    ids
}

/// After concurrent writers: every event present exactly once in the log, ids strictly
/// increasing (gapless if `gapless`), each aggregate's versions in order, and each
/// aggregate's events selectable.
fn check_written_once(
    recorder: &dyn ApplicationRecorder,
    writers: &[Vec<Uuid>],
    events_per_writer: usize,
    gapless: bool,
) {
    let total = writers.len() * events_per_writer;
    let log = all_notifications(recorder);
    assert_ids_increasing(&log, gapless, "after concurrent inserts");
    assert_eq!(
        log.len(),
        total,
        "every event inserted by concurrent writers must be in the log exactly once"
    );
    if gapless {
        assert_eq!(max_notification_id(recorder), total as u64);
    } else {
        assert_eq!(
            Some(max_notification_id(recorder)),
            log.last().map(|n| n.id)
        );
    }
    let mut next_version: HashMap<Uuid, u64> = HashMap::new();
    for (t, ids) in writers.iter().enumerate() {
        for id in ids {
            next_version.insert(*id, 1);
            let events = select_all(recorder, *id);
            let per_aggregate = events_per_writer / AGGREGATES_PER_THREAD;
            let expected: Vec<StoredEvent> = (1..=per_aggregate as u64)
                .map(|v| stored_event(*id, v, &format!("thread {t}")))
                .collect();
            assert_eq!(
                events, expected,
                "the events of writer {t}'s aggregate {id}"
            );
        }
    }
    for n in &log {
        let next = next_version
            .get_mut(&n.originator_id)
            .unwrap_or_else(|| panic!("notification {} is of an aggregate nobody wrote", n.id));
        assert_eq!(
            n.originator_version, *next,
            "notification {}: each aggregate's versions must appear once each, in order",
            n.id
        );
        *next += 1;
    }
}

/// [`THREADS`] threads each insert [`EVENTS_PER_THREAD`] events of their own aggregates, one
/// insert per event, at the same time: every event is stored exactly once, the notification
/// ids strictly increase (with no gaps if `gapless`), and each aggregate's versions appear in
/// the log in order.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_concurrent_inserts(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(
        !handles.is_empty(),
        "check_concurrent_inserts needs a recorder"
    );
    let writers: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                scope.spawn(move || write_own_aggregates(recorder, t, EVENTS_PER_THREAD))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a writer panicked"))
            .collect()
    });
    check_written_once(&*handles[0], &writers, EVENTS_PER_THREAD, gapless);
}

/// Counts a writer as finished when dropped.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// How many events each writer of [`check_tailing_reader`] inserts.
const TAILED_EVENTS_PER_WRITER: usize = 300;

/// A reader tails the notification log while [`THREADS`] − 1 writers insert: it never sees an
/// id at or below one it has already seen, never sees an event twice, and, reading from
/// just after the last id it saw, ends up having seen every event (no event committed
/// behind its back). With `gapless`, every id it reads is the one after the previous.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`; the reader
/// uses the last handle).
pub fn check_tailing_reader(handles: &[Arc<dyn ApplicationRecorder>], gapless: bool) {
    assert!(!handles.is_empty(), "check_tailing_reader needs a recorder");
    let writers_count = THREADS - 1;
    let total = writers_count * TAILED_EVENTS_PER_WRITER;
    let finished = AtomicUsize::new(0);
    let reader_handle = &*handles[(THREADS - 1) % handles.len()];
    let (writers, seen) = std::thread::scope(|scope| {
        let finished = &finished;
        let threads: Vec<_> = (0..writers_count)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                scope.spawn(move || {
                    // Counted as finished even if it panics, so the reader stops waiting.
                    let _done = Finished(finished);
                    write_own_aggregates(recorder, t, TAILED_EVENTS_PER_WRITER)
                })
            })
            .collect();
        let reader = scope.spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut seen: HashSet<(Uuid, u64)> = HashSet::with_capacity(total);
            let mut last_id = 0;
            loop {
                // Read the flag before selecting: if every writer had finished before this
                // select began, the select must see everything.
                let all_written = finished.load(Ordering::SeqCst) == writers_count;
                let page = notifications(reader_handle, last_id + 1, 37);
                for n in &page {
                    assert!(
                        n.id > last_id,
                        "the tailing reader read id {} after id {last_id}: ids went backwards",
                        n.id
                    );
                    if gapless {
                        assert_eq!(
                            n.id,
                            last_id + 1,
                            "the tailing reader read id {} after id {last_id}: a gap",
                            n.id
                        );
                    }
                    assert!(
                        seen.insert((n.originator_id, n.originator_version)),
                        "the tailing reader read {} v{} twice",
                        n.originator_id,
                        n.originator_version
                    );
                    last_id = n.id;
                }
                if page.is_empty() {
                    if all_written {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the tailing reader timed out having read {} of {total} events",
                        seen.len()
                    );
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            seen
        });
        let writers: Vec<Vec<Uuid>> = threads
            .into_iter()
            .map(|t| t.join().expect("a writer panicked"))
            .collect();
        (writers, reader.join().expect("the tailing reader panicked"))
    });
    assert_eq!(
        seen.len(),
        total,
        "the tailing reader must read every event exactly once: it missed {} (events were \
         committed behind its position)",
        total - seen.len()
    );
    check_written_once(&*handles[0], &writers, TAILED_EVENTS_PER_WRITER, gapless);
}

/// [`THREADS`] followers race, round after round, to record the same upstream notification
/// with an event of their own: exactly one wins each round (an upstream event is processed
/// once), the losers get integrity errors and their events are not written, and the
/// position ends at the last round.
///
/// Expects handles on one fresh, empty database (thread `i` uses handle `i % len`).
pub fn check_racing_trackers(handles: &[Arc<dyn ProcessRecorder>], gapless: bool) {
    assert!(
        !handles.is_empty(),
        "check_racing_trackers needs a recorder"
    );
    const ROUNDS: u64 = 50;
    let upstream = "upstream";
    let own: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    let barrier = Barrier::new(THREADS);
    let results: Vec<Vec<Result<(), PersistenceError>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let recorder = &*handles[t % handles.len()];
                let barrier = &barrier;
                let id = own[t];
                scope.spawn(move || {
                    (1..=ROUNDS)
                        .map(|round| {
                            let event = stored_event(id, round, &format!("thread {t}"));
                            barrier.wait();
                            insert_tracked(recorder, &[event], upstream, round)
                        })
                        .collect()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a racing follower panicked"))
            .collect()
    });
    let recorder = &*handles[0];
    let mut expected_log = Vec::new();
    for round in 1..=ROUNDS {
        let mut winners = Vec::new();
        for (t, results) in results.iter().enumerate() {
            match &results[round as usize - 1] {
                Ok(()) => winners.push(t),
                Err(e) => assert!(
                    e.is_integrity() && e.conflict().is_none(),
                    "round {round}: a follower that lost the race must get an integrity \
                     error about the tracking record, thread {t} got {}: {e}",
                    e.kind()
                ),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of {THREADS} followers recording the same upstream \
             notification must win, winners: {winners:?}"
        );
        let t = winners[0];
        expected_log.push(stored_event(own[t], round, &format!("thread {t}")));
    }
    assert_eq!(max_tracking_id(recorder, upstream), ROUNDS);
    let log = all_notifications(recorder);
    assert_ids_increasing(&log, gapless, "after racing followers");
    assert_eq!(
        stored_events(&log),
        expected_log,
        "only the winners' events must be written, each once, in round order"
    );
}
