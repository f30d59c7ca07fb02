//! The decoder of stored state, fuzzed: arbitrary bytes and mutations of valid states, plain,
//! compressed and encrypted, given to the mapper as events and as snapshots. Whatever the
//! bytes, decoding returns (an event or an error): it never panics, and never allocates
//! without bound (a zlib bomb is refused at the compressor's bound).

use eventsourcing::domain::{DomainEvent, Snapshot};
use eventsourcing::persistence::{
    AesCipher, Cipher, Compressor, Mapper, StoredEvent, ZlibCompressor,
};
use eventsourcing::prelude::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    name: String,
    owner: Uuid,
    born: DateTime<Utc>,
    price: Decimal,
    tricks: Vec<String>,
    vet: Option<Uuid>,
}

#[aggregate(module = "dogs")]
impl Dog {
    #[created("Registered")]
    pub fn register(name: String, owner: Uuid, born: DateTime<Utc>, price: Decimal) -> Self {
        Dog {
            name,
            owner,
            born,
            price,
            tricks: Vec::new(),
            vet: None,
        }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }

    #[event("VetChosen")]
    pub fn choose_vet(&mut self, vet: Option<Uuid>, visits: Vec<DateTime<Utc>>) {
        let _ = visits;
        self.vet = vet;
    }
}

const KEY: &str = "iuEJgHhStfH2UBLnI1ZfDtjbVpMn4vFkMRsm8Nv4r2M=";
/// The compressor's bound in these tests: small, so that a bomb is cheap to make.
const MAX_LEN: usize = 64 << 10;

fn mappers() -> Vec<(&'static str, Mapper)> {
    let zlib = || ZlibCompressor::default().with_max_decompressed_len(MAX_LEN);
    let cipher = || AesCipher::new(KEY).unwrap();
    vec![
        ("plain", Mapper::default()),
        ("compressed", Mapper::default().with_compressor(zlib())),
        ("encrypted", Mapper::default().with_cipher(cipher())),
        (
            "both",
            Mapper::default()
                .with_compressor(zlib())
                .with_cipher(cipher()),
        ),
    ]
}

/// Valid stored events and a snapshot, in the reference's format.
fn valid_states() -> Vec<(String, Vec<u8>)> {
    let mut dog = Dog::register(
        "Fido".into(),
        Uuid::new_v4(),
        Utc::now(),
        Decimal::new(1250, 2),
    );
    dog.add_trick("roll over".into());
    dog.choose_vet(Some(Uuid::new_v4()), vec![Utc::now()]);
    let mapper = Mapper::default();
    let mut states: Vec<(String, Vec<u8>)> = dog
        .collect_events()
        .iter()
        .map(|event| {
            let stored = mapper.from_domain_event(event).unwrap();
            (stored.topic.to_string(), stored.state.to_vec())
        })
        .collect();
    let snapshot = mapper
        .from_snapshot(&Snapshot::take(&dog).unwrap())
        .unwrap();
    states.push((snapshot.topic.to_string(), snapshot.state.to_vec()));
    states
}

/// Decodes `state` of `topic` every way a reader does; panics are what the test catches.
fn decode_every_way(mapper: &Mapper, topic: &str, state: Vec<u8>) {
    let stored = StoredEvent {
        originator_id: Uuid::nil(),
        originator_version: 1,
        topic: topic.to_string().into(),
        state,
    };
    let _ = mapper.to_domain_event::<DogEvent>(&stored);
    if let Ok(snapshot) = mapper.to_snapshot(&stored) {
        let _ = Dog::from_snapshot(snapshot);
    }
}

/// One mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Remove(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bits)| Mutation::Flip(at, bits | 1)),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Remove(at, len)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..32).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        // Bytes that matter to the reference's format, in the middle of things.
        (
            any::<usize>(),
            prop_oneof![
                Just(br#"{"_type_":"uuid_hex","_data_":"zz"}"#.to_vec()),
                Just(br#"{"_type_":"point","_data_":[1,2]}"#.to_vec()),
                Just(br#"{"_type_":"datetime_iso","_data_":"2026-13-45T99:00:00+00:00"}"#.to_vec()),
                Just(br#"{"_type_":"decimal_str","_data_":"NaN"}"#.to_vec()),
                Just(
                    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                        .to_vec()
                ),
                Just(b"\"\\ud800\"".to_vec()),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match mutation {
        Mutation::Flip(i, bits) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes[i] ^= bits;
        }
        Mutation::Remove(i, len) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            let end = (i + len).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Insert(i, new) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, new.iter().copied());
        }
        Mutation::Truncate(len) => bytes.truncate(at(*len, bytes.len() + 1)),
        Mutation::Duplicate(i, len) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            let end = (i + len).min(bytes.len());
            let copy = bytes[i..end].to_vec();
            bytes.splice(end..end, copy);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes, under each topic, through each mapper.
    #[test]
    fn arbitrary_bytes_decode_to_a_result(bytes in proptest::collection::vec(any::<u8>(), 0..300), which in 0usize..4) {
        let topics = ["dogs:Dog.Registered", "dogs:Dog.TrickAdded", "dogs:Dog.VetChosen", "eventsourcing.domain:Snapshot"];
        for (_, mapper) in mappers() {
            decode_every_way(&mapper, topics[which], bytes.clone());
        }
    }

    /// Valid states with mutations, before sealing (so that the cipher and compressor pass
    /// the damage on to the JSON decoder) and after (so that they meet it themselves).
    #[test]
    fn mutated_states_decode_to_a_result(which in 0usize..4, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let (topic, plain) = valid_states().swap_remove(which);
        let mut damaged = plain.clone();
        for m in &mutations {
            apply(&mut damaged, m);
        }
        let cipher = AesCipher::new(KEY).unwrap();
        let zlib = ZlibCompressor::default().with_max_decompressed_len(MAX_LEN);
        for (name, mapper) in mappers() {
            // Damaged, then sealed as the mapper seals.
            let mut sealed = damaged.clone();
            if name == "compressed" || name == "both" {
                sealed = zlib.compress(&sealed).unwrap();
            }
            if name == "encrypted" || name == "both" {
                sealed = cipher.encrypt(&sealed).unwrap();
            }
            decode_every_way(&mapper, &topic, sealed);
            // Sealed, then damaged.
            let mut sealed = plain.clone();
            if name == "compressed" || name == "both" {
                sealed = zlib.compress(&sealed).unwrap();
            }
            if name == "encrypted" || name == "both" {
                sealed = cipher.encrypt(&sealed).unwrap();
            }
            for m in &mutations {
                apply(&mut sealed, m);
            }
            decode_every_way(&mapper, &topic, sealed);
        }
    }
}

/// The valid states decode (so the fuzzing above starts from states that mean something).
#[test]
fn the_valid_states_decode() {
    let mapper = Mapper::default();
    for (topic, state) in valid_states() {
        let stored = StoredEvent {
            originator_id: Uuid::nil(),
            originator_version: 1,
            topic: topic.clone().into(),
            state,
        };
        if topic == "eventsourcing.domain:Snapshot" {
            assert!(Dog::from_snapshot(mapper.to_snapshot(&stored).unwrap()).is_ok());
        } else {
            let event: DomainEvent<DogEvent> = mapper.to_domain_event(&stored).unwrap();
            assert_eq!(event.topic(), topic);
        }
    }
}

/// A zlib bomb: a small state that decompresses to far more than the bound is refused, with
/// no more than the bound allocated.
#[test]
fn a_zlib_bomb_is_refused() {
    let zlib = ZlibCompressor::default();
    let bomb = zlib.compress(&vec![b' '; (64 << 20) + 1]).unwrap();
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    match zlib.decompress(&bomb) {
        Ok(out) => panic!("decompressed {} bytes", out.len()),
        Err(error) => assert!(error.to_string().contains("more than"), "{error}"),
    }
    // Exactly at the bound is fine.
    let at_bound = zlib.compress(&vec![b' '; 64 << 20]).unwrap();
    assert_eq!(
        zlib.decompress(&at_bound).map(|out| out.len()).ok(),
        Some(64 << 20)
    );
    let mapper = Mapper::default().with_compressor(zlib);
    let stored = StoredEvent {
        originator_id: Uuid::nil(),
        originator_version: 1,
        topic: "dogs:Dog.TrickAdded".into(),
        state: bomb,
    };
    assert!(mapper.to_domain_event::<DogEvent>(&stored).is_err());
}
