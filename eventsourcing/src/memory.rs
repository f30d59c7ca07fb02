//! In-memory recorders (the reference library's `popo` module, "plain old Python objects"):
//! the fastest backend, and the default when nothing else is configured. Nothing survives the
//! process.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use uuid::Uuid;

use crate::persistence::{
    AggregateRecorder, ApplicationRecorder, CommitSignal, DataKeyRecorder, Environment, ErrorKind,
    EventQuery, FactoryError, Forgetting, InfrastructureFactory, Notification, PersistenceError,
    ProcessRecorder, Recorders, Rewrap, StoredDataKey, StoredEvent, Tracking,
};

/// The in-memory backend's factory (`PERSISTENCE_MODULE=eventsourcing.memory`, the default):
/// new, empty recorders for each application. It reads no settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct InMemoryFactory;

impl InfrastructureFactory for InMemoryFactory {
    fn recorders(&self, _env: &Environment, snapshotting: bool) -> Result<Recorders, FactoryError> {
        let snapshots =
            snapshotting.then(|| Arc::new(InMemoryRecorder::new()) as Arc<dyn AggregateRecorder>);
        Ok(Recorders::new(Arc::new(InMemoryRecorder::new()), snapshots))
    }

    fn recorders_with_data_keys(
        &self,
        _env: &Environment,
        snapshotting: bool,
    ) -> Result<(Recorders, Arc<dyn DataKeyRecorder>), FactoryError> {
        let events = Arc::new(InMemoryRecorder::new());
        let snapshots = snapshotting.then(|| Arc::new(InMemoryRecorder::new()));
        let keys = InMemoryDataKeys::new(Arc::clone(&events), snapshots.clone());
        let recorders = Recorders::new(events, snapshots.map(|s| s as Arc<dyn AggregateRecorder>));
        Ok((recorders, Arc::new(keys)))
    }

    /// In-memory recorders answer at once, so their async face calls them directly, on the
    /// task's own thread.
    #[cfg(feature = "tokio")]
    fn async_recorders<'a>(
        &'a self,
        _env: &'a Environment,
        snapshotting: bool,
    ) -> crate::persistence::BoxFuture<'a, Result<crate::persistence::AsyncRecorders, FactoryError>>
    {
        use crate::persistence::{AsyncAggregateRecorder, AsyncRecorders};
        let snapshots = snapshotting
            .then(|| Arc::new(InMemoryRecorder::new()) as Arc<dyn AsyncAggregateRecorder>);
        let recorders = AsyncRecorders::new(Arc::new(InMemoryRecorder::new()), snapshots);
        Box::pin(std::future::ready(Ok(recorders)))
    }
}

/// An in-memory recorder: aggregate, application and process recorder in one.
///
/// Events are kept in one list in insertion order (a notification's id is its position, from
/// 1, so there are no gaps), with an index by aggregate and version. One lock serialises
/// writers and readers, so every insert is atomic and ids follow commit order.
///
/// ```
/// use eventsourcing::persistence::{AggregateRecorder, ApplicationRecorder, EventQuery, StoredEvent};
/// use eventsourcing::memory::InMemoryRecorder;
/// use uuid::Uuid;
///
/// let recorder = InMemoryRecorder::new();
/// let id = Uuid::new_v4();
/// let event = |version| StoredEvent {
///     originator_id: id,
///     originator_version: version,
///     topic: "topic".into(),
///     state: b"{}".to_vec(),
/// };
/// recorder.insert_events(&[event(1), event(2)]).unwrap();
/// let conflict = recorder.insert_events(&[event(3), event(2)]).unwrap_err();
/// assert!(conflict.is_integrity());
/// assert_eq!(conflict.conflict(), Some((id, 2)));
/// assert_eq!(recorder.select_events(id, &EventQuery::new()).unwrap().len(), 2);
/// assert_eq!(recorder.max_notification_id().unwrap(), 2);
/// ```
#[derive(Debug, Default)]
pub struct InMemoryRecorder {
    tables: Mutex<Tables>,
    /// Notified after each insert, for subscriptions.
    signal: CommitSignal,
}

#[derive(Debug, Default)]
struct Tables {
    /// Every event, in insertion order; position + 1 is the notification id.
    events: Vec<StoredEvent>,
    /// For each aggregate: its versions and their positions in `events`.
    index: HashMap<Uuid, Versions, BuildHasherDefault<UuidHasher>>,
    /// For each upstream application: the last notification id processed.
    tracking: HashMap<String, u64>,
    /// Data keys (per-aggregate keys): `None` once forgotten.
    data_keys: HashMap<Uuid, Option<Vec<u8>>, BuildHasherDefault<UuidHasher>>,
}

impl InMemoryRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` notifications from `start` whose stored event `matches`.
    fn select_matching(
        &self,
        start: u64,
        limit: usize,
        matches: impl Fn(&StoredEvent) -> bool,
    ) -> Result<Vec<Notification>, PersistenceError> {
        let tables = self.tables()?;
        let first = usize::try_from(start.max(1) - 1).map_err(|_| {
            PersistenceError::database(
                ErrorKind::Data,
                format!("notification id {start} is out of range"),
            )
        })?;
        Ok(tables
            .events
            .iter()
            .enumerate()
            .skip(first)
            .filter(|(_, stored)| matches(stored))
            .take(limit)
            .map(|(i, stored)| Notification {
                id: i as u64 + 1,
                stored: stored.clone(),
            })
            .collect())
    }

    /// Inserts `events`, `tracking` and data `keys` atomically: everything is checked before
    /// anything changes.
    fn insert_with(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: &[StoredDataKey],
    ) -> Result<(), PersistenceError> {
        {
            let mut tables = self.tables()?;
            tables.check_events(events)?;
            tables.check_tracking(tracking)?;
            tables.check_keys(keys)?;
            tables.append(events.iter().cloned());
            tables.record_tracking(tracking);
            for key in keys {
                tables
                    .data_keys
                    .insert(key.originator_id, key.wrapped.clone());
            }
        }
        if !events.is_empty() {
            self.signal.notify();
        }
        Ok(())
    }

    fn tables(&self) -> Result<MutexGuard<'_, Tables>, PersistenceError> {
        // A panic while holding the lock leaves no half-written batch behind (inserts check
        // everything before changing anything), so a poisoned lock is still consistent.
        Ok(self
            .tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// Hashes aggregate ids by mixing their two halves: most ids are random (version 4) or hashes
/// (version 5) already, so SipHash's work buys nothing here, and this is an in-memory store for
/// one process's tests and development, not a service facing untrusted ids.
#[derive(Default)]
struct UuidHasher(u64);

impl Hasher for UuidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One aggregate's versions, sorted, with their positions in the event list. Versions almost
/// always arrive in order, so this is a vector appended to, searched by bisection.
#[derive(Debug, Default)]
struct Versions(Vec<(u64, usize)>);

impl Versions {
    fn find(&self, version: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&version, |&(v, _)| v)
    }

    fn contains(&self, version: u64) -> bool {
        self.find(version).is_ok()
    }

    fn insert(&mut self, version: u64, position: usize) {
        match self.0.last() {
            Some(&(last, _)) if last >= version => {
                if let Err(at) = self.find(version) {
                    self.0.insert(at, (version, position));
                }
            }
            _ => self.0.push((version, position)),
        }
    }

    /// The positions of the versions `query` selects, in its order.
    fn select(&self, query: &EventQuery) -> Vec<usize> {
        let from = query
            .gt
            .map_or(0, |gt| self.0.partition_point(|&(v, _)| v <= gt));
        let to = query.lte.map_or(self.0.len(), |lte| {
            self.0.partition_point(|&(v, _)| v <= lte)
        });
        let selected = self.0.get(from..to.max(from)).unwrap_or(&[]);
        let limit = query.limit.unwrap_or(usize::MAX);
        if query.desc {
            selected.iter().rev().take(limit).map(|&(_, p)| p).collect()
        } else {
            selected.iter().take(limit).map(|&(_, p)| p).collect()
        }
    }
}

impl Tables {
    fn check_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        for (i, event) in events.iter().enumerate() {
            let stored = self
                .index
                .get(&event.originator_id)
                .is_some_and(|versions| versions.contains(event.originator_version));
            // Batches are small (one save): comparing with the rest of the batch is cheaper
            // than building a set.
            let repeated = events[..i].iter().any(|earlier| {
                earlier.originator_version == event.originator_version
                    && earlier.originator_id == event.originator_id
            });
            if stored || repeated {
                return Err(PersistenceError::Conflict {
                    originator_id: event.originator_id,
                    originator_version: event.originator_version,
                });
            }
        }
        Ok(())
    }

    fn check_tracking(&self, tracking: &[Tracking]) -> Result<(), PersistenceError> {
        for (i, record) in tracking.iter().enumerate() {
            // The position as the records before this one in the batch would leave it.
            let last = tracking[..i]
                .iter()
                .filter(|earlier| earlier.application_name == record.application_name)
                .map(|earlier| earlier.notification_id)
                .chain(self.tracking.get(&record.application_name).copied())
                .max()
                .unwrap_or(0);
            if record.notification_id <= last {
                return Err(PersistenceError::integrity(format!(
                    "tracking {} of {:?} is not after the recorded position {last}",
                    record.notification_id, record.application_name
                )));
            }
        }
        Ok(())
    }

    fn check_keys(&self, keys: &[StoredDataKey]) -> Result<(), PersistenceError> {
        for (i, key) in keys.iter().enumerate() {
            let repeated = keys[..i]
                .iter()
                .any(|earlier| earlier.originator_id == key.originator_id);
            if repeated || self.data_keys.contains_key(&key.originator_id) {
                return Err(PersistenceError::integrity(format!(
                    "aggregate {} has a data key already",
                    key.originator_id
                )));
            }
        }
        Ok(())
    }

    fn record_tracking(&mut self, tracking: &[Tracking]) {
        for record in tracking {
            let position = self
                .tracking
                .entry(record.application_name.clone())
                .or_insert(0);
            *position = (*position).max(record.notification_id);
        }
    }

    /// Removes every event of `originator_id` (snapshots, when forgetting).
    fn remove(&mut self, originator_id: Uuid) {
        if self.index.remove(&originator_id).is_none() {
            return;
        }
        self.events.retain(|e| e.originator_id != originator_id);
        self.index.clear();
        let events = std::mem::take(&mut self.events);
        self.append(events);
    }

    fn append(&mut self, events: impl IntoIterator<Item = StoredEvent>) {
        for event in events {
            let position = self.events.len();
            self.index
                .entry(event.originator_id)
                .or_default()
                .insert(event.originator_version, position);
            self.events.push(event);
        }
    }
}

impl AggregateRecorder for InMemoryRecorder {
    fn insert_events(&self, events: &[StoredEvent]) -> Result<(), PersistenceError> {
        {
            let mut tables = self.tables()?;
            tables.check_events(events)?;
            tables.append(events.iter().cloned());
        }
        self.signal.notify();
        Ok(())
    }

    fn insert_owned(&self, events: Vec<StoredEvent>) -> Result<(), PersistenceError> {
        {
            let mut tables = self.tables()?;
            tables.check_events(&events)?;
            tables.append(events);
        }
        self.signal.notify();
        Ok(())
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let tables = self.tables()?;
        let Some(versions) = tables.index.get(&originator_id) else {
            return Ok(Vec::new());
        };
        Ok(versions
            .select(query)
            .into_iter()
            .map(|position| tables.events[position].clone())
            .collect())
    }
}

impl ApplicationRecorder for InMemoryRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        self.select_matching(start, limit, |_| true)
    }

    fn select_notifications_of(
        &self,
        start: u64,
        limit: usize,
        topics: &[String],
    ) -> Result<Vec<Notification>, PersistenceError> {
        if topics.is_empty() {
            return self.select_notifications(start, limit);
        }
        self.select_matching(start, limit, |stored| {
            topics.iter().any(|topic| *topic == stored.topic)
        })
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        Some(self.signal.clone())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        Ok(self.tables()?.events.len() as u64)
    }
}

impl ProcessRecorder for InMemoryRecorder {
    fn insert_events_with_tracking(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
    ) -> Result<(), PersistenceError> {
        self.insert_with(events, tracking, &[])
    }

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        Ok(self
            .tables()?
            .tracking
            .get(application_name)
            .copied()
            .unwrap_or(0))
    }
}

/// The in-memory backend's data keys (per-aggregate keys): kept in the events recorder, under
/// its lock with the events, and removing snapshots from the snapshot recorder when forgetting.
///
/// ```
/// use std::sync::Arc;
/// use eventsourcing::memory::{InMemoryDataKeys, InMemoryRecorder};
/// use eventsourcing::persistence::{DataKeyRecorder, Forgetting, StoredDataKey};
/// use uuid::Uuid;
///
/// let keys = InMemoryDataKeys::new(Arc::new(InMemoryRecorder::new()), None);
/// let id = Uuid::new_v4();
/// keys.insert_events_with_keys(&[], &[], &[StoredDataKey { originator_id: id, wrapped: Some(vec![1; 60]) }])?;
/// assert_eq!(keys.forget_data_key(id)?, Forgetting::Forgotten);
/// assert_eq!(keys.forget_data_key(id)?, Forgetting::AlreadyForgotten);
/// assert_eq!(keys.select_data_keys(&[id])?[0].wrapped, None);
/// # Ok::<(), eventsourcing::persistence::PersistenceError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryDataKeys {
    events: Arc<InMemoryRecorder>,
    snapshots: Option<Arc<InMemoryRecorder>>,
}

impl InMemoryDataKeys {
    /// The data keys of `events`' aggregates; forgetting removes snapshots from `snapshots`.
    pub fn new(events: Arc<InMemoryRecorder>, snapshots: Option<Arc<InMemoryRecorder>>) -> Self {
        InMemoryDataKeys { events, snapshots }
    }
}

impl DataKeyRecorder for InMemoryDataKeys {
    fn insert_events_with_keys(
        &self,
        events: &[StoredEvent],
        tracking: &[Tracking],
        keys: &[StoredDataKey],
    ) -> Result<(), PersistenceError> {
        self.events.insert_with(events, tracking, keys)
    }

    fn select_data_keys(
        &self,
        originator_ids: &[Uuid],
    ) -> Result<Vec<StoredDataKey>, PersistenceError> {
        let tables = self.events.tables()?;
        Ok(originator_ids
            .iter()
            .filter_map(|id| {
                tables.data_keys.get(id).map(|wrapped| StoredDataKey {
                    originator_id: *id,
                    wrapped: wrapped.clone(),
                })
            })
            .collect())
    }

    fn forget_data_key(&self, originator_id: Uuid) -> Result<Forgetting, PersistenceError> {
        let forgetting = match self.events.tables()?.data_keys.get_mut(&originator_id) {
            None => return Ok(Forgetting::Unknown),
            Some(None) => Forgetting::AlreadyForgotten,
            Some(key) => {
                *key = None;
                Forgetting::Forgotten
            }
        };
        if let Some(snapshots) = &self.snapshots {
            snapshots.tables()?.remove(originator_id);
        }
        Ok(forgetting)
    }

    fn rewrap_data_keys(&self, rewrap: Rewrap<'_>) -> Result<u64, PersistenceError> {
        let mut tables = self.events.tables()?;
        // All or none: the new keys are made before any is replaced.
        let mut rewrapped = Vec::new();
        for (id, wrapped) in &tables.data_keys {
            if let Some(wrapped) = wrapped {
                rewrapped.push((*id, rewrap(wrapped)?));
            }
        }
        let count = rewrapped.len() as u64;
        for (id, wrapped) in rewrapped {
            tables.data_keys.insert(id, Some(wrapped));
        }
        Ok(count)
    }
}

/// The async face (feature `tokio`): the recorder answers at once (its lock is held for the
/// length of a copy), so each call runs directly in the calling task.
#[cfg(feature = "tokio")]
mod async_face {
    use std::future::ready;

    use uuid::Uuid;

    use super::InMemoryRecorder;
    use crate::persistence::{
        AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
        AsyncProcessRecorder, BoxFuture, EventQuery, Notification, PersistenceError,
        ProcessRecorder, StoredEvent, Tracking,
    };

    impl AsyncAggregateRecorder for InMemoryRecorder {
        fn insert_events(
            &self,
            events: Vec<StoredEvent>,
        ) -> BoxFuture<'_, Result<(), PersistenceError>> {
            Box::pin(ready(self.insert_owned(events)))
        }

        fn select_events(
            &self,
            originator_id: Uuid,
            query: EventQuery,
        ) -> BoxFuture<'_, Result<Vec<StoredEvent>, PersistenceError>> {
            Box::pin(ready(AggregateRecorder::select_events(
                self,
                originator_id,
                &query,
            )))
        }
    }

    impl AsyncApplicationRecorder for InMemoryRecorder {
        fn select_notifications(
            &self,
            start: u64,
            limit: usize,
        ) -> BoxFuture<'_, Result<Vec<Notification>, PersistenceError>> {
            Box::pin(ready(ApplicationRecorder::select_notifications(
                self, start, limit,
            )))
        }

        fn max_notification_id(&self) -> BoxFuture<'_, Result<u64, PersistenceError>> {
            Box::pin(ready(ApplicationRecorder::max_notification_id(self)))
        }

        fn select_notifications_of<'a>(
            &'a self,
            start: u64,
            limit: usize,
            topics: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<Notification>, PersistenceError>> {
            Box::pin(ready(ApplicationRecorder::select_notifications_of(
                self, start, limit, topics,
            )))
        }

        fn commit_signal(&self) -> Option<crate::persistence::CommitSignal> {
            ApplicationRecorder::commit_signal(self)
        }
    }

    impl AsyncProcessRecorder for InMemoryRecorder {
        fn insert_events_with_tracking(
            &self,
            events: Vec<StoredEvent>,
            tracking: Vec<Tracking>,
        ) -> BoxFuture<'_, Result<(), PersistenceError>> {
            Box::pin(ready(ProcessRecorder::insert_events_with_tracking(
                self, &events, &tracking,
            )))
        }

        fn max_tracking_id<'a>(
            &'a self,
            application_name: &'a str,
        ) -> BoxFuture<'a, Result<u64, PersistenceError>> {
            Box::pin(ready(ProcessRecorder::max_tracking_id(
                self,
                application_name,
            )))
        }
    }
}

/// A materialised view held in memory: a value of yours, changed by a projection, with the
/// view's tracking positions beside it. For tests and examples: nothing survives the process.
///
/// Each transaction works on a copy of the value, which replaces it only if the work succeeds
/// and the tracking record is after the view's position: a failed transaction leaves no trace.
///
/// ```
/// use eventsourcing::memory::MemoryView;
/// use eventsourcing::persistence::{Tracking, View};
///
/// let view = MemoryView::new(0u64);
/// view.transact(&Tracking::new("DogSchool", 3), |count| {
///     *count += 1;
///     Ok(())
/// })?;
/// assert_eq!(view.read(|count| *count), 1);
/// assert_eq!(view.max_tracking_id("DogSchool")?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryView<S> {
    inner: Mutex<(S, HashMap<String, u64>)>,
    signal: CommitSignal,
}

impl<S> MemoryView<S> {
    /// A view whose value starts as `initial`, at no position.
    pub fn new(initial: S) -> Self {
        MemoryView {
            inner: Mutex::new((initial, HashMap::new())),
            signal: CommitSignal::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (S, HashMap<String, u64>)> {
        // A panic in a transaction's work happens on a copy, so the value is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the view's value.
    pub fn read<T>(&self, query: impl FnOnce(&S) -> T) -> T {
        query(&self.lock().0)
    }
}

impl<S: Clone + Send + Sync> crate::persistence::View for MemoryView<S> {
    type Transaction<'a>
        = S
    where
        S: 'a;

    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError> {
        Ok(self.lock().1.get(application_name).copied().unwrap_or(0))
    }

    fn transact<R>(
        &self,
        tracking: &Tracking,
        work: impl FnOnce(&mut S) -> Result<R, crate::domain::BoxError>,
    ) -> Result<R, crate::persistence::ViewError> {
        {
            let mut inner = self.lock();
            let last = inner
                .1
                .get(&tracking.application_name)
                .copied()
                .unwrap_or(0);
            if tracking.notification_id <= last {
                return Err(PersistenceError::integrity(format!(
                    "tracking {} of {:?} is not after the view's position {last}",
                    tracking.notification_id, tracking.application_name
                ))
                .into());
            }
            let mut copy = inner.0.clone();
            let value = work(&mut copy).map_err(crate::persistence::ViewError::Projection)?;
            inner.0 = copy;
            inner
                .1
                .insert(tracking.application_name.clone(), tracking.notification_id);
            drop(inner);
            self.signal.notify();
            Ok(value)
        }
    }

    fn commit_signal(&self) -> CommitSignal {
        self.signal.clone()
    }
}
