//! [`View`]: a materialised view's store — the view's data and its own tracking records, in one
//! database, written together in one transaction — which projections write to.

use super::commit_signal::CommitSignal;
use super::error::PersistenceError;
use super::stored::Tracking;
use crate::domain::BoxError;

/// Why a view transaction failed: the projection's work returned an error, or the database
/// refused (an integrity error if the tracking record is not after the view's position).
/// Either way nothing of the transaction was committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The view's database failed, or refused the tracking record.
    #[error(transparent)]
    Persistence(#[from] PersistenceError),
    /// The projection's work failed.
    #[error("the projection failed: {0}")]
    Projection(#[source] BoxError),
}

/// A materialised view's store, with tracking records of its own: what a projection writes to.
///
/// A view may be in another database than the application it is projected from. Its
/// [`transact`](View::transact) runs a projection's work on one or more events and records the
/// tracking record of the last one, in one transaction: a crash never applies an event twice or
/// skips one, since the view's position moves only with what the events did to it.
///
/// Implemented by `sqlite::SqliteView` (SQL on an SQLite database), `memory::MemoryView` (a
/// value in memory, for tests and examples), and, for the async face, by PostgreSQL's view.
pub trait View: Send + Sync {
    /// What a projection's work gets to write the view with, inside the transaction: a
    /// connection, or the view's value.
    type Transaction<'a>
    where
        Self: 'a;

    /// The id of the last notification of `application_name` the view has processed, or 0.
    fn max_tracking_id(&self, application_name: &str) -> Result<u64, PersistenceError>;

    /// Runs `work` in one transaction and records `tracking` in it, committing if `work`
    /// succeeds and rolling back otherwise. A tracking record at or below the view's position
    /// for its application is an integrity error, and nothing is committed.
    fn transact<R>(
        &self,
        tracking: &Tracking,
        work: impl FnOnce(&mut Self::Transaction<'_>) -> Result<R, BoxError>,
    ) -> Result<R, ViewError>;

    /// The signal notified after each of the view's commits (so that waiting for a position
    /// needs no polling).
    fn commit_signal(&self) -> CommitSignal;
}
