//! Mapper microbenchmarks: one event encoded (domain event → stored event) and decoded, plain,
//! compressed, encrypted, and both.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventsourcing::persistence::{AesCipher, Mapper, ZlibCompressor};
use eventsourcing::prelude::*;
use eventsourcing_bench::{Dog, DogEvent};

fn mappers() -> Vec<(&'static str, Mapper)> {
    let key = AesCipher::create_key(32).expect("key");
    vec![
        ("plain", Mapper::default()),
        (
            "zlib",
            Mapper::default().with_compressor(ZlibCompressor::default()),
        ),
        (
            "aes256",
            Mapper::default().with_cipher(AesCipher::new(&key).expect("cipher")),
        ),
        (
            "zlib_aes256",
            Mapper::default()
                .with_compressor(ZlibCompressor::default())
                .with_cipher(AesCipher::new(&key).expect("cipher")),
        ),
    ]
}

fn mapper(c: &mut Criterion) {
    let mut dog = Dog::register("Fido".into());
    dog.add_trick("roll over".into());
    let event = dog.collect_events().pop().expect("an event");
    let mut group = c.benchmark_group("mapper");
    group.throughput(Throughput::Elements(1));
    for (name, mapper) in mappers() {
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| mapper.from_domain_event(&event).expect("encode"))
        });
        let stored = mapper.from_domain_event(&event).expect("encode");
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let event: DomainEvent<DogEvent> = mapper.to_domain_event(&stored).expect("decode");
                event
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mapper);
criterion_main!(benches);
