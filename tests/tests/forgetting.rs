//! Forgetting personal data with per-aggregate keys (crypto-shredding), in memory, in SQLite and
//! in PostgreSQL: a forgotten aggregate can't be read by any path (repository, log,
//! subscription, follower, a raw read of the events with the application key), others are
//! unaffected, followers that ran before and that start after carry on, rotating the
//! application key keeps everything readable, and a crash can't leave a key without its events
//! or events without their key.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eventsourcing::application::ApplicationError;
use eventsourcing::persistence::{AesCipher, EventQuery, Forgetting, PersistenceError};
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System};
use eventsourcing_tests::backend_tests;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    name: String,
    email: String,
}

#[aggregate(module = "customers")]
impl Customer {
    #[created("Registered")]
    pub fn register(name: String, email: String) -> Self {
        Customer { name, email }
    }

    #[event("EmailChanged")]
    pub fn change_email(&mut self, email: String) {
        self.email = email;
    }
}

fn key() -> String {
    AesCipher::create_key(32).unwrap()
}

/// Alice (three events, a snapshot at version 2) and Bob (two events), saved.
fn alice_and_bob(app: &Application) -> (Customer, Customer) {
    let mut alice = Customer::register("Alice".into(), "alice@example.com".into());
    alice.change_email("alice@example.org".into());
    alice.change_email("a@example.net".into());
    let mut bob = Customer::register("Bob".into(), "bob@example.com".into());
    bob.change_email("bob@example.org".into());
    app.save((&mut alice, &mut bob)).unwrap();
    (alice, bob)
}

backend_tests! {
    fn a_forgotten_aggregate_cannot_be_read_by_any_path(backend) {
        let key = key();
        let app = backend
            .keyed_builder("Customers", &key)
            .zlib_compression()
            .snapshotting_interval::<Customer>(2)
            .build()
            .unwrap();
        let (alice, bob) = alice_and_bob(&app);
        let snapshots = app.snapshots().unwrap();
        assert_eq!(snapshots.get_snapshots(alice.id(), &EventQuery::new()).unwrap().len(), 1);
        let before = app.log().select(1, 10).unwrap();
        assert_eq!(before.len(), 5);
        // A follower (a subscription) that read everything before.
        let mut early = app.subscribe::<DomainEvent<CustomerEvent>>(0).unwrap();
        for _ in 0..5 {
            early.next().unwrap().unwrap();
        }

        assert_eq!(app.forget(alice.id()).unwrap(), Forgetting::Forgotten);

        // The repository, at any version or time.
        let error = app.repository().get::<Customer>(alice.id()).unwrap_err();
        assert!(error.is_forgotten(), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!("aggregate {} was forgotten: its data key was destroyed", alice.id())
        );
        assert!(app.repository().get_at::<Customer>(alice.id(), 1).unwrap_err().is_forgotten());
        assert!(app
            .repository()
            .get_as_of::<Customer>(alice.id(), chrono::Utc::now())
            .unwrap_err()
            .is_forgotten());
        // Its snapshots are gone.
        assert!(snapshots.get_snapshots(alice.id(), &EventQuery::new()).unwrap().is_empty());
        // Bob is untouched.
        assert_eq!(app.repository().get::<Customer>(bob.id()).unwrap(), bob);

        // The log keeps Alice's places, ids, versions and topics, with no state.
        let after = app.log().select(1, 10).unwrap();
        assert_eq!(after.len(), 5);
        for (b, a) in before.iter().zip(&after) {
            assert_eq!((b.id, b.originator_id, b.originator_version, &b.topic),
                       (a.id, a.originator_id, a.originator_version, &a.topic));
            assert_eq!(a.is_forgotten(), a.originator_id == alice.id());
            if a.originator_id == bob.id() {
                assert_eq!(a.state, b.state);
            }
        }
        // The mapper refuses a forgotten notification with the typed error.
        let forgotten = after.iter().find(|n| n.is_forgotten()).unwrap();
        assert!(matches!(
            app.mapper().to_domain_event::<CustomerEvent>(forgotten),
            Err(PersistenceError::Forgotten { originator_id }) if originator_id == alice.id()
        ));

        // A subscription from the start sees Bob's events only, and carries on.
        let mut late = app.subscribe::<DomainEvent<CustomerEvent>>(0).unwrap();
        let mut bob_mut: Customer = app.repository().get(bob.id()).unwrap();
        bob_mut.change_email("b@example.net".into());
        app.save(&mut bob_mut).unwrap();
        let seen: Vec<(Uuid, u64)> = (0..3)
            .map(|_| {
                let (event, _) = late.next().unwrap().unwrap();
                (event.originator_id, event.originator_version)
            })
            .collect();
        assert_eq!(seen, [(bob.id(), 1), (bob.id(), 2), (bob.id(), 3)]);
        // The early one gets Bob's new event next.
        let (event, tracking) = early.next().unwrap().unwrap();
        assert_eq!((event.originator_id, tracking.notification_id), (bob.id(), 6));

        // A raw read of the stored events, with the application key: nothing decrypts.
        let raw = backend.builder("Customers").cipher_key(&key).zlib_compression().build().unwrap();
        let stored = raw.recorder().select_events(alice.id(), &EventQuery::new()).unwrap();
        assert_eq!(stored.len(), 3);
        for event in &stored {
            assert!(!String::from_utf8_lossy(&event.state).contains("alice"));
            assert!(raw.mapper().to_domain_event::<CustomerEvent>(event).is_err());
        }
        // And the key row holds no key any more.
        let rows = app.keyring().unwrap().recorder().select_data_keys(&[alice.id(), bob.id()]).unwrap();
        let rows: HashMap<Uuid, bool> = rows.into_iter().map(|r| (r.originator_id, r.wrapped.is_some())).collect();
        assert_eq!(rows, HashMap::from([(alice.id(), false), (bob.id(), true)]));

        // Another application object over the same store (another process) sees the same.
        let other = backend.keyed_builder("Customers", &key).zlib_compression().build().unwrap();
        assert!(other.repository().get::<Customer>(alice.id()).unwrap_err().is_forgotten());
        assert_eq!(other.repository().get::<Customer>(bob.id()).unwrap().email, "b@example.net");
    }

    fn forgetting_twice_unknown_ids_and_saving_to_a_forgotten_aggregate(backend) {
        let app = backend.keyed_builder("Customers", &key()).build().unwrap();
        let (mut alice, _) = alice_and_bob(&app);
        assert_eq!(app.forget(alice.id()).unwrap(), Forgetting::Forgotten);
        assert_eq!(app.forget(alice.id()).unwrap(), Forgetting::AlreadyForgotten);
        let unknown = Uuid::new_v4();
        assert!(matches!(
            app.forget(unknown),
            Err(ApplicationError::AggregateNotFound { id, version: None }) if id == unknown
        ));

        // A command on an object held from before: refused, nothing stored.
        let stored = app.recorder().max_notification_id().unwrap();
        alice.change_email("again@example.com".into());
        assert!(app.save(&mut alice).unwrap_err().is_forgotten());
        assert_eq!(app.recorder().max_notification_id().unwrap(), stored);

        // Without per-aggregate keys, forgetting is a clear error.
        let plain = backend.builder("Plain").build().unwrap();
        assert!(matches!(plain.forget(alice.id()), Err(ApplicationError::PerAggregateKeysDisabled)));
    }

    fn a_lost_race_to_create_leaves_no_orphan_key(backend) {
        let key = key();
        let app = backend.keyed_builder("Customers", &key).build().unwrap();
        let other = backend.keyed_builder("Customers", &key).build().unwrap();
        let mut mine = Customer::register("Carol".into(), "carol@example.com".into());
        let mut theirs = mine.clone();
        theirs.change_email("carol@example.org".into());
        other.save(&mut theirs).unwrap();
        let error = app.save(&mut mine).unwrap_err();
        assert_eq!(error.conflict(), Some((mine.id(), 1)), "{error:?}");
        // One key, the winner's: the aggregate reads as the winner saved it.
        let rows = app.keyring().unwrap().recorder().select_data_keys(&[mine.id()]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(app.repository().get::<Customer>(mine.id()).unwrap().email, "carol@example.org");
    }

    fn rotating_the_application_key_keeps_everything_readable(backend) {
        let old_key = key();
        let app = backend.keyed_builder("Customers", &old_key).build().unwrap();
        let (alice, bob) = alice_and_bob(&app);
        app.forget(bob.id()).unwrap();
        let before = app.recorder().select_events(alice.id(), &EventQuery::new()).unwrap();

        let new_key = key();
        // One key re-encrypted (Bob's is gone).
        assert_eq!(app.rotate_cipher_key(&new_key).unwrap(), 1);
        assert_eq!(app.repository().get::<Customer>(alice.id()).unwrap(), alice);
        // Events are not rewritten.
        let raw = backend.builder("Customers").build().unwrap();
        let stored = raw.recorder().select_events(alice.id(), &EventQuery::new()).unwrap();
        assert_eq!(stored.len(), before.len());
        // An application with the new key reads; one with the old key fails plainly.
        let renewed = backend.keyed_builder("Customers", &new_key).build().unwrap();
        assert_eq!(renewed.repository().get::<Customer>(alice.id()).unwrap(), alice);
        assert!(renewed.repository().get::<Customer>(bob.id()).unwrap_err().is_forgotten());
        let stale = backend.keyed_builder("Customers", &old_key).build().unwrap();
        let error = stale.repository().get::<Customer>(alice.id()).unwrap_err();
        assert!(error.to_string().contains("can't be decrypted with the application key"), "{error}");
        // New aggregates after rotation.
        let mut dave = Customer::register("Dave".into(), "dave@example.com".into());
        app.save(&mut dave).unwrap();
        assert_eq!(renewed.repository().get::<Customer>(dave.id()).unwrap(), dave);
    }

    fn followers_that_ran_before_and_that_start_after_carry_on(backend) {
        let key = key();
        let customers = Arc::new(Customers {
            app: backend.keyed_builder("Customers", &key).build().unwrap(),
        });
        let early = Arc::new(Mailings {
            app: backend.keyed_builder("Mailings", &key).build().unwrap(),
        });
        let runner = SingleThreadedRunner::start(System::new().pipe(&customers, &early)).unwrap();
        let (alice, bob) = alice_and_bob(&customers.app);
        runner.check().unwrap();
        assert_eq!(early.sent(alice.id()), 3);
        assert_eq!(early.sent(bob.id()), 2);

        customers.app.forget(alice.id()).unwrap();
        // The follower's own aggregate of Alice is hers to forget too.
        early.app.forget(Mailing::create_id(alice.id())).unwrap();
        let mut bob_mut: Customer = customers.app.repository().get(bob.id()).unwrap();
        bob_mut.change_email("b@example.net".into());
        customers.app.save(&mut bob_mut).unwrap();
        assert_eq!(early.sent(bob.id()), 3);
        assert!(early.app.repository().get::<Mailing>(Mailing::create_id(alice.id())).unwrap_err().is_forgotten());
        runner.stop().unwrap();

        // A follower that starts after: all of the log, Alice's events skipped.
        let late = Arc::new(Mailings {
            app: backend.keyed_builder("LateMailings", &key).build().unwrap(),
        });
        let runner = SingleThreadedRunner::start(System::new().pipe(&customers, &late)).unwrap();
        assert_eq!(late.sent(bob.id()), 3);
        assert_eq!(late.sent(alice.id()), 0);
        let last = customers.app.recorder().max_notification_id().unwrap();
        assert!(late.app.recorder().max_tracking_id("Customers").unwrap() > 0);
        assert!(late.app.recorder().max_tracking_id("Customers").unwrap() <= last);
        runner.stop().unwrap();
    }
}

pub struct Customers {
    app: Application,
}

impl AsRef<Application> for Customers {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

/// What a mailing list sent to one customer: an aggregate of the follower, per customer.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mailing {
    sent: u64,
}

#[aggregate(module = "mailings")]
impl Mailing {
    pub fn create_id(customer: Uuid) -> Uuid {
        eventsourcing::domain::url_id(&format!("/mailings/{customer}"))
    }

    #[created]
    pub fn create(customer: Uuid) -> Self {
        let _ = customer;
        Mailing { sent: 0 }
    }

    #[event]
    pub fn sent(&mut self) {
        self.sent += 1;
    }
}

pub struct Mailings {
    app: Application,
}

impl AsRef<Application> for Mailings {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Mailings {
    fn sent(&self, customer: Uuid) -> u64 {
        match self
            .app
            .repository()
            .get::<Mailing>(Mailing::create_id(customer))
        {
            Ok(mailing) => mailing.sent,
            // Nothing sent, or forgotten (in a store shared with another follower).
            Err(e) if e.is_not_found() || e.is_forgotten() => 0,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Process for Mailings {
    type Upstream = DomainEvent<CustomerEvent>;

    fn policy(
        &self,
        event: DomainEvent<CustomerEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let customer = event.originator_id;
        let mut mailing =
            processing.get_or_else(Mailing::create_id(customer), || Mailing::create(customer))?;
        mailing.sent();
        processing.save(&mut mailing)?;
        Ok(())
    }
}

/// The child of the crash tests: saves new customers (two events each) for ever, printing
/// each id once its save returned.
#[test]
#[ignore = "run by the crash tests, in a child process"]
fn crash_child() {
    let Ok(env) = std::env::var("FORGETTING_CRASH_ENV") else {
        return;
    };
    let env: Vec<(String, String)> = serde_json::from_str(&env).unwrap();
    let app = Arc::new(
        Application::builder("Customers")
            .without_process_env()
            .envs(env)
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let app = Arc::clone(&app);
            std::thread::spawn(move || loop {
                let mut customer = Customer::register("C".into(), "c@example.com".into());
                customer.change_email("d@example.com".into());
                app.save(&mut customer).unwrap();
                println!("ok {}", customer.id());
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

/// Kills (SIGKILL) a child saving new aggregates, and checks that every key has its events and
/// every event its key.
fn crash_leaves_no_orphan_key_or_keyless_event(env: Vec<(String, String)>) {
    let key = key();
    let mut env = env;
    env.extend([
        ("CIPHER_KEY".to_string(), key.clone()),
        ("PER_AGGREGATE_KEYS".to_string(), "y".to_string()),
    ]);
    let app = Application::builder("Customers")
        .without_process_env()
        .envs(env.clone())
        .build()
        .unwrap();
    for round in 0..2u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--quiet",
            ])
            .env("FORGETTING_CRASH_ENV", serde_json::to_string(&env).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let reported: Vec<Uuid> = lines
            .join()
            .unwrap()
            .iter()
            .filter_map(|line| line.strip_prefix("ok ")?.parse().ok())
            .collect();
        assert!(
            !reported.is_empty(),
            "round {round}: the child saved nothing"
        );

        // The keys first, then the events: a PostgreSQL transaction the child sent before it
        // was killed may still commit in between (the server runs it whole), and then adds an
        // aggregate and its key after the keys were counted, never a key without its events.
        let keys = app
            .keyring()
            .unwrap()
            .recorder()
            .rewrap_data_keys(&|wrapped| Ok(wrapped.to_vec()))
            .unwrap();
        // The keyed recorder decrypts each event: a keyless event would be an error here.
        let notifications = app.recorder().select_notifications(1, 10_000_000).unwrap();
        let ids: BTreeSet<Uuid> = notifications.iter().map(|n| n.originator_id).collect();
        let ids: Vec<Uuid> = ids.into_iter().collect();
        // Every aggregate with events has a key, ...
        let found = app
            .keyring()
            .unwrap()
            .recorder()
            .select_data_keys(&ids)
            .unwrap();
        assert_eq!(found.len(), ids.len(), "round {round}: keyless events");
        for id in &reported {
            assert_eq!(
                app.repository().get::<Customer>(*id).unwrap().email,
                "d@example.com"
            );
        }
        // ... and no key is without its events: every key counted before has its events.
        assert!(
            keys <= ids.len() as u64,
            "round {round}: {keys} keys, {} aggregates: orphan keys",
            ids.len()
        );
        eprintln!(
            "round {round}: {} saves reported, {} aggregates stored",
            reported.len(),
            ids.len()
        );
    }
}

#[test]
fn sqlite_crash_leaves_no_orphan_key_or_keyless_event() {
    let db = eventsourcing_tests::TempDb::new("forgetting_crash");
    crash_leaves_no_orphan_key_or_keyless_event(vec![
        ("PERSISTENCE_MODULE".into(), "eventsourcing.sqlite".into()),
        (
            "SQLITE_DBNAME".into(),
            db.path().to_string_lossy().into_owned(),
        ),
    ]);
}

#[test]
fn postgres_crash_leaves_no_orphan_key_or_keyless_event() {
    let Some(schema) = eventsourcing_tests::pg::TempSchema::new("forgetting_crash") else {
        return;
    };
    crash_leaves_no_orphan_key_or_keyless_event(schema.env());
}

/// The async face, on SQLite and PostgreSQL: the same forgetting, through an
/// `AsyncApplication` (its keyed recorders run on tokio's blocking pool).
async fn async_face_forgets(builder: eventsourcing::application::ApplicationBuilder) {
    let key = key();
    let app = builder
        .cipher_key(&key)
        .per_aggregate_keys(true)
        .snapshotting_interval::<Customer>(2)
        .build_async()
        .await
        .unwrap();
    let mut alice = Customer::register("Alice".into(), "alice@example.com".into());
    alice.change_email("alice@example.org".into());
    let mut bob = Customer::register("Bob".into(), "bob@example.com".into());
    app.save((&mut alice, &mut bob)).await.unwrap();
    assert_eq!(
        app.repository().get::<Customer>(alice.id()).await.unwrap(),
        alice
    );
    assert_eq!(app.forget(alice.id()).await.unwrap(), Forgetting::Forgotten);
    assert!(app
        .repository()
        .get::<Customer>(alice.id())
        .await
        .unwrap_err()
        .is_forgotten());
    assert_eq!(
        app.repository().get::<Customer>(bob.id()).await.unwrap(),
        bob
    );
    let log = app.log().select(1, 10).await.unwrap();
    assert_eq!(log.iter().filter(|n| n.is_forgotten()).count(), 2);
    assert_eq!(app.rotate_cipher_key(&self::key()).await.unwrap(), 1);
    assert_eq!(
        app.repository().get::<Customer>(bob.id()).await.unwrap(),
        bob
    );
}

fn run_async(backend: Option<eventsourcing_tests::Backend>) {
    // Made outside the runtime: the test schema is created with a blocking client.
    let Some(backend) = backend else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async_face_forgets(backend.builder("Customers")));
}

#[test]
fn async_face_sqlite() {
    run_async(Some(eventsourcing_tests::Backend::sqlite_file(
        "forgetting_async",
    )));
}

#[test]
fn async_face_postgres() {
    run_async(eventsourcing_tests::Backend::postgres("forgetting_async"));
}

/// A follower in another process reads a keyed application's log over HTTP: decrypted by the
/// leader, forgotten events with an empty state, which a mapper with
/// `with_per_aggregate_keys(true)` skips (and one without fails on, plainly).
#[test]
fn a_remote_follower_over_http_skips_forgotten_events() {
    use eventsourcing::interface::http::{HttpNotificationLog, NotificationLogServer};
    use eventsourcing::interface::NotificationLogJsonService;
    use eventsourcing::persistence::{JsonTranscoder, Mapper, ZlibCompressor};
    use eventsourcing::system::{Follower, NotificationLogReader};

    let backend = eventsourcing_tests::Backend::memory();
    let app = backend
        .keyed_builder("Customers", &key())
        .zlib_compression()
        .build()
        .unwrap();
    let (alice, bob) = alice_and_bob(&app);
    app.forget(alice.id()).unwrap();
    let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
    let server = NotificationLogServer::bind("127.0.0.1:0", service).unwrap();
    let url = format!("http://127.0.0.1:{}", server.local_addr().port());
    let follow = |name: &str, keyed: bool| {
        let mailings = Arc::new(Mailings {
            app: Application::builder(name)
                .without_process_env()
                .memory()
                .build()
                .unwrap(),
        });
        let follower = Follower::new(Arc::clone(&mailings));
        let mapper = Mapper::new(JsonTranscoder)
            .with_compressor(ZlibCompressor::default())
            .with_per_aggregate_keys(keyed);
        follower.follow(
            "Customers",
            Arc::new(HttpNotificationLog::connect(&url).unwrap()),
            Arc::new(mapper),
            NotificationLogReader::DEFAULT_SECTION_SIZE,
        );
        let processed = follower.pull_and_process("Customers");
        (mailings, processed)
    };

    let (mailings, processed) = follow("RemoteMailings", true);
    assert_eq!(processed.unwrap(), 5);
    assert_eq!(mailings.sent(bob.id()), 2);
    assert_eq!(mailings.sent(alice.id()), 0);

    let (_, processed) = follow("UnawareMailings", false);
    let error = processed.unwrap_err();
    // The empty state of a forgotten event reaches its decompressor.
    assert!(
        error.to_string().contains("can't be decompressed"),
        "{error}"
    );
    server.stop();
}
