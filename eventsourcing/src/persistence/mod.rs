//! The persistence layer: stored events, transcoding, compression, encryption, the mapper,
//! the recorder traits and the event store.
//!
//! An [`EventStore`] is a [`Mapper`] plus a recorder. The mapper turns a domain event into a
//! [`StoredEvent`] — serialise ([`Transcoder`], JSON by default), then compress
//! ([`Compressor`], zlib), then encrypt ([`Cipher`], AES-GCM) — and back. Recorders
//! ([`AggregateRecorder`], [`ApplicationRecorder`], [`ProcessRecorder`]) write stored events
//! to a database: in memory ([`crate::memory`]), SQLite ([`crate::sqlite`]) or PostgreSQL
//! ([`crate::postgres`], feature `postgres`), or a backend of your own.
//!
//! Each backend implements [`InfrastructureFactory`], which builds an application's recorders
//! from its configuration (an [`Environment`]); the application chooses one by name
//! (`PERSISTENCE_MODULE`) from the [`registry`](crate::registry).

#[cfg(feature = "tokio")]
mod async_recorder;
#[cfg(feature = "tokio")]
mod bridge;
mod cipher;
mod commit_signal;
mod compressor;
mod data_keys;
mod environment;
mod error;
mod event_store;
mod factory;
#[cfg(feature = "hash-chain")]
pub mod hash_chain;
pub(crate) mod inspect;
mod keyed;
mod lease;
mod mapper;
mod metadata;
mod position;
mod recorder;
mod stored;
mod subscription;
pub(crate) mod topic;
mod transcoder;
mod view;

#[cfg(feature = "tokio")]
pub use async_recorder::{
    AsyncAggregateRecorder, AsyncApplicationRecorder, AsyncProcessRecorder, BoxFuture,
    OnBlockingPool, DEFAULT_BLOCKING_CALLS,
};
#[cfg(feature = "tokio")]
pub use bridge::Bridge;
pub use cipher::{AesCipher, Cipher};
pub use commit_signal::{CommitSignal, SubscriberGuard};
pub use compressor::{Compressor, ZlibCompressor, DEFAULT_MAX_DECOMPRESSED_LEN};
pub use data_keys::{DataKeyRecorder, Forgetting, Rewrap, StoredDataKey};
pub use environment::{
    strtobool, ConfigError, Environment, CIPHER_KEY, CIPHER_TOPIC, COMPRESSOR_TOPIC, HASH_CHAIN,
    PER_AGGREGATE_KEYS,
};
pub use error::{CipherError, ErrorKind, PersistenceError};
pub use event_store::EventStore;
#[cfg(feature = "tokio")]
pub use factory::AsyncRecorders;
pub use factory::{FactoryError, InfrastructureFactory, Recorders};
pub use inspect::{ApplicationContents, ApplicationTables, DataKeyCounts, StoreInspector};
pub use keyed::{KeyedRecorder, KeyedSnapshotRecorder, Keyring, OpenedState};
pub use lease::{Lease, LeaseGuard, MemoryLease};
pub use mapper::{Mapper, SNAPSHOT_TOPIC};
pub use position::Position;
pub(crate) use recorder::{check_identifier, filter_pages};
pub use recorder::{AggregateRecorder, ApplicationRecorder, EventQuery, ProcessRecorder};
pub use stored::{Notification, StoredEvent, Tracking};
pub(crate) use stored::{TrackingShape, MIGRATION_ROW};
#[cfg(feature = "tokio")]
pub use subscription::AsyncSubscription;
pub use subscription::{
    Subscription, SubscriptionStopper, POLL_INTERVAL, RECHECK_INTERVAL, SUBSCRIPTION_PAGE,
};
pub use transcoder::{CompactJsonTranscoder, JsonTranscoder, Transcoder, TranscodingError};
pub use view::{View, ViewError};
