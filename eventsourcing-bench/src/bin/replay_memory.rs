//! Replay scaling and the memory of a loaded aggregate (BENCHMARKS.md):
//!
//! - replay cost against the number of events: a dog with 10,000 events and one with 100,000,
//!   each got from SQLite (median of `--reps`); the ratio of the times should be near 10;
//! - the heap a loaded aggregate holds, against the heap its state needs: the dog with 100,000
//!   events, got from the repository (everything the load allocated and did not free), next to
//!   the same name and tricks in exactly-sized `String`s and `Vec`.
//!
//! Prints one JSON line. A separate program because it counts allocations with an instrumented
//! global allocator, which the timing workloads should not pay for.
#![allow(clippy::print_stdout)]

use std::alloc::System;
use std::time::Instant;

use eventsourcing::application::Application;
use eventsourcing::prelude::*;
use eventsourcing_bench::Dog;
use serde_json::json;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes allocated and not freed since the region started.
fn live_bytes(region: &Region<'_, System>) -> i64 {
    let change = region.change();
    // A reallocation's growth (or shrinking) is already in bytes_allocated (or deallocated).
    change.bytes_allocated as i64 - change.bytes_deallocated as i64
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() -> Result<(), BoxError> {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let base =
        std::env::var_os("BENCH_TMPDIR").map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = base.join(format!("esbench-rs-replay-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let app = Application::builder("DogSchool")
        .without_process_env()
        .sqlite(dir.join("replay.db"))
        .build()?;

    let mut out = serde_json::Map::new();
    let mut medians = Vec::new();
    let mut big_id = Uuid::nil();
    for events in [10_000usize, 100_000] {
        let mut dog = Dog::register(format!("dog-{events}"));
        for j in 0..events - 1 {
            dog.add_trick(format!("trick-{j}"));
        }
        app.save(&mut dog)?;
        let times = (0..reps)
            .map(|_| -> Result<f64, BoxError> {
                let started = Instant::now();
                let loaded: Dog = app.repository().get(dog.id())?;
                assert_eq!(loaded.version(), events as u64);
                Ok(started.elapsed().as_secs_f64())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let median = median(times);
        out.insert(format!("get_{events}_ms_median"), json!(median * 1e3));
        out.insert(
            format!("replay_{events}_events_per_s"),
            json!(events as f64 / median),
        );
        medians.push(median);
        big_id = dog.id();
    }
    out.insert(
        "time_ratio_100k_over_10k".into(),
        json!(medians[1] / medians[0]),
    );

    // The heap of the loaded aggregate: what the load allocated and did not free (after a first
    // load, so that the database's caches are already as big as they get).
    let first: Dog = app.repository().get(big_id)?;
    let region = Region::new(GLOBAL);
    let loaded: Dog = app.repository().get(big_id)?;
    let aggregate_bytes = live_bytes(&region);
    drop(first);
    // The state in exactly-sized containers: the least memory it can take in these types.
    let region = Region::new(GLOBAL);
    let mut tricks: Vec<String> = Vec::with_capacity(loaded.tricks().len());
    tricks.extend(loaded.tricks().iter().map(|t| t.as_str().to_owned()));
    let name = String::from("dog-100000");
    let state_bytes = live_bytes(&region);
    out.insert("events".into(), json!(100_000));
    out.insert("aggregate_heap_bytes".into(), json!(aggregate_bytes));
    out.insert("state_heap_bytes".into(), json!(state_bytes));
    out.insert(
        "aggregate_over_state".into(),
        json!(aggregate_bytes as f64 / state_bytes as f64),
    );
    out.insert(
        "aggregate_stack_bytes".into(),
        json!(std::mem::size_of::<Dog>()),
    );
    drop((tricks, name, loaded));
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    out.insert("ok".into(), json!(true));
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
