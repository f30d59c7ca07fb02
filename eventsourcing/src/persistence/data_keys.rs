//! The backend's side of per-aggregate keys: a table of data keys, written in the same
//! transaction as the events of the aggregates they belong to ([`DataKeyRecorder`]).
//!
//! The encryption itself is done above the backend, by a [`KeyedRecorder`](super::KeyedRecorder);
//! a backend only stores what it is given, and destroys it when asked.

use uuid::Uuid;

use super::error::PersistenceError;
use super::stored::{StoredEvent, Tracking};

/// A row of the data-key table: an aggregate's data key, encrypted under the application's key
/// (`CIPHER_KEY`), or nothing once the aggregate was forgotten.
///
/// The row of a forgotten aggregate stays (with no key), so that forgetting twice, or saving to
/// a forgotten aggregate, is told apart from an aggregate that never had a key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoredDataKey {
    /// The aggregate the key is for.
    pub originator_id: Uuid,
    /// The data key, encrypted under the application's key; `None` once destroyed.
    pub wrapped: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredDataKey {
    /// Never shows the (wrapped) key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDataKey")
            .field("originator_id", &self.originator_id)
            .field("forgotten", &self.wrapped.is_none())
            .finish()
    }
}

/// What forgetting an aggregate found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Forgetting {
    /// Its data key was destroyed (and its snapshots removed) now.
    Forgotten,
    /// It had been forgotten before: nothing changed.
    AlreadyForgotten,
    /// No aggregate of that id has a data key: nothing changed.
    Unknown,
}

/// How [`DataKeyRecorder::rewrap_data_keys`] re-encrypts one stored (wrapped) key.
pub type Rewrap<'a> = &'a (dyn Fn(&[u8]) -> Result<Vec<u8>, PersistenceError> + Sync);

/// A recorder that keeps a table of data keys beside an application's events, for
/// per-aggregate encryption (see [`KeyedRecorder`](super::KeyedRecorder)).
///
/// What a backend must guarantee, which the conformance suite (`eventsourcing::testing`,
/// feature `testing`) checks:
///
/// - [`insert_events_with_keys`](DataKeyRecorder::insert_events_with_keys) writes the events,
///   tracking records and keys in one transaction, so that no key exists without the events
///   it was made for, nor an event without its key; an aggregate with a key row already (its
///   key, or a forgotten one) is refused with an integrity error, and nothing is written;
/// - [`forget_data_key`](DataKeyRecorder::forget_data_key) removes the key (keeping the row)
///   and the aggregate's snapshots in one transaction;
/// - [`rewrap_data_keys`](DataKeyRecorder::rewrap_data_keys) replaces every key in one
///   transaction, or none.
pub trait DataKeyRecorder: Send + Sync {
    /// Inserts `events`, `tracking` and the new `keys` atomically, with the rules of
    /// [`ProcessRecorder::insert_events_with_tracking`](super::ProcessRecorder::insert_events_with_tracking)
    /// for the events and tracking records (a version conflict is
    /// [`PersistenceError::Conflict`]). A key for an aggregate that has a key row already is an
    /// integrity error.
    fn insert_events_with_keys(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: &[StoredDataKey],
    ) -> Result<(), PersistenceError>;

    /// The key rows of those of `originator_ids` that have one, in any order.
    fn select_data_keys(
        &self,
        originator_ids: &[Uuid],
    ) -> Result<Vec<StoredDataKey>, PersistenceError>;

    /// Destroys the data key of `originator_id` and removes the aggregate's snapshots, in one
    /// transaction. Its row stays, with no key.
    fn forget_data_key(&self, originator_id: Uuid) -> Result<Forgetting, PersistenceError>;

    /// Replaces every stored key `k` (of aggregates not forgotten) by `rewrap(k)`, in one
    /// transaction: all of them or, if `rewrap` fails for one, none. Returns how many were
    /// replaced.
    fn rewrap_data_keys(&self, rewrap: Rewrap<'_>) -> Result<u64, PersistenceError>;
}
