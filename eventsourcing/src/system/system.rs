//! The [`System`]: applications connected by pipes, leader → follower.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::follower::{Follower, FollowerNode, DEFAULT_BATCH_SIZE};
use super::process::Process;
use crate::application::app::Listener;
use crate::application::Application;
use crate::persistence::{CommitSignal, PersistenceError, Transcoder};

/// A leader with its types erased, as runners hold it.
pub(crate) trait LeaderNode: Send + Sync {
    /// The address of the leader's application object, to tell two objects of one name apart.
    fn address(&self) -> *const ();
    fn max_notification_id(&self) -> Result<u64, PersistenceError>;
    fn add_listener(&self, listener: Listener) -> u64;
    fn remove_listener(&self, id: u64);
    /// The signal the leader's recorder notifies after each commit, if it has one (what the
    /// tokio runner waits on).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn commit_signal(&self) -> Option<CommitSignal>;
}

struct LeaderHandle<L, T> {
    application: Arc<L>,
    marker: std::marker::PhantomData<fn() -> T>,
}

impl<L, T> LeaderNode for LeaderHandle<L, T>
where
    L: AsRef<Application<T>> + Send + Sync + 'static,
    T: Transcoder,
{
    fn address(&self) -> *const () {
        Arc::as_ptr(&self.application).cast()
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        (*self.application)
            .as_ref()
            .recorder()
            .max_notification_id()
    }

    fn add_listener(&self, listener: Listener) -> u64 {
        (*self.application).as_ref().add_listener(listener)
    }

    fn remove_listener(&self, id: u64) {
        (*self.application).as_ref().remove_listener(id)
    }

    fn commit_signal(&self) -> Option<CommitSignal> {
        (*self.application).as_ref().recorder().commit_signal()
    }
}

/// A set of applications connected by pipes: each pipe makes a process application follow a
/// leader's notification log. Chains (A → B → C), fan-out (A → B, A → C) and fan-in (A → C,
/// B → C) are all pipes. Run a system with a [`SingleThreadedRunner`] or a
/// [`MultiThreadedRunner`].
///
/// Applications are named by their application names (which their followers' tracking records
/// use). Unlike the reference, which takes classes and constructs the applications itself, a
/// system takes applications you have built, so each can be configured as you like; and a pipe
/// only accepts a follower that is a [`Process`], so a mistake is a compile error, not a
/// `TypeError` at run time.
///
/// [`SingleThreadedRunner`]: super::SingleThreadedRunner
/// [`MultiThreadedRunner`]: super::MultiThreadedRunner
pub struct System {
    pub(crate) leaders: BTreeMap<String, Arc<dyn LeaderNode>>,
    pub(crate) followers: BTreeMap<String, Arc<dyn FollowerNode>>,
    followers_typed: BTreeMap<String, Arc<dyn Any + Send + Sync>>,
    /// (leader, follower) pairs.
    pub(crate) edges: Vec<(String, String)>,
    batch_size: usize,
    /// How long a busy follower's thread lets its leaders' new events gather (multi-threaded
    /// runner).
    pub(crate) gathering: std::time::Duration,
    pub(crate) errors: Vec<String>,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("edges", &self.edges)
            .field("batch_size", &self.batch_size)
            .field("gathering", &self.gathering)
            .finish_non_exhaustive()
    }
}

/// The default of [`System::gathering`]: 3 ms. With SQLite files on one disk, a leader saving
/// 10-event aggregates as fast as it can and one follower: 14.3k events/s end to end with it,
/// 11.5k without (medians of 8 interleaved rounds; BENCHMARKS.md, "Followers' commits").
pub const DEFAULT_GATHERING: std::time::Duration = std::time::Duration::from_millis(3);

impl Default for System {
    fn default() -> Self {
        System {
            leaders: BTreeMap::new(),
            followers: BTreeMap::new(),
            followers_typed: BTreeMap::new(),
            edges: Vec::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            gathering: DEFAULT_GATHERING,
            errors: Vec::new(),
        }
    }
}

impl System {
    /// An empty system.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many notifications followers of the pipes added after this call process per
    /// transaction (default [`DEFAULT_BATCH_SIZE`]). Bigger batches mean fewer commits, so more
    /// throughput on a durable database.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How long, in the [`MultiThreadedRunner`](super::MultiThreadedRunner), a follower's thread
    /// that has just processed something waits before it processes again (default
    /// [`DEFAULT_GATHERING`]; zero to process at once): what its leaders save meanwhile is then
    /// processed in one transaction, so a follower of a busy leader commits (and waits for the
    /// disk) less often, and competes less with the leader for it. A follower that has been
    /// idle for this long processes a new event at once: sporadic events gain no latency;
    /// during a burst, each waits at most this much.
    pub fn gathering(mut self, gathering: std::time::Duration) -> Self {
        self.gathering = gathering;
        self
    }

    /// Adds a pipe: `follower` follows `leader`.
    pub fn pipe<L, TL, P, TP>(mut self, leader: &Arc<L>, follower: &Arc<P>) -> Self
    where
        L: AsRef<Application<TL>> + Send + Sync + 'static,
        TL: Transcoder,
        P: Process<TP>,
        TP: Transcoder,
    {
        let leader_app: &Application<TL> = (**leader).as_ref();
        let leader_name = leader_app.name().to_string();
        let known = self.leaders.entry(leader_name.clone()).or_insert_with(|| {
            Arc::new(LeaderHandle {
                application: Arc::clone(leader),
                marker: std::marker::PhantomData::<fn() -> TL>,
            })
        });
        if known.address() != Arc::as_ptr(leader).cast::<()>() {
            self.errors.push(format!(
                "two different applications are named {leader_name:?}: application names must be unique in a system"
            ));
            return self;
        }

        let follower_name = (**follower).as_ref().name().to_string();
        let typed = match self.followers_typed.get(&follower_name) {
            Some(existing) => match Arc::clone(existing).downcast::<Follower<P, TP>>() {
                Ok(typed) if Arc::ptr_eq(typed.process(), follower) => typed,
                _ => {
                    self.errors.push(format!(
                        "two different applications are named {follower_name:?}: application names must be unique in a system"
                    ));
                    return self;
                }
            },
            None => {
                let typed = Arc::new(Follower::<P, TP>::new(Arc::clone(follower)));
                self.followers_typed.insert(
                    follower_name.clone(),
                    Arc::clone(&typed) as Arc<dyn Any + Send + Sync>,
                );
                self.followers.insert(
                    follower_name.clone(),
                    Arc::clone(&typed) as Arc<dyn FollowerNode>,
                );
                typed
            }
        };
        typed.follow_application(leader_app, self.batch_size);
        if !self
            .edges
            .contains(&(leader_name.clone(), follower_name.clone()))
        {
            self.edges.push((leader_name, follower_name));
        }
        self
    }

    /// The (leader, follower) names of the pipes.
    pub fn edges(&self) -> &[(String, String)] {
        &self.edges
    }

    /// The followers of `leader`.
    pub(crate) fn followers_of(&self, leader: &str) -> Vec<Arc<dyn FollowerNode>> {
        self.edges
            .iter()
            .filter(|(l, _)| l == leader)
            .filter_map(|(_, f)| self.followers.get(f).cloned())
            .collect()
    }
}
