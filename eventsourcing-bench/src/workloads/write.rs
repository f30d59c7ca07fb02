//! Issue 14: concurrent writers, `concurrent_write`.
//!
//! `sqlite_write`'s and `postgres_write`'s saves (a new `Dog` with 9 tricks: one save of 10
//! events), made by several OS threads at once through one blocking `Application`: 2,000 saves
//! in all (`--n`), split evenly among the writers, each writer saving aggregates of its own.
//! For each writer count (`--writers 1,4,16`, the default) and each backend (`--backends
//! sqlite,postgres`, the default; an SQLite file in the temporary directory with
//! `synchronous=FULL`, and a new PostgreSQL schema, `BENCH_PG_*` as for the other PostgreSQL
//! workloads), `--reps R` runs (default 3) on a fresh database each; a run's throughput is its
//! events over the wall time from releasing the writers to the end of the last save, and the
//! median run is reported as `{backend}_w{N}_events_per_s`, with the ratio of the most writers
//! to one as `{backend}_speedup`. Concurrent saves share transactions (group commit), which is
//! what makes more writers faster; for PostgreSQL, `postgres_w{N}_commits` is how many
//! transactions stored the last run's events (the distinct `xmin` of its rows). `loadavg_1m`
//! (and `loadavg_1m_end`) is the machine's 1-minute load at the start (and the end).

use std::path::Path;
use std::sync::Barrier;
use std::time::Instant;

use eventsourcing::application::Application;
use eventsourcing_bench::TRICKS_PER_DOG;
use serde_json::json;

use crate::{dog_school, new_dog, sqlite_builder, Args, BoxError, Output, PgSchema};

/// Runs `saves` saves of a new dog on `app` from `writers` threads, each its own dogs; the
/// wall time in seconds.
fn run(app: &Application, writers: usize, saves: usize) -> Result<f64, BoxError> {
    let start = Barrier::new(writers + 1);
    std::thread::scope(|scope| -> Result<f64, BoxError> {
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let start = &start;
                // Writer w saves dogs w, w + writers, w + 2 * writers, ...
                let mine: Vec<usize> = (w..saves).step_by(writers).collect();
                std::thread::Builder::new()
                    .name(format!("bench-writer-{w}"))
                    .spawn_scoped(scope, move || -> Result<(), BoxError> {
                        let dogs: Vec<_> = mine.into_iter().map(new_dog).collect();
                        start.wait();
                        for mut dog in dogs {
                            app.save(&mut dog)?;
                        }
                        Ok(())
                    })
            })
            .collect::<Result<_, _>>()?;
        start.wait();
        let started = Instant::now();
        for thread in threads {
            thread
                .join()
                .map_err(|_| BoxError::from("a writer panicked"))??;
        }
        Ok(started.elapsed().as_secs_f64())
    })
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

fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One backend's figures for one writer count: the runs' rates, and (PostgreSQL) the
/// transactions of the last run.
fn measure(
    backend: &str,
    writers: usize,
    saves: usize,
    reps: usize,
    tmp: &Path,
) -> Result<(Vec<f64>, Option<i64>), BoxError> {
    let events = saves * (TRICKS_PER_DOG + 1);
    let mut rates = Vec::new();
    let mut commits = None;
    for rep in 0..reps {
        let (elapsed, rows, transactions) = match backend {
            "sqlite" => {
                let db = tmp.join(format!("cw-{writers}-{rep}.db"));
                let app = dog_school(sqlite_builder("DogSchool", &db))?;
                let elapsed = run(&app, writers, saves)?;
                drop(app);
                let connection = rusqlite::Connection::open(&db)?;
                let rows: i64 =
                    connection.query_row("SELECT COUNT(*) FROM stored_events", [], |r| r.get(0))?;
                (elapsed, rows, None)
            }
            "postgres" => {
                let schema = PgSchema::new()?;
                let app = dog_school(schema.builder("DogSchool"))?;
                let elapsed = run(&app, writers, saves)?;
                drop(app);
                let row = schema.client()?.query_one(
                    &format!(
                        "SELECT COUNT(*), COUNT(DISTINCT xmin::text) FROM {}.dogschool_events",
                        schema.name
                    ),
                    &[],
                )?;
                (elapsed, row.get(0), Some(row.get(1)))
            }
            other => return Err(format!("unknown backend {other:?} (sqlite, postgres)").into()),
        };
        if rows as usize != events {
            return Err(format!("{backend}: {rows} events stored, expected {events}").into());
        }
        rates.push(events as f64 / elapsed);
        commits = transactions;
    }
    Ok((rates, commits))
}

/// Issue 14: `concurrent_write` (see the module docs).
pub(crate) fn concurrent_write(args: &Args, tmp: &Path) -> Result<Output, BoxError> {
    let saves = Args::or(args.n, 2000);
    let reps = Args::or(args.reps, 3);
    let writers = if args.writers.is_empty() {
        vec![1, 4, 16]
    } else {
        args.writers.clone()
    };
    let backends = if args.backends.is_empty() {
        vec!["sqlite".to_string(), "postgres".to_string()]
    } else {
        args.backends.clone()
    };
    let mut out = Output::new();
    out.insert("loadavg_1m".into(), json!(loadavg_1m()));
    out.insert("saves".into(), json!(saves));
    out.insert("events_per_save".into(), json!(TRICKS_PER_DOG + 1));
    out.insert("writers".into(), json!(writers));
    out.insert("reps".into(), json!(reps));
    let mut failed = 0;
    'backends: for backend in &backends {
        let mut medians = Vec::new();
        for &n in &writers {
            let (rates, commits) = match measure(backend, n.max(1), saves, reps, tmp) {
                Ok(measured) => measured,
                Err(error) => {
                    // Reported, and the other backends still measured.
                    let error =
                        std::iter::successors(Some(&*error as &dyn std::error::Error), |e| {
                            e.source()
                        })
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(": ");
                    out.insert(format!("{backend}_error"), json!(error));
                    failed += 1;
                    continue 'backends;
                }
            };
            let rate = median(&rates);
            medians.push(rate);
            out.insert(format!("{backend}_w{n}_events_per_s"), json!(rate));
            out.insert(format!("{backend}_w{n}_events_per_s_runs"), json!(rates));
            if let Some(commits) = commits {
                out.insert(format!("{backend}_w{n}_commits"), json!(commits));
            }
        }
        if let (Some(first), Some(last)) = (medians.first(), medians.last()) {
            out.insert(format!("{backend}_speedup"), json!(last / first));
        }
    }
    out.insert("loadavg_1m_end".into(), json!(loadavg_1m()));
    if failed == backends.len() {
        return Err("every backend failed (see the *_error figures)".into());
    }
    Ok(out)
}
