//! Recorder microbenchmarks, per backend: inserting one aggregate's 10 events in one
//! transaction, selecting them back, and reading 1,000 notifications; for SQLite, next to raw
//! rusqlite doing the same with the same table, journal and sync settings (our physical limit).
//!
//! PostgreSQL is measured when `BENCH_PG_*` (or the defaults: 127.0.0.1:5432, database
//! `eventsourcing`, user `eventsourcing`) name a server that answers.

#![allow(clippy::print_stderr)] // says which backends it skips

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use eventsourcing::memory::InMemoryRecorder;
use eventsourcing::persistence::{EventQuery, Mapper, ProcessRecorder, StoredEvent};
use eventsourcing::postgres::{PostgresApplicationRecorder, PostgresDatastore, PostgresSettings};
use eventsourcing::prelude::*;
use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_bench::Dog;

/// The stored events of a dog with 9 tricks: what one save of the write workloads inserts.
fn dog_events(i: usize) -> Vec<StoredEvent> {
    let mapper = Mapper::default();
    let mut dog = Dog::register(format!("dog-{i}"));
    for j in 0..9 {
        dog.add_trick(format!("trick-{j}"));
    }
    dog.pending_events()
        .iter()
        .map(|e| mapper.from_domain_event(e).expect("encode"))
        .collect()
}

fn temp_db(name: &str) -> PathBuf {
    let base = std::env::var_os("BENCH_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("es-recorder-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn postgres() -> Option<Arc<PostgresApplicationRecorder>> {
    let var = |key: &str, default: &str| std::env::var(key).unwrap_or_else(|_| default.to_string());
    let mut settings = PostgresSettings::new(
        var("BENCH_PG_DBNAME", "eventsourcing"),
        var("BENCH_PG_HOST", "127.0.0.1"),
        var("BENCH_PG_USER", "eventsourcing"),
        var("BENCH_PG_PASSWORD", "eventsourcing"),
    );
    settings.port = var("BENCH_PG_PORT", "5432").parse().ok()?;
    settings.schema = Some(format!("bench_recorders_{}", std::process::id()));
    let datastore = Arc::new(PostgresDatastore::new(settings).ok()?);
    PostgresApplicationRecorder::new(datastore, "stored_events", "stored_tracking")
        .ok()
        .map(Arc::new)
}

fn backends() -> Vec<(&'static str, Arc<dyn ProcessRecorder>)> {
    let mut backends: Vec<(&'static str, Arc<dyn ProcessRecorder>)> = vec![
        ("memory", Arc::new(InMemoryRecorder::new())),
        (
            "sqlite_memory",
            Arc::new(
                SqliteApplicationRecorder::new(Arc::new(
                    SqliteDatastore::open(":memory:").expect("sqlite"),
                ))
                .expect("recorder"),
            ),
        ),
        (
            "sqlite_file",
            Arc::new(
                SqliteApplicationRecorder::new(Arc::new(
                    SqliteDatastore::open(temp_db("recorder.db").to_string_lossy())
                        .expect("sqlite"),
                ))
                .expect("recorder"),
            ),
        ),
    ];
    match postgres() {
        Some(recorder) => backends.push(("postgres", recorder)),
        None => eprintln!("PostgreSQL not available: skipping its recorder benchmarks"),
    }
    backends
}

fn recorders(c: &mut Criterion) {
    for (name, recorder) in backends() {
        let mut group = c.benchmark_group(format!("recorder_{name}"));
        group.throughput(Throughput::Elements(10));
        let mut i = 0;
        group.bench_function("insert_10", |b| {
            b.iter_batched(
                || {
                    i += 1;
                    dog_events(i)
                },
                |events| recorder.insert_events(&events).expect("insert"),
                BatchSize::SmallInput,
            )
        });
        let events = dog_events(usize::MAX);
        let id = events[0].originator_id;
        recorder.insert_events(&events).expect("insert");
        group.bench_function("select_10", |b| {
            b.iter(|| {
                recorder
                    .select_events(id, &EventQuery::new())
                    .expect("select")
            })
        });
        group.throughput(Throughput::Elements(1000));
        while recorder.max_notification_id().expect("max") < 1000 {
            i += 1;
            recorder.insert_events(&dog_events(i)).expect("insert");
        }
        group.bench_function("select_notifications_1000", |b| {
            b.iter(|| recorder.select_notifications(1, 1000).expect("select"))
        });
        group.finish();
    }
}

/// Raw rusqlite: the same rows, the same table and settings, one transaction per 10 rows.
fn raw_sqlite(c: &mut Criterion) {
    let path = temp_db("raw.db");
    let mut connection = rusqlite::Connection::open(&path).expect("open");
    connection
        .query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    connection
        .execute_batch(
            "PRAGMA synchronous=FULL; CREATE TABLE stored_events (originator_id TEXT, \
             originator_version INTEGER, topic TEXT, state BLOB, \
             PRIMARY KEY (originator_id, originator_version))",
        )
        .expect("table");
    let mut group = c.benchmark_group("raw_sqlite_file");
    group.throughput(Throughput::Elements(10));
    let mut i = 0;
    group.bench_function("insert_10", |b| {
        b.iter_batched(
            || {
                i += 1;
                dog_events(i)
            },
            |events| {
                let transaction = connection
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .expect("begin");
                {
                    let mut insert = transaction
                        .prepare_cached("INSERT INTO stored_events VALUES (?,?,?,?)")
                        .expect("prepare");
                    for event in &events {
                        let mut hex = [0u8; 32];
                        let id: &str = event.originator_id.simple().encode_lower(&mut hex);
                        insert
                            .execute(rusqlite::params![
                                id,
                                event.originator_version as i64,
                                event.topic,
                                event.state
                            ])
                            .expect("insert");
                    }
                }
                transaction.commit().expect("commit");
            },
            BatchSize::SmallInput,
        )
    });
    let events = dog_events(usize::MAX);
    let mut hex = [0u8; 32];
    let id = events[0]
        .originator_id
        .simple()
        .encode_lower(&mut hex)
        .to_string();
    {
        let transaction = connection.transaction().expect("begin");
        for event in &events {
            transaction
                .execute(
                    "INSERT INTO stored_events VALUES (?,?,?,?)",
                    rusqlite::params![
                        id,
                        event.originator_version as i64,
                        event.topic,
                        event.state
                    ],
                )
                .expect("insert");
        }
        transaction.commit().expect("commit");
    }
    group.bench_function("select_10", |b| {
        b.iter(|| {
            let mut select = connection
                .prepare_cached(
                    "SELECT originator_id, originator_version, topic, state FROM stored_events \
                     WHERE originator_id=? ORDER BY originator_version ASC",
                )
                .expect("prepare");
            let rows: Vec<(String, i64, String, Vec<u8>)> = select
                .query_map([&id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            rows
        })
    });
    group.finish();
}

criterion_group!(benches, recorders, raw_sqlite);
criterion_main!(benches);
