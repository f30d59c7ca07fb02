//! Three replicas of one worker (a process application counting what happens in worlds, on
//! SQLite files with an `SqliteLease`, and on PostgreSQL with a `PostgresLease`) while 10,000
//! upstream events are written; the active replica is killed with SIGKILL several times: each
//! time a standby takes over within the documented time, and every event is counted exactly
//! once.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::prelude::*;
use eventsourcing::sqlite::SqliteLease;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, System};
use eventsourcing::worker::{ProcessJob, Worker};
use eventsourcing_tests::TempDir;

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {}

#[aggregate(module = "replicas")]
impl World {
    #[created]
    pub fn create() -> Self {
        World {}
    }

    #[event("SomethingHappened")]
    pub fn make_it_so(&mut self, what: String) {
        let _ = what;
    }
}

pub struct Worlds {
    app: Application,
}

impl AsRef<Application> for Worlds {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

#[aggregate(module = "replicas")]
impl Counter {
    pub fn create_id(name: &str) -> Uuid {
        eventsourcing::domain::url_id(&format!("/replicas/{name}"))
    }

    #[created]
    pub fn create(name: String) -> Self {
        let _ = name;
        Counter { count: 0 }
    }

    #[event]
    pub fn incremented(&mut self) {
        self.count += 1;
    }
}

pub struct Counters {
    app: Application,
}

impl AsRef<Application> for Counters {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Counters {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        if let WorldEvent::SomethingHappened { what } = event.payload {
            let id = Counter::create_id(&what);
            let mut counter = processing.get_or_else(id, || Counter::create(what))?;
            counter.incremented();
            processing.save(&mut counter)?;
        }
        Ok(())
    }
}

const EVENTS: usize = 10_000;
const PER_SAVE: usize = 10;
const COUNTERS: usize = 50;
const KILLS: usize = 4;
/// The replicas' takeover interval: a standby tries the lease this often.
const TAKEOVER_INTERVAL: Duration = Duration::from_millis(100);
/// What the docs promise for a killed holder: one takeover interval, plus the time the lock
/// takes to be released and the replica to start (generous, for a loaded machine).
const TAKEOVER_BOUND: Duration = Duration::from_secs(5);

/// Where the replicas' databases are: SQLite files in a directory, or a PostgreSQL schema.
#[derive(Debug, Clone)]
enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    /// As an environment variable's value, for the replicas.
    fn encode(&self) -> String {
        match self {
            Store::Sqlite(dir) => format!("sqlite:{}", dir.display()),
            Store::Postgres(schema) => format!("postgres:{schema}"),
        }
    }

    fn decode(value: &str) -> Option<Store> {
        match value.split_once(':')? {
            ("sqlite", dir) => Some(Store::Sqlite(PathBuf::from(dir))),
            ("postgres", schema) => Some(Store::Postgres(schema.to_string())),
            _ => None,
        }
    }

    fn application(&self, name: &str, file: &str) -> Application {
        let builder = Application::builder(name).without_process_env();
        let builder = match self {
            Store::Sqlite(dir) => builder.sqlite(dir.join(file)),
            Store::Postgres(schema) => builder.envs(eventsourcing_tests::pg::schema_env(schema)),
        };
        builder.build().expect("the application")
    }

    fn lease(&self) -> Arc<dyn eventsourcing::persistence::Lease> {
        match self {
            Store::Sqlite(dir) => Arc::new(SqliteLease::new(dir.join("counters.lock"))),
            Store::Postgres(schema) => {
                let mut settings = eventsourcing_tests::pg::base_settings();
                settings.schema = Some(schema.clone());
                let datastore = Arc::new(
                    eventsourcing::postgres::PostgresDatastore::new(settings).expect("a datastore"),
                );
                Arc::new(eventsourcing::postgres::PostgresLease::new(
                    datastore,
                    format!("counters-{schema}"),
                ))
            }
        }
    }
}

fn worlds(store: &Store) -> Application {
    store.application("Worlds", "worlds.db")
}

fn counters(store: &Store) -> Application {
    store.application("Counters", "counters.db")
}

/// Set in the replicas: where the databases are (`Store::encode`).
const REPLICA_STORE: &str = "EVENTSOURCING_TESTS_REPLICA_STORE";

/// A replica: runs the worker until killed, printing `ACTIVE` each time it takes the lease.
#[test]
fn replica_runs_until_killed() {
    let Some(store) = std::env::var(REPLICA_STORE)
        .ok()
        .and_then(|v| Store::decode(&v))
    else {
        return; // Only as a child of the tests below.
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let leader = Arc::new(Worlds {
            app: worlds(&store),
        });
        let follower = Arc::new(Counters {
            app: counters(&store),
        });
        let job = ProcessJob::new(move || System::new().pipe(&leader, &follower));
        let worker =
            Arc::new(Worker::new("counters", store.lease()).takeover_interval(TAKEOVER_INTERVAL));
        let reporter = {
            let worker = Arc::clone(&worker);
            tokio::spawn(async move {
                let mut active = false;
                loop {
                    let now = worker.status().active;
                    if now && !active {
                        println!("ACTIVE");
                    }
                    active = now;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        worker
            .run(&job, std::future::pending())
            .await
            .expect("the worker ran");
        reporter.abort();
    });
}

struct Replica {
    child: Child,
    id: usize,
}

fn spawn_replica(store: &Store, id: usize, lines: &Sender<(usize, String, Instant)>) -> Replica {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "replica_runs_until_killed", "--nocapture"])
        .env(REPLICA_STORE, store.encode())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a replica starts");
    let stdout = child.stdout.take().expect("piped");
    let lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((id, line, Instant::now()));
        }
    });
    Replica { child, id }
}

/// Waits for the next `ACTIVE` line: which replica, and when.
fn next_active(lines: &Receiver<(usize, String, Instant)>, within: Duration) -> (usize, Instant) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (id, line, at) = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no replica became active within {within:?}"));
        if line.trim() == "ACTIVE" {
            return (id, at);
        }
    }
}

#[test]
fn killed_active_replicas_are_replaced_and_count_exactly_once() {
    let dir = TempDir::new("worker-replicas");
    replicas_count_exactly_once(&Store::Sqlite(dir.path().to_path_buf()));
}

/// The same on PostgreSQL, with a `PostgresLease` (an advisory lock held by a session).
#[test]
fn postgres_killed_active_replicas_are_replaced_and_count_exactly_once() {
    let Some(schema) = eventsourcing_tests::pg::TempSchema::new("replicas") else {
        return eventsourcing_tests::pg::Skipped::skipped();
    };
    replicas_count_exactly_once(&Store::Postgres(schema.name().to_string()));
}

fn replicas_count_exactly_once(store: &Store) {
    let leader = worlds(store);
    let follower = counters(store);
    let (lines, received) = channel();
    let mut replicas: Vec<Replica> = (0..3).map(|id| spawn_replica(store, id, &lines)).collect();
    let mut next_id = 3;

    let writer = std::thread::spawn(move || {
        let mut world = World::create();
        leader.save(&mut world).expect("created");
        for save in 0..EVENTS / PER_SAVE {
            for i in 0..PER_SAVE {
                world.make_it_so(format!("counter-{}", (save * PER_SAVE + i) % COUNTERS));
            }
            leader.save(&mut world).expect("saved");
        }
        leader
    });

    let (mut active, _) = next_active(&received, Duration::from_secs(30));
    let mut takeovers = Vec::new();
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(400));
        let index = replicas
            .iter()
            .position(|r| r.id == active)
            .expect("the active replica");
        let mut killed = replicas.remove(index);
        killed.child.kill().expect("SIGKILL");
        let killed_at = Instant::now();
        killed.child.wait().expect("reaped");
        replicas.push(spawn_replica(store, next_id, &lines));
        next_id += 1;
        let (now_active, at) = next_active(&received, Duration::from_secs(30));
        assert_ne!(now_active, killed.id, "a killed replica can't take over");
        let took = at.saturating_duration_since(killed_at);
        assert!(took <= TAKEOVER_BOUND, "took over in {took:?}");
        takeovers.push(took);
        active = now_active;
    }
    let leader = writer.join().expect("the writer ran");

    let head = leader.recorder().max_notification_id().expect("head");
    let deadline = Instant::now() + Duration::from_secs(120);
    while follower
        .recorder()
        .max_tracking_id("Worlds")
        .expect("position")
        < head
    {
        assert!(Instant::now() < deadline, "the active replica caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    for mut replica in replicas {
        replica.child.kill().expect("SIGKILL");
        replica.child.wait().expect("reaped");
    }
    let total: u64 = (0..COUNTERS)
        .map(|i| {
            follower
                .repository()
                .get::<Counter>(Counter::create_id(&format!("counter-{i}")))
                .expect("counted")
                .count
        })
        .sum();
    assert_eq!(total, EVENTS as u64, "every event counted exactly once");
    eprintln!("{KILLS} takeovers, in {takeovers:?}");
}
