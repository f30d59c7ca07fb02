//! Shared helpers of the integration tests (the tests are in `tests/tests/`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use eventsourcing::domain::{AggregateEvent, DomainEvent};
use uuid::Uuid;

/// An event as a store keeps it: its position, its topic and its state as JSON bytes (what the
/// persistence layer's mapper produces, minus compression and encryption).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The aggregate's id.
    pub originator_id: Uuid,
    /// The event's position in the aggregate's sequence.
    pub originator_version: u64,
    /// The event's topic.
    pub topic: String,
    /// The event's state, serialised as JSON.
    pub state: Vec<u8>,
}

impl StoredEvent {
    /// The event's state as a JSON value, to look at what was written.
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.state).expect("stored state is JSON")
    }
}

/// Serialises `event` with [`AggregateEvent::serialize_state`] and a JSON serializer.
pub fn store<E: AggregateEvent>(event: &DomainEvent<E>) -> StoredEvent {
    let mut state = Vec::new();
    event
        .payload
        .serialize_state(
            &event.timestamp,
            &mut serde_json::Serializer::new(&mut state),
        )
        .expect("event state serialises to JSON");
    StoredEvent {
        originator_id: event.originator_id,
        originator_version: event.originator_version,
        topic: event.topic().to_string(),
        state,
    }
}

/// Deserialises a stored event as an event of `E` with [`AggregateEvent::deserialize_state`],
/// upcasting state stored by older versions of the event.
pub fn load<E: AggregateEvent>(stored: &StoredEvent) -> Result<DomainEvent<E>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(&stored.state);
    let (timestamp, payload) = E::deserialize_state(&stored.topic, &mut deserializer)?;
    deserializer.end()?;
    Ok(DomainEvent {
        originator_id: stored.originator_id,
        originator_version: stored.originator_version,
        timestamp,
        payload,
        metadata: Default::default(),
    })
}

pub use backend::{Backend, TempDb};

pub mod http_client;

/// The backends application tests run against, and a macro to run a test body against each.
mod backend {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use eventsourcing::application::{Application, ApplicationBuilder};
    use eventsourcing::memory::{InMemoryDataKeys, InMemoryRecorder};

    /// A database file in the temporary directory, removed (with SQLite's `-wal` and `-shm`
    /// files) when dropped.
    #[derive(Debug)]
    pub struct TempDb {
        path: PathBuf,
    }

    impl TempDb {
        /// A new, not yet existing, file name containing `label`, unique in this machine's
        /// temporary directory.
        pub fn new(label: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let label: String = label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = std::env::temp_dir().join(format!(
                "eventsourcing-tests-{}-{}-{label}.db",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let db = TempDb { path };
            db.remove();
            db
        }

        /// The file's path.
        pub fn path(&self) -> &Path {
            &self.path
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = self.path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.remove();
        }
    }

    /// Where a test's applications store their events: in memory, or in an SQLite file.
    ///
    /// Every builder from one backend stores into the same place, so two application objects
    /// built from it see each other's events (as two processes over one database would).
    #[derive(Debug)]
    pub enum Backend {
        /// In-memory recorders, shared by the applications built from this backend.
        Memory {
            /// The applications' events.
            events: Arc<InMemoryRecorder>,
            /// The applications' snapshots.
            snapshots: Arc<InMemoryRecorder>,
        },
        /// An SQLite database file.
        SqliteFile(TempDb),
        /// A PostgreSQL schema of its own, dropped at the end.
        Postgres(crate::pg::TempSchema),
    }

    impl Backend {
        /// New, empty in-memory recorders.
        pub fn memory() -> Self {
            Backend::Memory {
                events: Arc::new(InMemoryRecorder::new()),
                snapshots: Arc::new(InMemoryRecorder::new()),
            }
        }

        /// A new SQLite file, named after `label`.
        pub fn sqlite_file(label: &str) -> Self {
            Backend::SqliteFile(TempDb::new(label))
        }

        /// A new PostgreSQL schema, named after `label`, or `None` (the test is skipped) when
        /// no server answers outside CI.
        pub fn postgres(label: &str) -> Option<Self> {
            crate::pg::TempSchema::new(label).map(Backend::Postgres)
        }

        /// The backend's name, for messages.
        pub fn name(&self) -> &'static str {
            match self {
                Backend::Memory { .. } => "memory",
                Backend::SqliteFile(_) => "sqlite",
                Backend::Postgres(_) => "postgres",
            }
        }

        /// A builder of the application `name` over this backend, ignoring the process
        /// environment (tests configure everything in code).
        pub fn builder(&self, name: &str) -> ApplicationBuilder {
            self.configure(Application::builder(name))
        }

        /// A builder of the application `name` over this backend with per-aggregate keys
        /// under the application key `cipher_key` (for the in-memory backend, the data keys
        /// are kept with its shared events).
        pub fn keyed_builder(&self, name: &str, cipher_key: &str) -> ApplicationBuilder {
            let builder = self
                .builder(name)
                .cipher_key(cipher_key)
                .per_aggregate_keys(true);
            match self {
                Backend::Memory { events, snapshots } => builder.data_key_recorder(Arc::new(
                    InMemoryDataKeys::new(Arc::clone(events), Some(Arc::clone(snapshots))),
                )),
                _ => builder,
            }
        }

        /// `builder`, ignoring the process environment, over this backend.
        pub fn configure(&self, builder: ApplicationBuilder) -> ApplicationBuilder {
            let builder = builder.without_process_env();
            match self {
                Backend::Memory { events, snapshots } => builder
                    .memory()
                    .recorders(Arc::clone(events) as _, Some(Arc::clone(snapshots) as _)),
                Backend::SqliteFile(db) => builder.sqlite(db.path()),
                Backend::Postgres(schema) => builder.envs(schema.env()),
            }
        }
    }
}

/// Defines tests that run once per backend: in memory, in an SQLite file, and in PostgreSQL.
///
/// Each `fn name(backend) { ... }` becomes a module `name` with the tests `memory` and
/// `sqlite_file` and `postgres`, each calling the body with a fresh [`Backend`]. Bodies may return a
/// `Result`, to use `?`.
///
/// ```ignore
/// backend_tests! {
///     fn saves_and_gets(backend) -> Result<(), ApplicationError> {
///         let app = backend.builder("Worlds").build()?;
///         ...
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($(
        $(#[$meta:meta])*
        fn $name:ident($backend:ident) $(-> $ret:ty)? $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($backend: &$crate::Backend) $(-> $ret)? $body

            #[test]
            fn memory() $(-> $ret)? {
                body(&$crate::Backend::memory())
            }

            #[test]
            fn sqlite_file() $(-> $ret)? {
                body(&$crate::Backend::sqlite_file(stringify!($name)))
            }

            #[test]
            fn postgres() $(-> $ret)? {
                match $crate::Backend::postgres(stringify!($name)) {
                    Some(backend) => body(&backend),
                    None => $crate::pg::Skipped::skipped(),
                }
            }
        }
    )*};
}
/// A new, empty directory under the system's temporary directory, removed (with everything
/// in it) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    files: AtomicU64,
}

impl TempDir {
    /// Creates a directory whose name starts with `prefix` and is unique to this process and
    /// call.
    pub fn new(prefix: &str) -> Self {
        static DIRS: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "eventsourcing-tests-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir {
            path,
            files: AtomicU64::new(0),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path in the directory that no other call returned: `file-N.<extension>`.
    pub fn unique_file(&self, extension: &str) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.path.join(format!("file-{n}.{extension}"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A small aggregate for the persistence tests: the reference library's `World`.
pub mod world {
    use eventsourcing::prelude::*;

    /// A world with a history of things that happened in it.
    #[aggregate]
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct World {
        history: Vec<String>,
    }

    #[aggregate]
    impl World {
        /// A new world with no history.
        #[created]
        pub fn create() -> Self {
            World {
                history: Vec::new(),
            }
        }

        /// Something happened.
        #[event("SomethingHappened")]
        pub fn make_it_so(&mut self, what: String) {
            self.history.push(what);
        }

        /// What happened, in order.
        pub fn history(&self) -> &[String] {
            &self.history
        }
    }
}

/// The PostgreSQL server the tests use: the one the `POSTGRES_*` variables name (defaults:
/// `127.0.0.1:5432`, database `test`, user `postgres`, no password). When none answers, the
/// tests say so and skip; under CI (`CI=true`) they fail instead.
pub mod pg {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use eventsourcing::postgres::PostgresSettings;

    fn var(key: &str, default: &str) -> String {
        std::env::var(key)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    /// The server's settings, from the environment with the defaults above.
    pub fn base_settings() -> PostgresSettings {
        let mut settings = PostgresSettings::new(
            var("POSTGRES_DBNAME", "test"),
            var("POSTGRES_HOST", "127.0.0.1"),
            var("POSTGRES_USER", "postgres"),
            var("POSTGRES_PASSWORD", ""),
        );
        settings.port = var("POSTGRES_PORT", "5432").parse().unwrap_or(5432);
        settings
    }

    /// A direct connection to the server, for setting up and inspecting tests.
    pub fn connect() -> Result<postgres::Client, postgres::Error> {
        connect_with(&base_settings())
    }

    /// A direct connection with `settings` (another user's, for example).
    pub fn connect_with(settings: &PostgresSettings) -> Result<postgres::Client, postgres::Error> {
        let mut config = postgres::Config::new();
        config
            .host(&settings.host)
            .port(settings.port)
            .dbname(&settings.dbname)
            .user(&settings.user)
            .connect_timeout(std::time::Duration::from_secs(5));
        if !settings.password.is_empty() {
            config.password(&settings.password);
        }
        config.connect(postgres::NoTls)
    }

    /// Whether the server answers (checked once per test process). Under CI, a server that
    /// does not answer fails the test.
    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| match connect() {
            Ok(_) => true,
            Err(error) => {
                let settings = base_settings();
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
                assert!(
                    !ci,
                    "CI=true, but PostgreSQL at {}:{} (database {:?}) does not answer: {error}",
                    settings.host, settings.port, settings.dbname
                );
                eprintln!(
                    "PostgreSQL tests SKIPPED: no server at {}:{} (database {:?}): {error}. \
                     Set POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DBNAME/POSTGRES_USER/POSTGRES_PASSWORD.",
                    settings.host, settings.port, settings.dbname
                );
                false
            }
        })
    }

    /// A schema of its own for one test, created now and dropped (with its tables) at the end.
    #[derive(Debug)]
    pub struct TempSchema {
        name: String,
    }

    impl TempSchema {
        /// A new schema whose name contains `label`, or `None` when no server answers (outside
        /// CI).
        pub fn new(label: &str) -> Option<Self> {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            if !available() {
                return None;
            }
            let label: String = label
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect::<String>()
                .to_lowercase();
            let name = format!(
                "es_{label}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let mut client = connect().expect("connect to PostgreSQL");
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
                ))
                .expect("create a test schema");
            Some(TempSchema { name })
        }

        /// The schema's name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Settings for recorders in this schema.
        pub fn settings(&self) -> PostgresSettings {
            let mut settings = base_settings();
            settings.schema = Some(self.name.clone());
            settings
        }

        /// Environment variables selecting PostgreSQL and this schema.
        pub fn env(&self) -> Vec<(String, String)> {
            schema_env(&self.name)
        }
    }

    /// Environment variables selecting PostgreSQL and the schema `schema` (a child process
    /// uses this with the name of its parent's [`TempSchema`]).
    pub fn schema_env(schema: &str) -> Vec<(String, String)> {
        let settings = base_settings();
        vec![
            ("PERSISTENCE_MODULE".into(), "eventsourcing.postgres".into()),
            ("POSTGRES_DBNAME".into(), settings.dbname),
            ("POSTGRES_HOST".into(), settings.host),
            ("POSTGRES_PORT".into(), settings.port.to_string()),
            ("POSTGRES_USER".into(), settings.user),
            ("POSTGRES_PASSWORD".into(), settings.password),
            ("POSTGRES_SCHEMA".into(), schema.to_string()),
        ]
    }

    impl Drop for TempSchema {
        fn drop(&mut self) {
            if let Ok(mut client) = connect() {
                let _ =
                    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
            }
        }
    }

    /// What a skipped test returns: `()` or `Ok(())`.
    pub trait Skipped {
        /// The value.
        fn skipped() -> Self;
    }

    impl Skipped for () {
        fn skipped() -> Self {}
    }

    impl<E> Skipped for Result<(), E> {
        fn skipped() -> Self {
            Ok(())
        }
    }
}
