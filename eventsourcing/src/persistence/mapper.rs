//! The [`Mapper`]: domain events and snapshots to stored events, and back.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(feature = "hash-chain")]
use uuid::Uuid;

use super::cipher::Cipher;
use super::compressor::Compressor;
use super::error::PersistenceError;
use super::stored::StoredEvent;
use super::transcoder::{JsonTranscoder, Transcoder};
use crate::domain::{
    AggregateEvent, DomainEvent, EventMetadata, EventState, EventStateSeed, Snapshot,
};

/// The topic stored with snapshots (the reference library's `Snapshot` class).
pub const SNAPSHOT_TOPIC: &str = "eventsourcing.domain:Snapshot";

/// Turns domain events and snapshots into [`StoredEvent`]s and back.
///
/// Writing: serialise the state with the transcoder, then compress (if a compressor is set),
/// then encrypt (if a cipher is set). Reading reverses the steps, resolves the topic to the
/// right event type, and upcasts state stored by older versions of that type.
///
/// ```
/// use eventsourcing::prelude::*;
/// use eventsourcing::persistence::{AesCipher, Mapper, ZlibCompressor};
///
/// #[aggregate]
/// pub struct World {
///     history: Vec<String>,
/// }
///
/// #[aggregate]
/// impl World {
///     #[created]
///     pub fn create() -> Self {
///         World { history: Vec::new() }
///     }
///
///     #[event("SomethingHappened")]
///     pub fn make_it_so(&mut self, what: String) {
///         self.history.push(what);
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = AesCipher::create_key(32)?;
/// let mapper = Mapper::default()
///     .with_compressor(ZlibCompressor::default())
///     .with_cipher(AesCipher::new(&key)?);
///
/// let mut world = World::create();
/// world.make_it_so("dinosaurs".into());
/// let events = world.collect_events();
/// let stored = mapper.from_domain_event(&events[1])?;
/// assert!(!String::from_utf8_lossy(&stored.state).contains("dinosaurs"));
///
/// let event: DomainEvent<WorldEvent> = mapper.to_domain_event(&stored)?;
/// assert_eq!(event, events[1]);
/// # Ok(())
/// # }
/// ```
pub struct Mapper<T: Transcoder = JsonTranscoder> {
    transcoder: T,
    compressor: Option<Arc<dyn Compressor>>,
    cipher: Option<Arc<dyn Cipher>>,
    /// Where the hash chain reads the heads of aggregates' chains: the application's recorder.
    #[cfg(feature = "hash-chain")]
    chain: Option<Arc<dyn super::AggregateRecorder>>,
    /// Whether its events come from a [`KeyedRecorder`](super::KeyedRecorder), which presents
    /// a forgotten aggregate's events with an empty state.
    keyed: bool,
}

impl Default for Mapper<JsonTranscoder> {
    fn default() -> Self {
        Mapper::new(JsonTranscoder)
    }
}

impl<T: Transcoder> fmt::Debug for Mapper<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapper")
            .field("transcoder", &std::any::type_name::<T>())
            .field("compressed", &self.compressor.is_some())
            .field("encrypted", &self.cipher.is_some())
            .finish()
    }
}

/// A snapshot's stored state: when it was taken, the aggregate's topic, its state.
#[derive(Serialize, Deserialize)]
struct SnapshotState<'a> {
    #[serde(with = "crate::transcoding")]
    timestamp: DateTime<Utc>,
    topic: Cow<'a, str>,
    state: Map<String, Value>,
}

impl<T: Transcoder> Mapper<T> {
    /// A mapper with the given transcoder, no compression and no encryption.
    pub fn new(transcoder: T) -> Self {
        Mapper {
            transcoder,
            compressor: None,
            cipher: None,
            #[cfg(feature = "hash-chain")]
            chain: None,
            keyed: false,
        }
    }

    /// Compresses stored state with `compressor`.
    pub fn with_compressor(self, compressor: impl Compressor + 'static) -> Self {
        self.with_shared_compressor(Some(Arc::new(compressor)))
    }

    /// Encrypts stored state with `cipher`.
    pub fn with_cipher(self, cipher: impl Cipher + 'static) -> Self {
        self.with_shared_cipher(Some(Arc::new(cipher)))
    }

    /// Sets (or removes) the compressor.
    pub fn with_shared_compressor(mut self, compressor: Option<Arc<dyn Compressor>>) -> Self {
        self.compressor = compressor;
        self
    }

    /// Sets (or removes) the cipher.
    pub fn with_shared_cipher(mut self, cipher: Option<Arc<dyn Cipher>>) -> Self {
        self.cipher = cipher;
        self
    }

    /// The transcoder.
    pub fn transcoder(&self) -> &T {
        &self.transcoder
    }

    /// Whether stored state is compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressor.is_some()
    }

    /// Whether stored state is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// A domain event as a stored event.
    ///
    /// With a hash chain ([`with_hash_chain`](Mapper::with_hash_chain)), an event after an
    /// aggregate's first is chained to the stored event before it, which is read from the
    /// chain's recorder.
    pub fn from_domain_event<E: AggregateEvent>(
        &self,
        event: &DomainEvent<E>,
    ) -> Result<StoredEvent, PersistenceError> {
        #[cfg(feature = "hash-chain")]
        if let Some(chain) = &self.chain {
            let previous = self.chain_head(chain, event.originator_id, event.originator_version)?;
            return Ok(self.map_event(event, Some(&previous), None)?.0);
        }
        Ok(self.map_event(event, None, None)?.0)
    }

    /// A domain event as a stored event, chained to `previous` if given; and its hash.
    fn map_event<E: AggregateEvent>(
        &self,
        event: &DomainEvent<E>,
        previous: Option<&str>,
        overriding: Option<&EventMetadata>,
    ) -> Result<(StoredEvent, String), PersistenceError> {
        let state = EventState {
            timestamp: &event.timestamp,
            payload: &event.payload,
        };
        let topic = event.payload.topic();
        let plain = self
            .transcoder
            .encode(&state)
            .map_err(|e| PersistenceError::Encode {
                what: format!("an event of topic {topic:?}"),
                source: e.0,
            })?;
        let metadata = match overriding {
            Some(metadata) if !metadata.is_empty() => metadata,
            _ => &event.metadata,
        };
        let plain = super::metadata::splice(plain, metadata)?;
        let (plain, hash) = match previous {
            #[cfg(feature = "hash-chain")]
            Some(previous) => super::hash_chain::chain(
                event.originator_id,
                event.originator_version,
                topic,
                previous,
                plain,
            )?,
            _ => (plain, String::new()),
        };
        Ok((
            StoredEvent {
                originator_id: event.originator_id,
                originator_version: event.originator_version,
                topic: Cow::Borrowed(topic),
                state: self.seal(plain)?,
            },
            hash,
        ))
    }

    /// Domain events as stored events, all of them or none (the first error). With a hash
    /// chain, each event is chained to the one before it in `events`, or to the stored one.
    pub fn from_domain_events<E: AggregateEvent>(
        &self,
        events: &[DomainEvent<E>],
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        self.from_domain_events_with(events, &EventMetadata::default())
    }

    /// [`from_domain_events`](Mapper::from_domain_events), each event stored with `metadata`
    /// (its causation and correlation ids) unless that is empty (then with its own).
    pub fn from_domain_events_with<E: AggregateEvent>(
        &self,
        events: &[DomainEvent<E>],
        metadata: &EventMetadata,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let overriding = (!metadata.is_empty()).then_some(metadata);
        #[cfg(feature = "hash-chain")]
        if let Some(chain) = &self.chain {
            let mut heads: Vec<(Uuid, u64, String)> = Vec::new();
            let mut stored = Vec::with_capacity(events.len());
            for event in events {
                let (id, version) = (event.originator_id, event.originator_version);
                let previous = match heads
                    .iter()
                    .position(|(i, v, _)| *i == id && *v + 1 == version)
                {
                    Some(at) => heads.swap_remove(at).2,
                    None => self.chain_head(chain, id, version)?,
                };
                let (event, hash) = self.map_event(event, Some(&previous), overriding)?;
                heads.push((id, version, hash));
                stored.push(event);
            }
            return Ok(stored);
        }
        events
            .iter()
            .map(|event| Ok(self.map_event(event, None, overriding)?.0))
            .collect()
    }

    /// Chains new events to the stored events read from `recorder` (an application's own):
    /// stored state is hash-chained from then on (see
    /// [`hash_chain`](super::hash_chain), feature `hash-chain`). The application builder
    /// does this when [`HASH_CHAIN`](super::HASH_CHAIN) is on.
    #[cfg(feature = "hash-chain")]
    pub fn with_hash_chain(mut self, recorder: Arc<dyn super::AggregateRecorder>) -> Self {
        self.chain = Some(recorder);
        self
    }

    /// Reads events as a [`KeyedRecorder`](super::KeyedRecorder) presents them (per-aggregate
    /// keys): an empty state is a forgotten aggregate's event,
    /// [`PersistenceError::Forgotten`] rather than a decode error. The application builder
    /// sets it when per-aggregate keys are on.
    pub fn with_per_aggregate_keys(mut self, keyed: bool) -> Self {
        self.keyed = keyed;
        self
    }

    /// Whether `stored` is an event of a forgotten aggregate: per-aggregate keys are on
    /// ([`with_per_aggregate_keys`](Mapper::with_per_aggregate_keys)) and its state is empty
    /// ([`StoredEvent::is_forgotten`]).
    pub fn is_forgotten(&self, stored: &StoredEvent) -> bool {
        self.keyed && stored.is_forgotten()
    }

    /// Whether new events are hash-chained.
    pub fn is_hash_chained(&self) -> bool {
        #[cfg(feature = "hash-chain")]
        return self.chain.is_some();
        #[cfg(not(feature = "hash-chain"))]
        false
    }

    /// The hash the event `version` of `originator_id` is chained to: none for version 1,
    /// else that of the stored event before it.
    #[cfg(feature = "hash-chain")]
    fn chain_head(
        &self,
        recorder: &Arc<dyn super::AggregateRecorder>,
        originator_id: Uuid,
        version: u64,
    ) -> Result<String, PersistenceError> {
        if version <= 1 {
            return Ok(String::new());
        }
        let query = super::EventQuery::new().lte(version - 1).desc().limit(1);
        let last = recorder.select_events(originator_id, &query)?;
        match last.first() {
            Some(last) if last.originator_version == version - 1 => {
                let plain = self.open(&last.state)?;
                super::hash_chain::head(originator_id, version - 1, &last.topic, &plain)
            }
            _ => Err(PersistenceError::database(
                super::ErrorKind::Data,
                format!(
                    "can't chain version {version} of aggregate {originator_id}: version {} is \
                     not stored",
                    version - 1
                ),
            )),
        }
    }

    /// A stored event (or notification) as a domain event of the aggregate whose events `E`
    /// are. A topic that is not one of `E`'s is [`PersistenceError::UnknownTopic`]; damaged or
    /// undecryptable state is an error too, never a panic.
    pub fn to_domain_event<E: AggregateEvent>(
        &self,
        stored: &StoredEvent,
    ) -> Result<DomainEvent<E>, PersistenceError> {
        if !E::has_topic(&stored.topic) {
            return Err(unknown_topic::<E>(&stored.topic));
        }
        if self.is_forgotten(stored) {
            return Err(PersistenceError::Forgotten {
                originator_id: stored.originator_id,
            });
        }
        let state = self.open(&stored.state)?;
        let seed = EventStateSeed::<E> {
            topic: &stored.topic,
            marker: PhantomData,
        };
        let (timestamp, payload) =
            self.transcoder
                .decode_seed(seed, &state)
                .map_err(|e| PersistenceError::Decode {
                    topic: stored.topic.to_string(),
                    source: e.0,
                })?;
        Ok(DomainEvent {
            originator_id: stored.originator_id,
            originator_version: stored.originator_version,
            timestamp,
            payload,
            metadata: super::metadata::parse(&state),
        })
    }

    /// A snapshot as a stored event (topic [`SNAPSHOT_TOPIC`]).
    pub fn from_snapshot(&self, snapshot: &Snapshot) -> Result<StoredEvent, PersistenceError> {
        let state = SnapshotState {
            timestamp: snapshot.timestamp,
            topic: Cow::Borrowed(&snapshot.topic),
            state: snapshot.state.clone(),
        };
        let plain = self
            .transcoder
            .encode(&state)
            .map_err(|e| PersistenceError::Encode {
                what: format!("a snapshot of {:?}", snapshot.topic),
                source: e.0,
            })?;
        Ok(StoredEvent {
            originator_id: snapshot.originator_id,
            originator_version: snapshot.originator_version,
            topic: Cow::Borrowed(SNAPSHOT_TOPIC),
            state: self.seal(plain)?,
        })
    }

    /// A stored snapshot as a [`Snapshot`].
    pub fn to_snapshot(&self, stored: &StoredEvent) -> Result<Snapshot, PersistenceError> {
        let decoded: SnapshotState<'static> =
            self.decode_snapshot_with(stored, PhantomData::<SnapshotState<'static>>)?;
        Ok(Snapshot {
            originator_id: stored.originator_id,
            originator_version: stored.originator_version,
            timestamp: decoded.timestamp,
            topic: decoded.topic.into_owned(),
            state: decoded.state,
        })
    }

    /// A stored snapshot decoded with `seed` (which reads the map `{"timestamp", "topic",
    /// "state"}`), for restoring an aggregate without building its state as a map first.
    pub(crate) fn decode_snapshot_with<S, V>(
        &self,
        stored: &StoredEvent,
        seed: S,
    ) -> Result<V, PersistenceError>
    where
        S: for<'de> serde::de::DeserializeSeed<'de, Value = V>,
    {
        if stored.topic != SNAPSHOT_TOPIC {
            return Err(PersistenceError::UnknownTopic {
                topic: stored.topic.to_string(),
                expected: "snapshot".into(),
                known: SNAPSHOT_TOPIC.into(),
            });
        }
        if self.is_forgotten(stored) {
            return Err(PersistenceError::Forgotten {
                originator_id: stored.originator_id,
            });
        }
        let state = self.open(&stored.state)?;
        self.transcoder
            .decode_seed(seed, &state)
            .map_err(|e| PersistenceError::Decode {
                topic: stored.topic.to_string(),
                source: e.0,
            })
    }

    /// Compresses, then encrypts.
    fn seal(&self, plain: Vec<u8>) -> Result<Vec<u8>, PersistenceError> {
        let compressed = match &self.compressor {
            Some(compressor) => {
                compressor
                    .compress(&plain)
                    .map_err(|e| PersistenceError::Encode {
                        what: "compressed state".into(),
                        source: Box::new(e),
                    })?
            }
            None => plain,
        };
        match &self.cipher {
            Some(cipher) => Ok(cipher.encrypt(&compressed)?),
            None => Ok(compressed),
        }
    }

    /// Decrypts, then decompresses; borrows the stored bytes when there is nothing to undo.
    fn open<'a>(&self, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, PersistenceError> {
        let decrypted = match &self.cipher {
            Some(cipher) => Cow::Owned(cipher.decrypt(stored)?),
            None => Cow::Borrowed(stored),
        };
        match &self.compressor {
            Some(compressor) => Ok(Cow::Owned(
                compressor
                    .decompress(&decrypted)
                    .map_err(PersistenceError::Decompression)?,
            )),
            None => Ok(decrypted),
        }
    }
}

/// Stored state without its Rust types, for tools that show or check what a store holds.
impl<T: Transcoder> Mapper<T> {
    /// The serialised state inside a stored event's or snapshot's `state`: decrypted, then
    /// decompressed, as this mapper's settings say, and not decoded (the transcoder's bytes:
    /// JSON, for the library's transcoders). Borrows `state` when there is nothing to undo.
    /// Damaged state, or state sealed with another key, is an error, never a panic.
    ///
    /// ```
    /// use eventsourcing::persistence::{AesCipher, Cipher, Compressor, Mapper, ZlibCompressor};
    ///
    /// let key = AesCipher::create_key(16)?;
    /// let compressed = ZlibCompressor::default().compress(br#"{"a":1}"#)?;
    /// let sealed = AesCipher::new(&key)?.encrypt(&compressed)?;
    ///
    /// let mapper = Mapper::default()
    ///     .with_compressor(ZlibCompressor::default())
    ///     .with_cipher(AesCipher::new(&key)?);
    /// assert_eq!(&*mapper.plain_state(&sealed)?, br#"{"a":1}"#);
    /// // Without the key, the sealed bytes are not decrypted: they are not JSON.
    /// assert_eq!(&*Mapper::default().plain_state(&sealed)?, &sealed[..]);
    /// // With another key, decrypting fails.
    /// let other = Mapper::default().with_cipher(AesCipher::new(&AesCipher::create_key(16)?)?);
    /// assert!(other.plain_state(&sealed).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plain_state<'a>(&self, state: &'a [u8]) -> Result<Cow<'a, [u8]>, PersistenceError> {
        self.open(state)
    }
}

/// The error for a topic that is not one of `E`'s.
pub(crate) fn unknown_topic<E: AggregateEvent>(topic: &str) -> PersistenceError {
    PersistenceError::UnknownTopic {
        topic: topic.to_string(),
        expected: std::any::type_name::<E>()
            .rsplit("::")
            .next()
            .unwrap_or("expected")
            .to_string(),
        known: E::topics().collect::<Vec<_>>().join(", "),
    }
}
