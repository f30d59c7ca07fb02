//! Bad input gets a typed error, never a panic or garbage: damaged or wrongly keyed cipher
//! text, damaged compressed data, state that is not JSON or not the right JSON, unknown
//! topics, bad keys, and SQLite files that are not databases or can't be written.

use std::sync::Arc;

use base64::Engine as _;
use eventsourcing::persistence::{
    AesCipher, AggregateRecorder, ApplicationRecorder, Cipher, CipherError, Compressor, ErrorKind,
    EventQuery, Mapper, PersistenceError, ProcessRecorder, StoredEvent, Tracking, ZlibCompressor,
};
use eventsourcing::prelude::*;
use eventsourcing::sqlite::{SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing_tests::world::{World, WorldEvent};
use eventsourcing_tests::TempDir;

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn cipher(key_bytes: usize) -> AesCipher {
    AesCipher::new(&AesCipher::create_key(key_bytes).unwrap()).unwrap()
}

/// A stored "SomethingHappened" event of a new world.
fn world_event() -> DomainEvent<WorldEvent> {
    let mut world = World::create();
    world.make_it_so("dinosaurs".into());
    world.collect_events().pop().unwrap()
}

fn decode(mapper: &Mapper, stored: &StoredEvent) -> PersistenceError {
    match mapper.to_domain_event::<WorldEvent>(stored) {
        Ok(event) => panic!("expected an error, decoded {event:?}"),
        Err(e) => e,
    }
}

/// The stored event with its state replaced.
fn with_state(stored: &StoredEvent, state: impl Into<Vec<u8>>) -> StoredEvent {
    StoredEvent {
        state: state.into(),
        ..stored.clone()
    }
}

// --- Cipher -----------------------------------------------------------------------------------

#[test]
fn wrong_key_fails_authentication() {
    for bytes in AesCipher::KEY_SIZES {
        let right = cipher(bytes);
        let secret = right.encrypt(b"the plaintext").unwrap();
        for other in AesCipher::KEY_SIZES {
            assert_eq!(
                cipher(other).decrypt(&secret),
                Err(CipherError::Damaged),
                "a {bytes}-byte key's cipher text decrypted with another {other}-byte key"
            );
        }
    }

    // Through the mapper: a typed error of kind Data.
    let key = AesCipher::create_key(32).unwrap();
    let writer = Mapper::default().with_cipher(AesCipher::new(&key).unwrap());
    let reader = Mapper::default().with_cipher(cipher(32));
    let stored = writer.from_domain_event(&world_event()).unwrap();
    let error = decode(&reader, &stored);
    assert!(
        matches!(error, PersistenceError::Cipher(CipherError::Damaged)),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Data);
    assert!(error.to_string().contains("key is wrong"), "{error}");

    // A mapper with no cipher reading encrypted state: the bytes are not JSON.
    let error = decode(&Mapper::default(), &stored);
    assert!(
        matches!(error, PersistenceError::Decode { .. }),
        "{error:?}"
    );
}

#[test]
fn truncated_cipher_text() {
    let cipher = cipher(32);
    let secret = cipher.encrypt(b"some plaintext to cut short").unwrap();
    assert_eq!(secret.len(), 27 + 28);
    for len in 0..secret.len() {
        let expected = match len {
            0..=11 => CipherError::InvalidNonceLength,
            12..=27 => CipherError::InvalidTagLength,
            _ => CipherError::Damaged,
        };
        assert_eq!(
            cipher.decrypt(&secret[..len]),
            Err(expected.clone()),
            "cipher text cut to {len} bytes"
        );
        assert_eq!(expected.kind(), ErrorKind::Data);
    }

    // Through the mapper.
    let key = AesCipher::create_key(16).unwrap();
    let mapper = Mapper::default().with_cipher(AesCipher::new(&key).unwrap());
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    let cut = |n: usize| with_state(&stored, &stored.state[..n]);
    assert!(matches!(
        decode(&mapper, &cut(5)),
        PersistenceError::Cipher(CipherError::InvalidNonceLength)
    ));
    assert!(matches!(
        decode(&mapper, &cut(20)),
        PersistenceError::Cipher(CipherError::InvalidTagLength)
    ));
    let error = decode(&mapper, &cut(stored.state.len() - 1));
    assert!(
        matches!(error, PersistenceError::Cipher(CipherError::Damaged)),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Data);
}

#[test]
fn flipped_byte_fails_authentication() {
    let cipher = cipher(24);
    let secret = cipher.encrypt(b"attack at dawn").unwrap();
    // Every byte: nonce (0..12), tag (12..28) and cipher text (28..).
    for i in 0..secret.len() {
        for bit in [0x01, 0x80] {
            let mut damaged = secret.clone();
            damaged[i] ^= bit;
            assert_eq!(
                cipher.decrypt(&damaged),
                Err(CipherError::Damaged),
                "bit {bit:#x} of byte {i} flipped"
            );
        }
    }
    // Extra bytes appended are damage too.
    let mut longer = secret.clone();
    longer.push(0);
    assert_eq!(cipher.decrypt(&longer), Err(CipherError::Damaged));

    // Through the mapper (compressed and encrypted).
    let key = AesCipher::create_key(24).unwrap();
    let mapper = Mapper::default()
        .with_compressor(ZlibCompressor::default())
        .with_cipher(AesCipher::new(&key).unwrap());
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    let mut state = stored.state.clone();
    let last = state.len() - 1;
    state[last] ^= 0x20;
    let error = decode(&mapper, &with_state(&stored, state));
    assert!(
        matches!(error, PersistenceError::Cipher(CipherError::Damaged)),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Data);
}

#[test]
fn key_of_the_wrong_length() {
    for bytes in [0, 1, 8, 15, 17, 20, 23, 25, 31, 33, 64] {
        assert_eq!(
            AesCipher::create_key(bytes),
            Err(CipherError::InvalidKeySize(bytes)),
            "create_key({bytes})"
        );
        let key = base64(&vec![7u8; bytes]);
        let error = AesCipher::new(&key).unwrap_err();
        assert_eq!(
            error,
            CipherError::InvalidKeySize(bytes),
            "a {bytes}-byte key"
        );
        assert_eq!(error.kind(), ErrorKind::Programming);
        assert_eq!(
            AesCipher::from_key_bytes(&vec![7u8; bytes]).unwrap_err(),
            CipherError::InvalidKeySize(bytes)
        );
        let error = PersistenceError::from(error);
        assert_eq!(error.kind(), ErrorKind::Programming);
    }
    assert_eq!(
        CipherError::InvalidKeySize(20).to_string(),
        "invalid key size: 20 bytes not in (16, 24, 32)"
    );
    // The three valid sizes.
    for bytes in AesCipher::KEY_SIZES {
        let cipher = AesCipher::new(&base64(&vec![7u8; bytes])).unwrap();
        assert_eq!(cipher.key_bits(), bytes * 8);
    }
}

#[test]
fn key_that_is_not_base64() {
    let valid = AesCipher::create_key(32).unwrap();
    let not_base64 = [
        "not base64!".to_string(),
        "****".to_string(),
        // base64 without its padding
        valid.trim_end_matches('=').to_string(),
        // the URL-safe alphabet is not the standard one
        base64(&[0xfb; 32]).replace('+', "-").replace('/', "_"),
        // a character that is not base64 in the middle
        format!("{}é{}", &valid[..10], &valid[10..]),
        "a".to_string(),
    ];
    for key in &not_base64 {
        let error = AesCipher::new(key).unwrap_err();
        assert!(
            matches!(error, CipherError::KeyNotBase64(_)),
            "key {key:?}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Programming);
        assert!(error
            .to_string()
            .starts_with("cipher key is not valid base64"));
    }
    // An empty key is valid base64 of zero bytes: the wrong length.
    assert_eq!(
        AesCipher::new("").unwrap_err(),
        CipherError::InvalidKeySize(0)
    );
}

// --- Compressor -------------------------------------------------------------------------------

/// Decompressing `data` fails with an error (and does not panic).
fn assert_decompress_fails(data: &[u8], what: &str) {
    let zlib = ZlibCompressor::default();
    match zlib.decompress(data) {
        Ok(out) => panic!(
            "{what}: decompressed to {} bytes instead of failing",
            out.len()
        ),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

#[test]
fn corrupted_zlib_stream() {
    let zlib = ZlibCompressor::default();
    let data = b"{\"timestamp\": \"2021-10-08T10:00:00Z\", \"what\": \"dinosaurs\"}".repeat(20);
    let compressed = zlib.compress(&data).unwrap();
    assert_eq!(zlib.decompress(&compressed).unwrap(), data);

    assert_decompress_fails(b"", "no bytes");
    assert_decompress_fails(b"this is not zlib data", "not zlib");
    assert_decompress_fails(&data, "uncompressed data");
    let mut bad_header = compressed.clone();
    bad_header[0] ^= 0xff;
    assert_decompress_fails(&bad_header, "damaged header");
    let mut bad_checksum = compressed.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0x01;
    assert_decompress_fails(&bad_checksum, "damaged Adler-32 checksum");
    for len in 1..compressed.len() {
        assert_decompress_fails(&compressed[..len], &format!("cut to {len} bytes"));
    }
    let mut trailing = compressed.clone();
    trailing.extend_from_slice(b"garbage");
    assert_decompress_fails(&trailing, "bytes after the end of the stream");
    // Any flipped bit: an error, never a panic and never different data (the Adler-32
    // checksum covers the data). A flip can only go unnoticed in the unused padding bits
    // after the last deflate block, and then the data is the original.
    for i in 0..compressed.len() {
        for bit in 0..8 {
            let mut damaged = compressed.clone();
            damaged[i] ^= 1 << bit;
            if let Ok(out) = zlib.decompress(&damaged) {
                assert_eq!(
                    out, data,
                    "bit {bit} of byte {i} flipped: different data came out"
                );
            }
        }
    }

    // Through the mapper: PersistenceError::Decompression, kind Data.
    let mapper = Mapper::default().with_compressor(ZlibCompressor::default());
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    for state in [
        b"this is not zlib data".to_vec(),
        stored.state[..stored.state.len() - 3].to_vec(),
    ] {
        let error = decode(&mapper, &with_state(&stored, state));
        assert!(
            matches!(error, PersistenceError::Decompression(_)),
            "{error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Data);
    }

    // Encrypted fine, but what was encrypted is not zlib: decryption succeeds, decompression
    // fails.
    let key = AesCipher::create_key(32).unwrap();
    let sealed = Mapper::default()
        .with_compressor(ZlibCompressor::default())
        .with_cipher(AesCipher::new(&key).unwrap());
    let not_zlib = AesCipher::new(&key)
        .unwrap()
        .encrypt(b"{\"what\": \"not compressed\"}")
        .unwrap();
    let error = decode(&sealed, &with_state(&stored, not_zlib));
    assert!(
        matches!(error, PersistenceError::Decompression(_)),
        "{error:?}"
    );
}

// --- Transcoding and topics -------------------------------------------------------------------

#[test]
fn invalid_json() {
    let mapper = Mapper::default();
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    for state in [
        b"".to_vec(),
        b"{not json".to_vec(),
        b"{\"timestamp\": \"2021-10-08T10:00:00Z\", \"what\": \"dino".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        b"{\"timestamp\": \"2021-10-08T10:00:00Z\", \"what\": \"x\"} trailing".to_vec(),
    ] {
        let error = decode(&mapper, &with_state(&stored, state.clone()));
        match &error {
            PersistenceError::Decode { topic, .. } => assert_eq!(topic, &stored.topic),
            other => panic!("state {state:?}: expected Decode, got {other:?}"),
        }
        assert_eq!(error.kind(), ErrorKind::Data);
    }
}

#[test]
fn json_of_the_wrong_shape() {
    let mapper = Mapper::default();
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    // The right state decodes.
    let right = br#"{"timestamp": "2021-10-08T10:00:00.123456Z", "what": "dinosaurs"}"#;
    let event: DomainEvent<WorldEvent> = mapper
        .to_domain_event(&with_state(&stored, right.to_vec()))
        .unwrap();
    assert!(
        matches!(event.payload, WorldEvent::SomethingHappened { ref what } if what == "dinosaurs")
    );

    for state in [
        r#"{"timestamp": "2021-10-08T10:00:00Z", "what": 42}"#,
        r#"{"timestamp": "2021-10-08T10:00:00Z"}"#,
        r#"{"what": "dinosaurs"}"#,
        r#"{"timestamp": "yesterday", "what": "dinosaurs"}"#,
        r#"{"timestamp": 12, "what": "dinosaurs"}"#,
        r#"{"timestamp": "2021-10-08T10:00:00Z", "what": ["dinosaurs"]}"#,
        r#"{"timestamp": "2021-10-08T10:00:00Z", "what": null}"#,
        r#"["2021-10-08T10:00:00Z", "dinosaurs", "extra"]"#,
        r#"[]"#,
        r#"{}"#,
        r#"null"#,
        r#""a string""#,
        r#"42"#,
    ] {
        let error = decode(&mapper, &with_state(&stored, state.as_bytes().to_vec()));
        assert!(
            matches!(error, PersistenceError::Decode { .. }),
            "state {state}: expected Decode, got {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Data);
    }

    // Snapshots too.
    let world = World::create();
    let snapshot = Snapshot::take(&world).unwrap();
    let stored = mapper.from_snapshot(&snapshot).unwrap();
    assert_eq!(mapper.to_snapshot(&stored).unwrap(), snapshot);
    for state in [
        r#"{"state": {}}"#,
        r#"{"timestamp": 1, "topic": 2, "state": 3}"#,
        "[1]",
    ] {
        let error = mapper
            .to_snapshot(&with_state(&stored, state.as_bytes().to_vec()))
            .unwrap_err();
        assert!(
            matches!(error, PersistenceError::Decode { .. }),
            "{error:?}"
        );
    }
}

#[test]
fn unknown_topic() {
    let mapper = Mapper::default();
    let stored = mapper.from_domain_event(&world_event()).unwrap();
    for topic in [
        "",
        "nowhere:Nothing.Happened",
        "eventsourcing_tests::world:World.Renamed",
    ] {
        let unknown = StoredEvent {
            topic: topic.to_string().into(),
            ..stored.clone()
        };
        let error = decode(&mapper, &unknown);
        match &error {
            PersistenceError::UnknownTopic {
                topic: t, known, ..
            } => {
                assert_eq!(t, topic);
                assert!(known.contains(&*stored.topic), "{known}");
            }
            other => panic!("topic {topic:?}: expected UnknownTopic, got {other:?}"),
        }
        assert_eq!(error.kind(), ErrorKind::Data);
    }

    // An event's topic is not a snapshot's, and the other way round.
    let error = mapper.to_snapshot(&stored).unwrap_err();
    assert!(
        matches!(&error, PersistenceError::UnknownTopic { topic, .. } if topic == &stored.topic),
        "{error:?}"
    );
    let snapshot = mapper
        .from_snapshot(&Snapshot::take(&World::create()).unwrap())
        .unwrap();
    let error = decode(&mapper, &snapshot);
    assert!(
        matches!(error, PersistenceError::UnknownTopic { .. }),
        "{error:?}"
    );
}

// --- SQLite -----------------------------------------------------------------------------------

fn sqlite_error<T>(result: Result<T, PersistenceError>) -> PersistenceError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn sqlite_file_that_is_not_a_database() {
    let dir = TempDir::new("errors");
    let path = dir.unique_file("db");
    std::fs::write(&path, b"This is not an SQLite database. ".repeat(200)).unwrap();
    let error = sqlite_error(SqliteDatastore::open(path.to_str().unwrap()));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    assert!(
        error.to_string().contains("not a database"),
        "the message should say what is wrong: {error}"
    );
    // Nothing was written over it.
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"This is not an SQLite database. ".repeat(200)
    );

    // A directory where the file should be, and a directory that does not exist.
    let error = sqlite_error(SqliteDatastore::open(dir.path().to_str().unwrap()));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    let missing = dir.path().join("no such directory").join("events.db");
    let error = sqlite_error(SqliteDatastore::open(missing.to_str().unwrap()));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    // An empty name.
    let error = sqlite_error(SqliteDatastore::open(""));
    assert_eq!(error.kind(), ErrorKind::Programming, "{error}");
}

#[test]
fn read_only_database_file() {
    let dir = TempDir::new("errors");
    let path = dir.unique_file("db");
    let path = path.to_str().unwrap();
    let id = Uuid::new_v4();
    let event = |version| StoredEvent {
        originator_id: id,
        originator_version: version,
        topic: "topic".into(),
        state: vec![version as u8],
    };
    {
        let datastore = Arc::new(SqliteDatastore::open(path).unwrap());
        let recorder = SqliteApplicationRecorder::new(datastore).unwrap();
        recorder.insert_events(&[event(1), event(2)]).unwrap();
    }

    // Tests usually run as root, for whom the file's permission bits stop nothing (a 0o444
    // file is still writable by root), so the read-only database is opened read-only through
    // SQLite itself: the URI parameter `mode=ro` makes SQLite open the file without write
    // access and refuse every write with SQLITE_READONLY, whoever runs the test.
    let uri = format!("file:{path}?mode=ro");
    let datastore = Arc::new(SqliteDatastore::open(&uri).unwrap());
    let recorder = SqliteApplicationRecorder::new(datastore).unwrap();
    // Reading works.
    assert_eq!(
        recorder.select_events(id, &EventQuery::new()).unwrap(),
        vec![event(1), event(2)]
    );
    assert_eq!(recorder.max_notification_id().unwrap(), 2);
    assert_eq!(recorder.max_tracking_id("upstream").unwrap(), 0);
    // Writing is an operational error, and writes nothing.
    let error = sqlite_error(recorder.insert_events(&[event(3)]));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    assert!(error.to_string().contains("readonly"), "{error}");
    let error = sqlite_error(
        recorder.insert_events_with_tracking(&[event(3)], &[Tracking::new("upstream", 1)]),
    );
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    let error =
        sqlite_error(recorder.insert_events_with_tracking(&[], &[Tracking::new("upstream", 1)]));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");
    assert_eq!(
        recorder
            .select_events(id, &EventQuery::new())
            .unwrap()
            .len(),
        2
    );
    drop(recorder);

    // A read-only database without the tables: creating them is an operational error.
    let empty = dir.unique_file("db");
    drop(SqliteDatastore::open(empty.to_str().unwrap()).unwrap());
    let datastore =
        Arc::new(SqliteDatastore::open(format!("file:{}?mode=ro", empty.display())).unwrap());
    let error = sqlite_error(SqliteApplicationRecorder::new(datastore));
    assert_eq!(error.kind(), ErrorKind::Operational, "{error}");

    // The file is unchanged: a writable recorder sees the two events and nothing else.
    let recorder =
        SqliteApplicationRecorder::new(Arc::new(SqliteDatastore::open(path).unwrap())).unwrap();
    assert_eq!(
        recorder.select_events(id, &EventQuery::new()).unwrap(),
        vec![event(1), event(2)]
    );
    assert_eq!(recorder.max_tracking_id("upstream").unwrap(), 0);
}

#[test]
fn damaged_rows_are_data_errors() {
    // Rows another program wrote into the tables: each is a Data error when read, never a
    // panic, and the other rows stay readable.
    let dir = TempDir::new("errors");
    let id = Uuid::new_v4();
    let hex = id.simple().to_string();
    let damaged_rows = [
        (
            "an originator id that is not a uuid",
            "'not-a-uuid', 1, 't', X'00'".to_string(),
        ),
        ("an integer originator id", "42, 1, 't', X'00'".to_string()),
        ("a negative version", format!("'{hex}', -1, 't', X'00'")),
        ("a text version", format!("'{hex}', 'one', 't', X'00'")),
        (
            "a topic that is not UTF-8",
            format!("'{hex}', 1, CAST(X'FF' AS TEXT), X'00'"),
        ),
        ("a blob topic", format!("'{hex}', 1, X'74', X'00'")),
        ("a NULL topic", format!("'{hex}', 1, NULL, X'00'")),
        ("a NULL state", format!("'{hex}', 1, 't', NULL")),
        ("an integer state", format!("'{hex}', 1, 't', 7")),
    ];
    for (what, values) in damaged_rows {
        let path = dir.unique_file("db");
        let path = path.to_str().unwrap();
        let good = Uuid::new_v4();
        {
            let recorder =
                SqliteApplicationRecorder::new(Arc::new(SqliteDatastore::open(path).unwrap()))
                    .unwrap();
            recorder
                .insert_events(&[StoredEvent {
                    originator_id: good,
                    originator_version: 1,
                    topic: "t".into(),
                    state: vec![1],
                }])
                .unwrap();
        }
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .execute(&format!("INSERT INTO stored_events VALUES ({values})"), [])
            .unwrap();
        drop(connection);

        let recorder =
            SqliteApplicationRecorder::new(Arc::new(SqliteDatastore::open(path).unwrap())).unwrap();
        let error = sqlite_error(recorder.select_notifications(1, 10));
        assert_eq!(error.kind(), ErrorKind::Data, "{what}: {error}");
        if !what.contains("originator id") {
            let error = sqlite_error(recorder.select_events(id, &EventQuery::new()));
            assert_eq!(error.kind(), ErrorKind::Data, "{what}: {error}");
        }
        assert_eq!(
            recorder
                .select_events(good, &EventQuery::new())
                .unwrap()
                .len(),
            1,
            "{what}: the other rows stay readable"
        );
        assert_eq!(recorder.max_notification_id().unwrap(), 2);
    }
}
