//! The mapper: domain events and snapshots round trip through every combination of
//! compression and encryption (each AES key size); compression before encryption pays off;
//! encryption is randomised; an event store over each backend returns what was put.

use std::sync::Arc;

use eventsourcing::memory::InMemoryRecorder;
use eventsourcing::persistence::{
    AesCipher, ApplicationRecorder, Cipher, Compressor, EventQuery, EventStore, Mapper,
    StoredEvent, ZlibCompressor,
};
use eventsourcing::prelude::*;
use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_tests::world::{World, WorldEvent};
use eventsourcing_tests::TempDir;

/// A world with a history; its events.
fn world_events(what: &[&str]) -> (World, Vec<DomainEvent<WorldEvent>>) {
    let mut world = World::create();
    for w in what {
        world.make_it_so(w.to_string());
    }
    let events = world.collect_events();
    (world, events)
}

/// Every mapper configuration: plain, compressed, and encrypted and compressed+encrypted with
/// each key size.
fn mappers() -> Vec<(String, Mapper)> {
    let mut mappers = vec![
        ("plain".to_string(), Mapper::default()),
        (
            "compressed".to_string(),
            Mapper::default().with_compressor(ZlibCompressor::default()),
        ),
    ];
    for bytes in AesCipher::KEY_SIZES {
        let key = AesCipher::create_key(bytes).unwrap();
        mappers.push((
            format!("encrypted AES-{}", bytes * 8),
            Mapper::default().with_cipher(AesCipher::new(&key).unwrap()),
        ));
        mappers.push((
            format!("compressed+encrypted AES-{}", bytes * 8),
            Mapper::default()
                .with_compressor(ZlibCompressor::default())
                .with_cipher(AesCipher::new(&key).unwrap()),
        ));
    }
    mappers
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn round_trip_every_configuration() {
    let secret = "the dinosaurs are back, and they are hungry";
    let (world, events) = world_events(&[secret, "ünïcödé \u{1F995}", ""]);
    for (name, mapper) in mappers() {
        for event in &events {
            let stored = mapper.from_domain_event(event).unwrap();
            assert_eq!(stored.originator_id, event.originator_id, "{name}");
            assert_eq!(
                stored.originator_version, event.originator_version,
                "{name}"
            );
            assert_eq!(stored.topic, event.topic(), "{name}");
            let back: DomainEvent<WorldEvent> = mapper.to_domain_event(&stored).unwrap();
            assert_eq!(&back, event, "{name}: the event must round trip");
            // The timestamp survives to the nanosecond.
            assert_eq!(back.timestamp, event.timestamp, "{name}");
        }
        // What the state looks like.
        let stored = mapper.from_domain_event(&events[1]).unwrap();
        let readable = contains(&stored.state, secret.as_bytes());
        assert_eq!(
            readable,
            name == "plain",
            "{name}: the plaintext must be readable only when neither compressed nor encrypted"
        );
        if name == "compressed" {
            assert_eq!(stored.state[0], 0x78, "zlib header");
        }
        if name.starts_with("encrypted") {
            let plain = Mapper::default().from_domain_event(&events[1]).unwrap();
            assert_eq!(
                stored.state.len(),
                plain.state.len() + 28,
                "{name}: nonce (12) + tag (16) + cipher text"
            );
        }

        // Replaying the decoded events rebuilds the aggregate.
        let decoded: Vec<DomainEvent<WorldEvent>> = events
            .iter()
            .map(|e| mapper.from_domain_event(e).unwrap())
            .map(|s| mapper.to_domain_event(&s).unwrap())
            .collect();
        assert_eq!(World::from_events(decoded).unwrap(), world, "{name}");

        // Snapshots too.
        let snapshot = Snapshot::take(&world).unwrap();
        let stored = mapper.from_snapshot(&snapshot).unwrap();
        assert_eq!(
            contains(&stored.state, secret.as_bytes()),
            name == "plain",
            "{name}: snapshot state"
        );
        let back = mapper.to_snapshot(&stored).unwrap();
        assert_eq!(back, snapshot, "{name}: the snapshot must round trip");
        assert_eq!(back.restore::<World>().unwrap(), world, "{name}");
    }
}

#[test]
fn notifications_decode_like_stored_events() {
    let key = AesCipher::create_key(32).unwrap();
    let mapper = Mapper::default()
        .with_compressor(ZlibCompressor::default())
        .with_cipher(AesCipher::new(&key).unwrap());
    let recorder = InMemoryRecorder::new();
    let (_, events) = world_events(&["one", "two"]);
    let stored: Vec<StoredEvent> = events
        .iter()
        .map(|e| mapper.from_domain_event(e).unwrap())
        .collect();
    eventsourcing::persistence::AggregateRecorder::insert_events(&recorder, &stored).unwrap();
    let notifications = recorder.select_notifications(1, 10).unwrap();
    let decoded: Vec<DomainEvent<WorldEvent>> = notifications
        .iter()
        .map(|n| mapper.to_domain_event(n).unwrap())
        .collect();
    assert_eq!(decoded, events);
}

#[test]
fn compressed_and_encrypted_is_not_larger_than_encrypted() {
    let repetitive = "dinosaurs ".repeat(500);
    let (_, events) = world_events(&[&repetitive]);
    for bytes in AesCipher::KEY_SIZES {
        let key = AesCipher::create_key(bytes).unwrap();
        let encrypted = Mapper::default().with_cipher(AesCipher::new(&key).unwrap());
        let both = Mapper::default()
            .with_compressor(ZlibCompressor::default())
            .with_cipher(AesCipher::new(&key).unwrap());
        let encrypted_len = encrypted.from_domain_event(&events[1]).unwrap().state.len();
        let both_len = both.from_domain_event(&events[1]).unwrap().state.len();
        assert!(
            both_len <= encrypted_len,
            "AES-{}: compressed+encrypted {both_len} bytes > encrypted {encrypted_len} bytes",
            bytes * 8
        );
        // For a payload this repetitive, much smaller.
        assert!(
            both_len * 10 < encrypted_len,
            "AES-{}: {both_len} vs {encrypted_len} bytes",
            bytes * 8
        );
    }
    // Compression alone shrinks it too, and never by accident grows a small payload much.
    let plain = Mapper::default().from_domain_event(&events[1]).unwrap();
    let compressed = Mapper::default()
        .with_compressor(ZlibCompressor::default())
        .from_domain_event(&events[1])
        .unwrap();
    assert!(compressed.state.len() * 10 < plain.state.len());
}

#[test]
fn same_plaintext_encrypts_differently_each_time() {
    let (_, events) = world_events(&["the same thing"]);
    for bytes in AesCipher::KEY_SIZES {
        let key = AesCipher::create_key(bytes).unwrap();
        let cipher = AesCipher::new(&key).unwrap();
        let first = cipher.encrypt(b"the same plaintext").unwrap();
        let second = cipher.encrypt(b"the same plaintext").unwrap();
        assert_ne!(first, second, "AES-{}: a fresh nonce each time", bytes * 8);
        assert_ne!(first[..12], second[..12], "the nonces differ");
        assert_eq!(cipher.decrypt(&first).unwrap(), b"the same plaintext");
        assert_eq!(cipher.decrypt(&second).unwrap(), b"the same plaintext");

        let mapper = Mapper::default()
            .with_compressor(ZlibCompressor::default())
            .with_cipher(AesCipher::new(&key).unwrap());
        let states: Vec<Vec<u8>> = (0..20)
            .map(|_| mapper.from_domain_event(&events[1]).unwrap().state)
            .collect();
        for (i, a) in states.iter().enumerate() {
            for b in &states[i + 1..] {
                assert_ne!(a, b, "AES-{}: two encryptions of one event", bytes * 8);
            }
        }
        for state in &states {
            let stored = StoredEvent {
                state: state.clone(),
                ..mapper.from_domain_event(&events[1]).unwrap()
            };
            assert_eq!(
                mapper.to_domain_event::<WorldEvent>(&stored).unwrap(),
                events[1]
            );
        }
    }
}

#[test]
fn cipher_edge_cases() {
    for bytes in AesCipher::KEY_SIZES {
        let cipher = AesCipher::new(&AesCipher::create_key(bytes).unwrap()).unwrap();
        // The empty plaintext: just a nonce and a tag.
        let empty = cipher.encrypt(b"").unwrap();
        assert_eq!(empty.len(), 28);
        assert_eq!(cipher.decrypt(&empty).unwrap(), b"");
        // A large one.
        let large: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let sealed = cipher.encrypt(&large).unwrap();
        assert_eq!(sealed.len(), large.len() + 28);
        assert_eq!(cipher.decrypt(&sealed).unwrap(), large);
    }
    // Keys are base64 of 16, 24 or 32 random bytes, and differ each time.
    for bytes in AesCipher::KEY_SIZES {
        let a = AesCipher::create_key(bytes).unwrap();
        let b = AesCipher::create_key(bytes).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), bytes.div_ceil(3) * 4);
    }
    // The same key given twice decrypts what the other encrypted.
    let key = AesCipher::create_key(16).unwrap();
    let secret = AesCipher::new(&key).unwrap().encrypt(b"shared").unwrap();
    assert_eq!(
        AesCipher::new(&key).unwrap().decrypt(&secret).unwrap(),
        b"shared"
    );
    // The key is never shown.
    let debug = format!("{:?}", AesCipher::new(&key).unwrap());
    assert_eq!(debug, "AesCipher(AES-128-GCM)");
    assert!(!debug.contains(&key));
}

#[test]
fn zlib_levels_round_trip() {
    let data = b"{\"what\": \"dinosaurs\"}".repeat(100);
    for level in [0, 1, 6, 9, 42] {
        let zlib = ZlibCompressor::with_level(level);
        let compressed = zlib.compress(&data).unwrap();
        assert_eq!(zlib.decompress(&compressed).unwrap(), data, "level {level}");
        // Any level decompresses any other's output.
        assert_eq!(
            ZlibCompressor::default().decompress(&compressed).unwrap(),
            data
        );
    }
    let empty = ZlibCompressor::default().compress(b"").unwrap();
    assert_eq!(ZlibCompressor::default().decompress(&empty).unwrap(), b"");
}

#[test]
fn event_store_round_trip_on_every_backend() {
    let dir = TempDir::new("mapper");
    let file = dir.unique_file("db");
    let recorders: Vec<(&str, Arc<dyn ApplicationRecorder>)> = vec![
        ("in memory", Arc::new(InMemoryRecorder::new())),
        (
            "SQLite :memory:",
            Arc::new(
                SqliteApplicationRecorder::new(Arc::new(
                    SqliteDatastore::open(":memory:").unwrap(),
                ))
                .unwrap(),
            ),
        ),
        (
            "SQLite file",
            Arc::new(
                SqliteApplicationRecorder::new(Arc::new(
                    SqliteDatastore::open(file.to_str().unwrap()).unwrap(),
                ))
                .unwrap(),
            ),
        ),
    ];
    for (backend, recorder) in recorders {
        for (name, mapper) in mappers() {
            let store = EventStore::new(Arc::new(mapper), recorder.clone());
            let (world, events) = world_events(&["a", "b", "c"]);
            store.put(&events).unwrap();
            let got = store
                .get::<WorldEvent>(world.id(), &EventQuery::new())
                .unwrap();
            assert_eq!(got, events, "{backend}, {name}");
            let latest = store
                .get::<WorldEvent>(world.id(), &EventQuery::new().desc().limit(1))
                .unwrap();
            assert_eq!(latest, events[3..], "{backend}, {name}");
            // A conflicting put is an integrity error and the stored events are unchanged.
            let error = store.put(&events[1..2]).unwrap_err();
            assert!(error.is_integrity(), "{backend}, {name}: {error}");
            assert_eq!(
                store
                    .get::<WorldEvent>(world.id(), &EventQuery::new())
                    .unwrap(),
                events
            );
        }
    }
}
