//! Runners: they prompt followers when their leaders save new events.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::SystemError;
use super::follower::FollowerNode;
use super::system::{LeaderNode, System};
use crate::persistence::Position;

/// The most errors a runner keeps before [`check`](SingleThreadedRunner::check) takes them.
const MAX_KEPT_ERRORS: usize = 100;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) use crate::panics::message as panic_message;

/// Errors recorded by a runner, to be surfaced to the caller.
#[derive(Default)]
pub(super) struct Errors(Mutex<Vec<SystemError>>);

impl Errors {
    pub(super) fn record(&self, error: SystemError) {
        tracing::error!(%error, "processing failed");
        let mut errors = lock(&self.0);
        if errors.len() < MAX_KEPT_ERRORS {
            errors.push(error);
        }
    }

    /// The oldest recorded error, if any (the next call returns the next one).
    pub(super) fn take(&self) -> Result<(), SystemError> {
        let mut errors = lock(&self.0);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.remove(0))
        }
    }
}

/// What both runners share: the system, and the listeners registered on its leaders.
pub(super) struct Wiring {
    pub(super) system: System,
    listeners: Vec<(Arc<dyn LeaderNode>, u64)>,
}

impl Wiring {
    pub(super) fn new(system: System) -> Result<Self, SystemError> {
        if let Some(error) = system.errors.first() {
            return Err(SystemError::Configuration(error.clone()));
        }
        Ok(Wiring {
            system,
            listeners: Vec::new(),
        })
    }

    /// Calls `prompt(leader_name)` whenever a leader of the system saves new events.
    fn listen(&mut self, prompt: Arc<dyn Fn(&str) + Send + Sync>) {
        for leader in self.system.leaders.values() {
            let prompt = Arc::clone(&prompt);
            let id = leader.add_listener(Arc::new(move |name: &str| prompt(name)));
            self.listeners.push((Arc::clone(leader), id));
        }
    }

    fn unlisten(&mut self) {
        for (leader, id) in self.listeners.drain(..) {
            leader.remove_listener(id);
        }
    }

    /// The head (max notification id) of each pipe's leader, in the order of the pipes.
    fn heads(&self) -> Result<Vec<u64>, SystemError> {
        self.system
            .edges
            .iter()
            .map(
                |(leader_name, follower_name)| match self.system.leaders.get(leader_name) {
                    Some(leader) => leader
                        .max_notification_id()
                        .map_err(|e| SystemError::processing(follower_name, leader_name, e)),
                    None => Ok(0),
                },
            )
            .collect()
    }

    /// How far each follower is behind each of its leaders, in the order of the pipes (the
    /// tokio runner's; the blocking runners read positions follower by follower).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn positions(&self) -> Result<Vec<Position>, SystemError> {
        let heads = self.heads()?;
        let mut positions = Vec::new();
        for ((leader_name, follower_name), head) in self.system.edges.iter().zip(heads) {
            let Some(follower) = self.system.followers.get(follower_name) else {
                continue;
            };
            positions.push(Position {
                leader: leader_name.clone(),
                follower: follower_name.clone(),
                processed: follower.max_tracking_id(leader_name)?,
                head,
            });
        }
        Ok(positions)
    }

    /// Whether every follower has processed every notification its leaders have.
    ///
    /// The leaders' heads are read before and after the followers' positions, and must not
    /// have moved: otherwise a process application in the middle of a chain could save new
    /// events after its followers were checked (when the pipes are not listed in the order
    /// events flow) and the system would look caught up while it is not.
    pub(super) fn caught_up(&self) -> Result<bool, SystemError> {
        let heads = self.heads()?;
        for ((leader_name, follower_name), head) in self.system.edges.iter().zip(&heads) {
            let Some(follower) = self.system.followers.get(follower_name) else {
                continue;
            };
            if follower.max_tracking_id(leader_name)? < *head {
                return Ok(false);
            }
        }
        Ok(self.heads()? == heads)
    }
}

/// Runs a system in the threads of its callers: when a leader's `save` returns, its followers
/// (and theirs) have processed the new events — unless another thread was processing already,
/// in which case that thread processes them and this `save` returns at once. For tests, and
/// for programs that want processing to be synchronous.
///
/// Errors of followers, and panics of their policies, do not make the leader's `save` fail (its
/// events are saved); they are kept, logged, and returned by [`check`](SingleThreadedRunner::check) and
/// [`stop`](SingleThreadedRunner::stop). The failed notification is processed again at the
/// next prompt.
///
/// ```
/// # use std::sync::Arc;
/// # use eventsourcing::prelude::*;
/// # use eventsourcing::system::{Process, ProcessingEvent, PolicyResult, System, SingleThreadedRunner};
/// # #[aggregate] #[derive(Clone)] pub struct Note { text: String }
/// # #[aggregate] impl Note { #[created] pub fn create(text: String) -> Self { Note { text } } }
/// # pub struct Notes { app: Application }
/// # impl AsRef<Application> for Notes { fn as_ref(&self) -> &Application { &self.app } }
/// # #[aggregate] #[derive(Clone)] pub struct Tally { count: u64 }
/// # #[aggregate] impl Tally {
/// #     pub fn create_id() -> Uuid { eventsourcing::domain::url_id("/tally") }
/// #     #[created] pub fn create() -> Self { Tally { count: 0 } }
/// #     #[event] pub fn counted(&mut self) { self.count += 1; }
/// # }
/// # pub struct Tallies { app: Application }
/// # impl AsRef<Application> for Tallies { fn as_ref(&self) -> &Application { &self.app } }
/// # impl Process for Tallies {
/// #     type Upstream = DomainEvent<NoteEvent>;
/// #     fn policy(&self, _: DomainEvent<NoteEvent>, p: &mut ProcessingEvent<'_>) -> PolicyResult {
/// #         let mut tally = p.get_or_else(Tally::create_id(), Tally::create)?;
/// #         tally.counted();
/// #         p.save(&mut tally)?;
/// #         Ok(())
/// #     }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let notes = Arc::new(Notes { app: Application::new("Notes")? });
/// let tallies = Arc::new(Tallies { app: Application::new("Tallies")? });
/// let runner = SingleThreadedRunner::start(System::new().pipe(&notes, &tallies))?;
///
/// notes.app.save(&mut Note::create("hello".into()))?;
/// let tally: Tally = tallies.app.repository().get(Tally::create_id())?; // already processed
/// assert_eq!(tally.version(), 2);
/// runner.stop()?;
/// # Ok(())
/// # }
/// ```
pub struct SingleThreadedRunner {
    wiring: Wiring,
    inner: Arc<SingleThreaded>,
}

struct SingleThreaded {
    followers: Vec<(String, Vec<Arc<dyn FollowerNode>>)>,
    queue: Mutex<VecDeque<String>>,
    prompting: AtomicBool,
    errors: Errors,
}

impl SingleThreaded {
    fn followers_of(&self, leader: &str) -> &[Arc<dyn FollowerNode>] {
        self.followers
            .iter()
            .find(|(name, _)| name == leader)
            .map_or(&[], |(_, followers)| followers.as_slice())
    }

    /// The reference's prompt loop: queue the leader, and unless a caller up the stack (or
    /// another thread) is already processing, process the queue until it is empty — including
    /// prompts raised by followers' own saves while processing.
    fn receive_prompt(&self, leader_name: &str) {
        {
            let mut queue = lock(&self.queue);
            if !queue.iter().any(|queued| queued == leader_name) {
                queue.push_back(leader_name.to_string());
            }
        }
        while !self.prompting.swap(true, Ordering::AcqRel) {
            loop {
                let Some(leader) = lock(&self.queue).pop_front() else {
                    break;
                };
                for follower in self.followers_of(&leader) {
                    // A panicking policy is reported like an error, as the multi-threaded
                    // runner does: unwinding through the leader's `save` (which has stored its
                    // events) would make the save look failed, and would leave `prompting` set,
                    // so that nothing would ever be processed again.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        follower.pull_and_process(&leader)
                    }));
                    match result {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => self.errors.record(error),
                        Err(payload) => self.errors.record(SystemError::ThreadPanicked {
                            follower: follower.name().to_string(),
                            message: panic_message(payload.as_ref()),
                        }),
                    }
                }
            }
            self.prompting.store(false, Ordering::Release);
            // A prompt queued by another thread between the last pop and the store above would
            // otherwise wait for the next save.
            if lock(&self.queue).is_empty() {
                break;
            }
        }
    }
}

impl SingleThreadedRunner {
    /// Starts running `system`: followers catch up with what their leaders already have, then
    /// process new events as their leaders save them.
    pub fn start(system: System) -> Result<Self, SystemError> {
        let mut wiring = Wiring::new(system)?;
        let followers = wiring
            .system
            .leaders
            .keys()
            .map(|leader| (leader.clone(), wiring.system.followers_of(leader)))
            .collect();
        let inner = Arc::new(SingleThreaded {
            followers,
            queue: Mutex::new(VecDeque::new()),
            prompting: AtomicBool::new(false),
            errors: Errors::default(),
        });
        let weak = Arc::downgrade(&inner);
        wiring.listen(Arc::new(move |leader: &str| {
            if let Some(inner) = weak.upgrade() {
                inner.receive_prompt(leader);
            }
        }));
        let leaders: Vec<String> = wiring.system.leaders.keys().cloned().collect();
        for leader in leaders {
            inner.receive_prompt(&leader);
        }
        // Errors while catching up are kept for `check`, like any other: failing here would
        // drop the runner (and the system) with them.
        Ok(SingleThreadedRunner { wiring, inner })
    }

    /// The oldest error followers met that no earlier `check` returned, if any (errors are kept,
    /// up to 100, until checked).
    pub fn check(&self) -> Result<(), SystemError> {
        self.inner.errors.take()
    }

    /// Prompts every follower to process what its leaders have (for example, to retry after an
    /// error), then returns the first error, if any.
    pub fn process_all(&self) -> Result<(), SystemError> {
        for leader in self.wiring.system.leaders.keys() {
            self.inner.receive_prompt(leader);
        }
        self.check()
    }

    /// Whether every follower has processed everything its leaders have.
    pub fn caught_up(&self) -> Result<bool, SystemError> {
        self.wiring.caught_up()
    }

    /// Stops running: leaders no longer prompt followers. Returns the first unchecked error.
    pub fn stop(mut self) -> Result<(), SystemError> {
        self.wiring.unlisten();
        self.check()
    }
}

impl Drop for SingleThreadedRunner {
    fn drop(&mut self) {
        self.wiring.unlisten();
    }
}

/// Runs a system with one thread per follower: a leader's save prompts its followers' threads
/// and returns; the followers process in the background.
///
/// Errors of followers are kept and logged, and returned by
/// [`check`](MultiThreadedRunner::check),
/// [`wait_until_caught_up`](MultiThreadedRunner::wait_until_caught_up) and
/// [`stop`](MultiThreadedRunner::stop). A
/// thread that meets an error keeps serving prompts (the failed notification is processed again
/// at the next one).
pub struct MultiThreadedRunner {
    wiring: Wiring,
    workers: Vec<Arc<Worker>>,
    threads: Vec<(String, JoinHandle<()>)>,
    errors: Arc<Errors>,
}

struct Worker {
    follower: Arc<dyn FollowerNode>,
    state: Mutex<WorkerState>,
    wake: Condvar,
    /// How long to let new events gather when prompted while processing (`System::gathering`).
    gathering: Duration,
}

#[derive(Default)]
struct WorkerState {
    prompted: BTreeSet<String>,
    stopping: bool,
}

impl Worker {
    fn prompt(&self, leader: &str) {
        let mut state = lock(&self.state);
        state.prompted.insert(leader.to_string());
        self.wake.notify_one();
    }

    fn run(&self, errors: &Errors) {
        loop {
            let prompted = {
                let mut state = lock(&self.state);
                while state.prompted.is_empty() && !state.stopping {
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.stopping {
                    return;
                }
                std::mem::take(&mut state.prompted)
            };
            let mut processed = 0;
            for leader in prompted {
                // A panicking policy must not silently end the thread: its followers would
                // never be processed again. Record it like any other error and carry on.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.follower.pull_and_process(&leader)
                }));
                match result {
                    Ok(Ok(count)) => processed += count,
                    Ok(Err(error)) => errors.record(error),
                    Err(payload) => errors.record(SystemError::ThreadPanicked {
                        follower: self.follower.name().to_string(),
                        message: panic_message(payload.as_ref()),
                    }),
                }
            }
            if processed > 0 {
                self.gather();
            }
        }
    }

    /// After processing something (the leaders may be saving more), lets their new events
    /// gather for a while (until stopping), so that the next transaction records them together.
    fn gather(&self) {
        if self.gathering.is_zero() {
            return;
        }
        let state = lock(&self.state);
        if state.stopping {
            return;
        }
        let _ = self
            .wake
            .wait_timeout_while(state, self.gathering, |state| !state.stopping);
    }
}

impl MultiThreadedRunner {
    /// Starts one thread per follower; each catches up with what its leaders already have,
    /// then processes new events as they are saved.
    pub fn start(system: System) -> Result<Self, SystemError> {
        let wiring = Wiring::new(system)?;
        let workers: Vec<Arc<Worker>> = wiring
            .system
            .followers
            .values()
            .map(|follower| {
                Arc::new(Worker {
                    follower: Arc::clone(follower),
                    state: Mutex::new(WorkerState::default()),
                    wake: Condvar::new(),
                    gathering: wiring.system.gathering,
                })
            })
            .collect();
        // For each leader, the workers of its followers.
        let routes: Arc<Vec<(String, Vec<Arc<Worker>>)>> = Arc::new(
            wiring
                .system
                .leaders
                .keys()
                .map(|leader| {
                    let followers = workers
                        .iter()
                        .filter(|w| {
                            let follower = w.follower.name();
                            wiring
                                .system
                                .edges
                                .iter()
                                .any(|(l, f)| l == leader && f == follower)
                        })
                        .cloned()
                        .collect();
                    (leader.clone(), followers)
                })
                .collect(),
        );
        let mut runner = MultiThreadedRunner {
            wiring,
            workers,
            threads: Vec::new(),
            errors: Arc::new(Errors::default()),
        };
        for worker in &runner.workers {
            let name = worker.follower.name().to_string();
            let thread_worker = Arc::clone(worker);
            let thread_errors = Arc::clone(&runner.errors);
            let spawned = std::thread::Builder::new()
                .name(format!("eventsourcing-{name}"))
                .spawn(move || thread_worker.run(&thread_errors));
            match spawned {
                Ok(handle) => runner.threads.push((name, handle)),
                Err(source) => {
                    let _ = runner.shutdown();
                    return Err(SystemError::ThreadSpawn {
                        follower: name,
                        source,
                    });
                }
            }
        }
        let prompt_routes = Arc::clone(&routes);
        runner.wiring.listen(Arc::new(move |leader: &str| {
            if let Some((_, workers)) = prompt_routes.iter().find(|(name, _)| name == leader) {
                for worker in workers {
                    worker.prompt(leader);
                }
            }
        }));
        // Catch up with what the leaders already have.
        for (leader, workers) in routes.iter() {
            for worker in workers {
                worker.prompt(leader);
            }
        }
        Ok(runner)
    }

    /// The oldest error followers met that no earlier `check` returned, if any (errors are kept,
    /// up to 100, until checked).
    pub fn check(&self) -> Result<(), SystemError> {
        self.errors.take()
    }

    /// Prompts every follower to process what its leaders have, in its thread: to retry after
    /// an error without waiting for a leader's next save. Wait for it with
    /// [`wait_until_caught_up`](MultiThreadedRunner::wait_until_caught_up).
    pub fn prompt_all(&self) {
        for (leader, follower) in &self.wiring.system.edges {
            if let Some(worker) = self
                .workers
                .iter()
                .find(|worker| worker.follower.name() == follower)
            {
                worker.prompt(leader);
            }
        }
    }

    /// Whether every follower has processed everything its leaders have.
    pub fn caught_up(&self) -> Result<bool, SystemError> {
        self.wiring.caught_up()
    }

    /// Waits until every follower has processed everything its leaders have, an error
    /// happens (returned), or `timeout` passes ([`SystemError::Timeout`]).
    pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), SystemError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check()?;
            if self.caught_up()? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SystemError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn shutdown(&mut self) -> Result<(), SystemError> {
        self.wiring.unlisten();
        for worker in &self.workers {
            lock(&worker.state).stopping = true;
            worker.wake.notify_all();
        }
        let mut panicked = None;
        for (name, thread) in self.threads.drain(..) {
            if let Err(payload) = thread.join() {
                panicked.get_or_insert(SystemError::ThreadPanicked {
                    follower: name,
                    message: panic_message(payload.as_ref()),
                });
            }
        }
        match panicked {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Stops the threads (each finishes the batch it is processing) and returns the first
    /// unchecked error.
    pub fn stop(mut self) -> Result<(), SystemError> {
        self.shutdown()?;
        self.check()
    }
}

impl Drop for MultiThreadedRunner {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
