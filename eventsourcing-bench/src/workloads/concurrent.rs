//! Issue 11: many concurrent commands on PostgreSQL, through the async API from tokio tasks,
//! and the same work through the blocking API from a pool of OS threads.
//!
//! The work (both variants): `tasks` commands sequences (default 1,000, `--events` / 10), each
//! creating its own `Dog` and then updating it, one command at a time: the first command
//! registers the dog and saves it (1 event); each of the 9 next gets the dog from the
//! repository, adds a trick and saves it (1 event). So 10 commands, 10 saves and 9 gets per
//! sequence, 10 events: 10,000 saves of one event each in all, as a service handling one
//! request per command would make them. The pool has 16 connections (`POSTGRES_POOL_SIZE`);
//! before the timed run, 16 concurrent warm-up dogs open them. Throughput is the events of the
//! timed run over its wall time (from spawning the first sequence to the end of the last).
//!
//! - `async_concurrent_commands`: one tokio task per sequence, all spawned at once, on a
//!   multi-thread runtime with one worker per core and a blocking pool of at most
//!   [`BLOCKING_LIMIT`] threads, using `AsyncApplication` (PostgreSQL's native async client).
//! - `async_concurrent_commands_blocking`: the same sequences taken in turn by 16 OS threads
//!   (`bench-command-N`), using the blocking `Application` (whose datastore runs the client on
//!   a runtime of its own, one thread, `postgres-io`).
//!
//! A sampler thread (`bench-sampler`) counts the process's OS threads (`/proc/self/task`) every
//! millisecond, from before the runtime is built to after it is dropped: `threads_peak`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::application::{Application, ApplicationError, AsyncApplication};
use eventsourcing::prelude::*;
use eventsourcing_bench::{Dog, TRICKS_PER_DOG};
use serde_json::json;

use super::stats::{latency_figures, ThreadSampler};
use crate::{figures, Args, BoxError, Output, PgSchema};

/// Connections in the pool, and OS threads of the blocking variant.
pub(crate) const POOL: usize = 16;
/// The async runtime's blocking-pool limit (`max_blocking_threads`). PostgreSQL's async face
/// uses no blocking thread; this bounds what anything else would start.
pub(crate) const BLOCKING_LIMIT: usize = 8;
/// Commands per sequence: one create, then the updates.
const COMMANDS: usize = TRICKS_PER_DOG + 1;

/// What one timed run measured.
#[derive(Default)]
struct Run {
    events: usize,
    elapsed_s: f64,
    save_ms: Vec<f64>,
    command_ms: Vec<f64>,
}

impl Run {
    fn merge(&mut self, other: Timings) {
        self.events += other.events;
        self.save_ms.extend(other.save_ms);
        self.command_ms.extend(other.command_ms);
    }
}

/// One sequence's timings.
#[derive(Default)]
struct Timings {
    events: usize,
    save_ms: Vec<f64>,
    command_ms: Vec<f64>,
}

impl Timings {
    fn with_capacity() -> Self {
        Timings {
            events: 0,
            save_ms: Vec::with_capacity(COMMANDS),
            command_ms: Vec::with_capacity(COMMANDS),
        }
    }

    fn record(&mut self, command: Instant, save: Instant) {
        let now = Instant::now();
        self.events += 1;
        self.save_ms.push(ms(now - save));
        self.command_ms.push(ms(now - command));
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn sequences(args: &Args) -> usize {
    if args.n > 0 {
        args.n
    } else {
        Args::or(args.events, 10_000) / COMMANDS
    }
}

/// One sequence with the async API: create, then update one command at a time.
async fn async_sequence(app: &AsyncApplication, name: String) -> Result<Timings, ApplicationError> {
    let mut timings = Timings::with_capacity();
    let command = Instant::now();
    let mut dog = Dog::register(name);
    let id = dog.id();
    let save = Instant::now();
    app.save(&mut dog).await?;
    timings.record(command, save);
    for j in 0..TRICKS_PER_DOG {
        let command = Instant::now();
        let mut dog: Dog = app.repository().get(id).await?;
        dog.add_trick(format!("trick-{j}"));
        let save = Instant::now();
        app.save(&mut dog).await?;
        timings.record(command, save);
    }
    Ok(timings)
}

/// The same with the blocking API.
fn blocking_sequence(app: &Application, name: String) -> Result<Timings, ApplicationError> {
    let mut timings = Timings::with_capacity();
    let command = Instant::now();
    let mut dog = Dog::register(name);
    let id = dog.id();
    let save = Instant::now();
    app.save(&mut dog)?;
    timings.record(command, save);
    for j in 0..TRICKS_PER_DOG {
        let command = Instant::now();
        let mut dog: Dog = app.repository().get(id)?;
        dog.add_trick(format!("trick-{j}"));
        let save = Instant::now();
        app.save(&mut dog)?;
        timings.record(command, save);
    }
    Ok(timings)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The figures of the timed runs.
fn report(runs: Vec<Run>, sequences: usize) -> Output {
    let rates: Vec<f64> = runs.iter().map(|r| r.events as f64 / r.elapsed_s).collect();
    let mut saves = Vec::new();
    let mut commands = Vec::new();
    let mut events = 0;
    for run in runs.iter() {
        events += run.events;
        saves.extend_from_slice(&run.save_ms);
        commands.extend_from_slice(&run.command_ms);
    }
    let mut out = figures(json!({
        "sequences": sequences,
        "commands_per_sequence": COMMANDS,
        "events_per_run": events / runs.len().max(1),
        "saves_per_run": events / runs.len().max(1),
        "runs": runs.len(),
        "elapsed_s": runs.iter().map(|r| r.elapsed_s).collect::<Vec<_>>(),
        "events_per_s_runs": rates,
        "events_per_s": median(&rates),
        "pool_size": POOL,
    }));
    out.extend(latency_figures("save_latency_ms", saves));
    out.extend(latency_figures("command_latency_ms", commands));
    out
}

fn check_rows(schema: &PgSchema, expected: usize) -> Result<i64, BoxError> {
    let rows: i64 = schema
        .client()?
        .query_one(
            &format!("SELECT COUNT(*) FROM {}.dogschool_events", schema.name),
            &[],
        )?
        .get(0);
    if rows as usize == expected {
        Ok(rows)
    } else {
        Err(format!("{rows} events stored, expected {expected}").into())
    }
}

fn reps(args: &Args) -> usize {
    Args::or(args.reps, 1)
}

/// Issue 11, async: one tokio task per sequence (see the module docs).
pub(crate) fn async_concurrent_commands(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let sequences = sequences(args);
    let reps = reps(args);
    let sampler = ThreadSampler::start(Duration::from_millis(1))?;
    let schema = PgSchema::new()?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(BLOCKING_LIMIT)
        .thread_name("bench-tokio")
        .enable_all()
        .build()?;
    let result: Result<Vec<Run>, BoxError> = runtime.block_on(async {
        let app = Arc::new(
            schema
                .builder("DogSchool")
                .env("POSTGRES_POOL_SIZE", POOL.to_string())
                .build_async()
                .await?,
        );
        // Warm-up: 16 dogs at once, which open the pool's connections (not timed).
        let warm: Vec<_> = (0..POOL)
            .map(|i| {
                let app = Arc::clone(&app);
                tokio::spawn(async move { app.save(&mut Dog::register(format!("warm-{i}"))).await })
            })
            .collect();
        for task in warm {
            task.await??;
        }
        let mut runs = Vec::with_capacity(reps);
        for rep in 0..reps {
            let started = Instant::now();
            let tasks: Vec<_> = (0..sequences)
                .map(|i| {
                    let app = Arc::clone(&app);
                    tokio::spawn(
                        async move { async_sequence(&app, format!("dog-{rep}-{i}")).await },
                    )
                })
                .collect();
            let mut run = Run::default();
            for task in tasks {
                run.merge(task.await??);
            }
            run.elapsed_s = started.elapsed().as_secs_f64();
            runs.push(run);
        }
        Ok(runs)
    });
    drop(runtime);
    let (threads_peak, thread_samples) = sampler.finish();
    let runs = result?;
    let rows = check_rows(&schema, POOL + reps * sequences * COMMANDS)?;
    let mut out = report(runs, sequences);
    out.extend(figures(json!({
        "api": "AsyncApplication (tokio tasks, native tokio-postgres)",
        "tasks": sequences,
        "runtime_workers": workers,
        "blocking_pool_limit": BLOCKING_LIMIT,
        "fixed_threads": ["main", "bench-sampler"],
        "threads_peak": threads_peak,
        "threads_bound": workers + BLOCKING_LIMIT + 2,
        "threads_peak_within_bound": threads_peak <= workers + BLOCKING_LIMIT + 2,
        "thread_samples": thread_samples,
        "rows": rows,
    })));
    Ok(out)
}

/// Issue 11, blocking: the same sequences from 16 OS threads (see the module docs).
pub(crate) fn async_concurrent_commands_blocking(
    args: &Args,
    _tmp: &Path,
) -> Result<Output, BoxError> {
    let sequences = sequences(args);
    let reps = reps(args);
    let sampler = ThreadSampler::start(Duration::from_millis(1))?;
    let schema = PgSchema::new()?;
    let app = schema
        .builder("DogSchool")
        .env("POSTGRES_POOL_SIZE", POOL.to_string())
        .build()?;
    let result = (|| -> Result<Vec<Run>, BoxError> {
        std::thread::scope(|scope| -> Result<(), BoxError> {
            let warm: Vec<_> = (0..POOL)
                .map(|i| {
                    let app = &app;
                    scope.spawn(move || app.save(&mut Dog::register(format!("warm-{i}"))))
                })
                .collect();
            for thread in warm {
                thread.join().map_err(|_| "a warm-up thread panicked")??;
            }
            Ok(())
        })?;
        let mut runs = Vec::with_capacity(reps);
        for rep in 0..reps {
            let next = AtomicUsize::new(0);
            let started = Instant::now();
            let mut run = Run::default();
            std::thread::scope(|scope| -> Result<(), BoxError> {
                let threads = (0..POOL)
                    .map(|t| {
                        let (app, next) = (&app, &next);
                        std::thread::Builder::new()
                            .name(format!("bench-command-{t}"))
                            .spawn_scoped(
                                scope,
                                move || -> Result<Vec<Timings>, ApplicationError> {
                                    let mut done = Vec::new();
                                    loop {
                                        let i = next.fetch_add(1, Ordering::Relaxed);
                                        if i >= sequences {
                                            return Ok(done);
                                        }
                                        done.push(blocking_sequence(
                                            app,
                                            format!("dog-{rep}-{i}"),
                                        )?);
                                    }
                                },
                            )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                for thread in threads {
                    for timings in thread.join().map_err(|_| "a command thread panicked")?? {
                        run.merge(timings);
                    }
                }
                Ok(())
            })?;
            run.elapsed_s = started.elapsed().as_secs_f64();
            runs.push(run);
        }
        Ok(runs)
    })();
    drop(app);
    let (threads_peak, thread_samples) = sampler.finish();
    let runs = result?;
    let rows = check_rows(&schema, POOL + reps * sequences * COMMANDS)?;
    let mut out = report(runs, sequences);
    out.extend(figures(json!({
        "api": "Application (blocking) from 16 OS threads",
        "os_threads": POOL,
        "fixed_threads": ["main", "bench-sampler", "postgres-io"],
        "threads_peak": threads_peak,
        "thread_samples": thread_samples,
        "rows": rows,
    })));
    Ok(out)
}
