//! Per-aggregate keys (crypto-shredding): each aggregate's events and snapshots encrypted under
//! a data key of its own, which forgetting the aggregate destroys.
//!
//! A [`Keyring`] holds the application's key (`CIPHER_KEY`), under which data keys are stored
//! encrypted, and the backend's [`DataKeyRecorder`]. A [`KeyedRecorder`] wraps the
//! application's recorder: it encrypts each event's state (already serialised and compressed
//! by the mapper) under its aggregate's data key before it is written, creating the key with
//! the aggregate's first event and writing it in the same transaction, and decrypts what is
//! read. A [`KeyedSnapshotRecorder`] does the same for snapshots.
//!
//! Keys are read from the key table for each read and each save (one indexed select for all
//! the aggregates of a batch), never kept in memory between calls: once an aggregate is
//! forgotten, by this process or another, no later read anywhere decrypts it.
//!
//! What a reader gets for a forgotten aggregate: its events (by
//! [`select_events`](super::AggregateRecorder::select_events)) and snapshots are the error
//! [`PersistenceError::Forgotten`]; its notifications keep their id, originator id, version
//! and topic, with an empty state ([`StoredEvent::is_forgotten`]), so that logs and followers
//! carry on past them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use uuid::Uuid;

use super::cipher::{AesCipher, Cipher};
use super::commit_signal::CommitSignal;
use super::data_keys::{DataKeyRecorder, Forgetting, StoredDataKey};
use super::error::{CipherError, ErrorKind, PersistenceError};
use super::recorder::{AggregateRecorder, ApplicationRecorder, EventQuery, ProcessRecorder};
use super::stored::{Notification, StoredEvent, Tracking};

/// The size of a data key: AES-256.
const DATA_KEY_BYTES: usize = 32;

/// An aggregate's data key, as read from the key table.
enum DataKey {
    Key(AesCipher),
    Forgotten,
    /// Its row's key does not decrypt under the application key (or is not a key).
    Bad(CipherError),
}

/// The data keys of an application: the backend's key table, and the application's key under
/// which data keys are stored.
///
/// Made by the application builder when per-aggregate keys are on
/// ([`ApplicationBuilder::per_aggregate_keys`](crate::application::ApplicationBuilder::per_aggregate_keys));
/// [`Application::forget`](crate::application::Application::forget) and
/// [`Application::rotate_cipher_key`](crate::application::Application::rotate_cipher_key) use
/// it.
pub struct Keyring {
    recorder: Arc<dyn DataKeyRecorder>,
    application_key: RwLock<Arc<dyn Cipher>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

impl Keyring {
    /// Data keys kept by `recorder`, encrypted under `application_key`.
    pub fn new(recorder: Arc<dyn DataKeyRecorder>, application_key: Arc<dyn Cipher>) -> Self {
        Keyring {
            recorder,
            application_key: RwLock::new(application_key),
        }
    }

    /// The backend's key table.
    pub fn recorder(&self) -> &Arc<dyn DataKeyRecorder> {
        &self.recorder
    }

    fn application_key(&self) -> Arc<dyn Cipher> {
        Arc::clone(
            &self
                .application_key
                .read()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// The keys of those of `ids` that have a row in the key table, in one select.
    fn keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, PersistenceError> {
        let rows = self.recorder.select_data_keys(ids)?;
        let application_key = self.application_key();
        Ok(rows
            .into_iter()
            .map(|row| {
                let key = match &row.wrapped {
                    None => DataKey::Forgotten,
                    Some(wrapped) => application_key
                        .decrypt(wrapped)
                        .and_then(|raw| AesCipher::from_key_bytes(&raw))
                        .map_or_else(DataKey::Bad, DataKey::Key),
                };
                (row.originator_id, key)
            })
            .collect())
    }

    /// A new data key for `originator_id`, and its row for the key table.
    fn new_key(&self, originator_id: Uuid) -> Result<(AesCipher, StoredDataKey), PersistenceError> {
        let mut raw = [0u8; DATA_KEY_BYTES];
        OsRng.fill_bytes(&mut raw);
        let cipher = AesCipher::from_key_bytes(&raw)?;
        let wrapped = self.application_key().encrypt(&raw)?;
        raw.fill(0);
        Ok((
            cipher,
            StoredDataKey {
                originator_id,
                wrapped: Some(wrapped),
            },
        ))
    }

    /// Destroys the data key of `originator_id`, and removes its snapshots: from then on no
    /// read decrypts its events.
    pub fn forget(&self, originator_id: Uuid) -> Result<Forgetting, PersistenceError> {
        let forgetting = self.recorder.forget_data_key(originator_id)?;
        tracing::info!(%originator_id, ?forgetting, "forgot an aggregate");
        Ok(forgetting)
    }

    /// Re-encrypts every data key under `new_key`, in one transaction, and uses `new_key` from
    /// then on. Events are not touched. Returns how many keys were re-encrypted.
    pub fn rotate(&self, new_key: Arc<dyn Cipher>) -> Result<u64, PersistenceError> {
        let mut current = self
            .application_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let old = Arc::clone(&current);
        let rewrap = |wrapped: &[u8]| -> Result<Vec<u8>, PersistenceError> {
            let raw = old.decrypt(wrapped).map_err(|e| {
                PersistenceError::database_caused_by(
                    ErrorKind::Data,
                    "a data key can't be decrypted with the current application key",
                    e,
                )
            })?;
            Ok(new_key.encrypt(&raw)?)
        };
        let count = self.recorder.rewrap_data_keys(&rewrap)?;
        *current = new_key;
        tracing::info!(
            count,
            "re-encrypted the data keys under a new application key"
        );
        Ok(count)
    }
}

fn bad_key(originator_id: Uuid, error: &CipherError) -> PersistenceError {
    PersistenceError::database_caused_by(
        ErrorKind::Data,
        format!(
            "the data key of aggregate {originator_id} can't be decrypted with the application \
             key (CIPHER_KEY): the key is wrong, or was rotated by another process"
        ),
        error.clone(),
    )
}

/// The distinct `ids`, in order of appearance (batches are small: a scan beats a set).
fn distinct(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut distinct: Vec<Uuid> = Vec::new();
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    distinct
}

/// The distinct originator ids of `events`, in order of appearance.
fn originators<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<Uuid> {
    distinct(events.into_iter().map(|event| event.originator_id))
}

fn no_key(originator_id: Uuid) -> PersistenceError {
    PersistenceError::database(
        ErrorKind::Data,
        format!(
            "aggregate {originator_id} has no data key (its events were stored without \
             per-aggregate keys, or its first event was not saved with them)"
        ),
    )
}

impl Keyring {
    /// Encrypts each event's state under its aggregate's key, making keys for aggregates whose
    /// first event is among `events`: returns the new keys' rows, to be written with the
    /// events.
    fn seal(&self, events: &mut [StoredEvent]) -> Result<Vec<StoredDataKey>, PersistenceError> {
        // Aggregates created by this save get new keys without asking the key table: if one
        // had a row already (it exists, or existed and was forgotten), its first event is
        // stored too, and the insert fails on it as the version conflict it is. The others'
        // keys are read, in one select.
        let (created, existing): (Vec<Uuid>, Vec<Uuid>) =
            originators(events.iter()).into_iter().partition(|id| {
                events
                    .iter()
                    .filter(|e| e.originator_id == *id)
                    .map(|e| e.originator_version)
                    .min()
                    .is_some_and(|version| version <= 1)
            });
        let mut keys = if existing.is_empty() {
            HashMap::new()
        } else {
            self.keys(&existing)?
        };
        let mut new = Vec::with_capacity(created.len());
        for id in created {
            let (cipher, row) = self.new_key(id)?;
            keys.insert(id, DataKey::Key(cipher));
            new.push(row);
        }
        for event in events.iter_mut() {
            event.state = self
                .cipher(&keys, event.originator_id)?
                .encrypt(&event.state)?;
        }
        Ok(new)
    }

    /// Encrypts each snapshot's state under its aggregate's key (which must exist).
    fn seal_existing(&self, events: &mut [StoredEvent]) -> Result<(), PersistenceError> {
        let keys = self.keys(&originators(events.iter()))?;
        for event in events.iter_mut() {
            event.state = self
                .cipher(&keys, event.originator_id)?
                .encrypt(&event.state)?;
        }
        Ok(())
    }

    fn cipher<'k>(
        &self,
        keys: &'k HashMap<Uuid, DataKey>,
        originator_id: Uuid,
    ) -> Result<&'k AesCipher, PersistenceError> {
        match keys.get(&originator_id) {
            Some(DataKey::Key(cipher)) => Ok(cipher),
            Some(DataKey::Forgotten) => Err(PersistenceError::Forgotten { originator_id }),
            Some(DataKey::Bad(error)) => Err(bad_key(originator_id, error)),
            None => Err(no_key(originator_id)),
        }
    }

    /// Decrypts the events of one aggregate: forgotten is an error.
    fn open_events(
        &self,
        originator_id: Uuid,
        mut events: Vec<StoredEvent>,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        if events.is_empty() {
            return Ok(events);
        }
        let keys = self.keys(&[originator_id])?;
        let cipher = self.cipher(&keys, originator_id)?;
        for event in &mut events {
            event.state = cipher.decrypt(&event.state)?;
        }
        Ok(events)
    }

    /// Decrypts notifications: those of forgotten aggregates keep an empty state.
    fn open_notifications(
        &self,
        mut notifications: Vec<Notification>,
    ) -> Result<Vec<Notification>, PersistenceError> {
        if notifications.is_empty() {
            return Ok(notifications);
        }
        let keys = self.keys(&originators(notifications.iter().map(|n| &n.stored)))?;
        for notification in &mut notifications {
            let stored = &mut notification.stored;
            match self.cipher(&keys, stored.originator_id) {
                Ok(cipher) => stored.state = cipher.decrypt(&stored.state)?,
                Err(PersistenceError::Forgotten { .. }) => stored.state = Vec::new(),
                Err(error) => return Err(error),
            }
        }
        Ok(notifications)
    }
}

/// What [`Keyring::open_states`] found for one stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenedState {
    /// The state, decrypted under its aggregate's data key: as the mapper made it before
    /// encryption (serialised, then compressed if a compressor is set).
    Plain(Vec<u8>),
    /// The aggregate was forgotten: its data key was destroyed, and the state can't be read.
    Forgotten,
    /// The aggregate has no row in the key table: it was stored without per-aggregate keys,
    /// or its key row was lost.
    NoKey,
    /// The aggregate's data key can't be decrypted with the application key (`CIPHER_KEY` is
    /// not the key the data keys are stored under, or the key row was altered).
    BadKey(CipherError),
    /// The state does not decrypt under its aggregate's data key (its bytes were altered).
    Damaged(CipherError),
}

impl Keyring {
    /// Decrypts each `(originator_id, state)`, a state as the store holds it (an event's or a
    /// snapshot's, read without a [`KeyedRecorder`]), under its aggregate's data key, reading
    /// the keys of all of them with one select of the key table. What can't be opened is said
    /// for each state ([`OpenedState`]) rather than failing them all: this is how a tool that
    /// reads a whole store (the command-line inspector's `verify` and `export`) opens it. The
    /// error is for a key table that can't be read.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use eventsourcing::memory::{InMemoryDataKeys, InMemoryRecorder};
    /// use eventsourcing::persistence::{
    ///     AesCipher, AggregateRecorder, ApplicationRecorder, KeyedRecorder, Keyring,
    ///     OpenedState, StoredEvent,
    /// };
    ///
    /// let events = Arc::new(InMemoryRecorder::new());
    /// let keys = Arc::new(InMemoryDataKeys::new(Arc::clone(&events), None));
    /// let key = AesCipher::new(&AesCipher::create_key(32)?)?;
    /// let keyring = Arc::new(Keyring::new(keys, Arc::new(key)));
    /// let keyed = KeyedRecorder::new(events.clone(), Arc::clone(&keyring));
    /// let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// for id in [alice, bob] {
    ///     keyed.insert_events(&[StoredEvent {
    ///         originator_id: id,
    ///         originator_version: 1,
    ///         topic: "t".into(),
    ///         state: br#"{"a":1}"#.to_vec(),
    ///     }])?;
    /// }
    /// keyring.forget(bob)?;
    ///
    /// // The rows as stored, opened one by one.
    /// let stored = events.select_notifications(1, 10)?;
    /// let states: Vec<_> = stored.iter().map(|n| (n.originator_id, &n.state[..])).collect();
    /// let opened = keyring.open_states(&states)?;
    /// assert_eq!(opened[0], OpenedState::Plain(br#"{"a":1}"#.to_vec()));
    /// assert_eq!(opened[1], OpenedState::Forgotten);
    /// assert_eq!(
    ///     keyring.open_states(&[(uuid::Uuid::new_v4(), b"x")])?,
    ///     [OpenedState::NoKey]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_states(
        &self,
        states: &[(Uuid, &[u8])],
    ) -> Result<Vec<OpenedState>, PersistenceError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys(&distinct(states.iter().map(|(id, _)| *id)))?;
        Ok(states
            .iter()
            .map(|(id, state)| match keys.get(id) {
                None => OpenedState::NoKey,
                Some(DataKey::Forgotten) => OpenedState::Forgotten,
                Some(DataKey::Bad(error)) => OpenedState::BadKey(error.clone()),
                Some(DataKey::Key(cipher)) => match cipher.decrypt(state) {
                    Ok(plain) => OpenedState::Plain(plain),
                    Err(error) => OpenedState::Damaged(error),
                },
            })
            .collect())
    }
}

/// An application recorder whose events are encrypted under per-aggregate keys (see
/// [`Keyring`]): what the application's own recorder is when per-aggregate keys are on.
///
/// It hands the recorder it wraps encrypted state, and gives its readers decrypted state (as
/// the mapper would have produced it without a cipher: serialised, then compressed if a
/// compressor is set). Saves that make no new key go through the wrapped recorder (with its
/// group commit); a save with the first event of an aggregate is written, with the new key,
/// by [`DataKeyRecorder::insert_events_with_keys`].
#[derive(Clone)]
pub struct KeyedRecorder {
    inner: Arc<dyn ProcessRecorder>,
    keyring: Arc<Keyring>,
}

impl fmt::Debug for KeyedRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRecorder").finish_non_exhaustive()
    }
}

impl KeyedRecorder {
    /// `inner`'s events, under the keys of `keyring` (whose recorder must keep its keys in
    /// the same database as `inner`'s events).
    pub fn new(inner: Arc<dyn ProcessRecorder>, keyring: Arc<Keyring>) -> Self {
        KeyedRecorder { inner, keyring }
    }

    /// `events` under the keys `keys` keeps, encrypted under `application_key`: a keyring and
    /// a recorder of its own (what a store inspector reads a keyed application with).
    pub(crate) fn over(
        events: Arc<dyn ProcessRecorder>,
        keys: Arc<dyn DataKeyRecorder>,
        application_key: Arc<dyn Cipher>,
    ) -> Arc<Self> {
        let keyring = Arc::new(Keyring::new(keys, application_key));
        Arc::new(KeyedRecorder::new(events, keyring))
    }

    /// The keyring.
    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    fn insert(
        &self,
        mut events: Vec<StoredEvent>,
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        let keys = self.keyring.seal(&mut events)?;
        if !keys.is_empty() {
            return self
                .keyring
                .recorder
                .insert_events_with_keys(&events, tracking, &keys);
        }
        if tracking.is_empty() {
            self.inner.insert_owned(events)
        } else {
            self.inner.insert_events_with_tracking(&events, tracking)
        }
    }
}

impl AggregateRecorder for KeyedRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.insert(events.to_vec(), &[])
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.insert(events, &[])
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let events = self.inner.select_events(originator_id, query)?;
        self.keyring.open_events(originator_id, events)
    }
}

impl ApplicationRecorder for KeyedRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        let notifications = self.inner.select_notifications(start, limit)?;
        self.keyring.open_notifications(notifications)
    }

    fn select_notifications_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, PersistenceError> {
        let notifications = self.inner.select_notifications_of(start, limit, topics)?;
        self.keyring.open_notifications(notifications)
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        self.inner.max_notification_id()
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        self.inner.commit_signal()
    }
}

impl ProcessRecorder for KeyedRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        self.insert(events.to_vec(), tracking)
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        self.inner.max_tracking_id(application_name)
    }
}

/// A snapshot recorder whose snapshots are encrypted under their aggregates' keys (see
/// [`Keyring`]). A snapshot of a forgotten aggregate is neither stored nor read (the error
/// [`PersistenceError::Forgotten`]); forgetting removes the stored ones.
#[derive(Clone)]
pub struct KeyedSnapshotRecorder {
    inner: Arc<dyn AggregateRecorder>,
    keyring: Arc<Keyring>,
}

impl fmt::Debug for KeyedSnapshotRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedSnapshotRecorder")
            .finish_non_exhaustive()
    }
}

impl KeyedSnapshotRecorder {
    /// `inner`'s snapshots, under the keys of `keyring`.
    pub fn new(inner: Arc<dyn AggregateRecorder>, keyring: Arc<Keyring>) -> Self {
        KeyedSnapshotRecorder { inner, keyring }
    }
}

impl AggregateRecorder for KeyedSnapshotRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        self.insert_owned(events.to_vec())
    }

    fn insert_owned(&self, mut events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        self.keyring.seal_existing(&mut events)?;
        self.inner.insert_owned(events)
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let snapshots = self.inner.select_events(originator_id, query)?;
        self.keyring.open_events(originator_id, snapshots)
    }
}
