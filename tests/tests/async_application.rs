//! The async face of applications (`AsyncApplication`), on every backend: saving, getting,
//! snapshots and the notification log; many tasks saving to shared aggregates with retries on
//! conflict; saves cancelled at random points; and the blocking API called from runtime
//! threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventsourcing::application::{Application, ApplicationError, AsyncApplication};
use eventsourcing::persistence::EventQuery;
use eventsourcing::prelude::*;
use eventsourcing_tests::{backend_tests, Backend};

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

#[aggregate]
impl Counter {
    pub fn start() -> Self {
        Self::start_with_id(Uuid::new_v4())
    }

    #[created("Started")]
    pub fn start_with_id(id: Uuid) -> Self {
        Counter { count: 0 }
    }

    #[event("Incremented")]
    pub fn increment(&mut self) {
        self.count += 1;
    }
}

/// A multi-thread runtime for a test body (the backends' tests are plain `#[test]`s).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn application(backend: &Backend, name: &str) -> AsyncApplication {
    backend
        .builder(name)
        .snapshotting_interval::<Counter>(5)
        .build_async()
        .await
        .expect("the async application builds")
}

backend_tests! {
    /// Save, get, get_at, get_or_else, snapshots (taken and automatic) and the log, awaited.
    fn saves_gets_snapshots_and_the_log(backend) -> Result<(), ApplicationError> {
        runtime().block_on(async {
            let app = application(backend, "Counters").await;
            let mut counter = Counter::start();
            for _ in 0..6 {
                counter.increment();
            }
            app.save(&mut counter).await?;
            assert!(counter.pending_events().is_empty());
            let id = counter.id();

            let got: Counter = app.repository().get(id).await?;
            assert_eq!((got.count, got.version()), (6, 7));
            let at_3: Counter = app.repository().get_at(id, 3).await?;
            assert_eq!((at_3.count, at_3.version()), (2, 3));
            let missing = app.repository().get::<Counter>(Uuid::new_v4()).await.unwrap_err();
            assert!(missing.is_not_found(), "{missing}");
            let other = Uuid::new_v4();
            let created = app
                .repository()
                .get_or_else(other, || Counter::start_with_id(other))
                .await?;
            assert_eq!(created.version(), 1);

            // Version 5 was due: taken automatically, from the repository, after the save.
            let snapshots = app.snapshot_recorder().expect("snapshotting is on");
            let stored = snapshots.select_events(id, EventQuery::new()).await?;
            assert_eq!(stored.iter().map(|s| s.originator_version).collect::<Vec<_>>(), [5]);
            app.take_snapshot::<Counter>(id, None).await?;
            let stored = snapshots.select_events(id, EventQuery::new()).await?;
            assert_eq!(stored.len(), 2);
            let again: Counter = app.repository().get(id).await?;
            assert_eq!(again, got);

            let section = app.log().section("1,10").await?;
            assert_eq!(section.id.as_deref(), Some("1,7"));
            assert_eq!(section.next_id, None);
            assert_eq!(app.log().select(3, 2).await?.len(), 2);
            let started = section.items[0].topic.to_string();
            let of_topic = app.log().select_of(1, 10, &[started]).await?;
            assert_eq!(of_topic.iter().map(|n| n.id).collect::<Vec<_>>(), [1]);
            assert_eq!(app.log().select_of(2, 10, &[]).await?.len(), 6, "no topics: all");
            assert!(matches!(
                app.log().select(1, 11).await,
                Err(ApplicationError::LimitTooLarge { .. })
            ));
            Ok(())
        })
    }

    /// 1,000 tasks, 10 on each of 100 aggregates, each getting its aggregate, incrementing it
    /// and saving, again after a conflict: every increment is stored exactly once.
    fn concurrent_tasks_with_retries_on_conflict(backend) -> Result<(), ApplicationError> {
        const AGGREGATES: usize = 100;
        const TASKS_PER_AGGREGATE: usize = 10;
        runtime().block_on(async {
            let app = Arc::new(application(backend, "Concurrent").await);
            let mut ids = Vec::new();
            for _ in 0..AGGREGATES {
                let mut counter = Counter::start();
                app.save(&mut counter).await?;
                ids.push(counter.id());
            }
            let conflicts = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for task in 0..AGGREGATES * TASKS_PER_AGGREGATE {
                let (app, id, conflicts) = (Arc::clone(&app), ids[task % AGGREGATES], Arc::clone(&conflicts));
                tasks.push(tokio::spawn(async move {
                    loop {
                        let mut counter: Counter = app.repository().get(id).await?;
                        counter.increment();
                        match app.save(&mut counter).await {
                            Err(error) if error.is_integrity() => {
                                assert!(error.conflict().is_some(), "{error}");
                                conflicts.fetch_add(1, Ordering::Relaxed);
                                tokio::task::yield_now().await;
                            }
                            other => return other,
                        }
                    }
                }));
            }
            for task in tasks {
                task.await.expect("the task ran")?;
            }
            for &id in &ids {
                let counter: Counter = app.repository().get(id).await?;
                assert_eq!(counter.count, TASKS_PER_AGGREGATE as u64);
                assert_eq!(counter.version(), 1 + TASKS_PER_AGGREGATE as u64);
            }
            let total = AGGREGATES * (1 + TASKS_PER_AGGREGATE);
            let mut read = 0;
            let mut start = 1;
            loop {
                let page = app.log().select(start, 10).await?;
                let Some(last) = page.last() else { break };
                start = last.id + 1;
                read += page.len();
            }
            assert_eq!(read, total);
            eprintln!("{}: {} conflicts retried", backend.name(), conflicts.load(Ordering::Relaxed));
            Ok(())
        })
    }

    /// Saves dropped after growing delays (the future cancelled at random points of its
    /// work): each stores all of its events or none, and the application goes on working.
    fn cancelled_saves_store_all_or_nothing(backend) -> Result<(), ApplicationError> {
        runtime().block_on(async {
            let app = application(backend, "Cancelled").await;
            let (mut complete, mut cancelled) = (0, 0);
            for attempt in 0..200u64 {
                let mut counter = Counter::start();
                for _ in 0..4 {
                    counter.increment();
                }
                let id = counter.id();
                let delay = Duration::from_micros(attempt * 15 % 3000);
                match tokio::time::timeout(delay, app.save(&mut counter)).await {
                    Ok(saved) => saved?,
                    Err(_elapsed) => cancelled += 1,
                }
                // Whatever the save got to before it was dropped: all five events or none.
                let mut stored = 0;
                for _ in 0..50 {
                    stored = app.recorder().select_events(id, EventQuery::new()).await?.len();
                    // A dropped save may still be committing on another thread.
                    if stored == 5 || cancelled == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                assert!(stored == 0 || stored == 5, "attempt {attempt}: {stored} of 5 events stored");
                complete += usize::from(stored == 5);
            }
            assert!(complete > 0, "no save completed");
            eprintln!("{}: {cancelled} of 200 saves cancelled, {complete} stored", backend.name());
            // The application still works.
            let mut counter = Counter::start();
            counter.increment();
            app.save(&mut counter).await?;
            let got: Counter = app.repository().get(counter.id()).await?;
            assert_eq!(got.count, 1);
            Ok(())
        })
    }

    /// The blocking API called from inside runtimes, multi-thread and current-thread, in a task
    /// and in `block_on`: it works (or would say what to do), never panics.
    fn the_blocking_api_works_on_runtime_threads(backend) -> Result<(), ApplicationError> {
        let blocking = |app: &Application| -> Result<u64, ApplicationError> {
            let mut counter = Counter::start();
            counter.increment();
            app.save(&mut counter)?;
            let got: Counter = app.repository().get(counter.id())?;
            Ok(got.version())
        };
        let app = Arc::new(backend.builder("Blocking").build()?);
        assert_eq!(blocking(&app)?, 2);

        let multi = runtime();
        assert_eq!(multi.block_on(async { blocking(&app) })?, 2);
        let task_app = Arc::clone(&app);
        let in_task =
            multi.block_on(async { tokio::spawn(async move { blocking(&task_app) }).await });
        assert_eq!(in_task.expect("the task ran")?, 2);

        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        assert_eq!(current.block_on(async { blocking(&app) })?, 2);
        let task_app = Arc::clone(&app);
        let in_task =
            current.block_on(async { tokio::spawn(async move { blocking(&task_app) }).await });
        assert_eq!(in_task.expect("the task ran")?, 2);

        // And an application built inside a runtime.
        let built = current.block_on(async { backend.builder("Blocking").build() })?;
        assert_eq!(blocking(&built)?, 2);
        assert_eq!(built.log().select(1, 10)?.len(), 10);
        Ok(())
    }
}

/// The futures can be spawned (they are `Send + 'static` when they own what they use), and the
/// application can be shared between tasks.
#[test]
fn futures_are_send_and_the_application_is_shared() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    runtime().block_on(async {
        let app = Arc::new(
            Application::builder("Shared")
                .without_process_env()
                .build_async()
                .await
                .expect("builds"),
        );
        assert_send_sync(&*app);
        let handle = tokio::spawn({
            let app = Arc::clone(&app);
            async move {
                let mut counter = Counter::start();
                app.save(&mut counter).await?;
                app.repository().get::<Counter>(counter.id()).await
            }
        });
        let counter = handle.await.expect("ran").expect("saved and got");
        assert_eq!(counter.version(), 1);
    });
}

/// Async recorders given to a blocking build are refused with a message that says what to do.
#[test]
fn blocking_build_refuses_async_recorders() {
    let recorder = Arc::new(eventsourcing::memory::InMemoryRecorder::new());
    let error = Application::builder("Refused")
        .without_process_env()
        .async_recorders(recorder, None)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("build_async()"), "{error}");
}
