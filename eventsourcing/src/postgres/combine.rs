//! Group commit: a recorder's concurrent inserts (those without tracking records) share
//! transactions.
//!
//! Inserts into an events table take its `EXCLUSIVE` lock, so that notification ids are
//! committed in order, and hold it through the commit: a table's writers commit one at a time,
//! each waiting for the one before it to be flushed. Many concurrent single-event saves are
//! then bounded by one commit each (a WAL flush, ~0.3 ms here), and they queue on the server's
//! lock, each holding a connection of the pool while it waits.
//!
//! Instead, a recorder's inserts are queued: the first one while none is running starts a
//! task, the leader, which inserts what is queued, all of it (up to [`MAX_EVENTS`]) in one
//! transaction, then what was queued meanwhile, and so on until the queue is empty. Each save
//! is still all or nothing, in the order the saves were queued. If a shared transaction fails
//! with a version conflict, the saves that have that version are inserted one by one (the
//! first of them may be the one that stored it), and the others together again; with another
//! error that may be one save's (bad data), each save on its own: each gets its own outcome,
//! as if they had not been combined. An error of the database (a connection, a lock timeout)
//! is every save's.
//!
//! The leader is a task of its own, so a save whose future is dropped does not stop the
//! others; its own events are stored or not, all or none, as before (see the module docs of
//! `postgres`). It runs on the runtime of the save that started it: the datastore's own
//! runtime for the blocking face, the caller's for a native datastore (where the connections'
//! tasks run too), so a native datastore shared by tasks of several runtimes should outlive
//! none of them.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::datastore::Core;
use super::insert::insert_with_retries;
use super::listener::Listener;
use super::tables::Tables;
use crate::persistence::{ErrorKind, PersistenceError, StoredEvent};

/// The most events the leader inserts in one transaction (a single save may have more).
pub(super) const MAX_EVENTS: usize = 1000;

/// A recorder's queue of inserts.
#[derive(Default)]
pub(super) struct Combiner {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Whether a leader is running (it empties the queue before it ends).
    leading: bool,
}

struct Job {
    events: Vec<StoredEvent>,
    done: oneshot::Sender<Result<(), PersistenceError>>,
}

/// What the leader inserts with.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) core: Arc<Core>,
    pub(super) tables: Arc<Tables>,
    pub(super) listener: Option<Arc<Listener>>,
}

impl Combiner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts `events` (not empty) in a transaction of their own or shared with other inserts
    /// queued at the same time. Must be awaited inside a tokio runtime (the leader is spawned
    /// on it).
    pub(super) async fn insert(
        self: &Arc<Self>,
        target: &Target,
        events: Vec<StoredEvent>,
    ) -> Result<(), PersistenceError> {
        let (done, outcome) = oneshot::channel();
        let lead = {
            let mut queue = self.lock();
            queue.jobs.push(Job { events, done });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            tokio::spawn(lead_inserts(Arc::clone(self), target.clone()));
        }
        outcome.await.unwrap_or_else(|_| {
            Err(PersistenceError::database(
                ErrorKind::Internal,
                "an insert was lost: the task inserting it panicked, or the recorder's runtime \
                 is shutting down",
            ))
        })
    }

    /// The next jobs to insert together: at least one, then more while they fit in
    /// [`MAX_EVENTS`]; `None` (and no longer leading) if the queue is empty.
    fn next_jobs(&self) -> Option<Vec<Job>> {
        let mut queue = self.lock();
        if queue.jobs.is_empty() {
            queue.leading = false;
            return None;
        }
        let mut events = 0;
        let take = queue
            .jobs
            .iter()
            .take_while(|job| {
                events += job.events.len();
                events <= MAX_EVENTS
            })
            .count()
            .max(1);
        Some(queue.jobs.drain(..take).collect())
    }
}

/// Ends the leadership if the leader stops early (it panicked, or its runtime is shutting
/// down): the queued jobs are dropped, which their savers see as a lost insert, and the next
/// insert starts a new leader. A leader that found the queue empty has already ended it (and
/// another may have begun since).
struct Leading {
    combiner: Arc<Combiner>,
    ended: bool,
}

impl Drop for Leading {
    fn drop(&mut self) {
        if !self.ended {
            let mut queue = self.combiner.lock();
            queue.leading = false;
            queue.jobs.clear();
        }
    }
}

async fn lead_inserts(combiner: Arc<Combiner>, target: Target) {
    let mut leading = Leading {
        combiner,
        ended: false,
    };
    while let Some(jobs) = leading.combiner.next_jobs() {
        insert_jobs(&target, jobs).await;
    }
    leading.ended = true;
}

async fn insert_jobs(target: &Target, mut jobs: Vec<Job>) {
    let committed = || {
        if let Some(listener) = &target.listener {
            listener.committed();
        }
    };
    let alone = |job: Job| async move {
        let outcome =
            insert_with_retries(&target.core, &target.tables, &job.events, &[], None).await;
        if outcome.is_ok() {
            committed();
        }
        let _ = job.done.send(outcome);
    };
    while jobs.len() > 1 {
        let events: Vec<StoredEvent> = jobs.iter().flat_map(|job| job.events.clone()).collect();
        let error =
            match insert_with_retries(&target.core, &target.tables, &events, &[], None).await {
                Ok(()) => {
                    committed();
                    for job in jobs {
                        let _ = job.done.send(Ok(()));
                    }
                    return;
                }
                Err(error) => error,
            };
        match (error.conflict(), error.kind()) {
            // A version conflict: the saves with that version, each on its own (the first of
            // them may be the one that stored it), then the others together again.
            (Some((id, version)), _) if jobs.iter().any(|job| has_event(job, id, version)) => {
                let (conflicting, others): (Vec<Job>, Vec<Job>) = jobs
                    .into_iter()
                    .partition(|job| has_event(job, id, version));
                for job in conflicting {
                    alone(job).await;
                }
                jobs = others;
            }
            // Perhaps one save's: each on its own, in order.
            (_, ErrorKind::Integrity | ErrorKind::Data | ErrorKind::Programming) => {
                for job in jobs {
                    alone(job).await;
                }
                return;
            }
            // The database's: every save's.
            (_, kind) => {
                let message = error.to_string();
                let mut error = Some(error);
                for job in jobs {
                    let outcome = error
                        .take()
                        .unwrap_or_else(|| PersistenceError::database(kind, message.clone()));
                    let _ = job.done.send(Err(outcome));
                }
                return;
            }
        }
    }
    for job in jobs {
        alone(job).await;
    }
}

fn has_event(job: &Job, id: uuid::Uuid, version: u64) -> bool {
    job.events
        .iter()
        .any(|e| e.originator_id == id && e.originator_version == version)
}
