//! [`TokioRunner`] (feature `tokio`): a system's followers as tokio tasks, woken by their
//! leaders' commits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::SystemError;
use super::follower::FollowerNode;
use super::runner::{panic_message, Errors, Wiring};
use super::system::{LeaderNode, System};
use crate::persistence::{CommitSignal, Position, POLL_INTERVAL, RECHECK_INTERVAL};

/// Runs a system's followers as tokio tasks: one task per pipe, which processes what the
/// leader has and then waits, without holding a thread, until the leader's recorder signals a
/// commit (or, for a recorder without a [`CommitSignal`], until it polls again). Since it is
/// woken by the recorder rather than by the leader's `save`, it also follows leaders whose
/// events are saved by other application objects, such as an
/// [`AsyncApplication`](crate::application::AsyncApplication) over the same database, or by
/// another process (PostgreSQL, and SQLite files).
///
/// Policies are synchronous code (they read aggregates with
/// [`ProcessingEvent::get`](super::ProcessingEvent::get)), so each batch runs on tokio's
/// blocking pool; a batch, once started, commits with its tracking record whole or not at all,
/// so stopping the runner, or dropping it, never processes an event twice: the next run goes on
/// from the recorded position.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use eventsourcing::prelude::*;
/// # use eventsourcing::system::{Process, ProcessingEvent, PolicyResult, System, TokioRunner};
/// # #[aggregate] #[derive(Clone)] pub struct Note { text: String }
/// # #[aggregate] impl Note { #[created] pub fn create(text: String) -> Self { Note { text } } }
/// # pub struct Notes { app: Application }
/// # impl AsRef<Application> for Notes { fn as_ref(&self) -> &Application { &self.app } }
/// # #[aggregate] #[derive(Clone)] pub struct Tally { count: u64 }
/// # #[aggregate] impl Tally {
/// #     pub fn create_id() -> Uuid { eventsourcing::domain::url_id("/tally") }
/// #     #[created] pub fn create() -> Self { Tally { count: 0 } }
/// #     #[event] pub fn counted(&mut self) { self.count += 1 }
/// # }
/// # pub struct Tallies { app: Application }
/// # impl AsRef<Application> for Tallies { fn as_ref(&self) -> &Application { &self.app } }
/// # impl Process for Tallies {
/// #     type Upstream = DomainEvent<NoteEvent>;
/// #     fn policy(&self, _: DomainEvent<NoteEvent>, processing: &mut ProcessingEvent<'_>) -> PolicyResult {
/// #         let mut tally = processing.get_or_else(Tally::create_id(), Tally::create)?;
/// #         tally.counted();
/// #         processing.save(&mut tally)?;
/// #         Ok(())
/// #     }
/// # }
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let notes = Arc::new(Notes { app: Application::new("Notes")? });
/// let tallies = Arc::new(Tallies { app: Application::new("Tallies")? });
/// let runner = TokioRunner::start(System::new().pipe(&notes, &tallies))?;
///
/// notes.app.save(&mut Note::create("one".into()))?;
/// notes.app.save(&mut Note::create("two".into()))?;
/// runner.wait_until_caught_up(Duration::from_secs(5)).await?;
/// let tally: Tally = tallies.app.repository().get(Tally::create_id())?;
/// assert_eq!(tally.version(), 3); // created, counted twice
/// runner.stop().await?;
/// # Ok(())
/// # }
/// ```
pub struct TokioRunner {
    wiring: Arc<Wiring>,
    tasks: Vec<(String, JoinHandle<()>)>,
    errors: Arc<Errors>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for TokioRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioRunner")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// One pipe's task: what it follows, with what.
struct Pipe {
    leader_name: String,
    follower: Arc<dyn FollowerNode>,
    signal: Option<CommitSignal>,
}

impl TokioRunner {
    /// Starts one task per pipe; each catches up with what its leader already has, then
    /// processes new events as they are committed. Must be called inside a tokio runtime.
    pub fn start(system: System) -> Result<Self, SystemError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            SystemError::Configuration(
                "a TokioRunner runs its followers as tokio tasks: start it inside a tokio \
                 runtime"
                    .to_string(),
            )
        })?;
        let wiring = Arc::new(Wiring::new(system)?);
        let errors = Arc::new(Errors::default());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for (leader_name, follower_name) in &wiring.system.edges {
            let (Some(leader), Some(follower)) = (
                wiring.system.leaders.get(leader_name),
                wiring.system.followers.get(follower_name),
            ) else {
                continue;
            };
            let pipe = Pipe {
                leader_name: leader_name.clone(),
                follower: Arc::clone(follower),
                signal: LeaderNode::commit_signal(&**leader),
            };
            let task = runtime.spawn(follow(pipe, Arc::clone(&errors), stopped.clone()));
            tasks.push((format!("{follower_name} <- {leader_name}"), task));
        }
        Ok(TokioRunner {
            wiring,
            tasks,
            errors,
            stop,
        })
    }

    /// The oldest error followers met that no earlier `check` returned, if any (errors are kept,
    /// up to 100, until checked).
    pub fn check(&self) -> Result<(), SystemError> {
        self.errors.take()
    }

    /// Whether every follower has processed everything its leaders have.
    pub async fn caught_up(&self) -> Result<bool, SystemError> {
        let wiring = Arc::clone(&self.wiring);
        tokio::task::spawn_blocking(move || wiring.caught_up())
            .await
            .map_err(|error| SystemError::Configuration(format!("caught_up panicked: {error}")))?
    }

    /// How far each follower is behind each of its leaders.
    pub async fn positions(&self) -> Result<Vec<Position>, SystemError> {
        let wiring = Arc::clone(&self.wiring);
        tokio::task::spawn_blocking(move || wiring.positions())
            .await
            .map_err(|error| SystemError::Configuration(format!("positions panicked: {error}")))?
    }

    /// Waits until every follower has processed everything its leaders have, an error
    /// happens (returned), or `timeout` passes ([`SystemError::Timeout`]).
    pub async fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), SystemError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.check()?;
            if self.caught_up().await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SystemError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the tasks (each finishes the batch it is processing) and returns the first
    /// unchecked error.
    pub async fn stop(mut self) -> Result<(), SystemError> {
        let _ = self.stop.send(true);
        let mut panicked = None;
        for (name, task) in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                panicked.get_or_insert(SystemError::ThreadPanicked {
                    follower: name,
                    message: error.to_string(),
                });
            }
        }
        match panicked {
            Some(error) => Err(error),
            None => self.check(),
        }
    }
}

impl Drop for TokioRunner {
    /// Tells the tasks to stop; a batch being processed still commits or rolls back whole.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A pipe's task: process, then wait for a commit, until stopped.
async fn follow(pipe: Pipe, errors: Arc<Errors>, mut stopped: watch::Receiver<bool>) {
    let (signal, interval) = match &pipe.signal {
        Some(signal) => (signal.clone(), RECHECK_INTERVAL),
        None => (CommitSignal::new(), POLL_INTERVAL),
    };
    let _subscriber = signal.subscribe();
    loop {
        if *stopped.borrow() {
            return;
        }
        let seen = signal.count();
        let (follower, leader) = (Arc::clone(&pipe.follower), pipe.leader_name.clone());
        let processed =
            tokio::task::spawn_blocking(move || follower.pull_and_process(&leader)).await;
        match processed {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => errors.record(error),
            Err(join) => errors.record(SystemError::ThreadPanicked {
                follower: pipe.follower.name().to_string(),
                message: if join.is_panic() {
                    panic_message(join.into_panic().as_ref())
                } else {
                    join.to_string()
                },
            }),
        }
        tokio::select! {
            _ = signal.changed_past(seen) => {}
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}
