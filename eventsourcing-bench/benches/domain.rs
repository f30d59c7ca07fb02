//! Domain microbenchmarks, in memory: commands (trigger an event: build it, run the body,
//! record it) and replay (rebuild an aggregate from its events).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use eventsourcing::prelude::*;
use eventsourcing_bench::Dog;

fn commands(c: &mut Criterion) {
    let tricks: Vec<String> = (0..100).map(|i| format!("trick-{i}")).collect();
    let mut group = c.benchmark_group("command");
    group.throughput(Throughput::Elements(100));
    group.bench_function("add_trick_x100", |b| {
        b.iter_batched_ref(
            || Dog::register("Fido".into()),
            |dog| {
                for trick in &tricks[..100] {
                    dog.add_trick(trick.clone());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    for n in [10usize, 10_000] {
        let mut dog = Dog::register("Fido".into());
        for i in 1..n {
            dog.add_trick(format!("trick-{i}"));
        }
        let events = dog.collect_events();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("from_events_{n}"), |b| {
            b.iter_batched(
                || events.clone(),
                |events| Dog::from_events(events).map(|d| d.version()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, commands, replay);
criterion_main!(benches);
