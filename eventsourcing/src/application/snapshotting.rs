//! Automatic snapshotting after a save, apart from the storing (which the blocking and the
//! async applications do each their way): which versions are due, and the snapshots of those
//! that can be taken from the aggregates in memory.

use std::collections::HashMap;

use uuid::Uuid;

use super::error::ApplicationError;
use super::repository::Repository;
use crate::domain::{Aggregate, DomainError, Snapshot};
use crate::persistence::Transcoder;

/// What [`Aggregates::saved`](super::Aggregates::saved) is given and fills in: the
/// application's snapshotting intervals, and the snapshots that the save made due. Only an
/// application makes one.
pub struct AfterSave<'a, T: Transcoder> {
    intervals: Option<&'a HashMap<&'static str, u64>>,
    pub(crate) due: Vec<DueSnapshots<T>>,
}

impl<T: Transcoder> std::fmt::Debug for AfterSave<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterSave")
            .field("due", &self.due.len())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Transcoder> AfterSave<'a, T> {
    /// After a save of an application whose snapshots are taken at `intervals` (`None` when
    /// snapshotting is disabled).
    pub(crate) fn new(intervals: Option<&'a HashMap<&'static str, u64>>) -> Self {
        AfterSave {
            intervals,
            due: Vec::new(),
        }
    }

    /// `aggregate`'s events from `first_new_version` on have been saved: notes the snapshots
    /// due, at each new version that is a multiple of the aggregate type's interval.
    pub(crate) fn saved<A: Aggregate>(&mut self, aggregate: &A, first_new_version: u64) {
        let Some(&interval) = self.intervals.and_then(|i| i.get(A::TOPIC)) else {
            return;
        };
        if interval == 0 {
            return;
        }
        let mut due = DueSnapshots {
            type_name: A::NAME,
            id: aggregate.id(),
            current: None,
            past: Vec::new(),
            take_at: take_at::<A, T>,
            #[cfg(feature = "tokio")]
            take_at_async: take_at_async::<A, T>,
        };
        for version in first_new_version..=aggregate.version() {
            if version % interval != 0 {
                continue;
            }
            if version == aggregate.version() {
                due.current = Some((version, Snapshot::take(aggregate)));
            } else {
                due.past.push(version);
            }
        }
        if due.current.is_some() || !due.past.is_empty() {
            self.due.push(due);
        }
    }
}

/// The snapshots of one aggregate that a save made due.
pub(crate) struct DueSnapshots<T: Transcoder> {
    pub(crate) type_name: &'static str,
    pub(crate) id: Uuid,
    /// The snapshot at the newest version, when it is due: taken from the aggregate in memory.
    pub(crate) current: Option<(u64, Result<Snapshot, DomainError>)>,
    /// Older versions that are due (the save crossed more than one interval): taken from the
    /// repository.
    pub(crate) past: Vec<u64>,
    /// Takes the snapshot of a past version from the blocking repository.
    pub(crate) take_at: fn(&Repository<T>, Uuid, u64) -> Result<Snapshot, ApplicationError>,
    /// Takes the snapshot of a past version from the async repository.
    #[cfg(feature = "tokio")]
    pub(crate) take_at_async: TakeAtAsync<T>,
}

/// Takes the snapshot of an aggregate (of a type fixed by the function) at a past version from
/// the async repository.
#[cfg(feature = "tokio")]
pub(crate) type TakeAtAsync<T> =
    for<'r> fn(&'r super::AsyncRepository<T>, Uuid, u64) -> SnapshotFuture<'r>;

/// The future of a snapshot taken from the async repository.
#[cfg(feature = "tokio")]
pub(crate) type SnapshotFuture<'r> =
    crate::persistence::BoxFuture<'r, Result<Snapshot, ApplicationError>>;

fn take_at<A: Aggregate, T: Transcoder>(
    repository: &Repository<T>,
    id: Uuid,
    version: u64,
) -> Result<Snapshot, ApplicationError> {
    Ok(repository.get_at::<A>(id, version)?.take_snapshot()?)
}

#[cfg(feature = "tokio")]
fn take_at_async<A: Aggregate, T: Transcoder>(
    repository: &super::AsyncRepository<T>,
    id: Uuid,
    version: u64,
) -> SnapshotFuture<'_> {
    Box::pin(async move { Ok(repository.get_at::<A>(id, version).await?.take_snapshot()?) })
}

/// Logs a failed automatic snapshot: the events are saved, so the save itself succeeded.
pub(crate) fn log_failure(
    type_name: &'static str,
    id: Uuid,
    version: u64,
    error: &dyn std::fmt::Display,
) {
    tracing::warn!(aggregate = type_name, %id, version, %error, "automatic snapshot failed");
}
