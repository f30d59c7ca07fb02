//! Subscriptions to an application's events, blocking and async, on every backend: every event
//! exactly once and in notification order under concurrent writers; topic filters; stopping;
//! bad positions; and, for an SQLite file, a subscriber that sees what another process
//! commits.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::application::{Application, ApplicationError};
use eventsourcing::prelude::*;
use eventsourcing_tests::{backend_tests, TempDir};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dog {
    tricks: Vec<String>,
}

#[aggregate(module = "subscriptions")]
impl Dog {
    #[created("Registered")]
    pub fn register() -> Self {
        Dog { tricks: Vec::new() }
    }

    #[event("TrickAdded")]
    pub fn add_trick(&mut self, trick: String) {
        self.tricks.push(trick);
    }
}

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cat {}

#[aggregate(module = "subscriptions")]
impl Cat {
    #[created("Adopted")]
    pub fn adopt() -> Self {
        Cat {}
    }
}

const WRITERS: usize = 4;
const SAVES_PER_WRITER: usize = 150;

/// Saves `SAVES_PER_WRITER` new dogs (one event each) from each of `WRITERS` threads.
fn write_concurrently(app: &Arc<Application>) -> Vec<std::thread::JoinHandle<()>> {
    (0..WRITERS)
        .map(|_| {
            let app = Arc::clone(app);
            std::thread::spawn(move || {
                for _ in 0..SAVES_PER_WRITER {
                    let mut dog = Dog::register();
                    app.save(&mut dog).expect("saved");
                }
            })
        })
        .collect()
}

/// Fails the test rather than hanging if a subscription stops yielding.
fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

backend_tests! {
    /// A blocking subscription, started before 4 threads write: every event once, in order.
    fn blocking_subscription_under_concurrent_writers(backend) -> Result<(), ApplicationError> {
        let app = Arc::new(backend.builder("Subscribed").build()?);
        let mut before = Dog::register();
        before.add_trick("sit".into());
        app.save(&mut before)?;

        let subscription = app.subscribe::<DomainEvent<DogEvent>>(0)?;
        let stopper = subscription.stopper();
        let total = 2 + WRITERS * SAVES_PER_WRITER;
        let reader = std::thread::spawn(move || {
            let deadline = deadline();
            let mut seen = Vec::new();
            for item in subscription {
                let (event, tracking) = item.expect("decoded");
                seen.push((tracking.notification_id, event.originator_id, event.originator_version));
                if seen.len() == total || Instant::now() > deadline {
                    break;
                }
            }
            seen
        });
        for writer in write_concurrently(&app) {
            writer.join().expect("the writer ran");
        }
        let watchdog = {
            let stopper = stopper.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(60));
                stopper.stop();
            })
        };
        let seen = reader.join().expect("the reader ran");
        drop(watchdog);
        assert_eq!(seen.len(), total, "every event, once");
        let ids: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in notification order");
        let stored: Vec<u64> = app
            .recorder()
            .select_notifications(1, total)?
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, stored, "exactly the stored notifications");
        let distinct: BTreeSet<_> = seen.iter().map(|s| (s.1, s.2)).collect();
        assert_eq!(distinct.len(), total);
        Ok(())
    }

    /// An async subscription (a Stream), started before 4 tasks write: every event once, in
    /// order.
    fn async_subscription_under_concurrent_writers(backend) -> Result<(), ApplicationError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let app = Arc::new(backend.builder("AsyncSubscribed").build_async().await?);
            let mut subscription = app.subscribe::<DomainEvent<DogEvent>>(0).await?;
            let total = WRITERS * SAVES_PER_WRITER;
            let writers: Vec<_> = (0..WRITERS)
                .map(|_| {
                    let app = Arc::clone(&app);
                    tokio::spawn(async move {
                        for _ in 0..SAVES_PER_WRITER {
                            let mut dog = Dog::register();
                            app.save(&mut dog).await?;
                        }
                        Ok::<(), ApplicationError>(())
                    })
                })
                .collect();
            let mut ids = Vec::new();
            while ids.len() < total {
                let next = tokio::time::timeout(Duration::from_secs(60), subscription.next()).await;
                let (_, tracking) = next.expect("no hang").expect("not stopped")?;
                ids.push(tracking.notification_id);
            }
            for writer in writers {
                writer.await.expect("the writer ran")?;
            }
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "in notification order");
            let stored: Vec<u64> = app
                .log()
                .recorder()
                .select_notifications(1, total)
                .await?
                .iter()
                .map(|n| n.id)
                .collect();
            assert_eq!(ids, stored, "exactly the stored notifications");
            // Stopping ends a waiting stream.
            let stopper = subscription.stopper();
            let stopping = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                stopper.stop();
            });
            let ended = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await;
            assert!(matches!(ended, Ok(None)), "the stream ends when stopped");
            stopping.await.expect("stopped");
            Ok(())
        })
    }

    /// Subscriptions to one type read only its topics; other events are not yielded.
    fn topic_filters(backend) -> Result<(), ApplicationError> {
        let app = backend.builder("Filtered").build()?;
        for _ in 0..3 {
            let mut cat = Cat::adopt();
            let mut dog = Dog::register();
            app.save((&mut cat, &mut dog))?;
        }
        let mut dogs = app.subscribe::<DomainEvent<DogEvent>>(0)?;
        let stopper = dogs.stopper();
        let ids: Vec<u64> = dogs
            .by_ref()
            .take(3)
            .map(|item| item.map(|(_, tracking)| tracking.notification_id))
            .collect::<Result<_, _>>()?;
        assert_eq!(ids, [2, 4, 6]);
        stopper.stop();
        assert!(dogs.next().is_none(), "stopped");

        let recorder = app.recorder();
        let cats = recorder.select_notifications_of(1, 10, &["subscriptions:Cat.Adopted".to_string()])?;
        assert_eq!(cats.iter().map(|n| n.id).collect::<Vec<_>>(), [1, 3, 5]);
        let limited = recorder.select_notifications_of(2, 2, &["subscriptions:Cat.Adopted".to_string()])?;
        assert_eq!(limited.iter().map(|n| n.id).collect::<Vec<_>>(), [3, 5]);
        // A topic no event has matches nothing (as in the reference).
        let none = recorder.select_notifications_of(1, 10, &["subscriptions:Cow.Born".to_string()])?;
        assert!(none.is_empty());
        Ok(())
    }

    /// A subscription after a position beyond the end of the log is refused (it would wait for
    /// ids that may never come); one at the end waits, and stops when asked, at once.
    fn bad_positions_and_stopping(backend) -> Result<(), ApplicationError> {
        let app = backend.builder("Positions").build()?;
        let mut dog = Dog::register();
        app.save(&mut dog)?;
        let error = app.subscribe::<DomainEvent<DogEvent>>(5).unwrap_err();
        assert!(error.to_string().contains("the log ends at 1"), "{error}");

        let mut at_end = app.subscribe::<DomainEvent<DogEvent>>(1)?;
        let stopper = at_end.stopper();
        let started = Instant::now();
        let stopping = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            stopper.stop();
        });
        assert!(at_end.next().is_none(), "stopped while waiting");
        assert!(started.elapsed() < Duration::from_secs(5), "stopped promptly");
        stopping.join().expect("stopped");
        Ok(())
    }
}

/// Set in the child process: the SQLite file to write to.
const CHILD_DB: &str = "EVENTSOURCING_TESTS_SUBSCRIPTION_DB";

/// The writer process: saves dogs into the file, some while the parent's subscription waits.
#[test]
fn child_writes_dogs() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return; // Only as the child of `a_subscriber_sees_another_process_commits`.
    };
    let app = Application::builder("CrossProcess")
        .without_process_env()
        .sqlite(&path)
        .build()
        .expect("the child's application");
    for _ in 0..20 {
        let mut dog = Dog::register();
        app.save(&mut dog).expect("saved by the child");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SQLite: a subscriber in this process sees what another process commits to the same file
/// (the datastore's watcher notices other connections' commits with `PRAGMA data_version`).
#[test]
fn a_subscriber_sees_another_process_commits() -> Result<(), ApplicationError> {
    let dir = TempDir::new("subscription-cross-process");
    let path = dir.unique_file("db");
    let app = Application::builder("CrossProcess")
        .without_process_env()
        .sqlite(&path)
        .build()?;
    let subscription = app.subscribe::<DomainEvent<DogEvent>>(0)?;
    let stopper = subscription.stopper();
    let child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "child_writes_dogs", "--nocapture"])
        .env(CHILD_DB, &path)
        .status()
        .expect("the child runs");
    assert!(child.success(), "the child wrote");
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        stopper.stop();
    });
    let started = Instant::now();
    let seen: Vec<u64> = subscription
        .take(20)
        .map(|item| item.map(|(_, tracking)| tracking.notification_id))
        .collect::<Result<_, _>>()?;
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(watchdog);

    // And one waiting while the other process writes wakes within the watcher's interval.
    let mut waiting = app.subscribe::<DomainEvent<DogEvent>>(20)?;
    let stopper = waiting.stopper();
    let child = std::thread::spawn({
        let path = path.clone();
        move || {
            Command::new(std::env::current_exe().expect("this test binary"))
                .args(["--exact", "child_writes_dogs"])
                .env(CHILD_DB, &path)
                .status()
                .expect("the child runs")
        }
    });
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        stopper.stop();
    });
    let (_, tracking) = waiting.next().expect("woken by the other process")?;
    assert_eq!(tracking.notification_id, 21);
    assert!(child.join().expect("joined").success());
    drop(watchdog);
    Ok(())
}

/// PostgreSQL: a subscription under 4 concurrent writers while its listener's connection is
/// killed again and again (`pg_terminate_backend`): every event once, in order (the listener
/// reconnects, and the subscription reads by position).
#[test]
fn postgres_subscription_survives_a_killed_listener() -> Result<(), ApplicationError> {
    let Some(schema) = eventsourcing_tests::pg::TempSchema::new("listenerkilled") else {
        return eventsourcing_tests::pg::Skipped::skipped();
    };
    let app = Arc::new(
        Application::builder("ListenerKilled")
            .without_process_env()
            .envs(schema.env())
            .build()?,
    );
    let subscription = app.subscribe::<DomainEvent<DogEvent>>(0)?;
    let total = WRITERS * SAVES_PER_WRITER;
    let reader = std::thread::spawn(move || {
        let deadline = deadline();
        let mut ids = Vec::new();
        for item in subscription {
            ids.push(item.expect("decoded").1.notification_id);
            if ids.len() == total || Instant::now() > deadline {
                break;
            }
        }
        ids
    });
    let killer = std::thread::spawn(|| {
        let mut client = eventsourcing_tests::pg::connect().expect("a connection");
        let mut killed = 0;
        for _ in 0..8 {
            std::thread::sleep(Duration::from_millis(40));
            let rows = client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE query = 'LISTEN listenerkilled_events'",
                    &[],
                )
                .expect("terminated");
            killed += rows.len();
        }
        killed
    });
    for writer in write_concurrently(&app) {
        writer.join().expect("the writer ran");
    }
    let killed = killer.join().expect("the killer ran");
    let ids = reader.join().expect("the reader ran");
    assert!(killed > 0, "the listener's connection was killed");
    assert_eq!(
        ids.len(),
        total,
        "every event, once ({killed} listeners killed)"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in notification order");
    let stored: Vec<u64> = app
        .recorder()
        .select_notifications(1, total)?
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, stored);
    Ok(())
}
