//! Projections into views of their own: into a separate SQLite database, exact after the
//! runner's process is killed (SIGKILL) and restarted mid-stream; a failing projection stops its
//! runner and leaves the view as it was; waiting for a position; a view ahead of its
//! application refused.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::domain::BoxError;
use eventsourcing::memory::MemoryView;
use eventsourcing::persistence::Tracking;
use eventsourcing::prelude::*;
use eventsourcing::projection::{Projection, ProjectionError, ProjectionRunner};
use eventsourcing::sqlite::{SqliteDatastore, SqliteView, SqliteViewTransaction};
use eventsourcing_tests::TempDir;

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dog {
    tricks: Vec<String>,
}

#[aggregate(module = "projections")]
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

/// Counts each dog's events in an SQL table (the benchmark's `DogCounts`).
struct DogCounts;

impl Projection for DogCounts {
    type Upstream = DomainEvent<DogEvent>;
    type View = SqliteView;

    fn process(
        &self,
        event: DomainEvent<DogEvent>,
        _tracking: &Tracking,
        view: &mut SqliteViewTransaction<'_>,
    ) -> Result<(), BoxError> {
        view.execute(
            "INSERT INTO dog_event_counts VALUES (?, 1) \
             ON CONFLICT (dog_id) DO UPDATE SET events = events + 1",
            [event.originator_id.to_string()],
        )?;
        Ok(())
    }
}

fn dog_counts_view(path: &std::path::Path) -> Arc<SqliteView> {
    let datastore =
        Arc::new(SqliteDatastore::open(path.to_string_lossy()).expect("the view's file"));
    let view = SqliteView::new(datastore, "dogcounts").expect("the view");
    view.execute_batch(
        "CREATE TABLE IF NOT EXISTS dog_event_counts (dog_id TEXT PRIMARY KEY, events INTEGER)",
    )
    .expect("the view's table");
    Arc::new(view)
}

fn view_counts(view: &SqliteView) -> BTreeMap<String, i64> {
    view.read(|c| {
        let mut statement = c.prepare("SELECT dog_id, events FROM dog_event_counts")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    })
    .expect("read the view")
}

fn application(path: &std::path::Path) -> Application {
    Application::builder("DogSchool")
        .without_process_env()
        .sqlite(path)
        .build()
        .expect("the application")
}

/// Saves `dogs` dogs of `events` events each, one save per dog; returns each dog's count.
fn write_dogs(app: &Application, dogs: usize, events: usize) -> BTreeMap<String, i64> {
    let mut expected = BTreeMap::new();
    for _ in 0..dogs {
        let mut dog = Dog::register();
        for i in 1..events {
            dog.add_trick(format!("trick {i}"));
        }
        app.save(&mut dog).expect("saved");
        expected.insert(dog.id().to_string(), events as i64);
    }
    expected
}

#[test]
fn into_a_separate_database() -> Result<(), ProjectionError> {
    let dir = TempDir::new("projection-separate");
    let app = application(&dir.unique_file("app"));
    let view = dog_counts_view(&dir.unique_file("view"));
    let runner = ProjectionRunner::start(&app, Arc::new(DogCounts), Arc::clone(&view))?;
    let expected = write_dogs(&app, 100, 10);
    let last = app.recorder().max_notification_id()?;
    let started = Instant::now();
    runner.wait(last, Duration::from_secs(60))?;
    assert_eq!(view_counts(&view), expected);
    eprintln!("caught up {:?} after the last save", started.elapsed());
    runner.stop()?;

    // A second runner over the same view goes on from its position: nothing twice.
    let more = write_dogs(&app, 5, 2);
    let runner = ProjectionRunner::start(&app, Arc::new(DogCounts), Arc::clone(&view))?;
    runner.wait(
        app.recorder().max_notification_id()?,
        Duration::from_secs(60),
    )?;
    let mut all = expected;
    all.extend(more);
    assert_eq!(view_counts(&view), all);
    runner.stop()
}

/// Set in the child process: the application's and the view's files.
const CHILD_APP: &str = "EVENTSOURCING_TESTS_PROJECTION_APP";
const CHILD_VIEW: &str = "EVENTSOURCING_TESTS_PROJECTION_VIEW";

/// The projection process: projects until killed.
#[test]
fn child_projects_until_killed() {
    let (Ok(app_path), Ok(view_path)) = (std::env::var(CHILD_APP), std::env::var(CHILD_VIEW))
    else {
        return; // Only as the child of `killed_and_restarted_mid_stream_the_view_is_exact`.
    };
    let app = application(app_path.as_ref());
    let view = dog_counts_view(view_path.as_ref());
    let _runner = ProjectionRunner::start(&app, Arc::new(DogCounts), view).expect("starts");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn spawn_projection(app: &std::path::Path, view: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "child_projects_until_killed", "--nocapture"])
        .env(CHILD_APP, app)
        .env(CHILD_VIEW, view)
        .spawn()
        .expect("the projection process starts")
}

#[test]
fn killed_and_restarted_mid_stream_the_view_is_exact() -> Result<(), ProjectionError> {
    let dir = TempDir::new("projection-killed");
    let (app_path, view_path) = (dir.unique_file("app"), dir.unique_file("view"));
    let app = application(&app_path);
    let view = dog_counts_view(&view_path);
    let mut child = spawn_projection(&app_path, &view_path);
    let mut expected = BTreeMap::new();
    let mut kills = 0;
    for round in 0..12u64 {
        expected.extend(write_dogs(&app, 40, 5));
        std::thread::sleep(Duration::from_millis(5 + round * 13 % 60));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        child = spawn_projection(&app_path, &view_path);
    }
    let last = app.recorder().max_notification_id()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while eventsourcing::persistence::View::max_tracking_id(&*view, "DogSchool")? < last {
        assert!(
            Instant::now() < deadline,
            "the last projection process caught up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(view_counts(&view), expected, "exact after {kills} kills");
    Ok(())
}

/// A projection that fails on a dog's third trick.
struct FailsOnThirdTrick;

impl Projection for FailsOnThirdTrick {
    type Upstream = DomainEvent<DogEvent>;
    type View = MemoryView<Vec<String>>;

    fn process(
        &self,
        event: DomainEvent<DogEvent>,
        _tracking: &Tracking,
        tricks: &mut Vec<String>,
    ) -> Result<(), BoxError> {
        if let DogEvent::TrickAdded { trick } = event.payload {
            if event.originator_version == 4 {
                return Err(format!("can't project {trick}").into());
            }
            tricks.push(trick);
        }
        Ok(())
    }
}

#[test]
fn a_failing_projection_stops_its_runner_and_leaves_the_view_as_it_was() {
    let app = Application::builder("Failing")
        .without_process_env()
        .build()
        .expect("in memory");
    let view = Arc::new(MemoryView::new(Vec::new()));
    let runner = ProjectionRunner::start(&app, Arc::new(FailsOnThirdTrick), Arc::clone(&view))
        .expect("starts");
    let mut dog = Dog::register();
    dog.add_trick("sit".into());
    app.save(&mut dog).expect("saved");
    runner.wait(2, Duration::from_secs(5)).expect("processed");
    assert_eq!(view.read(|t| t.clone()), ["sit"]);

    dog.add_trick("fetch".into());
    dog.add_trick("beg".into());
    app.save(&mut dog).expect("saved");
    let error = runner.wait(4, Duration::from_secs(5)).unwrap_err();
    assert!(error.to_string().contains("can't project beg"), "{error}");
    // The failed batch (fetch and beg, saved together) left nothing.
    assert_eq!(view.read(|t| t.clone()), ["sit"]);
    assert_eq!(
        eventsourcing::persistence::View::max_tracking_id(&*view, "Failing").expect("position"),
        2
    );
    runner.stop().expect("already stopped");
}

#[test]
fn waiting_is_prompt_and_times_out_clearly() -> Result<(), ProjectionError> {
    let app = Application::builder("Waiting")
        .without_process_env()
        .build()?;
    let view = Arc::new(MemoryView::new(Vec::new()));
    let runner = ProjectionRunner::start(&app, Arc::new(FailsOnThirdTrick), Arc::clone(&view))?;
    let error = runner.wait(1, Duration::from_millis(50)).unwrap_err();
    assert!(
        matches!(
            error,
            ProjectionError::Timeout {
                notification_id: 1,
                ..
            }
        ),
        "{error}"
    );
    let mut dog = Dog::register();
    app.save(&mut dog)?;
    let started = Instant::now();
    runner.wait(1, Duration::from_secs(5))?;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    runner.stop()
}

#[test]
fn a_view_ahead_of_its_application_is_refused() {
    let app = Application::builder("Ahead")
        .without_process_env()
        .build()
        .expect("in memory");
    let view = Arc::new(MemoryView::new(Vec::new()));
    eventsourcing::persistence::View::transact(&*view, &Tracking::new("Ahead", 7), |_| Ok(()))
        .expect("a position from elsewhere");
    let error = ProjectionRunner::start(&app, Arc::new(FailsOnThirdTrick), view).unwrap_err();
    assert!(error.to_string().contains("the log ends at 0"), "{error}");
}

/// The async runner: a task following the async face, the view's transactions on the blocking
/// pool, while 4 tasks write.
#[test]
fn the_async_runner_into_a_separate_database() -> Result<(), ProjectionError> {
    use eventsourcing::projection::AsyncProjectionRunner;
    let dir = TempDir::new("projection-async");
    let app_path = dir.unique_file("app");
    let view = dog_counts_view(&dir.unique_file("view"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let app = Arc::new(
            Application::builder("DogSchool")
                .without_process_env()
                .sqlite(&app_path)
                .build_async()
                .await?,
        );
        let runner =
            AsyncProjectionRunner::start(&app, Arc::new(DogCounts), Arc::clone(&view)).await?;
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let app = Arc::clone(&app);
                tokio::spawn(async move {
                    let mut expected = BTreeMap::new();
                    for _ in 0..25 {
                        let mut dog = Dog::register();
                        dog.add_trick("sit".into());
                        app.save(&mut dog).await?;
                        expected.insert(dog.id().to_string(), 2i64);
                    }
                    Ok::<_, eventsourcing::application::ApplicationError>(expected)
                })
            })
            .collect();
        let mut expected = BTreeMap::new();
        for writer in writers {
            expected.extend(writer.await.expect("the writer ran")?);
        }
        let last = app.log().recorder().max_notification_id().await?;
        runner.wait(last, Duration::from_secs(60)).await?;
        assert_eq!(view_counts(&view), expected);
        runner.stop().await
    })
}

/// Counts each dog's events in a PostgreSQL view (the benchmark's `DogCounts`).
struct PgDogCounts;

impl Projection for PgDogCounts {
    type Upstream = DomainEvent<DogEvent>;
    type View = eventsourcing::postgres::PostgresView;

    fn process(
        &self,
        event: DomainEvent<DogEvent>,
        _tracking: &Tracking,
        view: &mut eventsourcing::postgres::PostgresViewTransaction,
    ) -> Result<(), BoxError> {
        view.execute(
            "INSERT INTO dog_event_counts VALUES ($1, 1) \
             ON CONFLICT (dog_id) DO UPDATE SET events = dog_event_counts.events + 1",
            vec![eventsourcing::postgres::param(event.originator_id)],
        );
        Ok(())
    }
}

fn pg_view(schema: &str) -> Arc<eventsourcing::postgres::PostgresView> {
    use eventsourcing::postgres::{PostgresDatastore, PostgresView};
    let mut settings = eventsourcing_tests::pg::base_settings();
    settings.schema = Some(schema.to_string());
    let datastore = Arc::new(PostgresDatastore::new(settings).expect("the view's datastore"));
    let view = PostgresView::new(datastore, "dogcounts").expect("the view");
    view.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.dog_event_counts (dog_id uuid PRIMARY KEY, events bigint)"
    ))
    .expect("the view's table");
    Arc::new(view)
}

fn pg_view_counts(
    view: &eventsourcing::postgres::PostgresView,
    schema: &str,
) -> BTreeMap<String, i64> {
    view.query(
        &format!("SELECT dog_id, events FROM {schema}.dog_event_counts"),
        Vec::new(),
    )
    .expect("read the view")
    .iter()
    .map(|row| (row.get::<_, Uuid>(0).to_string(), row.get(1)))
    .collect()
}

fn pg_application(schema: &str) -> Application {
    Application::builder("DogSchool")
        .without_process_env()
        .envs(eventsourcing_tests::pg::schema_env(schema))
        .build()
        .expect("the application")
}

/// Set in the PostgreSQL child: the application's and the view's schemas.
const CHILD_PG_APP: &str = "EVENTSOURCING_TESTS_PROJECTION_PG_APP";
const CHILD_PG_VIEW: &str = "EVENTSOURCING_TESTS_PROJECTION_PG_VIEW";

/// The PostgreSQL projection process: projects until killed.
#[test]
fn child_projects_into_postgres_until_killed() {
    let (Ok(app_schema), Ok(view_schema)) =
        (std::env::var(CHILD_PG_APP), std::env::var(CHILD_PG_VIEW))
    else {
        return; // Only as the child of `postgres_view_killed_and_restarted_is_exact`.
    };
    let app = pg_application(&app_schema);
    let view = pg_view(&view_schema);
    let _runner = ProjectionRunner::start(&app, Arc::new(PgDogCounts), view).expect("starts");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// PostgreSQL: a view in another schema than its application's, projected by processes that
/// are SIGKILLed and restarted while the application writes: exact.
#[test]
fn postgres_view_killed_and_restarted_is_exact() -> Result<(), ProjectionError> {
    use eventsourcing_tests::pg::TempSchema;
    let (Some(app_schema), Some(view_schema)) =
        (TempSchema::new("projapp"), TempSchema::new("projview"))
    else {
        return eventsourcing_tests::pg::Skipped::skipped();
    };
    let app = pg_application(app_schema.name());
    let view = pg_view(view_schema.name());
    let spawn = || {
        Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "--exact",
                "child_projects_into_postgres_until_killed",
                "--nocapture",
            ])
            .env(CHILD_PG_APP, app_schema.name())
            .env(CHILD_PG_VIEW, view_schema.name())
            .spawn()
            .expect("the projection process starts")
    };
    let mut child = spawn();
    let mut expected = BTreeMap::new();
    for round in 0..6u64 {
        expected.extend(write_dogs(&app, 30, 5));
        std::thread::sleep(Duration::from_millis(20 + round * 37 % 80));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        child = spawn();
    }
    let last = app.recorder().max_notification_id()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while eventsourcing::persistence::View::max_tracking_id(&*view, "DogSchool")? < last {
        assert!(
            Instant::now() < deadline,
            "the last projection process caught up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(pg_view_counts(&view, view_schema.name()), expected);

    // And in this process, the runner's wait is woken by the view's commits.
    let runner = ProjectionRunner::start(&app, Arc::new(PgDogCounts), Arc::clone(&view))?;
    expected.extend(write_dogs(&app, 3, 2));
    runner.wait(
        app.recorder().max_notification_id()?,
        Duration::from_secs(30),
    )?;
    assert_eq!(pg_view_counts(&view, view_schema.name()), expected);
    runner.stop()
}

/// PostgreSQL: a view transaction's statements, sent together, run in the order given; one
/// that fails in the middle of a batch rolls back the whole batch with its tracking record, and
/// the view's connection is usable after it.
#[test]
fn postgres_view_batch_runs_in_order_and_fails_whole() -> Result<(), Box<dyn std::error::Error>> {
    use eventsourcing::persistence::View;
    use eventsourcing::postgres::param;
    use eventsourcing_tests::pg::TempSchema;
    let Some(schema) = TempSchema::new("viewbatch") else {
        return eventsourcing_tests::pg::Skipped::skipped();
    };
    let view = pg_view(schema.name());
    let (dog, other) = (Uuid::new_v4(), Uuid::new_v4());
    let counts = |view: &eventsourcing::postgres::PostgresView| pg_view_counts(view, schema.name());
    // In order: insert 1, times 10, plus 1, then 200 more +1s pipelined: 211.
    view.transact(&Tracking::new("DogSchool", 1), |tx| {
        tx.execute(
            "INSERT INTO dog_event_counts VALUES ($1, 1)",
            vec![param(dog)],
        );
        let times = "UPDATE dog_event_counts SET events = events * $2 WHERE dog_id = $1";
        tx.execute(times, vec![param(dog), param(10i64)]);
        for _ in 0..201 {
            tx.execute(
                "UPDATE dog_event_counts SET events = events + 1 WHERE dog_id = $1",
                vec![param(dog)],
            );
        }
        Ok(())
    })?;
    assert_eq!(counts(&view), BTreeMap::from([(dog.to_string(), 211)]));
    // A duplicate key in the middle: nothing of the batch, nor its position, is committed.
    let failed = view.transact(&Tracking::new("DogSchool", 2), |tx| {
        tx.execute(
            "INSERT INTO dog_event_counts VALUES ($1, 1)",
            vec![param(other)],
        );
        tx.execute(
            "INSERT INTO dog_event_counts VALUES ($1, 1)",
            vec![param(dog)],
        );
        tx.execute(
            "UPDATE dog_event_counts SET events = events + 1 WHERE dog_id = $1",
            vec![param(dog)],
        );
        Ok(())
    });
    assert!(failed.is_err(), "a failing statement fails the batch");
    assert_eq!(counts(&view), BTreeMap::from([(dog.to_string(), 211)]));
    assert_eq!(view.max_tracking_id("DogSchool")?, 1);
    // The view goes on.
    view.transact(&Tracking::new("DogSchool", 2), |tx| {
        tx.execute(
            "INSERT INTO dog_event_counts VALUES ($1, 1)",
            vec![param(other)],
        );
        Ok(())
    })?;
    assert_eq!(
        counts(&view),
        BTreeMap::from([(dog.to_string(), 211), (other.to_string(), 1)])
    );
    assert_eq!(view.max_tracking_id("DogSchool")?, 2);
    Ok(())
}
