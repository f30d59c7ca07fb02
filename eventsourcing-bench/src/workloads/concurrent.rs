//! Issue 11: many concurrent commands on PostgreSQL, through the async API from tokio tasks,
//! and the same work through the blocking API from a pool of OS threads.
//!
//! The work (both variants): `sequences` command sequences (default 1,000: `--events` / 10, or
//! `--n`), each creating its own `Dog` and then updating it: 10 commands, a register then 9
//! add-tricks, 10 events. By default (`--events-per-save 1`) each command is saved on its own,
//! as a service handling one request per command would: the first registers the dog and saves
//! it; each of the 9 next gets the dog from the repository, adds a trick and saves it; 10
//! saves of one event and 9 gets per sequence. With `--events-per-save K`, K commands are
//! applied between saves (a get before each group but the first); K = 10 is one save of 10
//! events per sequence, `postgres_write`'s unit, made concurrently. The pool has 16
//! connections (`POSTGRES_POOL_SIZE`); before the timed runs, 16 concurrent warm-up dogs open
//! them. Throughput: the events of a timed run over its wall time, from spawning the first
//! sequence to the end of the last (`--reps R` runs, the median reported). Latencies: each
//! `save` (`save_latency_ms_*`, the wait for a connection of the pool included) and each
//! save's commands, from the get to the save's return (`command_latency_ms_*`).
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

/// Connections in the pool, and OS threads of the blocking variant: 16, or `BENCH_POOL_SIZE`
/// (for experiments).
fn pool() -> usize {
    std::env::var("BENCH_POOL_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(16)
}
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

    fn record(&mut self, command: Instant, save: Instant, events: usize) {
        let now = Instant::now();
        self.events += events;
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

/// One sequence with the async API: create, then update, `per_save` commands between saves,
/// getting the dog from the repository before each save's commands but the first.
async fn async_sequence(
    app: &AsyncApplication,
    name: String,
    per_save: usize,
) -> Result<Timings, ApplicationError> {
    let mut timings = Timings::with_capacity();
    let mut id = None;
    let mut done = 0;
    while done < COMMANDS {
        let command = Instant::now();
        let mut dog = match id {
            None => Dog::register(name.clone()),
            Some(id) => app.repository().get::<Dog>(id).await?,
        };
        let first = usize::from(id.is_none());
        let commands = per_save.min(COMMANDS - done);
        for j in done + first..done + commands {
            dog.add_trick(format!("trick-{}", j - 1));
        }
        id = Some(dog.id());
        let save = Instant::now();
        app.save(&mut dog).await?;
        timings.record(command, save, commands);
        done += commands;
    }
    Ok(timings)
}

/// The same with the blocking API.
fn blocking_sequence(
    app: &Application,
    name: String,
    per_save: usize,
) -> Result<Timings, ApplicationError> {
    let mut timings = Timings::with_capacity();
    let mut id = None;
    let mut done = 0;
    while done < COMMANDS {
        let command = Instant::now();
        let mut dog = match id {
            None => Dog::register(name.clone()),
            Some(id) => app.repository().get::<Dog>(id)?,
        };
        let first = usize::from(id.is_none());
        let commands = per_save.min(COMMANDS - done);
        for j in done + first..done + commands {
            dog.add_trick(format!("trick-{}", j - 1));
        }
        id = Some(dog.id());
        let save = Instant::now();
        app.save(&mut dog)?;
        timings.record(command, save, commands);
        done += commands;
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
fn report(runs: Vec<Run>, sequences: usize, per_save: usize) -> Output {
    let rates: Vec<f64> = runs.iter().map(|r| r.events as f64 / r.elapsed_s).collect();
    let mut saves = Vec::new();
    let mut commands = Vec::new();
    let saves_per_run = runs.first().map_or(0, |r| r.save_ms.len());
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
        "saves_per_run": saves_per_run,
        "events_per_save": per_save,
        "runs": runs.len(),
        "elapsed_s": runs.iter().map(|r| r.elapsed_s).collect::<Vec<_>>(),
        "events_per_s_runs": rates,
        "events_per_s": median(&rates),
        "pool_size": pool(),
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

/// Commands between saves (`--events-per-save`, default 1: a save per command).
fn per_save(args: &Args) -> usize {
    Args::or(args.events_per_save, 1).min(COMMANDS)
}

/// Issue 11, async: one tokio task per sequence (see the module docs).
pub(crate) fn async_concurrent_commands(args: &Args, _tmp: &Path) -> Result<Output, BoxError> {
    let sequences = sequences(args);
    let reps = reps(args);
    let per_save = per_save(args);
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
                .env("POSTGRES_POOL_SIZE", pool().to_string())
                .build_async()
                .await?,
        );
        // Warm-up: 16 dogs at once, which open the pool's connections (not timed).
        let warm: Vec<_> = (0..pool())
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
                    tokio::spawn(async move {
                        async_sequence(&app, format!("dog-{rep}-{i}"), per_save).await
                    })
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
    let (threads_peak, thread_samples, threads_at_peak) = sampler.finish();
    let runs = result?;
    let rows = check_rows(&schema, pool() + reps * sequences * COMMANDS)?;
    let mut out = report(runs, sequences, per_save);
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
        "threads_at_peak": threads_at_peak,
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
    let per_save = per_save(args);
    let sampler = ThreadSampler::start(Duration::from_millis(1))?;
    let schema = PgSchema::new()?;
    let app = schema
        .builder("DogSchool")
        .env("POSTGRES_POOL_SIZE", pool().to_string())
        .build()?;
    let result = (|| -> Result<Vec<Run>, BoxError> {
        std::thread::scope(|scope| -> Result<(), BoxError> {
            let warm: Vec<_> = (0..pool())
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
                let threads = (0..pool())
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
                                            per_save,
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
    let (threads_peak, thread_samples, threads_at_peak) = sampler.finish();
    let runs = result?;
    let rows = check_rows(&schema, pool() + reps * sequences * COMMANDS)?;
    let mut out = report(runs, sequences, per_save);
    out.extend(figures(json!({
        "api": "Application (blocking) from one OS thread per connection of the pool",
        "os_threads": pool(),
        "fixed_threads": ["main", "bench-sampler", "postgres-io"],
        "threads_peak": threads_peak,
        "thread_samples": thread_samples,
        "threads_at_peak": threads_at_peak,
        "rows": rows,
    })));
    Ok(out)
}
