//! Systems beyond the reference's single pipe (digest §4): chains, fan-out and fan-in; policies
//! that skip events they do not handle; policy errors and their retry; followers restarted over
//! the same database files; the multi-threaded runner under concurrent saves; and reading
//! notification logs with gaps in their ids. Both runners, in memory, in SQLite and in
//! PostgreSQL (a schema per test; skipped, with a message, when no server answers outside CI).

mod system_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsourcing::application::{LocalNotificationLog, NotificationLog};
use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, EventQuery, Mapper, Notification, PersistenceError,
    StoredEvent, Transcoder,
};
use eventsourcing::prelude::*;
use eventsourcing::system::{
    Follower, MultiThreadedRunner, NotificationLogReader, PolicyResult, Process, ProcessingEvent,
    SingleThreadedRunner, System, SystemError, UpstreamEvent,
};
use system_common::{
    builder, persistent_stores, stores, temp_dir, Backend, Counter, Counters, Store, World,
    WorldEvent, Worlds,
};

const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Chains, fan-out and fan-in: Worlds → Echoes → Tally, Worlds → Tally.

/// What Echoes heard in a world: one echo per world, with the world's id.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Echo {
    heard: Vec<String>,
}

#[aggregate]
impl Echo {
    #[created]
    pub fn create(id: Uuid) -> Self {
        Echo { heard: Vec::new() }
    }

    #[event("Echoed")]
    pub fn echo(&mut self, what: String) {
        self.heard.push(what);
    }
}

/// A process application in the middle of the chain: follows Worlds, and is followed by Tally.
pub struct Echoes {
    app: Application,
}

impl AsRef<Application> for Echoes {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Echoes {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        if let WorldEvent::SomethingHappened { what } = event.payload {
            let id = event.originator_id;
            let mut echo = processing.get_or_else(id, || Echo::create(id))?;
            echo.echo(what);
            processing.save(&mut echo)?;
        }
        Ok(())
    }
}

/// The events Tally hears: of worlds (from Worlds) and of echoes (from Echoes).
pub enum Heard {
    World(DomainEvent<WorldEvent>),
    Echo(DomainEvent<EchoEvent>),
}

impl UpstreamEvent for Heard {
    fn decode<T: Transcoder>(
        mapper: &Mapper<T>,
        notification: &Notification,
    ) -> Result<Option<Self>, PersistenceError> {
        if let Some(world) = DomainEvent::decode(mapper, notification)? {
            return Ok(Some(Heard::World(world)));
        }
        Ok(DomainEvent::decode(mapper, notification)?.map(Heard::Echo))
    }
}

/// The end of the chain, fanned into from Worlds and Echoes: counts "LEADER/what".
pub struct Tally {
    app: Application,
}

impl AsRef<Application> for Tally {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Tally {
    type Upstream = Heard;

    fn policy(&self, event: Heard, processing: &mut ProcessingEvent<'_>) -> PolicyResult {
        let (expected_leader, what) = match event {
            Heard::World(event) => match event.payload {
                WorldEvent::SomethingHappened { what } => ("Worlds", what),
                WorldEvent::Created => return Ok(()),
            },
            Heard::Echo(event) => match event.payload {
                EchoEvent::Echoed { what } => ("Echoes", what),
                EchoEvent::Created => return Ok(()),
            },
        };
        if processing.leader_name() != expected_leader {
            return Err(format!(
                "an event of {expected_leader} came from {}",
                processing.leader_name()
            )
            .into());
        }
        let name = format!("{expected_leader}/{what}");
        let id = Counter::create_id(&name);
        let mut counter = processing.get_or_else(id, || Counter::create(name))?;
        counter.incremented();
        processing.save(&mut counter)?;
        Ok(())
    }
}

impl Tally {
    fn count(&self, name: &str) -> u64 {
        match self
            .app
            .repository()
            .get::<Counter>(Counter::create_id(name))
        {
            Ok(counter) => counter.count,
            Err(e) if e.is_not_found() => 0,
            Err(e) => panic!("{e}"),
        }
    }

    /// (Worlds/what, Echoes/what) for each of dinosaurs, trucks, internet.
    fn counts(&self) -> [(u64, u64); 3] {
        ["dinosaurs", "trucks", "internet"].map(|what| {
            (
                self.count(&format!("Worlds/{what}")),
                self.count(&format!("Echoes/{what}")),
            )
        })
    }
}

struct Chain {
    worlds: Arc<Worlds>,
    echoes: Arc<Echoes>,
    tally: Arc<Tally>,
}

impl Chain {
    fn new(store: &Store) -> (Self, System) {
        let chain = Chain {
            worlds: Arc::new(Worlds::new(store.builder("Worlds"))),
            echoes: Arc::new(Echoes {
                app: store.builder("Echoes").build().unwrap(),
            }),
            tally: Arc::new(Tally {
                app: store.builder("Tally").build().unwrap(),
            }),
        };
        // The pipes are not given in the order events flow (B → C before A → B), which must not
        // matter to the runners.
        let system = System::new()
            .pipe(&chain.echoes, &chain.tally)
            .pipe(&chain.worlds, &chain.echoes)
            .pipe(&chain.worlds, &chain.tally);
        (chain, system)
    }

    fn assert_caught_up(&self) {
        let worlds_head = self.worlds.max_notification_id();
        let echoes_head = self.echoes.app.recorder().max_notification_id().unwrap();
        let tracked =
            |app: &Application, leader: &str| app.recorder().max_tracking_id(leader).unwrap();
        assert_eq!(tracked(&self.echoes.app, "Worlds"), worlds_head);
        assert_eq!(tracked(&self.tally.app, "Worlds"), worlds_head);
        assert_eq!(tracked(&self.tally.app, "Echoes"), echoes_head);
        // Echoes echoed the 6 things that happened, plus a created event per world.
        assert_eq!(echoes_head, 6 + 3);
    }
}

#[test]
fn chain_fan_out_and_fan_in_single_threaded() {
    for store in stores("chain-single") {
        let (chain, system) = Chain::new(&store);
        assert_eq!(
            system.edges(),
            [
                ("Echoes".to_string(), "Tally".to_string()),
                ("Worlds".to_string(), "Echoes".to_string()),
                ("Worlds".to_string(), "Tally".to_string()),
            ]
        );
        let runner = SingleThreadedRunner::start(system).unwrap();
        let worlds = &chain.worlds;

        let w1 = worlds.create_world();
        let w2 = worlds.create_world();
        let w3 = worlds.create_world();
        assert_eq!(chain.tally.counts(), [(0, 0); 3]);

        // Synchronous: when the leader's save returns, both the event and its echo are counted.
        worlds.make_it_so(w1, "dinosaurs");
        assert_eq!(chain.tally.counts(), [(1, 1), (0, 0), (0, 0)]);
        worlds.make_it_so(w2, "dinosaurs");
        worlds.make_it_so(w3, "dinosaurs");
        assert_eq!(chain.tally.counts(), [(3, 3), (0, 0), (0, 0)]);
        worlds.make_it_so(w1, "trucks");
        worlds.make_it_so(w2, "trucks");
        assert_eq!(chain.tally.counts(), [(3, 3), (2, 2), (0, 0)]);
        worlds.make_it_so(w1, "internet");
        assert_eq!(chain.tally.counts(), [(3, 3), (2, 2), (1, 1)]);

        let echo: Echo = chain.echoes.app.repository().get(w1).unwrap();
        assert_eq!(echo.heard, ["dinosaurs", "trucks", "internet"]);
        chain.assert_caught_up();
        assert!(runner.caught_up().unwrap());
        runner.stop().unwrap();
    }
}

#[test]
fn chain_fan_out_and_fan_in_multi_threaded() {
    for store in stores("chain-multi") {
        let (chain, system) = Chain::new(&store);
        let runner = MultiThreadedRunner::start(system).unwrap();
        let worlds = &chain.worlds;

        let w1 = worlds.create_world();
        let w2 = worlds.create_world();
        let w3 = worlds.create_world();
        for w in [w1, w2, w3] {
            worlds.make_it_so(w, "dinosaurs");
        }
        for w in [w1, w2] {
            worlds.make_it_so(w, "trucks");
        }
        worlds.make_it_so(w1, "internet");
        runner.wait_until_caught_up(TIMEOUT).unwrap();
        assert_eq!(chain.tally.counts(), [(3, 3), (2, 2), (1, 1)]);
        chain.assert_caught_up();
        runner.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Skipping what a policy does not handle.

#[test]
fn events_of_types_a_policy_does_not_handle_are_skipped_but_tracked() {
    for store in stores("skipped") {
        let worlds = Arc::new(Worlds::new(store.builder("Worlds")));
        let counters = Arc::new(Counters::new(store.builder("Counters")));

        // Before the runner starts: only notes. Catching up processes them all (batches of 3
        // with nothing in them the policy handles), and records the position.
        for i in 0..5 {
            worlds.write_note(&format!("note {i}"));
        }
        let system = System::new().batch_size(3).pipe(&worlds, &counters);
        let runner = SingleThreadedRunner::start(system).unwrap();
        assert_eq!(counters.tracked("Worlds"), 5);
        assert_eq!(counters.calls(), 0);
        assert_eq!(counters.app.recorder().max_notification_id().unwrap(), 0);

        // Interleaved, ending with notes.
        let w = worlds.create_world(); // 6
        worlds.write_note("a"); // 7
        worlds.make_it_so(w, "dinosaurs"); // 8
        for text in ["b", "c", "d", "e"] {
            worlds.write_note(text); // 9..=12
        }
        assert_eq!(worlds.max_notification_id(), 12);
        assert_eq!(counters.tracked("Worlds"), 12);
        // The policy saw the two world events (created, something happened) and nothing else.
        assert_eq!(counters.calls(), 2);
        assert_eq!(counters.get_count("dinosaurs"), 1);
        // The counter's two events are all the follower recorded.
        assert_eq!(counters.app.recorder().max_notification_id().unwrap(), 2);
        runner.stop().unwrap();

        // The same log, followed directly: every notification counts as processed.
        let fresh = Arc::new(Counters::new(store.builder("Fresh")));
        let follower = Follower::new(Arc::clone(&fresh));
        follower.follow_application(&worlds.app, 4);
        assert_eq!(follower.pull_and_process("Worlds").unwrap(), 12);
        assert_eq!(follower.pull_and_process("Worlds").unwrap(), 0);
        assert_eq!(fresh.tracked("Worlds"), 12);
        assert_eq!(fresh.calls(), 2);
        assert_eq!(fresh.get_count("dinosaurs"), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Policy errors: surfaced by the runner, and the notification processed again once fixed.

fn expect_policy_error(result: Result<(), SystemError>) -> (String, String, u64, String) {
    match result {
        Err(SystemError::Policy {
            follower,
            leader,
            notification_id,
            source,
        }) => (follower, leader, notification_id, source.to_string()),
        other => panic!("expected a policy error, got {other:?}"),
    }
}

#[test]
fn policy_error_single_threaded_runner() {
    for store in stores("policy-error-single") {
        let worlds = Arc::new(Worlds::new(store.builder("Worlds")));
        let counters = Arc::new(Counters::new(store.builder("Counters")));
        counters.refuse("forbidden");
        let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();

        let w = worlds.create_world();
        worlds.make_it_so(w, "dinosaurs");
        runner.check().unwrap();

        // The leader's save succeeds; the follower's error waits for check().
        worlds.make_it_so(w, "forbidden");
        let forbidden_id = worlds.max_notification_id();
        let (follower, leader, notification_id, message) = expect_policy_error(runner.check());
        assert_eq!((follower.as_str(), leader.as_str()), ("Counters", "Worlds"));
        assert_eq!(notification_id, forbidden_id);
        assert_eq!(message, "refusing to count forbidden");
        runner.check().unwrap(); // taken
        assert_eq!(counters.tracked("Worlds"), forbidden_id - 1);
        assert_eq!(counters.get_count("dinosaurs"), 1);

        // Until fixed, the failing notification holds back the ones after it.
        worlds.make_it_so(w, "trucks");
        let (_, _, notification_id, _) = expect_policy_error(runner.check());
        assert_eq!(notification_id, forbidden_id);
        assert_eq!(counters.get_count("trucks"), 0);
        assert_eq!(counters.tracked("Worlds"), forbidden_id - 1);
        assert!(!runner.caught_up().unwrap());

        // Fixed: processing again counts each exactly once.
        counters.allow_all();
        runner.process_all().unwrap();
        assert_eq!(counters.get_count("dinosaurs"), 1);
        assert_eq!(counters.get_count("forbidden"), 1);
        assert_eq!(counters.get_count("trucks"), 1);
        assert_eq!(counters.tracked("Worlds"), worlds.max_notification_id());
        assert!(runner.caught_up().unwrap());

        // An error nobody checked is returned by stop().
        counters.refuse("internet");
        worlds.make_it_so(w, "internet");
        let (_, _, notification_id, _) = expect_policy_error(runner.stop());
        assert_eq!(notification_id, worlds.max_notification_id());
        assert_eq!(counters.get_count("internet"), 0);
    }
}

#[test]
fn policy_error_multi_threaded_runner() {
    for store in stores("policy-error-multi") {
        let worlds = Arc::new(Worlds::new(store.builder("Worlds")));
        let counters = Arc::new(Counters::new(store.builder("Counters")));
        counters.refuse("forbidden");
        // Saved before the runner starts, so that one prompt (the start's) meets the error:
        // errors of earlier prompts could otherwise still be arriving after the fix below.
        let w = worlds.create_world();
        worlds.make_it_so(w, "dinosaurs");
        worlds.make_it_so(w, "forbidden");
        let forbidden_id = worlds.max_notification_id();
        worlds.make_it_so(w, "trucks");
        let runner = MultiThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();

        // Waiting returns the error.
        let (follower, leader, notification_id, message) =
            expect_policy_error(runner.wait_until_caught_up(TIMEOUT));
        assert_eq!((follower.as_str(), leader.as_str()), ("Counters", "Worlds"));
        assert_eq!(notification_id, forbidden_id);
        assert_eq!(message, "refusing to count forbidden");
        assert_eq!(counters.tracked("Worlds"), forbidden_id - 1);
        assert_eq!(counters.get_count("dinosaurs"), 1);
        assert_eq!(counters.get_count("trucks"), 0);

        // Fixed, and prompted again: everything is counted once.
        counters.allow_all();
        runner.prompt_all();
        runner.wait_until_caught_up(TIMEOUT).unwrap();
        assert_eq!(counters.get_count("dinosaurs"), 1);
        assert_eq!(counters.get_count("forbidden"), 1);
        assert_eq!(counters.get_count("trucks"), 1);

        // A new save also prompts a retry.
        counters.refuse("internet");
        worlds.make_it_so(w, "internet");
        let (_, _, notification_id, _) = expect_policy_error(runner.wait_until_caught_up(TIMEOUT));
        let internet_id = notification_id;
        counters.allow_all();
        worlds.make_it_so(w, "dinosaurs");
        runner.wait_until_caught_up(TIMEOUT).unwrap();
        assert_eq!(counters.get_count("internet"), 1);
        assert_eq!(counters.get_count("dinosaurs"), 2);
        assert!(counters.tracked("Worlds") > internet_id);

        // An error nobody checked is returned by stop(): once the policy has been called on
        // the refused event, its thread records the error before it stops.
        counters.refuse("trucks");
        let calls = counters.calls();
        worlds.make_it_so(w, "trucks");
        let deadline = std::time::Instant::now() + TIMEOUT;
        while counters.calls() == calls {
            assert!(
                std::time::Instant::now() < deadline,
                "the policy was not called"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let (_, _, notification_id, _) = expect_policy_error(runner.stop());
        assert_eq!(notification_id, worlds.max_notification_id());
    }
}

/// The follower records what it processed in a batch before the notification that failed.
#[test]
fn a_failing_notification_in_a_batch_keeps_what_was_processed_before_it() {
    for store in persistent_stores("policy-error-batch") {
        let worlds = Arc::new(Worlds::new(store.builder("Worlds")));
        let counters = Arc::new(Counters::new(store.builder("Counters")));
        let w = worlds.create_world(); // 1
        for what in ["dinosaurs", "trucks", "forbidden", "internet"] {
            worlds.make_it_so(w, what); // 2..=5
        }
        counters.refuse("forbidden");
        let follower = Follower::new(Arc::clone(&counters));
        follower.follow_application(&worlds.app, 100);

        let error = follower.pull_and_process("Worlds").unwrap_err();
        assert!(matches!(
            error,
            SystemError::Policy {
                notification_id: 4,
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            "Counters's policy failed on notification 4 of Worlds: refusing to count forbidden"
        );
        assert_eq!(counters.tracked("Worlds"), 3);
        assert_eq!(counters.get_count("dinosaurs"), 1);
        assert_eq!(counters.get_count("trucks"), 1);

        counters.allow_all();
        assert_eq!(follower.pull_and_process("Worlds").unwrap(), 2);
        assert_eq!(counters.tracked("Worlds"), 5);
        for what in ["dinosaurs", "trucks", "forbidden", "internet"] {
            assert_eq!(counters.get_count(what), 1, "{what}");
        }

        // A leader it does not follow.
        assert!(matches!(
            follower.pull_and_process("Nowhere"),
            Err(SystemError::UnknownLeader { .. })
        ));
    }
}

/// A panicking policy does not take the single-threaded runner down with it: the panic is
/// reported like an error, and processing resumes once the cause is gone.
#[test]
fn a_panicking_policy_is_reported_and_the_single_threaded_runner_carries_on() {
    struct Fragile {
        counters: Counters,
    }
    impl AsRef<Application> for Fragile {
        fn as_ref(&self) -> &Application {
            &self.counters.app
        }
    }
    impl Process for Fragile {
        type Upstream = DomainEvent<WorldEvent>;
        fn policy(
            &self,
            event: DomainEvent<WorldEvent>,
            processing: &mut ProcessingEvent<'_>,
        ) -> PolicyResult {
            if matches!(&event.payload, WorldEvent::SomethingHappened { what } if self.counters.refused.lock().unwrap().contains(what))
            {
                panic!("can't bear it");
            }
            self.counters.policy(event, processing)
        }
    }

    let dir = temp_dir("policy-panic");
    let worlds = Arc::new(Worlds::new(builder("Worlds", Backend::Memory, &dir)));
    let fragile = Arc::new(Fragile {
        counters: Counters::new(builder("Fragile", Backend::Memory, &dir)),
    });
    fragile.counters.refuse("spiders");
    let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &fragile)).unwrap();
    let w = worlds.create_world();
    worlds.make_it_so(w, "spiders"); // the leader's save returns
    match runner.check() {
        Err(SystemError::ThreadPanicked { follower, message }) => {
            assert_eq!(follower, "Fragile");
            assert_eq!(message, "can't bear it");
        }
        other => panic!("expected a panic to be reported, got {other:?}"),
    }
    fragile.counters.allow_all();
    worlds.make_it_so(w, "dinosaurs");
    runner.check().unwrap();
    assert_eq!(fragile.counters.get_count("spiders"), 1);
    assert_eq!(fragile.counters.get_count("dinosaurs"), 1);
    runner.stop().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Restarting: new application objects over the same SQLite files, or PostgreSQL tables.

#[test]
fn a_restarted_follower_resumes_from_its_tracked_position() {
    for store in persistent_stores("restart") {
        let worlds_builder = || store.builder("Worlds");
        let counters_builder = || store.builder("Counters");

        // First run.
        let worlds = Arc::new(Worlds::new(worlds_builder()));
        let counters = Arc::new(Counters::new(counters_builder()));
        let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();
        let w = worlds.create_world();
        for what in ["dinosaurs", "trucks", "dinosaurs"] {
            worlds.make_it_so(w, what);
        }
        assert_eq!(counters.calls(), 4);
        assert_eq!(counters.tracked("Worlds"), 4);
        runner.stop().unwrap();
        drop((worlds, counters));

        // The follower is down while the leader saves more.
        let worlds = Arc::new(Worlds::new(worlds_builder()));
        for what in ["internet", "trucks"] {
            worlds.make_it_so(w, what);
        }
        let w2 = worlds.create_world();
        worlds.make_it_so(w2, "dinosaurs");
        drop(worlds);

        // Second run, multi-threaded, over new objects: only the 4 new events are processed.
        let worlds = Arc::new(Worlds::new(worlds_builder()));
        let counters = Arc::new(Counters::new(counters_builder()));
        assert_eq!(counters.tracked("Worlds"), 4);
        let runner = MultiThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();
        runner.wait_until_caught_up(TIMEOUT).unwrap();
        assert_eq!(counters.calls(), 4);
        assert_eq!(counters.tracked("Worlds"), 8);
        assert_eq!(counters.get_count("dinosaurs"), 3);
        assert_eq!(counters.get_count("trucks"), 2);
        assert_eq!(counters.get_count("internet"), 1);
        runner.stop().unwrap();
        drop((worlds, counters));

        // Third run with nothing new: nothing is processed again.
        let worlds = Arc::new(Worlds::new(worlds_builder()));
        let counters = Arc::new(Counters::new(counters_builder()));
        let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();
        assert_eq!(counters.calls(), 0);
        assert_eq!(counters.get_count("dinosaurs"), 3);
        worlds.make_it_so(w2, "trucks");
        assert_eq!(counters.calls(), 1);
        assert_eq!(counters.get_count("trucks"), 3);
        runner.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The multi-threaded runner under concurrent saves.

#[test]
fn multi_threaded_runner_under_concurrent_saves_from_several_threads() {
    const THREADS: usize = 4;
    const SAVES: usize = 100;
    for store in stores("concurrent") {
        // Two leaders, fanned into one follower, each saved to by two threads at once.
        let leaders = [
            Arc::new(Worlds::new(store.builder("WorldsA"))),
            Arc::new(Worlds::new(store.builder("WorldsB"))),
        ];
        let counters = Arc::new(Counters::new(store.builder("Counters")));
        let system = System::new()
            .batch_size(7)
            .pipe(&leaders[0], &counters)
            .pipe(&leaders[1], &counters);
        let runner = MultiThreadedRunner::start(system).unwrap();

        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let leader = Arc::clone(&leaders[t % 2]);
                scope.spawn(move || {
                    let w = leader.create_world();
                    for i in 0..SAVES {
                        leader.make_it_so(w, &format!("thread {t}"));
                        if i % 10 == 0 {
                            leader.make_it_so(w, "tens");
                        }
                    }
                });
            }
        });
        runner.wait_until_caught_up(TIMEOUT).unwrap();
        for t in 0..THREADS {
            assert_eq!(counters.get_count(&format!("thread {t}")), SAVES as u64);
        }
        assert_eq!(counters.get_count("tens"), (THREADS * SAVES / 10) as u64);
        let per_leader = (THREADS / 2 * (1 + SAVES + SAVES / 10)) as u64;
        for (leader, name) in leaders.iter().zip(["WorldsA", "WorldsB"]) {
            assert_eq!(leader.max_notification_id(), per_leader);
            assert_eq!(counters.tracked(name), per_leader);
        }
        assert_eq!(counters.calls(), 2 * per_leader);
        runner.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Gaps in notification ids (as PostgreSQL leaves when an insert is rolled back).

/// An application recorder whose notification ids have gaps.
struct GappyRecorder {
    notifications: Mutex<BTreeMap<u64, StoredEvent>>,
}

impl AggregateRecorder for GappyRecorder {
    fn insert_events(&self, _events: &[StoredEvent]) -> Result<(), PersistenceError> {
        unreachable!("the test inserts notifications directly")
    }

    fn select_events(
        &self,
        originator_id: Uuid,
        query: &EventQuery,
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        Ok(self
            .notifications
            .lock()
            .unwrap()
            .values()
            .filter(|e| e.originator_id == originator_id && query.includes(e.originator_version))
            .cloned()
            .collect())
    }
}

impl ApplicationRecorder for GappyRecorder {
    fn select_notifications(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        Ok(self
            .notifications
            .lock()
            .unwrap()
            .range(start..)
            .take(limit)
            .map(|(&id, stored)| Notification {
                id,
                stored: stored.clone(),
            })
            .collect())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        Ok(self
            .notifications
            .lock()
            .unwrap()
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0))
    }
}

const GAPPY_IDS: [u64; 19] = [
    1, 2, 3, 7, 8, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 45, 100,
];

/// World events stored under the ids of [`GAPPY_IDS`]: one world, created, then things
/// happening.
fn gappy_recorder(mapper: &Mapper) -> Arc<GappyRecorder> {
    let mut world = World::create();
    for i in 1..GAPPY_IDS.len() {
        world.make_it_so(format!("thing {i}"));
    }
    let notifications = GAPPY_IDS
        .iter()
        .zip(world.collect_events())
        .map(|(&id, event)| (id, mapper.from_domain_event(&event).unwrap()))
        .collect();
    Arc::new(GappyRecorder {
        notifications: Mutex::new(notifications),
    })
}

fn ids(notifications: impl Iterator<Item = Result<Notification, ApplicationError>>) -> Vec<u64> {
    notifications.map(|n| n.unwrap().id).collect()
}

#[test]
fn notification_log_reader_select_and_read_over_gaps() {
    let mapper = Mapper::default();
    let recorder = gappy_recorder(&mapper);
    let log = Arc::new(LocalNotificationLog::new(recorder, 3));

    // The sections: what "first,last" asked for, as it is.
    let section = log.section("1,3").unwrap();
    assert_eq!(section.id.as_deref(), Some("1,3"));
    assert_eq!(section.next_id.as_deref(), Some("4,6"));
    let section = log.section("4,6").unwrap();
    assert_eq!(section.id.as_deref(), Some("7,20"));
    assert_eq!(section.next_id.as_deref(), Some("21,23"));
    let section = log.section("32,34").unwrap();
    assert_eq!(section.id.as_deref(), Some("45,100"));
    assert_eq!(section.next_id, None);
    let section = log.section("101,103").unwrap();
    assert_eq!(
        (section.id, section.items.len(), section.next_id),
        (None, 0, None)
    );

    for section_size in [1, 2, 3] {
        let reader =
            NotificationLogReader::new(Arc::clone(&log) as Arc<dyn NotificationLog>, section_size);
        assert_eq!(
            ids(reader.select(1)),
            GAPPY_IDS,
            "select, pages of {section_size}"
        );
        assert_eq!(
            ids(reader.read(1)),
            GAPPY_IDS,
            "read, sections of {section_size}"
        );
        for start in [0, 4, 9, 31, 32, 46, 100, 101] {
            let expected: Vec<u64> = GAPPY_IDS
                .iter()
                .copied()
                .filter(|&id| id >= start)
                .collect();
            assert_eq!(ids(reader.select(start)), expected, "select from {start}");
            // Sections start at 1: a section "0,N" holds ids 1..=N, so that reading "0,0"
            // (from 0 in sections of 1) finds nothing, as in the reference.
            assert_eq!(
                ids(reader.read(start.max(1))),
                expected,
                "read from {start}"
            );
        }
    }
    // A reader's pages bigger than the log's sections: reading sections still works (the log
    // answers with sections of its own size, and their next ids), but selecting more than a
    // section is refused, as the reference's log refuses it.
    let reader = NotificationLogReader::new(log, NotificationLogReader::DEFAULT_SECTION_SIZE);
    assert_eq!(ids(reader.read(1)), GAPPY_IDS);
    assert!(matches!(
        reader.select(1).next(),
        Some(Err(ApplicationError::LimitTooLarge {
            limit: 10,
            section_size: 3
        }))
    ));
}

/// Counts what happened in one world, and the notification ids it was given.
struct Witness {
    app: Application,
    seen: Mutex<Vec<u64>>,
    calls: AtomicU64,
}

impl AsRef<Application> for Witness {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Witness {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(processing.notification_id());
        if let WorldEvent::SomethingHappened { what } = event.payload {
            let mut counter = Counter::create(what);
            counter.incremented();
            processing.save(&mut counter)?;
        }
        Ok(())
    }
}

#[test]
fn a_follower_processes_a_log_with_gaps_and_tracks_the_last_id() {
    let mapper = Arc::new(Mapper::default());
    for batch_size in [1, 3, 4, 100] {
        let recorder = gappy_recorder(&mapper);
        let witness = Arc::new(Witness {
            app: Application::builder("Witness")
                .without_process_env()
                .memory()
                .build()
                .unwrap(),
            seen: Mutex::new(Vec::new()),
            calls: AtomicU64::new(0),
        });
        let follower = Follower::new(Arc::clone(&witness));
        let log = LocalNotificationLog::new(recorder, batch_size);
        follower.follow("Gappy", Arc::new(log), Arc::clone(&mapper), batch_size);
        assert_eq!(follower.leaders(), ["Gappy"]);
        assert_eq!(follower.pull_and_process("Gappy").unwrap(), GAPPY_IDS.len());
        assert_eq!(*witness.seen.lock().unwrap(), GAPPY_IDS);
        assert_eq!(
            witness.app.recorder().max_tracking_id("Gappy").unwrap(),
            100
        );
        assert_eq!(follower.pull_and_process("Gappy").unwrap(), 0);
        assert_eq!(witness.calls.load(Ordering::SeqCst), GAPPY_IDS.len() as u64);
        // A counter (created + incremented) per thing that happened.
        assert_eq!(
            witness.app.recorder().max_notification_id().unwrap(),
            2 * (GAPPY_IDS.len() as u64 - 1)
        );
    }
}

/// Two follower objects of one process application, over one database, taking turns (as two
/// processes would): each resumes from where the other stopped, nothing is counted twice, and
/// neither reports an error for the other's progress.
#[test]
fn two_followers_of_one_application_take_turns() {
    use eventsourcing::system::Follower;
    let dir = temp_dir("turns");
    let worlds = Worlds::new(builder("Worlds", Backend::Sqlite, &dir));
    let first = Arc::new(Counters::new(builder("Counters", Backend::Sqlite, &dir)));
    let second = Arc::new(Counters::new(builder("Counters", Backend::Sqlite, &dir)));
    let followers = [
        Follower::new(Arc::clone(&first)),
        Follower::new(Arc::clone(&second)),
    ];
    for follower in &followers {
        follower.follow_application(worlds.as_ref(), 3);
    }
    let world = worlds.create_world();
    for round in 0..6 {
        worlds.make_it_so(world, "dinosaurs");
        let processed = followers[round % 2].pull_and_process("Worlds").unwrap();
        assert!(processed >= 1, "round {round}");
    }
    // Each follower, once more: the one whose cached position is stale starts again from the
    // recorded position instead of failing.
    for follower in &followers {
        follower.pull_and_process("Worlds").unwrap();
    }
    assert_eq!(first.get_count("dinosaurs"), 6);
    assert_eq!(second.get_count("dinosaurs"), 6);
    assert_eq!(first.tracked("Worlds"), worlds.max_notification_id());
}

/// A policy error while a starting runner catches up does not lose the runner: `start`
/// succeeds, `check` returns the error, and processing resumes once the cause is gone.
#[test]
fn an_error_while_catching_up_is_kept_for_check() {
    let dir = temp_dir("catchup");
    let worlds = Arc::new(Worlds::new(builder("Worlds", Backend::Sqlite, &dir)));
    let counters = Arc::new(Counters::new(builder("Counters", Backend::Sqlite, &dir)));
    let world = worlds.create_world();
    worlds.make_it_so(world, "trucks");
    counters.refuse("trucks");
    let runner = SingleThreadedRunner::start(System::new().pipe(&worlds, &counters)).unwrap();
    assert!(matches!(runner.check(), Err(SystemError::Policy { .. })));
    assert!(runner.check().is_ok(), "an error is returned once");
    assert_eq!(counters.get_count("trucks"), 0);
    counters.allow_all();
    runner.process_all().unwrap();
    assert_eq!(counters.get_count("trucks"), 1);
    runner.stop().unwrap();
}
