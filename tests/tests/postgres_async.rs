//! PostgreSQL and tokio: the blocking face called from inside tokio runtimes (multi-thread and
//! current-thread), where the blocking `postgres` client panicked; the native async face, from
//! the factory; and async inserts whose futures are dropped at every point of their progress,
//! which store their whole batch or nothing, and leave the recorder working.
//!
//! The tests build their runtimes by hand, rather than with `#[tokio::test]`: their schemas
//! are made and dropped with the blocking `postgres` client, outside the runtimes.
//!
//! Tests that need the server skip, with a message, when no server answers (outside CI).

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
    AsyncProcessRecorder, Environment, ErrorKind, EventQuery, InfrastructureFactory, StoredEvent,
    Tracking,
};
use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore, PostgresFactory};
use eventsourcing::prelude::*;
use eventsourcing_tests::pg::{self, TempSchema};
use eventsourcing_tests::world::World;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn event(id: Uuid, version: u64) -> StoredEvent {
    StoredEvent {
        originator_id: id,
        originator_version: version,
        topic: "tests:Event".into(),
        state: format!("{{\"version\":{version}}}").into_bytes(),
    }
}

fn batch(id: Uuid, versions: std::ops::RangeInclusive<u64>) -> Vec<StoredEvent> {
    versions.map(|version| event(id, version)).collect()
}

/// The application "Worlds" in `schema`, on the blocking face, its connections named after the
/// schema, with `extra` settings.
fn worlds_with(schema: &TempSchema, extra: &[(&str, &str)]) -> Application {
    extra
        .iter()
        .fold(
            Application::builder("Worlds")
                .without_process_env()
                .envs(schema.env())
                .env("POSTGRES_APPLICATION_NAME", schema.name()),
            |builder, (key, value)| builder.env(*key, *value),
        )
        .build()
        .expect("an application")
}

fn worlds(schema: &TempSchema) -> Application {
    worlds_with(schema, &[])
}

/// Saves, gets and reads the log through the blocking face, from the calling thread.
fn use_the_blocking_face(app: &Application) {
    let mut world = World::create();
    world.make_it_so("inside a runtime".into());
    app.save(&mut world).unwrap();
    let copy: World = app.repository().get(world.id()).unwrap();
    assert_eq!(copy, world);
    let max = app.recorder().max_notification_id().unwrap();
    assert!(max >= 2);
    let notifications = app.recorder().select_notifications(max - 1, 2).unwrap();
    assert_eq!(notifications.len(), 2);
    assert_eq!(
        app.recorder()
            .select_events(world.id(), &EventQuery::new())
            .unwrap()
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// The blocking face inside runtimes.

#[test]
fn the_blocking_face_works_inside_a_multi_thread_runtime() {
    let Some(schema) = TempSchema::new("blockingmulti") else {
        return;
    };
    multi_thread().block_on(async {
        // Built (tables created) inside the runtime, on a worker thread.
        let app = Arc::new(worlds(&schema));
        use_the_blocking_face(&app);
        // From several tasks at once, each holding its worker while it waits, and from the
        // blocking pool.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let app = Arc::clone(&app);
            tasks.push(tokio::spawn(async move { use_the_blocking_face(&app) }));
        }
        let app2 = Arc::clone(&app);
        tasks.push(tokio::task::spawn_blocking(move || {
            use_the_blocking_face(&app2)
        }));
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(app.recorder().max_notification_id().unwrap(), 12);
        // Dropped inside the runtime (its own runtime shuts down without waiting, not panicking).
        drop(app);
    });
}

#[test]
fn the_blocking_face_works_inside_a_current_thread_runtime() {
    let Some(schema) = TempSchema::new("blockingcurrent") else {
        return;
    };
    current_thread().block_on(async {
        let app = worlds(&schema);
        use_the_blocking_face(&app);
        // Between awaits of other work on this runtime's only thread.
        tokio::time::sleep(Duration::from_millis(1)).await;
        use_the_blocking_face(&app);
        tokio::task::yield_now().await;
        app.recorder()
            .insert_events_with_tracking(&[], &[Tracking::new("Upstream", 1)])
            .unwrap();
        assert_eq!(app.recorder().max_tracking_id("Upstream").unwrap(), 1);
        drop(app);
    });
}

/// A runtime built by hand, and a blocking call made from inside `block_on`.
#[test]
fn the_blocking_face_works_inside_block_on() {
    let Some(schema) = TempSchema::new("blockingblockon") else {
        return;
    };
    let app = worlds(&schema);
    for runtime in [current_thread(), multi_thread()] {
        runtime.block_on(async { use_the_blocking_face(&app) });
    }
    // And outside any runtime.
    use_the_blocking_face(&app);
}

// ---------------------------------------------------------------------------------------------
// The native async face.

#[test]
fn the_factory_builds_native_async_recorders() {
    let Some(schema) = TempSchema::new("nativefactory") else {
        return;
    };
    current_thread().block_on(async {
        let mut env = Environment::new("Worlds");
        for (key, value) in schema.env() {
            env = env.with_value(key, value);
        }
        let recorders = PostgresFactory.async_recorders(&env, true).await.unwrap();
        let id = Uuid::new_v4();
        recorders
            .events
            .insert_events(batch(id, 1..=3))
            .await
            .unwrap();
        let stored = recorders
            .events
            .select_events(id, EventQuery::new())
            .await
            .unwrap();
        assert_eq!(stored, batch(id, 1..=3));
        assert_eq!(recorders.events.max_notification_id().await.unwrap(), 3);
        recorders
            .events
            .insert_events_with_tracking(batch(id, 4..=4), vec![Tracking::new("Upstream", 7)])
            .await
            .unwrap();
        assert_eq!(
            recorders.events.max_tracking_id("Upstream").await.unwrap(),
            7
        );
        let error = recorders
            .events
            .insert_events(batch(id, 4..=5))
            .await
            .unwrap_err();
        assert_eq!(error.conflict(), Some((id, 4)));
        let snapshots = recorders.snapshots.expect("snapshots");
        snapshots.insert_events(batch(id, 4..=4)).await.unwrap();
        assert_eq!(
            snapshots
                .select_events(id, EventQuery::new().desc().limit(1))
                .await
                .unwrap(),
            batch(id, 4..=4)
        );
        // The tables are the blocking face's: the same application sees the same events.
        let app = worlds(&schema);
        assert_eq!(app.recorder().max_notification_id().unwrap(), 4);
    });
}

#[test]
fn a_native_recorder_refuses_the_blocking_face_and_calls_outside_a_runtime() {
    let Some(schema) = TempSchema::new("nativeblocking") else {
        return;
    };
    let datastore = Arc::new(PostgresDatastore::native(schema.settings()).unwrap());
    assert!(!datastore.is_blocking());
    let error =
        PostgresApplicationRecorder::new(Arc::clone(&datastore), "stored_events", "tracking")
            .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotSupported, "{error}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let recorder = runtime
        .block_on(PostgresApplicationRecorder::new_async(
            datastore,
            "stored_events",
            "tracking",
        ))
        .unwrap();
    let error =
        AggregateRecorder::insert_events(&recorder, &[event(Uuid::new_v4(), 1)]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotSupported, "{error}");
    assert_eq!(
        ApplicationRecorder::max_notification_id(&recorder)
            .unwrap_err()
            .kind(),
        ErrorKind::NotSupported
    );

    // Polled outside any runtime: an error, not a panic.
    let mut future = pin!(AsyncApplicationRecorder::max_notification_id(&recorder));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Err(error)) => assert_eq!(error.kind(), ErrorKind::Operational, "{error}"),
        other => panic!("expected an error at once, got {other:?}"),
    }
    // Inside it, it works.
    assert_eq!(
        runtime
            .block_on(AsyncApplicationRecorder::max_notification_id(&recorder))
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// The pool's settings.

/// The server processes of the connections named `application_name`.
fn connection_pids(admin: &mut postgres::Client, application_name: &str) -> HashSet<i32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND pid <> pg_backend_pid()",
            &[&application_name],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// `POSTGRES_CONN_MAX_AGE=0`: a new connection for each operation (the old one closed);
/// `POSTGRES_POOL_SIZE`: never more connections than that, however many threads wait (with
/// `POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT`, set on each new session by the pool).
#[test]
fn the_pool_follows_its_settings() {
    let Some(schema) = TempSchema::new("poolsettings") else {
        return;
    };
    let mut admin = pg::connect().unwrap();
    let fresh = worlds_with(&schema, &[("POSTGRES_CONN_MAX_AGE", "0")]);
    let mut seen = HashSet::new();
    for _ in 0..5 {
        fresh.recorder().max_notification_id().unwrap();
        // The connection this operation used is new (the one before may linger a moment on
        // the server after it was closed).
        let pids = connection_pids(&mut admin, schema.name());
        let new: Vec<i32> = pids.difference(&seen).copied().collect();
        assert_eq!(new.len(), 1, "{pids:?} after {seen:?}");
        seen.extend(new);
    }
    drop(fresh);

    let pooled = worlds_with(
        &schema,
        &[
            ("POSTGRES_POOL_SIZE", "2"),
            ("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", "7"),
        ],
    );
    let most = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for _ in 0..5 {
                    pooled.save(&mut World::create()).unwrap();
                }
            });
        }
        let mut admin = pg::connect().unwrap();
        for _ in 0..20 {
            let n = connection_pids(&mut admin, schema.name()).len();
            most.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert!(most.into_inner() <= 2);
    assert_eq!(pooled.recorder().max_notification_id().unwrap(), 30);
}

// ---------------------------------------------------------------------------------------------
// Cancellation.

/// Polls `future` at most `polls` times (each time it is woken), then drops it: `None` if it
/// had not completed. Dropping after 0, 1, 2, … polls stops an insert at each of its await
/// points in turn (taking a connection, the transaction's answer, the rollback after an error,
/// the conflict lookup, the retries).
async fn poll_at_most<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut count = 0;
    std::future::poll_fn(move |cx| {
        if count >= polls {
            return Poll::Ready(None);
        }
        count += 1;
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

/// The connections named `application_name` that are running a query or inside a transaction.
fn busy_connections(admin: &mut postgres::Client, application_name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid()",
            &[&application_name],
        )
        .unwrap()
        .get(0)
}

/// Async inserts dropped after every number of polls, and after tiny, growing timeouts; fresh
/// batches (with a tracking record each) and batches that conflict (whose error path rolls
/// back). Each batch is stored whole or not at all, with its tracking record or without, a
/// batch reported as saved is stored, and after each drop the recorder (a pool of two
/// connections) keeps working: no connection is left in a transaction for the next user.
#[test]
fn async_inserts_dropped_at_any_point_store_all_or_nothing() {
    dropped_inserts(true);
}

/// The same with recorders that have a runtime of their own (`PostgresDatastore::new`), whose
/// async calls are tasks there: an insert polled once runs to its end.
#[test]
fn async_inserts_dropped_at_any_point_store_all_or_nothing_on_their_own_runtime() {
    dropped_inserts(false);
}

fn dropped_inserts(native: bool) {
    let Some(schema) = TempSchema::new("cancelled") else {
        return;
    };
    let runtime = multi_thread();
    let mut settings = schema.settings();
    settings.pool_size = 2;
    settings.application_name = schema.name().to_string();
    let open = |settings| {
        let datastore = if native {
            PostgresDatastore::native(settings)
        } else {
            PostgresDatastore::new(settings)
        };
        let datastore = Arc::new(datastore.unwrap());
        runtime
            .block_on(PostgresApplicationRecorder::new_async(
                datastore,
                "stored_events",
                "tracking",
            ))
            .unwrap()
    };
    // A tracking table of the reference's 9.1 shape, a row per record, which the recorder uses
    // as it is: each batch's record can then be looked for (the 9.5 shape keeps the last).
    pg::connect()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE {}.tracking (application_name text, notification_id bigint, \
             PRIMARY KEY (application_name, notification_id))",
            schema.name()
        ))
        .unwrap();
    let recorder = open(settings.clone());
    // The same tables, with a new connection for each operation: inserts cut while connecting.
    settings.conn_max_age = Some(Duration::ZERO);
    let fresh = open(settings);
    let existing = Uuid::new_v4();
    let started = Instant::now();
    let (batches, dropped) = runtime.block_on(async {
        AsyncAggregateRecorder::insert_events(&recorder, batch(existing, 1..=1))
            .await
            .unwrap();

        // (aggregate, tracking position, whether the insert reported success)
        let mut batches: Vec<(Uuid, u64, bool)> = Vec::new();
        let mut position = 0;
        let mut dropped = 0;
        let mut attempt = 0;
        for round in 0..16 {
            // Rounds 2, 3, 6, 7, …: on new connections.
            let inserter = if round % 4 < 2 { &recorder } else { &fresh };
            for step in 0..10 {
                attempt += 1;
                let id = Uuid::new_v4();
                position += 1;
                let insert = AsyncProcessRecorder::insert_events_with_tracking(
                    inserter,
                    batch(id, 1..=3),
                    vec![Tracking::new("Upstream", position)],
                );
                // Odd rounds cut by time (tokio's timers count milliseconds: 0 or 1 ms here, so
                // the cut falls wherever the insert is after about that long), even ones by polls.
                let outcome = if round % 2 == 1 {
                    let timeout = Duration::from_micros(((step as u64) * 150) % 1200);
                    tokio::time::timeout(timeout, insert).await.ok()
                } else {
                    poll_at_most(insert, step).await
                };
                match outcome {
                    Some(Ok(())) => batches.push((id, position, true)),
                    Some(Err(error)) => panic!("attempt {attempt}: {error}"),
                    None => {
                        dropped += 1;
                        batches.push((id, position, false));
                    }
                }

                // A batch that conflicts (its second event is stored), dropped the same way: its
                // error path rolls back, and a connection dropped before that must not be reused.
                let conflicting = AsyncAggregateRecorder::insert_events(
                    inserter,
                    vec![event(Uuid::new_v4(), 1), event(existing, 1)],
                );
                let outcome = if round % 2 == 1 {
                    let timeout = Duration::from_micros(((step as u64) * 150) % 1200);
                    tokio::time::timeout(timeout, conflicting).await.ok()
                } else {
                    poll_at_most(conflicting, step).await
                };
                if let Some(result) = outcome {
                    assert_eq!(result.unwrap_err().conflict(), Some((existing, 1)));
                }

                // The recorder keeps working, whichever connection of the pool it gets.
                for _ in 0..2 {
                    let stored = AsyncAggregateRecorder::select_events(
                        &recorder,
                        existing,
                        EventQuery::new(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
                    assert_eq!(stored, batch(existing, 1..=1));
                    AsyncApplicationRecorder::max_notification_id(&recorder)
                        .await
                        .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
                }
            }
        }
        (batches, dropped)
    });
    assert!(dropped > 20, "only {dropped} inserts were cut short");

    // Let the server finish what the dropped inserts sent (a closed connection's last query
    // may still be running), then look.
    let mut admin = pg::connect().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while busy_connections(&mut admin, schema.name()) > 0 {
        assert!(Instant::now() < deadline, "connections stay busy");
        std::thread::sleep(Duration::from_millis(20));
    }
    // One snapshot for all the reads: a dropped insert still running as a task of the
    // recorder's own runtime (waiting for a connection, so not busy on the server yet) commits
    // wholly before it or after it.
    let mut snapshot = admin
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    let tracked: HashSet<i64> = snapshot
        .query(
            &format!(
                "SELECT notification_id FROM {}.tracking WHERE application_name = 'Upstream'",
                schema.name()
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let (mut whole, mut none) = (0, 0);
    for (id, position, reported) in &batches {
        let versions: Vec<i64> = snapshot
            .query(
                &format!(
                    "SELECT originator_version FROM {}.stored_events WHERE originator_id = $1 \
                     ORDER BY originator_version",
                    schema.name()
                ),
                &[id],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let is_tracked = tracked.contains(&(*position as i64));
        match versions.as_slice() {
            [1, 2, 3] => {
                assert!(is_tracked, "batch {position}: events without tracking");
                whole += 1;
            }
            [] => {
                assert!(!is_tracked, "batch {position}: tracking without events");
                assert!(!reported, "batch {position}: reported saved, not stored");
                none += 1;
            }
            other => panic!("batch {position}: part of a batch is stored: {other:?}"),
        }
    }
    snapshot.commit().unwrap();
    eprintln!(
        "native: {native}: {} inserts, {dropped} dropped: {whole} stored whole, {none} not at \
         all, in {:?}",
        batches.len(),
        started.elapsed()
    );
    // The recorder still inserts (and its tracking position moves on).
    let id = Uuid::new_v4();
    runtime.block_on(async {
        AsyncProcessRecorder::insert_events_with_tracking(
            &recorder,
            batch(id, 1..=2),
            vec![Tracking::new("Upstream", 1000)],
        )
        .await
        .unwrap();
        assert_eq!(
            AsyncProcessRecorder::max_tracking_id(&recorder, "Upstream")
                .await
                .unwrap(),
            1000
        );
    });
}

/// Concurrent inserts of one recorder share transactions (group commit): from many tasks at
/// once, each save is still all or nothing, its events consecutive in the log, and a save that
/// conflicts fails alone, with its own conflict, while the saves combined with it are stored.
/// On the native face and on the blocking datastore's runtime.
#[test]
fn concurrent_inserts_share_transactions_and_fail_alone() {
    for native in [true, false] {
        let Some(schema) = TempSchema::new("combined") else {
            return;
        };
        let runtime = multi_thread();
        let mut settings = schema.settings();
        settings.pool_size = 4;
        let datastore = Arc::new(if native {
            PostgresDatastore::native(settings).unwrap()
        } else {
            PostgresDatastore::new(settings).unwrap()
        });
        let recorder = Arc::new(
            runtime
                .block_on(PostgresApplicationRecorder::new_async(
                    datastore,
                    "stored_events",
                    "tracking",
                ))
                .unwrap(),
        );
        let existing = Uuid::new_v4();
        runtime.block_on(async {
            AsyncAggregateRecorder::insert_events(&*recorder, batch(existing, 1..=1))
                .await
                .unwrap();
            for round in 0..5u64 {
                // 200 saves at once, of 1 to 3 events; every 50th also writes the existing
                // aggregate's version 1, after an event of its own.
                let tasks: Vec<_> = (0..200u64)
                    .map(|i| {
                        let recorder = Arc::clone(&recorder);
                        let id = Uuid::new_v4();
                        let conflicting = i % 50 == 7;
                        let mut events = batch(id, 1..=1 + (i + round) % 3);
                        if conflicting {
                            events.push(event(existing, 1));
                        }
                        tokio::spawn(async move {
                            let outcome =
                                AsyncAggregateRecorder::insert_events(&*recorder, events.clone())
                                    .await;
                            (id, events, conflicting, outcome)
                        })
                    })
                    .collect();
                for task in tasks {
                    let (id, events, conflicting, outcome) = task.await.unwrap();
                    let stored =
                        AsyncAggregateRecorder::select_events(&*recorder, id, EventQuery::new())
                            .await
                            .unwrap();
                    if conflicting {
                        assert_eq!(outcome.unwrap_err().conflict(), Some((existing, 1)));
                        assert!(stored.is_empty(), "a failed save stores nothing");
                    } else {
                        outcome.unwrap();
                        assert_eq!(stored, events, "a save is stored whole");
                    }
                }
            }
            // Each save's events are consecutive in the log (one transaction, under the lock).
            let notifications =
                AsyncApplicationRecorder::select_notifications(&*recorder, 1, 10_000)
                    .await
                    .unwrap();
            let mut runs: Vec<Uuid> = Vec::new();
            for n in &notifications {
                if runs.last() != Some(&n.originator_id) {
                    assert!(
                        !runs.contains(&n.originator_id),
                        "the events of {} are not consecutive",
                        n.originator_id
                    );
                    runs.push(n.originator_id);
                }
            }
            assert_eq!(runs.len(), 1 + 5 * (200 - 4));
        });
        // Shared: fewer transactions (each row's `xmin`) than saves.
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
        assert!(
            transactions < 5 * 196,
            "{transactions} transactions for {} saves",
            5 * 196
        );
        eprintln!(
            "native={native}: {} saves in {transactions} transactions",
            1 + 5 * 196
        );
    }
}
