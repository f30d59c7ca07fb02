//! Exactly-once processing under faults: a follower process is killed (SIGKILL) at random
//! points while it processes 10,000 upstream events (SQLite) or 3,000 (PostgreSQL), and
//! restarted until it is done. Every upstream event must then have been counted exactly once.
//!
//! The test spawns its own test binary as the follower process: the test
//! `follower_child_process` does nothing unless the environment variable [`CHILD_ENV`] names
//! where the databases are (a directory of SQLite files, or `postgres:` and a schema). Set
//! `ES_SIGKILL_SEED` to replay a run's kill delays (the seed is printed). The PostgreSQL test is
//! skipped, with a message, when no server answers (outside CI).

mod system_common;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;
use eventsourcing::system::{Follower, PolicyResult, Process, ProcessingEvent};
use eventsourcing_tests::pg::{self, TempSchema};
use system_common::{builder, temp_dir, Backend, World, WorldEvent, Worlds};

/// Names where the databases are, in the child process.
const CHILD_ENV: &str = "ES_SIGKILL_CHILD_DIR";
/// What the child prints when it has processed everything.
const DONE: &str = "ES-SIGKILL-CHILD-DONE";

const EVENTS_PER_WORLD: u64 = 10;
/// Notifications per transaction in the child: small, so that there are many commits to land a
/// kill between, or in.
const BATCH_SIZE: usize = 10;
/// After this many kills, the child is left to finish.
const MAX_KILLS: u32 = 40;

/// A tally of the events of one upstream world: the follower keeps one per world, with the
/// world's id. Each `Counted` event records the upstream notification it counted.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tally {
    count: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("event {version} of the world arrived after {count} were counted")]
pub struct OutOfSequence {
    version: u64,
    count: u64,
}

#[aggregate]
impl Tally {
    #[created]
    pub fn create(id: Uuid) -> Self {
        Tally { count: 0 }
    }

    /// Counts the world's event `version` (notification `notification_id` upstream): refused
    /// unless it is the next one, so that counting one twice, or skipping one, fails loudly.
    #[event("Counted")]
    pub fn count(&mut self, notification_id: u64, version: u64) -> Result<(), OutOfSequence> {
        let _ = notification_id;
        if version != self.count + 1 {
            return Err(OutOfSequence {
                version,
                count: self.count,
            });
        }
        self.count += 1;
        Ok(())
    }
}

pub struct Tallies {
    app: Application,
}

impl AsRef<Application> for Tallies {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Tallies {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let id = event.originator_id;
        let mut tally = processing.get_or_else(id, || Tally::create(id))?;
        tally.count(processing.notification_id(), event.originator_version)?;
        processing.save(&mut tally)?;
        Ok(())
    }
}

/// Where the leader's and the follower's events are: SQLite files in a directory, or tables in
/// a PostgreSQL schema.
#[derive(Debug, Clone)]
enum Place {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Place {
    const POSTGRES: &'static str = "postgres:";

    /// The place a child process is given.
    fn from_env(value: OsString) -> Place {
        match value.to_str().and_then(|v| v.strip_prefix(Self::POSTGRES)) {
            Some(schema) => Place::Postgres(schema.to_string()),
            None => Place::Sqlite(PathBuf::from(value)),
        }
    }

    fn to_env(&self) -> OsString {
        match self {
            Place::Sqlite(dir) => dir.clone().into_os_string(),
            Place::Postgres(schema) => format!("{}{schema}", Self::POSTGRES).into(),
        }
    }

    fn builder(&self, name: &str) -> ApplicationBuilder {
        match self {
            Place::Sqlite(dir) => builder(name, Backend::Sqlite, dir),
            Place::Postgres(schema) => Application::builder(name)
                .without_process_env()
                .envs(pg::schema_env(schema)),
        }
    }
}

fn tallies(place: &Place) -> Tallies {
    Tallies {
        app: place.builder("Tallies").build().unwrap(),
    }
}

/// The child process: follows the leader's log until it has processed everything.
#[test]
fn follower_child_process() {
    let Some(place) = std::env::var_os(CHILD_ENV) else {
        return; // only a child process when the parent test runs it
    };
    let place = Place::from_env(place);
    let leader = Worlds::new(place.builder("Worlds"));
    let follower = Follower::new(Arc::new(tallies(&place)));
    follower.follow_application(&leader.app, BATCH_SIZE);
    follower.pull_and_process("Worlds").unwrap();
    assert_eq!(
        follower
            .application()
            .recorder()
            .max_tracking_id("Worlds")
            .unwrap(),
        leader.max_notification_id()
    );
    println!("{DONE}");
}

/// A small PRNG (xorshift64*), so that no dependency is needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `low..high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

fn seed() -> u64 {
    match std::env::var("ES_SIGKILL_SEED") {
        Ok(seed) => seed.parse().expect("ES_SIGKILL_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    }
}

/// Runs the child until it exits, or kills it (SIGKILL) after `kill_after`. Returns its output
/// and whether it was killed.
fn run_child(place: &Place, kill_after: Option<Duration>) -> (Output, bool) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "follower_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, place.to_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if kill_after.is_some_and(|delay| started.elapsed() >= delay) {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the child process hangs"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (child.wait_with_output().unwrap(), killed)
}

/// The follower's position, read by a new application object over its database.
fn tracked(place: &Place) -> u64 {
    tallies(place)
        .app
        .recorder()
        .max_tracking_id("Worlds")
        .unwrap()
}

#[test]
fn a_follower_killed_at_random_points_processes_every_event_exactly_once() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = temp_dir("sigkill");
    killed_at_random_points(&Place::Sqlite(dir.clone()), 1_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same on PostgreSQL: the server rolls back the transaction of a killed process.
#[test]
fn a_follower_killed_at_random_points_processes_every_event_exactly_once_postgres() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let Some(schema) = TempSchema::new("sigkill") else {
        return;
    };
    killed_at_random_points(&Place::Postgres(schema.name().to_string()), 300);
}

/// The leader saves `n_worlds` worlds of 10 events; the follower is killed and restarted until
/// it has processed them all.
fn killed_at_random_points(place: &Place, n_worlds: usize) {
    let n_events = n_worlds as u64 * EVENTS_PER_WORLD;
    let started = Instant::now();

    // The leader: 10 events per world, saved 100 worlds per transaction.
    let worlds = Worlds::new(place.builder("Worlds"));
    let mut world_ids = Vec::with_capacity(n_worlds);
    for _ in 0..n_worlds / 100 {
        let mut batch: Vec<World> = (0..100)
            .map(|_| {
                let mut world = World::create();
                for i in 1..EVENTS_PER_WORLD {
                    world.make_it_so(format!("thing {i}"));
                }
                world
            })
            .collect();
        worlds.app.save(&mut batch).unwrap();
        world_ids.extend(batch.iter().map(|w| w.id()));
    }
    assert_eq!(worlds.max_notification_id(), n_events);
    drop(worlds);

    // Run the follower process, killing it after a random delay, until it is done. A kill
    // that made no progress widens the range of delays, so that the child always gets further.
    let seed = seed();
    eprintln!("ES_SIGKILL_SEED={seed}");
    let mut rng = Rng(seed);
    let (mut low, mut high) = (5u64, 150u64);
    let mut position = 0;
    let (mut runs, mut kills, mut kills_mid_processing) = (0u32, 0u32, 0u32);
    loop {
        runs += 1;
        let kill_after = (kills < MAX_KILLS).then(|| Duration::from_millis(rng.range(low, high)));
        let (output, killed) = run_child(place, kill_after);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let finished = output.status.success() && stdout.contains(DONE);
        let new_position = tracked(place);
        assert!(new_position >= position, "the position moved backwards");
        if finished {
            assert_eq!(new_position, n_events);
            break;
        }
        assert!(
            killed,
            "the child process failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        kills += 1;
        if new_position > position && new_position < n_events {
            kills_mid_processing += 1;
        } else if new_position == position {
            low = high;
            high += high / 2;
        }
        position = new_position;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{place:?}: {runs} runs, {kills} kills, {kills_mid_processing} of them after the child had \
         processed some and before it finished; {elapsed:?}"
    );
    assert!(
        kills_mid_processing >= 3,
        "only {kills_mid_processing} kills landed while the child was processing"
    );

    // Every upstream event counted exactly once.
    let tallies = tallies(place);
    assert_eq!(
        tallies.app.recorder().max_tracking_id("Worlds").unwrap(),
        n_events
    );
    for id in &world_ids {
        let tally: Tally = tallies.app.repository().get(*id).unwrap();
        assert_eq!(tally.count, EVENTS_PER_WORLD);
    }
    // The follower's own log: one created event per world, and one counted event per upstream
    // notification, each notification exactly once.
    let mapper = tallies.app.mapper();
    let mut counted: BTreeMap<u64, u32> = BTreeMap::new();
    let mut created = HashSet::new();
    let mut notifications = 0;
    let mut start = 1;
    loop {
        let page = tallies
            .app
            .recorder()
            .select_notifications(start, 1000)
            .unwrap();
        let Some(last) = page.last() else { break };
        start = last.id + 1;
        notifications += page.len();
        for notification in &page {
            let event: DomainEvent<TallyEvent> = mapper.to_domain_event(notification).unwrap();
            match event.payload {
                TallyEvent::Created => assert!(created.insert(event.originator_id)),
                TallyEvent::Counted {
                    notification_id, ..
                } => *counted.entry(notification_id).or_default() += 1,
            }
        }
    }
    assert_eq!(created.len(), n_worlds);
    assert_eq!(counted.len() as u64, n_events);
    assert_eq!(counted.keys().next(), Some(&1));
    assert_eq!(counted.keys().next_back(), Some(&n_events));
    assert!(counted.values().all(|&times| times == 1));
    assert_eq!(notifications as u64, n_worlds as u64 + n_events);
    // SQLite's ids have no gaps; PostgreSQL's sequence leaves one for each rolled back insert
    // (the transactions of killed processes).
    let max_id = tallies.app.recorder().max_notification_id().unwrap();
    match place {
        Place::Sqlite(_) => assert_eq!(max_id, notifications as u64),
        Place::Postgres(_) => assert!(max_id >= notifications as u64),
    }
}
