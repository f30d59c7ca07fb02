#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark program reports on stdout
//! The reference workloads (`../shared/bench/README.md`), with our library: the same aggregate,
//! the same amounts, the same durability settings as the Python side's defaults. Prints one
//! JSON line with the same keys as `python/bench.py`, so that `compare.py` runs unchanged.
//!
//! ```text
//! cargo run --release -p eventsourcing-bench -- WORKLOAD [--n N] [--events E] [--reps R] [--page P]
//! ```
//!
//! Besides the reference workloads, `sqlite_raw_write` and `raw_decode` measure the physical
//! limits the reference workloads are compared with (see BENCHMARKS.md), `system_multi` runs
//! the system workload with the multi-threaded runner, and `async_concurrent_commands` and
//! `async_concurrent_commands_blocking` run many concurrent commands on PostgreSQL
//! (`workloads::concurrent`; `--events-per-save K`), and `concurrent_write` makes
//! `sqlite_write`'s and `postgres_write`'s saves from several threads at once
//! (`workloads::write`; `--writers 1,4,16`, `--backends sqlite,postgres`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::persistence::AesCipher;
use eventsourcing::prelude::*;
use eventsourcing::system::{
    MultiThreadedRunner, PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System,
};
use eventsourcing_bench::{Dog, DogEvent, TRICKS_PER_DOG};
use serde_json::{json, Map, Value};

mod workloads;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Output = Map<String, Value>;

/// The command line: the workload and the reference's four options.
#[derive(Debug, Default, Clone)]
struct Args {
    workload: String,
    n: usize,
    events: usize,
    reps: usize,
    page: usize,
    /// `--events-per-save K` (the concurrent-commands workloads): commands applied between
    /// saves.
    events_per_save: usize,
    /// `--writers 1,4,16` (`concurrent_write`): the writer counts.
    writers: Vec<usize>,
    /// `--backends sqlite,postgres` (`concurrent_write`): the backends.
    backends: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args::default();
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            let mut value = |name: &str| -> Result<usize, String> {
                words
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{name} takes a number"))
            };
            match word.as_str() {
                "--n" => args.n = value("--n")?,
                "--events" => args.events = value("--events")?,
                "--reps" => args.reps = value("--reps")?,
                "--page" => args.page = value("--page")?,
                "--events-per-save" => args.events_per_save = value("--events-per-save")?,
                "--writers" => {
                    args.writers = words
                        .next()
                        .and_then(|v| v.split(',').map(|n| n.trim().parse().ok()).collect())
                        .ok_or("--writers takes numbers, as in 1,4,16")?;
                }
                "--backends" => {
                    args.backends = words
                        .next()
                        .map(|v| v.split(',').map(|b| b.trim().to_string()).collect())
                        .ok_or("--backends takes names, as in sqlite,postgres")?;
                }
                "--keep" => {}
                other if args.workload.is_empty() && !other.starts_with('-') => {
                    args.workload = other.to_string();
                }
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        if args.workload.is_empty() {
            return Err(format!("usage: eventsourcing-bench WORKLOAD [--n N] [--events E] [--reps R] [--page P]\nworkloads: {}", WORKLOADS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")));
        }
        Ok(args)
    }

    fn or(value: usize, default: usize) -> usize {
        if value == 0 {
            default
        } else {
            value
        }
    }
}

type Workload = fn(&Args, &Path) -> Result<Output, BoxError>;

const WORKLOADS: &[(&str, Workload)] = &[
    ("mem_write", mem_write),
    ("sqlite_write", sqlite_write),
    ("sqlite_write_encrypted", sqlite_write_encrypted),
    ("sqlite_write_keyed", sqlite_write_keyed),
    ("sqlite_write_chained", sqlite_write_chained),
    ("sqlite_replay", sqlite_replay),
    ("sqlite_notifications", sqlite_notifications),
    ("system", system),
    ("system_multi", system_multi),
    ("postgres_write", postgres_write),
    ("postgres_replay", postgres_replay),
    ("conflict_sqlite", conflict_sqlite),
    ("conflict_postgres", conflict_postgres),
    ("sqlite_raw_write", sqlite_raw_write),
    ("sqlite_raw_write_encrypted", sqlite_raw_write_encrypted),
    ("raw_decode", raw_decode),
    ("sqlite_raw_select", sqlite_raw_select),
    (
        "async_concurrent_commands",
        workloads::concurrent::async_concurrent_commands,
    ),
    (
        "async_concurrent_commands_blocking",
        workloads::concurrent::async_concurrent_commands_blocking,
    ),
    (
        "subscribe_latency_sqlite",
        workloads::subscribe::subscribe_latency_sqlite,
    ),
    (
        "subscribe_latency_postgres",
        workloads::subscribe::subscribe_latency_postgres,
    ),
    (
        "projection_postgres",
        workloads::subscribe::projection_postgres,
    ),
    ("concurrent_write", workloads::write::concurrent_write),
];

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let Some((_, workload)) = WORKLOADS.iter().find(|(name, _)| *name == args.workload) else {
        eprintln!("unknown workload {:?}", args.workload);
        return ExitCode::from(2);
    };
    let base = std::env::var_os("BENCH_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let tmp = base.join(format!(
        "esbench-rs-{}-{}",
        args.workload,
        std::process::id()
    ));
    let mut out = Output::new();
    out.insert("workload".into(), json!(args.workload));
    out.insert("eventsourcing_rs".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert(
        "args".into(),
        json!({"n": args.n, "events": args.events, "reps": args.reps, "page": args.page}),
    );
    out.insert("tmpdir_base".into(), json!(base.to_string_lossy()));
    let started = Instant::now();
    let result = std::fs::create_dir_all(&tmp)
        .map_err(BoxError::from)
        .and_then(|()| workload(&args, &tmp));
    let code = match result {
        Ok(figures) => {
            out.extend(figures);
            out.insert("ok".into(), json!(true));
            ExitCode::SUCCESS
        }
        Err(error) => {
            out.insert("ok".into(), json!(false));
            out.insert("error".into(), json!(error.to_string()));
            ExitCode::FAILURE
        }
    };
    out.insert(
        "total_wall_s".into(),
        json!(started.elapsed().as_secs_f64()),
    );
    out.insert("maxrss_kb".into(), json!(max_rss_kb()));
    let _ = std::fs::remove_dir_all(&tmp);
    println!("{}", Value::Object(out));
    code
}

/// Peak resident memory, from /proc (no unsafe `getrusage`).
fn max_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The application of the write, replay and notification workloads.
fn dog_school(builder: ApplicationBuilder) -> Result<Application, ApplicationError> {
    builder.without_process_env().section_size(1000).build()
}

fn sqlite_builder(name: &str, db: &Path) -> ApplicationBuilder {
    Application::builder(name).without_process_env().sqlite(db)
}

fn new_dog(i: usize) -> Dog {
    let mut dog = Dog::register(format!("dog-{i}"));
    for j in 0..TRICKS_PER_DOG {
        dog.add_trick(format!("trick-{j}"));
    }
    dog
}

/// W1/W2/W6/W7: n dogs, 9 tricks each, one save per dog.
fn write_dogs(app: &Application, n: usize) -> Result<Output, BoxError> {
    let mut save_time = Duration::ZERO;
    let started = Instant::now();
    for i in 0..n {
        let mut dog = new_dog(i);
        let saving = Instant::now();
        app.save(&mut dog)?;
        save_time += saving.elapsed();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let events = n * (TRICKS_PER_DOG + 1);
    let save_only = save_time.as_secs_f64();
    Ok(figures(json!({
        "aggregates": n,
        "events": events,
        "saves": n,
        "elapsed_s": elapsed,
        "events_per_s": events as f64 / elapsed,
        "saves_per_s": n as f64 / elapsed,
        "save_only_s": save_only,
        "save_only_events_per_s": events as f64 / save_only,
        "us_per_save": 1e6 * elapsed / n as f64,
    })))
}

fn figures(value: Value) -> Output {
    match value {
        Value::Object(map) => map,
        _ => Output::new(),
    }
}

fn mem_write(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let app = dog_school(Application::builder("DogSchool").memory())?;
    let mut out = write_dogs(&app, Args::or(args.n, 10_000))?;
    out.insert("recorder".into(), json!("InMemoryRecorder"));
    Ok(out)
}

fn sqlite_write_with(
    args: &Args,
    tmp: &Path,
    builder: impl FnOnce(ApplicationBuilder) -> ApplicationBuilder,
) -> Result<Output, BoxError> {
    let db = tmp.join("w2.db");
    let app = dog_school(builder(sqlite_builder("DogSchool", &db)))?;
    let mut out = write_dogs(&app, Args::or(args.n, 2000))?;
    drop(app);
    out.insert("recorder".into(), json!("SqliteApplicationRecorder"));
    out.insert("db_bytes".into(), json!(dir_bytes(tmp)));
    let connection = rusqlite::Connection::open(&db)?;
    let rows: i64 = connection.query_row("SELECT COUNT(*) FROM stored_events", [], |r| r.get(0))?;
    let avg: f64 =
        connection.query_row("SELECT AVG(LENGTH(state)) FROM stored_events", [], |r| {
            r.get(0)
        })?;
    let journal: String = connection.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    out.insert("rows".into(), json!(rows));
    out.insert("avg_state_bytes".into(), json!(avg));
    out.insert("journal_mode".into(), json!(journal));
    out.insert("synchronous".into(), json!(2));
    Ok(out)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn sqlite_write(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    sqlite_write_with(args, tmp, |b| b)
}

fn sqlite_write_encrypted(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let key = AesCipher::create_key(32)?;
    let mut out = sqlite_write_with(args, tmp, |b| b.cipher_key(key).zlib_compression())?;
    out.insert("cipher".into(), json!("AesCipher (AES-256-GCM)"));
    out.insert("compressor".into(), json!("ZlibCompressor"));
    Ok(out)
}

/// `sqlite_write` with hash-chained events (each save a new aggregate's first events, chained
/// in the mapper: no stored head to read).
fn sqlite_write_chained(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let mut out = sqlite_write_with(args, tmp, |b| b.hash_chain(true))?;
    out.insert("hash_chain".into(), json!("SHA-256 per aggregate"));
    Ok(out)
}

/// `sqlite_write_encrypted` with per-aggregate keys: each save makes a new aggregate, so each
/// makes (and stores, in its transaction) a data key, and first reads the key table.
fn sqlite_write_keyed(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let key = AesCipher::create_key(32)?;
    let mut out = sqlite_write_with(args, tmp, |b| {
        b.cipher_key(key)
            .zlib_compression()
            .per_aggregate_keys(true)
    })?;
    out.insert(
        "cipher".into(),
        json!("per-aggregate AES-256-GCM data keys under AesCipher"),
    );
    out.insert("compressor".into(), json!("ZlibCompressor"));
    Ok(out)
}

fn summarize(times: &[f64]) -> Value {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        0.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    json!({
        "first": times.first().copied().unwrap_or(0.0),
        "median": median,
        "min": sorted.first().copied().unwrap_or(0.0),
        "max": sorted.last().copied().unwrap_or(0.0),
    })
}

fn time_reps(
    reps: usize,
    mut f: impl FnMut() -> Result<(), BoxError>,
) -> Result<Vec<f64>, BoxError> {
    (0..reps)
        .map(|_| {
            let started = Instant::now();
            f()?;
            Ok(started.elapsed().as_secs_f64())
        })
        .collect()
}

fn scaled(value: &Value, factor: f64) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json!(v.as_f64().unwrap_or(0.0) * factor)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// W3/W8: one dog with `events` events; time a full get; take a snapshot; time get again.
fn replay(
    plain: &Application,
    snapshotting: &Application,
    args: &Args,
) -> Result<Output, BoxError> {
    let n_events = Args::or(args.events, 10_000);
    let reps = Args::or(args.reps, 5);
    let mut dog = Dog::register("replay-dog".into());
    for j in 0..n_events - 1 {
        dog.add_trick(format!("trick-{j}"));
    }
    let started = Instant::now();
    plain.save(&mut dog)?;
    let setup = started.elapsed().as_secs_f64();
    let id = dog.id();
    drop(dog);

    let expect = |dog: Dog| -> Result<(), BoxError> {
        if dog.version() == n_events as u64 {
            Ok(())
        } else {
            Err(format!("got version {}, expected {n_events}", dog.version()).into())
        }
    };
    let times = time_reps(reps, || expect(plain.repository().get::<Dog>(id)?))?;
    let get = summarize(&times);
    let started = Instant::now();
    snapshotting.take_snapshot::<Dog>(id, None)?;
    let take_snapshot = started.elapsed().as_secs_f64();
    let snapshot_times = time_reps(reps, || expect(snapshotting.repository().get::<Dog>(id)?))?;
    let after = summarize(&snapshot_times);
    let median = get["median"].as_f64().unwrap_or(f64::NAN);
    Ok(figures(json!({
        "events": n_events,
        "setup_save_s": setup,
        "get_ms": scaled(&get, 1e3),
        "get_ms_median": median * 1e3,
        "replay_events_per_s": n_events as f64 / median,
        "take_snapshot_ms": take_snapshot * 1e3,
        "get_after_snapshot_ms": scaled(&after, 1e3),
        "get_after_snapshot_ms_median": after["median"].as_f64().unwrap_or(f64::NAN) * 1e3,
        "reps": reps,
    })))
}

fn sqlite_replay(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let db = tmp.join("w3.db");
    let plain = dog_school(sqlite_builder("DogSchool", &db))?;
    let snapshotting = dog_school(sqlite_builder("DogSchool", &db).snapshotting(true))?;
    let mut out = replay(&plain, &snapshotting, args)?;
    let connection = rusqlite::Connection::open(&db)?;
    let bytes: i64 =
        connection.query_row("SELECT LENGTH(state) FROM stored_snapshots", [], |r| {
            r.get(0)
        })?;
    out.insert("snapshot_state_bytes".into(), json!(bytes));
    Ok(out)
}

/// Fast setup: `total` events as dogs of 10 events, 100 dogs per save.
fn bulk_fill(app: &Application, total: usize) -> Result<f64, BoxError> {
    let started = Instant::now();
    let dogs = total / (TRICKS_PER_DOG + 1);
    let mut batch = Vec::with_capacity(100);
    for i in 0..dogs {
        batch.push(new_dog(i));
        if batch.len() == 100 {
            app.save(&mut batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        app.save(&mut batch)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// W4: read every notification in pages; then read and decode them to domain events.
fn sqlite_notifications(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let total = Args::or(args.events, 100_000);
    let page = Args::or(args.page, 1000);
    let reps = Args::or(args.reps, 3);
    let app = dog_school(sqlite_builder("DogSchool", &tmp.join("w4.db")))?;
    let setup = bulk_fill(&app, total)?;
    let read_all = |decode: bool| -> Result<(), BoxError> {
        let mut count = 0;
        let mut start = 1;
        loop {
            let items = app.log().select(start, page)?;
            let Some(last) = items.last() else { break };
            start = last.id + 1;
            if decode {
                for notification in &items {
                    let event: DomainEvent<DogEvent> =
                        app.mapper().to_domain_event(notification)?;
                    std::hint::black_box(event);
                }
            }
            count += items.len();
        }
        if count == total {
            Ok(())
        } else {
            Err(format!("read {count} notifications, expected {total}").into())
        }
    };
    let raw = summarize(&time_reps(reps, || read_all(false))?);
    let decoded = summarize(&time_reps(reps, || read_all(true))?);
    Ok(figures(json!({
        "events": total,
        "page": page,
        "setup_fill_s": setup,
        "read_s": raw,
        "events_per_s": total as f64 / raw["median"].as_f64().unwrap_or(f64::NAN),
        "read_decode_s": decoded,
        "decode_events_per_s": total as f64 / decoded["median"].as_f64().unwrap_or(f64::NAN),
        "reps": reps,
    })))
}

/// The counter of the system workload: one per dog.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    name: String,
    count: u64,
}

#[aggregate(module = "dogs")]
impl Counter {
    /// The id of the counter `name`: uuid5 of `/counters/{name}`, as the Python side.
    pub fn create_id(name: &str) -> Uuid {
        eventsourcing::domain::url_id(&format!("/counters/{name}"))
    }

    /// A new counter.
    #[created]
    pub fn create(name: String) -> Self {
        Counter { name, count: 0 }
    }

    /// Adds one.
    #[event("Incremented")]
    pub fn increment(&mut self) {
        self.count += 1;
    }
}

/// The leader of the system workload.
struct DogsLeader {
    app: Application,
}

impl AsRef<Application> for DogsLeader {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl DogsLeader {
    fn register_dog_with_tricks(&self, i: usize) -> Result<(), ApplicationError> {
        self.app.save(&mut new_dog(i))
    }
}

/// The follower: one counter per leader aggregate.
struct PerDogCounters {
    app: Application,
}

impl AsRef<Application> for PerDogCounters {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for PerDogCounters {
    type Upstream = DomainEvent<DogEvent>;

    fn policy(
        &self,
        event: DomainEvent<DogEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let key = format!("dog/{}", event.originator_id.as_hyphenated());
        let id = Counter::create_id(&key);
        let mut counter = processing.get_or_else(id, || Counter::create(key))?;
        counter.increment();
        processing.save(&mut counter)?;
        Ok(())
    }
}

/// W5: leader → follower, SQLite, one file each; `events` leader events processed end to end.
fn run_system(args: &Args, tmp: &Path, multi: bool) -> Result<Output, BoxError> {
    let total = Args::or(args.events, 10_000);
    let dogs = total / (TRICKS_PER_DOG + 1);
    let leader = Arc::new(DogsLeader {
        app: sqlite_builder("DogsLeader", &tmp.join("leader.db")).build()?,
    });
    let follower = Arc::new(PerDogCounters {
        app: sqlite_builder("PerDogCounters", &tmp.join("follower.db")).build()?,
    });
    let mut system = System::new();
    // BENCH_GATHERING_US: the follower's gathering (System::gathering), for comparisons.
    if let Some(us) = std::env::var("BENCH_GATHERING_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        system = system.gathering(Duration::from_micros(us));
    }
    let system = system.pipe(&leader, &follower);
    let started = Instant::now();
    let runner_name;
    // When the leader's last save returned (with the single-threaded runner, its followers
    // have processed it by then).
    let leader_s;
    if multi {
        runner_name = "MultiThreadedRunner";
        let runner = MultiThreadedRunner::start(system)?;
        for i in 0..dogs {
            leader.register_dog_with_tricks(i)?;
        }
        leader_s = started.elapsed().as_secs_f64();
        runner.wait_until_caught_up(Duration::from_secs(600))?;
        runner.stop()?;
    } else {
        runner_name = "SingleThreadedRunner";
        let runner = SingleThreadedRunner::start(system)?;
        for i in 0..dogs {
            leader.register_dog_with_tricks(i)?;
        }
        leader_s = started.elapsed().as_secs_f64();
        runner.stop()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let leader_max = leader.app.recorder().max_notification_id()?;
    let tracked = follower.app.recorder().max_tracking_id("DogsLeader")?;
    let written = follower.app.recorder().max_notification_id()?;
    if leader_max != (dogs * (TRICKS_PER_DOG + 1)) as u64 || tracked != leader_max {
        return Err(format!("leader has {leader_max} events, follower tracked {tracked}").into());
    }
    Ok(figures(json!({
        "events": leader_max,
        "leader_saves": dogs,
        "follower_events_written": written,
        "follower_tracking_position": tracked,
        "elapsed_s": elapsed,
        "leader_done_s": leader_s,
        "events_per_s": leader_max as f64 / elapsed,
        "follower": "PerDogCounters",
        "runner": runner_name,
        "gathering_us": std::env::var("BENCH_GATHERING_US").ok(),
    })))
}

fn system(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    run_system(args, tmp, false)
}

fn system_multi(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    run_system(args, tmp, true)
}

/// A throw-away PostgreSQL schema, so that each run starts on empty tables.
struct PgSchema {
    name: String,
    env: Vec<(String, String)>,
}

impl PgSchema {
    fn new() -> Result<Self, BoxError> {
        let var =
            |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_string());
        let env = vec![
            (
                "PERSISTENCE_MODULE".to_string(),
                "eventsourcing.postgres".to_string(),
            ),
            (
                "POSTGRES_DBNAME".to_string(),
                var("BENCH_PG_DBNAME", "eventsourcing"),
            ),
            (
                "POSTGRES_HOST".to_string(),
                var("BENCH_PG_HOST", "127.0.0.1"),
            ),
            ("POSTGRES_PORT".to_string(), var("BENCH_PG_PORT", "5432")),
            (
                "POSTGRES_USER".to_string(),
                var("BENCH_PG_USER", "eventsourcing"),
            ),
            (
                "POSTGRES_PASSWORD".to_string(),
                var("BENCH_PG_PASSWORD", "eventsourcing"),
            ),
        ];
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 100_000_000;
        let name = format!("bench_{}_{nanos}", std::process::id());
        let mut schema = PgSchema { name, env };
        schema.execute(&format!("CREATE SCHEMA {}", schema.name))?;
        schema
            .env
            .push(("POSTGRES_SCHEMA".to_string(), schema.name.clone()));
        Ok(schema)
    }

    fn client(&self) -> Result<postgres::Client, BoxError> {
        let get = |key: &str| {
            self.env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut config = postgres::Config::new();
        config
            .host(&get("POSTGRES_HOST"))
            .port(get("POSTGRES_PORT").parse()?)
            .dbname(&get("POSTGRES_DBNAME"))
            .user(&get("POSTGRES_USER"))
            .password(get("POSTGRES_PASSWORD"));
        Ok(config.connect(postgres::NoTls)?)
    }

    fn execute(&mut self, sql: &str) -> Result<(), BoxError> {
        self.client()?.batch_execute(sql)?;
        Ok(())
    }

    fn builder(&self, name: &str) -> ApplicationBuilder {
        Application::builder(name)
            .without_process_env()
            .envs(self.env.clone())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ = self.execute(&sql);
    }
}

fn postgres_write(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let schema = PgSchema::new()?;
    let app = dog_school(schema.builder("DogSchool"))?;
    let mut out = write_dogs(&app, Args::or(args.n, 2000))?;
    out.insert("recorder".into(), json!("PostgresApplicationRecorder"));
    let rows: i64 = schema
        .client()?
        .query_one(
            &format!("SELECT COUNT(*) FROM {}.dogschool_events", schema.name),
            &[],
        )?
        .get(0);
    out.insert("rows".into(), json!(rows));
    Ok(out)
}

fn postgres_replay(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let schema = PgSchema::new()?;
    let plain = dog_school(schema.builder("DogSchool"))?;
    let snapshotting = dog_school(schema.builder("DogSchool").snapshotting(true))?;
    replay(&plain, &snapshotting, args)
}

/// W9: two application objects load one aggregate, both change it, both save: the second save
/// is an integrity error, and a retry after reloading succeeds.
fn conflict(make: &dyn Fn() -> Result<Application, ApplicationError>) -> Result<Output, BoxError> {
    let creator = make()?;
    let mut fido = Dog::register("Fido".into());
    creator.save(&mut fido)?;
    let id = fido.id();
    let (app1, app2) = (make()?, make()?);
    let mut d1: Dog = app1.repository().get(id)?;
    let mut d2: Dog = app2.repository().get(id)?;
    d1.add_trick("roll over".into());
    d2.add_trick("play dead".into());
    app1.save(&mut d1)?;
    let mut out = Output::new();
    out.insert("first_save".into(), json!("ok"));
    match app2.save(&mut d2) {
        Ok(()) => {
            out.insert("second_save_raised".into(), json!(false));
        }
        Err(error) => {
            out.insert("second_save_raised".into(), json!(true));
            out.insert(
                "is_eventsourcing_IntegrityError".into(),
                json!(error.is_integrity()),
            );
            out.insert("message".into(), json!(error.to_string()));
        }
    }
    let final_dog: Dog = creator.repository().get(id)?;
    out.insert("final_version".into(), json!(final_dog.version()));
    out.insert("final_tricks".into(), json!(final_dog.tricks()));
    let mut retry: Dog = app2.repository().get(id)?;
    retry.add_trick("play dead".into());
    app2.save(&mut retry)?;
    out.insert("retry_after_reload".into(), json!("ok"));
    let after: Dog = creator.repository().get(id)?;
    out.insert("final_tricks_after_retry".into(), json!(after.tricks()));
    Ok(out)
}

fn conflict_sqlite(_args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let db = tmp.join("w9.db");
    conflict(&|| dog_school(sqlite_builder("DogSchool", &db)))
}

fn conflict_postgres(_args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let schema = PgSchema::new()?;
    conflict(&|| dog_school(schema.builder("DogSchool")))
}

/// The physical limit of sqlite_write: raw rusqlite inserting the same rows, already
/// serialised, one transaction per save of 10 rows, with the same journal and sync settings
/// (WAL, synchronous=FULL) and the same table.
fn sqlite_raw_write(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    raw_write(args, tmp, eventsourcing::persistence::Mapper::default())
}

/// The physical limit of sqlite_write_encrypted: the same, with the rows already compressed
/// and encrypted (AES-256-GCM, zlib) as our mapper writes them.
fn sqlite_raw_write_encrypted(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let key = AesCipher::create_key(32)?;
    let mapper = eventsourcing::persistence::Mapper::default()
        .with_compressor(eventsourcing::persistence::ZlibCompressor::default())
        .with_cipher(AesCipher::new(&key)?);
    raw_write(args, tmp, mapper)
}

fn raw_write(
    args: &Args,
    tmp: &Path,
    mapper: eventsourcing::persistence::Mapper,
) -> Result<Output, BoxError> {
    let n = Args::or(args.n, 2000);
    let db = tmp.join("raw.db");
    let mut connection = rusqlite::Connection::open(&db)?;
    connection.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    connection.execute_batch(
        "PRAGMA synchronous=FULL; CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, \
         topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))",
    )?;
    // The same bytes our mapper writes.
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let dog = new_dog(i);
        let stored = dog
            .pending_events()
            .iter()
            .map(|e| mapper.from_domain_event(e))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(stored);
    }
    let started = Instant::now();
    for stored in &rows {
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert =
                transaction.prepare_cached("INSERT INTO stored_events VALUES (?,?,?,?)")?;
            for event in stored {
                let mut hex = [0u8; 32];
                let id: &str = event.originator_id.simple().encode_lower(&mut hex);
                insert.execute(rusqlite::params![
                    id,
                    event.originator_version as i64,
                    event.topic,
                    event.state
                ])?;
            }
        }
        transaction.commit()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let events = n * (TRICKS_PER_DOG + 1);
    Ok(figures(json!({
        "events": events,
        "saves": n,
        "elapsed_s": elapsed,
        "events_per_s": events as f64 / elapsed,
        "us_per_save": 1e6 * elapsed / n as f64,
    })))
}

/// The physical limit of replay decoding: serde_json decoding the same stored states into
/// plain structs, without the mapper or the aggregate.
fn raw_decode(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    // The JSON work alone, strings borrowed: the reference's format, whose timestamp is
    // `{"_type_": "datetime_iso", "_data_": "…"}`, and the compact one's RFC 3339 text.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Transcoded<'a> {
        #[serde(rename = "_type_")]
        name: &'a str,
        #[serde(rename = "_data_")]
        data: &'a str,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct TrickAdded<'a> {
        #[serde(borrow)]
        timestamp: Transcoded<'a>,
        trick: String,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct CompactTrickAdded<'a> {
        timestamp: &'a str,
        trick: String,
    }
    let n_events = Args::or(args.events, 10_000);
    let reps = Args::or(args.reps, 5);
    let mut dog = Dog::register("replay-dog".into());
    for j in 0..n_events - 1 {
        dog.add_trick(format!("trick-{j}"));
    }
    let events = &dog.pending_events()[1..];
    let reference = eventsourcing::persistence::Mapper::default();
    let states: Vec<Vec<u8>> = events
        .iter()
        .map(|e| reference.from_domain_event(e).map(|s| s.state))
        .collect::<Result<_, _>>()?;
    let compact =
        eventsourcing::persistence::Mapper::new(eventsourcing::persistence::CompactJsonTranscoder);
    let compact_states: Vec<Vec<u8>> = events
        .iter()
        .map(|e| compact.from_domain_event(e).map(|s| s.state))
        .collect::<Result<_, _>>()?;
    let times = time_reps(reps, || {
        for state in &states {
            let decoded: TrickAdded = serde_json::from_slice(state)?;
            std::hint::black_box(decoded);
        }
        Ok(())
    })?;
    let compact_times = time_reps(reps, || {
        for state in &compact_states {
            let decoded: CompactTrickAdded = serde_json::from_slice(state)?;
            std::hint::black_box(decoded);
        }
        Ok(())
    })?;
    let summary = summarize(&times);
    let compact = summarize(&compact_times);
    let median = summary["median"].as_f64().unwrap_or(f64::NAN);
    let compact_median = compact["median"].as_f64().unwrap_or(f64::NAN);
    let bytes = |states: &[Vec<u8>]| {
        states.iter().map(Vec::len).sum::<usize>() as f64 / states.len() as f64
    };
    Ok(figures(json!({
        "events": states.len(),
        "decode_s": summary,
        "decode_events_per_s": states.len() as f64 / median,
        "state_bytes_mean": bytes(&states),
        "compact_decode_events_per_s": states.len() as f64 / compact_median,
        "compact_state_bytes_mean": bytes(&compact_states),
    })))
}

/// The physical limit of reading the notification log: raw rusqlite reading the same 100,000
/// rows (all five columns, text and blobs copied out, as a recorder must) in pages of 1,000,
/// from a table filled the way `sqlite_notifications` fills it.
fn sqlite_raw_select(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let total = Args::or(args.events, 100_000);
    let page = Args::or(args.page, 1000) as i64;
    let reps = Args::or(args.reps, 3);
    let db = tmp.join("raw_select.db");
    let app = dog_school(sqlite_builder("DogSchool", &db))?;
    bulk_fill(&app, total)?;
    drop(app);
    let connection = rusqlite::Connection::open(&db)?;
    let times = time_reps(reps, || {
        let mut statement = connection.prepare_cached(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events \
             WHERE rowid>=? ORDER BY rowid LIMIT ?",
        )?;
        let (mut start, mut count) = (1i64, 0usize);
        loop {
            let rows: Vec<(i64, String, i64, String, Vec<u8>)> = statement
                .query_map(rusqlite::params![start, page], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let Some(last) = rows.last() else { break };
            start = last.0 + 1;
            count += rows.len();
        }
        if count == total {
            Ok(())
        } else {
            Err(format!("read {count} rows, expected {total}").into())
        }
    })?;
    let summary = summarize(&times);
    Ok(figures(json!({
        "events": total,
        "read_s": summary,
        "events_per_s": total as f64 / summary["median"].as_f64().unwrap_or(f64::NAN),
    })))
}
