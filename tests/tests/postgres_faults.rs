//! PostgreSQL under faults: connections the server kills (`pg_terminate_backend`), once and
//! repeatedly while saving; a server that can't be reached (refused, unroutable, accepting but
//! never answering, or gone after the application started); and connections lost while
//! committing, before the commit reaches the server and after the server has committed.
//!
//! The rule the tests hold the library to: nothing reported as saved is missing, nothing is
//! saved twice, and what is reported as failed is not saved. A connection lost while in use is
//! an interface error, retried on a new connection; a server that can't be reached is an
//! operational error, after `POSTGRES_CONNECT_TIMEOUT`.
//!
//! Losing a connection at a chosen point of the protocol (in particular around `COMMIT`) is done
//! without hooks in the library: the application connects through a small TCP proxy in this
//! file, which forwards the bytes and cuts the connection when it sees a simple-query message
//! that commits (the library sends a whole insert transaction, ending in `COMMIT;`, as one).
//!
//! Tests that need the server skip, with a message, when no server answers (outside CI).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventsourcing::persistence::{ErrorKind, PersistenceError, StoredEvent, Tracking};
use eventsourcing::prelude::*;
use eventsourcing_tests::pg::{self, TempSchema};
use eventsourcing_tests::world::World;

use proxy::{Fault, Proxy};

/// A loose upper bound on how long an error path may take: a behaviour bound, not a
/// benchmark.
const ERROR_BOUND: Duration = Duration::from_secs(15);

/// The application "Worlds" in `schema`, whose connections call themselves by the schema's name
/// (so that a test kills only its own), with `extra` settings.
fn worlds(schema: &TempSchema, extra: &[(&str, &str)]) -> Result<Application, ApplicationError> {
    let mut builder = Application::builder("Worlds")
        .without_process_env()
        .envs(schema.env())
        .env("POSTGRES_APPLICATION_NAME", schema.name());
    for (key, value) in extra {
        builder = builder.env(*key, *value);
    }
    builder.build()
}

/// Terminates the server processes of the connections named `application_name`; returns their
/// process ids once they are gone.
fn kill_connections(admin: &mut postgres::Client, application_name: &str) -> Vec<i32> {
    // Two statements: in one, the server may call pg_terminate_backend before the other
    // conditions have filtered the rows, killing every connection.
    let pids: Vec<i32> = connection_pids(admin, application_name)
        .into_iter()
        .collect();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid",
            &[&pids],
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            return pids;
        }
        assert!(Instant::now() < deadline, "killed connections linger");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The process ids of the connections named `application_name`.
fn connection_pids(admin: &mut postgres::Client, application_name: &str) -> HashSet<i32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
             AND pid <> pg_backend_pid() AND datname = current_database()",
            &[&application_name],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The versions stored for the aggregate `id`, read directly from the table.
fn stored_versions(admin: &mut postgres::Client, schema: &TempSchema, id: Uuid) -> Vec<i64> {
    admin
        .query(
            &format!(
                "SELECT originator_version FROM {}.worlds_events WHERE originator_id = $1 \
                 ORDER BY originator_version",
                schema.name()
            ),
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn persistence_error(error: ApplicationError) -> PersistenceError {
    match error {
        ApplicationError::Persistence(error) => error,
        other => panic!("expected a persistence error, got {other:?}"),
    }
}

fn world_with(events: usize) -> World {
    let mut world = World::create();
    for i in 1..events {
        world.make_it_so(format!("thing {i}"));
    }
    world
}

// ---------------------------------------------------------------------------------------------
// Connections killed by the server.

/// After the server kills an application's pooled connections, the next save, get and
/// notification read each succeed (on new connections), with and without pre-ping.
#[test]
fn a_connection_killed_by_the_server_is_replaced() {
    for pre_ping in ["n", "y"] {
        let Some(schema) = TempSchema::new("killed") else {
            return;
        };
        let mut admin = pg::connect().unwrap();
        let app = worlds(
            &schema,
            &[("POSTGRES_PRE_PING", pre_ping), ("POSTGRES_POOL_SIZE", "3")],
        )
        .unwrap();
        let mut world = world_with(3);
        app.save(&mut world).unwrap();

        // Save after a kill.
        let killed = kill_connections(&mut admin, schema.name());
        assert!(
            !killed.is_empty(),
            "the application has no connection to kill"
        );
        world.make_it_so("after a kill".into());
        app.save(&mut world).unwrap();
        let now = connection_pids(&mut admin, schema.name());
        assert!(!now.is_empty() && now.iter().all(|pid| !killed.contains(pid)));
        assert_eq!(
            stored_versions(&mut admin, &schema, world.id()),
            [1, 2, 3, 4]
        );

        // Get after a kill.
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        let copy: World = app.repository().get(world.id()).unwrap();
        assert_eq!(copy, world);

        // The notification log after a kill.
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        assert_eq!(app.recorder().max_notification_id().unwrap(), 4);
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        let notifications = app.recorder().select_notifications(1, 10).unwrap();
        assert_eq!(
            notifications.iter().map(|n| n.id).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );

        // Tracking after a kill.
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        app.recorder()
            .insert_events_with_tracking(&[], &[Tracking::new("Upstream", 1)])
            .unwrap();
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        assert_eq!(app.recorder().max_tracking_id("Upstream").unwrap(), 1);

        // Every connection of the pool killed at once, then used by several threads at once.
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| app.save(&mut world_with(2)).unwrap());
            }
        });
        assert!(!kill_connections(&mut admin, schema.name()).is_empty());
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    app.save(&mut world_with(2)).unwrap();
                    let _: World = app.repository().get(world.id()).unwrap();
                });
            }
        });
        assert_eq!(app.recorder().max_notification_id().unwrap(), 4 + 12);
    }
}

/// What one writer thread did: each save's aggregates (id and last version) and its result.
type Saves = Vec<(Vec<(Uuid, u64)>, Result<(), String>)>;

/// Writers save new aggregates (one or two per save, 1 to 3 events each) while another thread
/// kills all the application's connections every 100 to 300 ms, and a reader gets what was
/// saved. Every save that returned `Ok` is stored, exactly; every save that returned an error is
/// not stored; and every get succeeds.
#[test]
fn saves_while_the_server_kills_connections_repeatedly() {
    const WRITERS: usize = 3;
    const KILLS: usize = 8;
    let Some(schema) = TempSchema::new("killedrepeatedly") else {
        return;
    };
    let app = worlds(&schema, &[("POSTGRES_POOL_SIZE", "4")]).unwrap();
    let stop = AtomicBool::new(false);
    let saved: Mutex<Vec<(Uuid, u64)>> = Mutex::new(Vec::new());
    let gets = AtomicU64::new(0);
    let started = Instant::now();
    let (results, kills) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (app, stop, saved) = (&app, &stop, &saved);
                scope.spawn(move || {
                    let mut saves: Saves = Vec::new();
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let mut batch: Vec<World> = (0..1 + (n + w) % 2)
                            .map(|i| world_with(1 + (n + i) % 3))
                            .collect();
                        let what: Vec<(Uuid, u64)> =
                            batch.iter().map(|a| (a.id(), a.version())).collect();
                        let result = app.save(&mut batch).map_err(|e| e.to_string());
                        if result.is_ok() {
                            saved.lock().unwrap().extend(&what);
                        }
                        saves.push((what, result));
                    }
                    saves
                })
            })
            .collect();
        let reader = {
            let (app, stop, saved, gets) = (&app, &stop, &saved, &gets);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let target = {
                        let saved = saved.lock().unwrap();
                        (!saved.is_empty()).then(|| saved[i % saved.len()])
                    };
                    i += 7;
                    if let Some((id, version)) = target {
                        let world: World = app
                            .repository()
                            .get(id)
                            .unwrap_or_else(|e| panic!("a get failed while killing: {e}"));
                        assert_eq!(world.version(), version);
                        gets.fetch_add(1, Ordering::Relaxed);
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        // The killer. If it fails, the others stop too.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _stop = StopOnDrop(&stop);
        let mut admin = pg::connect().unwrap();
        let mut kills = 0;
        let mut delays = [100u64, 250, 150, 300, 120, 200, 280, 180].iter().cycle();
        while kills < KILLS {
            std::thread::sleep(Duration::from_millis(*delays.next().unwrap()));
            if !kill_connections(&mut admin, schema.name()).is_empty() {
                kills += 1;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "too slow");
        }
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap();
        let results: Vec<Saves> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        (results, kills)
    });

    let mut admin = pg::connect().unwrap();
    let (mut ok, mut failed) = (0, Vec::new());
    let mut expected: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for (aggregates, result) in results.iter().flatten() {
        match result {
            Ok(()) => {
                ok += 1;
                for (id, version) in aggregates {
                    expected.insert(*id, (1..=*version as i64).collect());
                }
            }
            Err(message) => {
                failed.push(message.clone());
                for (id, _) in aggregates {
                    assert!(
                        stored_versions(&mut admin, &schema, *id).is_empty(),
                        "a save reported as failed ({message}) is stored"
                    );
                }
            }
        }
    }
    // Everything reported as saved is stored, and nothing else is.
    for (id, versions) in &expected {
        assert_eq!(&stored_versions(&mut admin, &schema, *id), versions);
    }
    let rows: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {}.worlds_events", schema.name()),
            &[],
        )
        .unwrap()
        .get(0);
    let expected_rows: usize = expected.values().map(Vec::len).sum();
    assert_eq!(rows as usize, expected_rows);
    eprintln!(
        "{kills} kills: {ok} saves succeeded, {} failed, {} gets, in {:?}",
        failed.len(),
        gets.load(Ordering::Relaxed),
        started.elapsed()
    );
    // Kills at least 100 ms apart are well within the retries (10 attempts, 0.2 s apart).
    assert!(failed.is_empty(), "saves failed: {failed:#?}");
    assert!(ok > KILLS, "only {ok} saves");
}

// ---------------------------------------------------------------------------------------------
// A server that can't be reached.

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn build_unreachable(host: &str, port: u16) -> (ApplicationError, Duration) {
    let started = Instant::now();
    let result = Application::builder("Worlds")
        .without_process_env()
        .env("PERSISTENCE_MODULE", "eventsourcing.postgres")
        .env("POSTGRES_DBNAME", "test")
        .env("POSTGRES_HOST", host)
        .env("POSTGRES_PORT", port.to_string())
        .env("POSTGRES_USER", "postgres")
        .env("POSTGRES_CONNECT_TIMEOUT", "1")
        .build();
    match result {
        Ok(_) => panic!("built an application on {host}:{port}"),
        Err(error) => (error, started.elapsed()),
    }
}

#[track_caller]
fn assert_unreachable(error: ApplicationError, elapsed: Duration, host: &str, port: u16) {
    let message = error.to_string();
    let error = persistence_error(error);
    assert_eq!(error.kind(), ErrorKind::Operational, "{message}");
    assert!(
        message.contains(&format!("can't connect to PostgreSQL at {host}:{port}")),
        "{message}"
    );
    assert!(elapsed < ERROR_BOUND, "took {elapsed:?}: {message}");
}

/// Nothing listening, an address nothing answers from, and a server that accepts the
/// connection but never answers: each an operational error, after the connect timeout (1 s
/// here), not after 10 retries. These need no server.
#[test]
fn an_unreachable_server_is_an_operational_error_within_the_connect_timeout() {
    let port = closed_port();
    let (error, elapsed) = build_unreachable("127.0.0.1", port);
    assert_unreachable(error, elapsed, "127.0.0.1", port);

    // Unroutable (times out, or fails at once where there is no route).
    let (error, elapsed) = build_unreachable("10.255.255.1", 5432);
    assert_unreachable(error, elapsed, "10.255.255.1", 5432);

    // Accepts, then says nothing.
    let proxy = Proxy::to_nowhere();
    proxy.set_blackhole(true);
    let (error, elapsed) = build_unreachable("127.0.0.1", proxy.port());
    assert_unreachable(error, elapsed, "127.0.0.1", proxy.port());
}

/// The server goes away after the application was built: saves and gets fail with an
/// operational error within the bound, and nothing half-saved is left; when the server is back,
/// the same aggregate saves (its events stayed pending).
#[test]
fn a_server_that_goes_away_and_comes_back() {
    let Some(schema) = TempSchema::new("goesaway") else {
        return;
    };
    let proxy = Proxy::to_test_server();
    let mut admin = pg::connect().unwrap();
    let app = worlds(
        &schema,
        &[
            ("POSTGRES_PORT", &proxy.port().to_string()),
            ("POSTGRES_HOST", "127.0.0.1"),
            ("POSTGRES_CONNECT_TIMEOUT", "1"),
        ],
    )
    .unwrap();
    let mut world = world_with(2);
    app.save(&mut world).unwrap();

    // "refused": nothing listens. "silent": connections are accepted but not answered (a
    // stuck server); the pool gives up after the connect timeout, while its attempts stay
    // pending (the driver's connect timeout covers the TCP connect only) until the server
    // answers them when it resumes.
    for mode in ["refused", "silent"] {
        match mode {
            "refused" => proxy.stop_listening(),
            _ => proxy.set_blackhole(true),
        }
        proxy.cut_all();
        world.make_it_so(format!("while {mode}"));
        let started = Instant::now();
        let error = app.save(&mut world).unwrap_err();
        let elapsed = started.elapsed();
        let message = error.to_string();
        assert_eq!(
            persistence_error(error).kind(),
            ErrorKind::Operational,
            "{mode}: {message}"
        );
        assert!(elapsed < ERROR_BOUND, "{mode}: took {elapsed:?}");
        let started = Instant::now();
        let error = app.repository().get::<World>(world.id()).unwrap_err();
        assert_eq!(persistence_error(error).kind(), ErrorKind::Operational);
        assert!(started.elapsed() < ERROR_BOUND);
        let expected: Vec<i64> = (1..world.version() as i64).collect();
        assert_eq!(stored_versions(&mut admin, &schema, world.id()), expected);

        // Back: the pending event saves.
        match mode {
            "refused" => proxy.start_listening(),
            _ => proxy.set_blackhole(false),
        }
        app.save(&mut world).unwrap();
        let expected: Vec<i64> = (1..=world.version() as i64).collect();
        assert_eq!(stored_versions(&mut admin, &schema, world.id()), expected);
        let copy: World = app.repository().get(world.id()).unwrap();
        assert_eq!(copy, world);
    }
}

// ---------------------------------------------------------------------------------------------
// A connection lost while committing.

/// The commit is lost on its way to the server (the transaction rolls back), or the server
/// commits and its answer is lost, or the connection is cut just after the commit was sent.
/// Either way the save is reported as it happened: saved exactly once, and never an integrity
/// error from inserting again what was committed.
#[test]
fn a_connection_lost_while_committing() {
    let Some(schema) = TempSchema::new("commitlost") else {
        return;
    };
    let proxy = Proxy::to_test_server();
    let mut admin = pg::connect().unwrap();
    let app = worlds(
        &schema,
        &[
            ("POSTGRES_PORT", &proxy.port().to_string()),
            ("POSTGRES_HOST", "127.0.0.1"),
        ],
    )
    .unwrap();

    for fault in [
        Fault::CommitLost,
        Fault::AnswerLost,
        Fault::CutWhileCommitting,
    ] {
        for _ in 0..10 {
            let commits = proxy.commits();
            proxy.fail_next_commit(fault);
            let mut world = world_with(3);
            app.save(&mut world)
                .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            assert!(proxy.commits() > commits, "{fault:?}: no commit seen");
            assert_eq!(
                proxy.pending_faults(),
                0,
                "{fault:?}: the fault was not used"
            );
            assert_eq!(
                stored_versions(&mut admin, &schema, world.id()),
                [1, 2, 3],
                "{fault:?}"
            );
        }
    }

    // Every commit lost: an error after the retries, naming the commit; nothing stored; and
    // the events stay pending, to save when the connection is good again.
    proxy.fail_every_commit(Some(Fault::CommitLost));
    let mut world = world_with(2);
    let started = Instant::now();
    let error = app.save(&mut world).unwrap_err();
    let message = error.to_string();
    assert_eq!(persistence_error(error).kind(), ErrorKind::Interface);
    assert!(message.contains("can't commit"), "{message}");
    assert!(started.elapsed() < ERROR_BOUND);
    assert!(stored_versions(&mut admin, &schema, world.id()).is_empty());
    proxy.fail_every_commit(None);
    app.save(&mut world).unwrap();
    assert_eq!(stored_versions(&mut admin, &schema, world.id()), [1, 2]);

    // Tracking records, alone and with events.
    let recorder = app.recorder();
    let mapper = app.mapper();
    for (n, fault) in [
        Fault::CommitLost,
        Fault::AnswerLost,
        Fault::CutWhileCommitting,
    ]
    .into_iter()
    .enumerate()
    {
        let n = n as u64 * 2;
        proxy.fail_next_commit(fault);
        recorder
            .insert_events_with_tracking(&[], &[Tracking::new("Upstream", n + 1)])
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(proxy.pending_faults(), 0);
        assert_eq!(recorder.max_tracking_id("Upstream").unwrap(), n + 1);

        proxy.fail_next_commit(fault);
        let mut world = world_with(2);
        let events: Vec<StoredEvent> = world
            .collect_events()
            .iter()
            .map(|event| mapper.from_domain_event(event).unwrap())
            .collect();
        recorder
            .insert_events_with_tracking(&events, &[Tracking::new("Upstream", n + 2)])
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(proxy.pending_faults(), 0);
        assert_eq!(recorder.max_tracking_id("Upstream").unwrap(), n + 2);
        assert_eq!(stored_versions(&mut admin, &schema, world.id()), [1, 2]);
        // Recorded once: the same position again is refused.
        let error = recorder
            .insert_events_with_tracking(&[], &[Tracking::new("Upstream", n + 2)])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Integrity);
    }
}

/// The connection is cut just after the client sent `COMMIT`, and the server takes a while to
/// commit (a deferred trigger sleeps at commit time here; synchronous replication does the same
/// in production). The check of whether the insert committed must wait for the transaction to
/// end, rather than conclude "not committed", insert again, and report a conflict with itself.
#[test]
fn a_connection_lost_while_a_slow_commit_is_in_progress() {
    let Some(schema) = TempSchema::new("slowcommit") else {
        return;
    };
    let proxy = Proxy::to_test_server();
    let mut admin = pg::connect().unwrap();
    let app = worlds(
        &schema,
        &[
            ("POSTGRES_PORT", &proxy.port().to_string()),
            ("POSTGRES_HOST", "127.0.0.1"),
        ],
    )
    .unwrap();
    let s = schema.name();
    admin
        .batch_execute(&format!(
            "CREATE FUNCTION {s}.slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON {s}.worlds_events \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.slow_commit(); \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON {s}.worlds_tracking \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.slow_commit();"
        ))
        .unwrap();

    proxy.fail_next_commit(Fault::CutWhileCommitting);
    let mut world = World::create();
    app.save(&mut world).unwrap();
    assert_eq!(proxy.pending_faults(), 0);
    assert_eq!(stored_versions(&mut admin, &schema, world.id()), [1]);

    proxy.fail_next_commit(Fault::CutWhileCommitting);
    app.recorder()
        .insert_events_with_tracking(&[], &[Tracking::new("Upstream", 1)])
        .unwrap();
    assert_eq!(proxy.pending_faults(), 0);
    assert_eq!(app.recorder().max_tracking_id("Upstream").unwrap(), 1);

    // And when the commit never reached the server, the check finds nothing, and the insert
    // is tried again.
    proxy.fail_next_commit(Fault::CommitLost);
    let mut world = World::create();
    app.save(&mut world).unwrap();
    assert_eq!(stored_versions(&mut admin, &schema, world.id()), [1]);
}

/// A TCP proxy between the application and the server, which can cut connections around
/// `COMMIT`, cut them all, stop listening (refuse), or accept and never answer.
mod proxy {
    use std::collections::VecDeque;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    use eventsourcing_tests::pg;

    /// The simple-query message `COMMIT`: type `Q`, length 11, the text with its terminator.
    const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";
    /// The end of a simple-query message that commits a whole transaction.
    const BATCH_END: &[u8] = b"COMMIT;\0";

    /// What happens to a connection when the client sends `COMMIT`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// The commit is not forwarded; both sides are cut (the server rolls back).
        CommitLost,
        /// The commit is forwarded and the server answers; the answer is dropped and both sides
        /// cut (the server has committed).
        AnswerLost,
        /// The commit is forwarded and the client's side cut at once (the server commits, maybe
        /// after the client has noticed).
        CutWhileCommitting,
    }

    struct State {
        upstream: Option<String>,
        next: Mutex<VecDeque<Fault>>,
        every: Mutex<Option<Fault>>,
        commits: AtomicUsize,
        blackhole: AtomicBool,
        listening: AtomicBool,
        streams: Mutex<Vec<TcpStream>>,
        held: Mutex<Vec<TcpStream>>,
    }

    impl State {
        fn fault(&self) -> Option<Fault> {
            self.next
                .lock()
                .unwrap()
                .pop_front()
                .or(*self.every.lock().unwrap())
        }

        fn keep(&self, stream: &TcpStream) {
            if let Ok(clone) = stream.try_clone() {
                self.streams.lock().unwrap().push(clone);
            }
        }
    }

    pub struct Proxy {
        port: u16,
        state: Arc<State>,
        acceptor: Mutex<Option<JoinHandle<()>>>,
    }

    impl Proxy {
        /// A proxy to the test server.
        pub fn to_test_server() -> Proxy {
            let settings = pg::base_settings();
            Proxy::start(Some(format!("{}:{}", settings.host, settings.port)))
        }

        /// A proxy to nothing: connections are cut, or held (see [`Proxy::set_blackhole`]).
        pub fn to_nowhere() -> Proxy {
            Proxy::start(None)
        }

        fn start(upstream: Option<String>) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let proxy = Proxy {
                port: listener.local_addr().unwrap().port(),
                state: Arc::new(State {
                    upstream,
                    next: Mutex::new(VecDeque::new()),
                    every: Mutex::new(None),
                    commits: AtomicUsize::new(0),
                    blackhole: AtomicBool::new(false),
                    listening: AtomicBool::new(false),
                    streams: Mutex::new(Vec::new()),
                    held: Mutex::new(Vec::new()),
                }),
                acceptor: Mutex::new(None),
            };
            proxy.accept(listener);
            proxy
        }

        pub fn port(&self) -> u16 {
            self.port
        }

        /// How many `COMMIT` messages went through (or were cut).
        pub fn commits(&self) -> usize {
            self.state.commits.load(Ordering::SeqCst)
        }

        pub fn fail_next_commit(&self, fault: Fault) {
            self.state.next.lock().unwrap().push_back(fault);
        }

        pub fn pending_faults(&self) -> usize {
            self.state.next.lock().unwrap().len()
        }

        pub fn fail_every_commit(&self, fault: Option<Fault>) {
            *self.state.every.lock().unwrap() = fault;
        }

        /// New connections are accepted and then get no answer (`true`: a server that is
        /// stuck), or are forwarded (`false`: the server resumes, and answers the connections it
        /// held, if there is a server).
        pub fn set_blackhole(&self, on: bool) {
            self.state.blackhole.store(on, Ordering::SeqCst);
            if !on {
                for client in self.state.held.lock().unwrap().drain(..) {
                    forward(client, &self.state);
                }
            }
        }

        /// Cuts every connection.
        pub fn cut_all(&self) {
            for stream in self.state.streams.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }

        /// Closes the listening socket: connections are refused.
        pub fn stop_listening(&self) {
            self.state.listening.store(false, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the acceptor
            if let Some(acceptor) = self.acceptor.lock().unwrap().take() {
                acceptor.join().unwrap();
            }
        }

        /// Listens again, on the same port.
        pub fn start_listening(&self) {
            let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
            self.accept(listener);
        }

        fn accept(&self, listener: TcpListener) {
            self.state.listening.store(true, Ordering::SeqCst);
            let state = Arc::clone(&self.state);
            let acceptor = std::thread::spawn(move || {
                for client in listener.incoming() {
                    if !state.listening.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    state.keep(&client);
                    if state.blackhole.load(Ordering::SeqCst) {
                        state.held.lock().unwrap().push(client); // not answered, for now
                    } else {
                        forward(client, &state);
                    }
                }
            });
            *self.acceptor.lock().unwrap() = Some(acceptor);
        }
    }

    /// Connects `client` to the server and passes the bytes on both ways.
    fn forward(client: TcpStream, state: &Arc<State>) {
        let Some(server) = state
            .upstream
            .as_ref()
            .and_then(|upstream| TcpStream::connect(upstream).ok())
        else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        state.keep(&server);
        let swallow = Arc::new(AtomicBool::new(false));
        let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (st, sw) = (Arc::clone(state), Arc::clone(&swallow));
        std::thread::spawn(move || client_to_server(c, s, &st, &sw));
        std::thread::spawn(move || server_to_client(server, client, &swallow));
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.stop_listening();
            self.cut_all();
            self.state.held.lock().unwrap().clear();
        }
    }

    fn cut(a: &TcpStream, b: &TcpStream) {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    }

    fn client_to_server(
        mut client: TcpStream,
        mut server: TcpStream,
        state: &State,
        swallow: &AtomicBool,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            // The commit is its own message (`COMMIT`), or ends the one query the recorder sends
            // a whole transaction in (`BEGIN; ...; COMMIT;`).
            if chunk.windows(COMMIT.len()).any(|w| w == COMMIT) || chunk.ends_with(BATCH_END) {
                state.commits.fetch_add(1, Ordering::SeqCst);
                match state.fault() {
                    None => {}
                    Some(Fault::CommitLost) => break,
                    Some(Fault::AnswerLost) => {
                        swallow.store(true, Ordering::SeqCst);
                        let _ = server.write_all(chunk);
                        return; // the other direction cuts both when the answer comes
                    }
                    Some(Fault::CutWhileCommitting) => {
                        let _ = server.write_all(chunk);
                        let _ = client.shutdown(Shutdown::Both);
                        return; // the server's side closes when its answer can't be passed on
                    }
                }
            }
            if server.write_all(chunk).is_err() {
                break;
            }
        }
        cut(&client, &server);
    }

    fn server_to_client(mut server: TcpStream, mut client: TcpStream, swallow: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if swallow.load(Ordering::SeqCst) || client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        cut(&client, &server);
    }
}
