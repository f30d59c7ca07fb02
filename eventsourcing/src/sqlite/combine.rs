//! Group commit: a recorder's concurrent inserts (those without tracking records) share
//! transactions, and so one commit (one fsync of the WAL, with `synchronous=FULL`).
//!
//! Writes to an SQLite database are serialised (one writer connection, behind the database's
//! write lock), and each commit waits for the disk: many concurrent saves, each its own
//! transaction, are bounded by one fsync each, however many threads make them.
//!
//! Instead, a recorder's inserts go through a [`Combiner`]. A save that finds no insert of
//! the recorder running leads: it writes its own events at once, with no wait and no copy, as
//! before. A save that arrives while one is running queues (with its events) and waits on a
//! slot of its own. When the running transaction has committed, its leader hands each of its
//! savers its outcome (waking that saver alone), hands the lead to the first saver still
//! queued (waking it), and returns: that saver leads the next transaction, which inserts what
//! is queued then, in the order it was queued, up to [`GROUP_COMMIT_MAX_EVENTS`] events (a
//! single save may have more; it is then written alone), its own save first. Nobody waits on
//! a timer: a group is whatever queued during the commit before it, and each saver returns as
//! soon as the transaction that had its save has committed.
//!
//! Each save is still all or nothing, and fails alone: inside the shared transaction, each
//! save is written under a `SAVEPOINT`, released if all its events went in, rolled back to if
//! one of them was refused (a version conflict, a value SQLite can't store), which removes
//! that save's rows and nothing else; its saver gets its own error (a version conflict is the
//! typed [`PersistenceError::Conflict`]), and the others commit. Savepoints rather than a
//! pre-check (selecting the versions before inserting): SQLite is in the process, so a
//! savepoint costs no round trip (a few statements on an in-memory journal), it catches what
//! a pre-check would miss (two saves in one group at the same version, another process's
//! writes, any other refusal of an insert), and the insert itself stays the only check. A
//! group of one has no savepoint: the transaction is the save, as before.
//!
//! Notification ids (the `rowid`) stay gap-free in commit order: a rolled-back savepoint's
//! rows are gone before the next save inserts, so the next row gets the next id, and groups
//! commit one after the other, under the write lock. An error that ends the transaction
//! itself (the commit fails, the disk is full, I/O fails) is every save's of the group: none
//! of it is stored.
//!
//! A saver is told its save succeeded only after the commit of the transaction it was in:
//! a crash loses only saves whose savers had not yet been told so.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::persistence::{ErrorKind, PersistenceError, StoredEvent};

/// The most events that one shared transaction inserts (a single save with more is written
/// alone). It bounds how long a transaction holds the write lock, and the memory of a group.
pub const GROUP_COMMIT_MAX_EVENTS: usize = 1000;

/// A recorder's queue of inserts, and whether one is being written.
#[derive(Default)]
pub(super) struct Combiner {
    state: Mutex<State>,
}

impl std::fmt::Debug for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Whether a saver leads: is writing a transaction, or has been handed the lead.
    leading: bool,
}

struct Job {
    events: Vec<StoredEvent>,
    slot: Arc<Slot>,
}

/// Where a queued saver waits, for its outcome or for the lead.
#[derive(Default)]
struct Slot {
    turn: Mutex<Turn>,
    changed: Condvar,
}

#[derive(Default)]
enum Turn {
    #[default]
    Waiting,
    /// The saver leads the next transaction (its save is first in the queue).
    Lead,
    /// Written by another saver's transaction.
    Done(Result<(), PersistenceError>),
}

impl Slot {
    fn set(&self, turn: Turn) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = turn;
        self.changed.notify_one();
    }

    fn wait(&self) -> Turn {
        let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        while matches!(*turn, Turn::Waiting) {
            turn = self.changed.wait(turn).unwrap_or_else(|p| p.into_inner());
        }
        std::mem::take(&mut *turn)
    }
}

/// A save's events: borrowed if the saver may write them itself, owned if it was given them.
pub(super) enum Events<'a> {
    Borrowed(&'a [StoredEvent]),
    Owned(Vec<StoredEvent>),
}

impl Events<'_> {
    fn as_slice(&self) -> &[StoredEvent] {
        match self {
            Events::Borrowed(events) => events,
            Events::Owned(events) => events,
        }
    }

    fn into_owned(self) -> Vec<StoredEvent> {
        match self {
            Events::Borrowed(events) => events.to_vec(),
            Events::Owned(events) => events,
        }
    }
}

/// While a saver leads: when it stops, normally or because the write panicked, the lead goes
/// to the next queued saver (or ends), and the savers of a transaction that did not finish get
/// an error rather than waiting for ever.
struct Leading<'a> {
    combiner: &'a Combiner,
    /// The other savers of the transaction being written, until they have their outcomes.
    unanswered: Vec<Arc<Slot>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        for slot in self.unanswered.drain(..) {
            slot.set(Turn::Done(Err(PersistenceError::database(
                ErrorKind::Internal,
                "an insert was lost: the thread writing it panicked (its transaction was rolled \
                 back)",
            ))));
        }
        let mut state = self.combiner.lock();
        match state.queue.front() {
            Some(next) => next.slot.set(Turn::Lead),
            None => state.leading = false,
        }
    }
}

impl Combiner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent whenever the lock is released (see `Leading`).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts `events` in a transaction of their own, or shared with the saves queued with
    /// them. `write` writes a group of saves in one transaction and gives each its outcome, in
    /// order (the same number of outcomes as saves).
    pub(super) fn insert<W>(&self, events: Events<'_>, write: W) -> Result<(), PersistenceError>
    where
        W: Fn(&[&[StoredEvent]]) -> Vec<Result<(), PersistenceError>>,
    {
        let mut state = self.lock();
        if !state.leading {
            // Alone (nothing is queued while no saver leads): write at once, from the caller's
            // own events.
            state.leading = true;
            drop(state);
            let _leading = Leading {
                combiner: self,
                unanswered: Vec::new(),
            };
            return first_outcome(write(&[events.as_slice()]));
        }
        let slot = Arc::new(Slot::default());
        state.queue.push_back(Job {
            events: events.into_owned(),
            slot: Arc::clone(&slot),
        });
        drop(state);
        match slot.wait() {
            Turn::Done(outcome) => outcome,
            Turn::Waiting | Turn::Lead => {
                // Leading: this save is the first queued, so the first of the group.
                let jobs = next_jobs(&mut self.lock().queue);
                let mut leading = Leading {
                    combiner: self,
                    unanswered: jobs
                        .iter()
                        .skip(1)
                        .map(|job| Arc::clone(&job.slot))
                        .collect(),
                };
                let saves: Vec<&[StoredEvent]> =
                    jobs.iter().map(|job| job.events.as_slice()).collect();
                let mut outcomes = write(&saves).into_iter();
                let mut outcome = || {
                    outcomes.next().unwrap_or_else(|| {
                        Err(PersistenceError::database(
                            ErrorKind::Internal,
                            "a group commit gave no outcome for a save",
                        ))
                    })
                };
                let own = outcome();
                for slot in leading.unanswered.drain(..) {
                    slot.set(Turn::Done(outcome()));
                }
                drop(leading);
                own
            }
        }
    }
}

/// The first saves of the queue that fit in [`GROUP_COMMIT_MAX_EVENTS`] together (at least
/// one, if any).
fn next_jobs(queue: &mut VecDeque<Job>) -> Vec<Job> {
    let mut events = 0;
    let take = queue
        .iter()
        .take_while(|job| {
            events += job.events.len();
            events <= GROUP_COMMIT_MAX_EVENTS
        })
        .count()
        .max(1)
        .min(queue.len());
    queue.drain(..take).collect()
}

fn first_outcome(outcomes: Vec<Result<(), PersistenceError>>) -> Result<(), PersistenceError> {
    outcomes.into_iter().next().unwrap_or_else(|| {
        Err(PersistenceError::database(
            ErrorKind::Internal,
            "a group commit gave no outcome for a save",
        ))
    })
}
