//! The recorder conformance suite (`eventsourcing::testing`) against every backend of this
//! crate: in memory, an SQLite file, SQLite `:memory:` and a shared-cache in-memory SQLite
//! database, through their blocking face and their async face (`async_*`). One `#[test]` per
//! check per backend and face.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use eventsourcing::memory::InMemoryRecorder;
use eventsourcing::persistence::{
    AggregateRecorder, ApplicationRecorder, AsyncAggregateRecorder, AsyncApplicationRecorder,
    AsyncProcessRecorder, OnBlockingPool, ProcessRecorder,
};
use eventsourcing::sqlite::{SqliteAggregateRecorder, SqliteApplicationRecorder, SqliteDatastore};
use eventsourcing::testing::{AsyncRecorderFactory, RecorderFactory};
use eventsourcing_tests::TempDir;

/// Fresh in-memory recorders.
struct InMemory;

impl RecorderFactory for InMemory {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        Arc::new(InMemoryRecorder::new())
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        Arc::new(InMemoryRecorder::new())
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        Arc::new(InMemoryRecorder::new())
    }
}

/// Recorders of a new SQLite database file per call, in a temporary directory that is
/// removed when the factory is dropped (at the end of each test). The handles for the
/// concurrency checks each open their own datastore (their own connections) on one file, so
/// those checks exercise SQLite's file locking as well as the datastore's own lock.
struct SqliteFile {
    dir: TempDir,
}

impl SqliteFile {
    fn new() -> Self {
        SqliteFile {
            dir: TempDir::new("conformance"),
        }
    }

    fn datastore(&self, path: &str) -> Arc<SqliteDatastore> {
        Arc::new(SqliteDatastore::open(path).expect("open SQLite file"))
    }

    fn new_file(&self) -> String {
        self.dir.unique_file("db").to_string_lossy().into_owned()
    }

    fn application_handles(&self, n: usize) -> Vec<Arc<SqliteApplicationRecorder>> {
        let path = self.new_file();
        (0..n.max(1))
            .map(|_| {
                Arc::new(
                    SqliteApplicationRecorder::new(self.datastore(&path))
                        .expect("SQLite application recorder"),
                )
            })
            .collect()
    }
}

impl RecorderFactory for SqliteFile {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        self.aggregate_recorder_handles(1).remove(0)
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        self.application_recorder_handles(1).remove(0)
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        self.process_recorder_handles(1).remove(0)
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AggregateRecorder>> {
        let path = self.new_file();
        (0..n.max(1))
            .map(|_| {
                Arc::new(
                    SqliteAggregateRecorder::new(self.datastore(&path), "stored_snapshots")
                        .expect("SQLite aggregate recorder"),
                ) as Arc<dyn AggregateRecorder>
            })
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ApplicationRecorder>> {
        self.application_handles(n)
            .into_iter()
            .map(|r| r as Arc<dyn ApplicationRecorder>)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ProcessRecorder>> {
        self.application_handles(n)
            .into_iter()
            .map(|r| r as Arc<dyn ProcessRecorder>)
            .collect()
    }
}

/// Recorders of a new SQLite `:memory:` database per call (one connection that every thread
/// shares, so the handles for the concurrency checks are clones of one recorder).
struct SqliteMemory;

impl SqliteMemory {
    fn datastore() -> Arc<SqliteDatastore> {
        Arc::new(SqliteDatastore::open(":memory:").expect("open SQLite :memory:"))
    }
}

impl RecorderFactory for SqliteMemory {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        Arc::new(
            SqliteAggregateRecorder::new(Self::datastore(), "stored_snapshots")
                .expect("SQLite aggregate recorder"),
        )
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        Arc::new(SqliteApplicationRecorder::new(Self::datastore()).expect("SQLite recorder"))
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        Arc::new(SqliteApplicationRecorder::new(Self::datastore()).expect("SQLite recorder"))
    }
}

/// Recorders of a new shared-cache in-memory SQLite database per call
/// (`file:NAME?mode=memory&cache=shared`, the reference's way to share an in-memory database
/// between connections). The handles for the concurrency checks each open their own
/// datastore on it, as several applications of one process configured with the same
/// `SQLITE_DBNAME` would.
struct SqliteSharedMemory;

impl SqliteSharedMemory {
    fn new_name() -> String {
        static DATABASES: AtomicU64 = AtomicU64::new(0);
        format!(
            "file:conformance-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn application_handles(n: usize) -> Vec<Arc<SqliteApplicationRecorder>> {
        let name = Self::new_name();
        (0..n.max(1))
            .map(|_| {
                let datastore = SqliteDatastore::open(&name).expect("open shared memory");
                Arc::new(SqliteApplicationRecorder::new(Arc::new(datastore)).expect("recorder"))
            })
            .collect()
    }
}

impl RecorderFactory for SqliteSharedMemory {
    fn aggregate_recorder(&self) -> Arc<dyn AggregateRecorder> {
        self.aggregate_recorder_handles(1).remove(0)
    }

    fn application_recorder(&self) -> Arc<dyn ApplicationRecorder> {
        self.application_recorder_handles(1).remove(0)
    }

    fn process_recorder(&self) -> Arc<dyn ProcessRecorder> {
        self.process_recorder_handles(1).remove(0)
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AggregateRecorder>> {
        let name = Self::new_name();
        (0..n.max(1))
            .map(|_| {
                let datastore = SqliteDatastore::open(&name).expect("open shared memory");
                Arc::new(
                    SqliteAggregateRecorder::new(Arc::new(datastore), "stored_snapshots")
                        .expect("recorder"),
                ) as Arc<dyn AggregateRecorder>
            })
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ApplicationRecorder>> {
        Self::application_handles(n)
            .into_iter()
            .map(|r| r as Arc<dyn ApplicationRecorder>)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn ProcessRecorder>> {
        Self::application_handles(n)
            .into_iter()
            .map(|r| r as Arc<dyn ProcessRecorder>)
            .collect()
    }
}

mod in_memory {
    eventsourcing::recorder_conformance_tests!(super::InMemory);
}

mod sqlite_file {
    eventsourcing::recorder_conformance_tests!(super::SqliteFile::new());
}

mod sqlite_memory {
    eventsourcing::recorder_conformance_tests!(super::SqliteMemory);
}

mod sqlite_shared_memory {
    eventsourcing::recorder_conformance_tests!(super::SqliteSharedMemory);
}

/// The async face of a blocking factory's recorders: their calls on tokio's blocking pool
/// (`OnBlockingPool`), as the default `InfrastructureFactory::async_recorders` gives them.
struct OnBlockingPoolOf<F>(F);

/// How many calls of one recorder run on the blocking pool at a time, in these tests: fewer
/// than the concurrency checks' threads, so that they also check the limit's queueing.
const BLOCKING_CALLS: usize = 4;

impl<F: RecorderFactory> AsyncRecorderFactory for OnBlockingPoolOf<F> {
    fn aggregate_recorder(&self) -> Arc<dyn AsyncAggregateRecorder> {
        Arc::new(OnBlockingPool::new(
            self.0.aggregate_recorder(),
            BLOCKING_CALLS,
        ))
    }

    fn application_recorder(&self) -> Arc<dyn AsyncApplicationRecorder> {
        Arc::new(OnBlockingPool::new(
            self.0.application_recorder(),
            BLOCKING_CALLS,
        ))
    }

    fn process_recorder(&self) -> Arc<dyn AsyncProcessRecorder> {
        Arc::new(OnBlockingPool::new(
            self.0.process_recorder(),
            BLOCKING_CALLS,
        ))
    }

    fn aggregate_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncAggregateRecorder>> {
        self.0
            .aggregate_recorder_handles(n)
            .into_iter()
            .map(|r| Arc::new(OnBlockingPool::new(r, BLOCKING_CALLS)) as _)
            .collect()
    }

    fn application_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncApplicationRecorder>> {
        self.0
            .application_recorder_handles(n)
            .into_iter()
            .map(|r| Arc::new(OnBlockingPool::new(r, BLOCKING_CALLS)) as _)
            .collect()
    }

    fn process_recorder_handles(&self, n: usize) -> Vec<Arc<dyn AsyncProcessRecorder>> {
        self.0
            .process_recorder_handles(n)
            .into_iter()
            .map(|r| Arc::new(OnBlockingPool::new(r, BLOCKING_CALLS)) as _)
            .collect()
    }

    fn gapless_notification_ids(&self) -> bool {
        self.0.gapless_notification_ids()
    }
}

/// The in-memory recorder's own async face.
struct InMemoryAsync;

impl AsyncRecorderFactory for InMemoryAsync {
    fn aggregate_recorder(&self) -> Arc<dyn AsyncAggregateRecorder> {
        Arc::new(InMemoryRecorder::new())
    }

    fn application_recorder(&self) -> Arc<dyn AsyncApplicationRecorder> {
        Arc::new(InMemoryRecorder::new())
    }

    fn process_recorder(&self) -> Arc<dyn AsyncProcessRecorder> {
        Arc::new(InMemoryRecorder::new())
    }
}

mod async_in_memory {
    eventsourcing::recorder_conformance_tests!(eventsourcing::testing::AsyncFace::factory(
        super::InMemoryAsync
    ));
}

mod async_sqlite_file {
    eventsourcing::recorder_conformance_tests!(eventsourcing::testing::AsyncFace::factory(
        super::OnBlockingPoolOf(super::SqliteFile::new())
    ));
}

mod async_sqlite_shared_memory {
    eventsourcing::recorder_conformance_tests!(eventsourcing::testing::AsyncFace::factory(
        super::OnBlockingPoolOf(super::SqliteSharedMemory)
    ));
}

/// `run_all` runs every check in turn with one factory (each check still gets fresh
/// recorders).
#[test]
fn run_all_in_memory() {
    eventsourcing::testing::run_all(&InMemory);
}
