//! Group commit: a recorder's concurrent inserts (those without tracking records) share
//! transactions, and so one commit (one fsync of the WAL, with `synchronous=FULL`).
//!
//! Writes to an SQLite database are serialised (one writer connection, behind the database's
//! write lock), and each commit waits for the disk: many concurrent saves, each its own
//! transaction, are bounded by one fsync each, however many threads make them.
//!
//! Instead, a recorder's inserts go through a [`Combiner`]. A save that finds no insert of
//! the recorder running leads: it writes its own events at once, with no wait and no copy, as
//! before. A save that arrives while one is running queues (with its events) and waits. When
//! the running transaction has committed, its leader hands its savers their outcomes and
//! returns, and one of the waiting savers leads the next transaction, which inserts what is
//! queued, in the order it was queued, up to [`GROUP_COMMIT_MAX_EVENTS`] events (a single save may have
//! more; it is then written alone). Nobody waits on a timer: a group is whatever queued during
//! the commit before it.
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

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::persistence::{ErrorKind, PersistenceError, StoredEvent};

/// The most events that one shared transaction inserts (a single save with more is written
/// alone). It bounds how long a transaction holds the write lock, and the memory of a group.
pub const GROUP_COMMIT_MAX_EVENTS: usize = 1000;

/// A recorder's queue of inserts, and who is writing them.
#[derive(Default)]
pub(super) struct Combiner {
    state: Mutex<State>,
    /// Notified when a transaction has ended: savers look for their outcome, or lead.
    turn: Condvar,
}

impl std::fmt::Debug for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Whether a saver is writing a transaction.
    leading: bool,
    next_ticket: u64,
    /// The outcomes of saves written by another saver, until their savers take them.
    done: HashMap<u64, Result<(), PersistenceError>>,
}

struct Job {
    ticket: u64,
    events: Vec<StoredEvent>,
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

/// While a saver leads: if it stops early (the write panicked), the savers whose saves it was
/// writing get an error rather than waiting for ever, and another may lead.
struct Leading<'a> {
    combiner: &'a Combiner,
    tickets: Vec<u64>,
    ended: bool,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut state = self.combiner.lock();
        for ticket in self.tickets.drain(..) {
            state.done.insert(
                ticket,
                Err(PersistenceError::database(
                    ErrorKind::Internal,
                    "an insert was lost: the thread writing it panicked (its transaction was \
                     rolled back)",
                )),
            );
        }
        state.leading = false;
        drop(state);
        self.combiner.turn.notify_all();
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
        if !state.leading && state.queue.is_empty() {
            // Alone: write at once, from the caller's own events.
            state.leading = true;
            drop(state);
            let mut leading = Leading {
                combiner: self,
                tickets: Vec::new(),
                ended: false,
            };
            let outcome = first_outcome(write(&[events.as_slice()]));
            leading.ended = true;
            drop(self.end_leading(Vec::new()));
            return outcome;
        }
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        state.queue.push_back(Job {
            ticket,
            events: events.into_owned(),
        });
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                return outcome;
            }
            if !state.leading {
                let jobs = next_jobs(&mut state.queue);
                if !jobs.is_empty() {
                    state.leading = true;
                    drop(state);
                    let mut leading = Leading {
                        combiner: self,
                        tickets: jobs.iter().map(|job| job.ticket).collect(),
                        ended: false,
                    };
                    let saves: Vec<&[StoredEvent]> =
                        jobs.iter().map(|job| job.events.as_slice()).collect();
                    let mut outcomes = write(&saves).into_iter();
                    let outcomes: Vec<(u64, Result<(), PersistenceError>)> = jobs
                        .iter()
                        .map(|job| {
                            let outcome = outcomes.next().unwrap_or_else(|| {
                                Err(PersistenceError::database(
                                    ErrorKind::Internal,
                                    "a group commit gave no outcome for a save",
                                ))
                            });
                            (job.ticket, outcome)
                        })
                        .collect();
                    leading.ended = true;
                    drop(leading);
                    state = self.end_leading(outcomes);
                    continue;
                }
            }
            state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Records the outcomes of the transaction that ended, lets another saver lead, and wakes
    /// the waiting savers.
    fn end_leading(
        &self,
        outcomes: Vec<(u64, Result<(), PersistenceError>)>,
    ) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.done.extend(outcomes);
        state.leading = false;
        if !state.queue.is_empty() || !state.done.is_empty() {
            self.turn.notify_all();
        }
        state
    }
}

/// The first saves of the queue that fit in [`GROUP_COMMIT_MAX_EVENTS`] together (at least one).
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
