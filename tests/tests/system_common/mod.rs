//! Applications shared by the system tests: worlds where things happen (and notes, which no
//! policy here handles), and counters of what happens, whose policy can be told to fail.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent};
use eventsourcing_tests::pg::TempSchema;

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub history: Vec<String>,
}

#[aggregate]
impl World {
    #[created]
    pub fn create() -> Self {
        World {
            history: Vec::new(),
        }
    }

    #[event("SomethingHappened")]
    pub fn make_it_so(&mut self, what: String) {
        self.history.push(what);
    }
}

/// An aggregate of another type, whose events the counters' policy does not handle.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
}

#[aggregate]
impl Note {
    #[created]
    pub fn create(text: String) -> Self {
        Note { text }
    }
}

#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counter {
    pub count: u64,
}

#[aggregate]
impl Counter {
    pub fn create_id(name: &str) -> Uuid {
        eventsourcing::domain::url_id(&format!("/counters/{name}"))
    }

    #[created]
    pub fn create(name: String) -> Self {
        let _ = name;
        Counter { count: 0 }
    }

    #[event]
    pub fn incremented(&mut self) {
        self.count += 1;
    }
}

/// The leader: worlds, and notes.
pub struct Worlds {
    pub app: Application,
}

impl AsRef<Application> for Worlds {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Worlds {
    pub fn new(builder: ApplicationBuilder) -> Self {
        Worlds {
            app: builder.build().unwrap(),
        }
    }

    pub fn create_world(&self) -> Uuid {
        let mut world = World::create();
        self.app.save(&mut world).unwrap();
        world.id()
    }

    pub fn make_it_so(&self, world_id: Uuid, what: &str) {
        let mut world: World = self.app.repository().get(world_id).unwrap();
        world.make_it_so(what.to_string());
        self.app.save(&mut world).unwrap();
    }

    pub fn write_note(&self, text: &str) {
        self.app.save(&mut Note::create(text.to_string())).unwrap();
    }

    pub fn max_notification_id(&self) -> u64 {
        self.app.recorder().max_notification_id().unwrap()
    }
}

/// Counts what happens in the worlds it follows. Its policy refuses (fails on) the things in
/// `refused`, until they are removed.
pub struct Counters {
    pub app: Application,
    /// How many world events the policy was given (notes never reach it).
    pub calls: AtomicU64,
    pub refused: Mutex<HashSet<String>>,
}

impl AsRef<Application> for Counters {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Counters {
    type Upstream = DomainEvent<WorldEvent>;

    fn policy(
        &self,
        event: DomainEvent<WorldEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let WorldEvent::SomethingHappened { what } = event.payload {
            if self.refused.lock().unwrap().contains(&what) {
                return Err(format!("refusing to count {what}").into());
            }
            let id = Counter::create_id(&what);
            let mut counter = processing.get_or_else(id, || Counter::create(what))?;
            counter.incremented();
            processing.save(&mut counter)?;
        }
        Ok(())
    }
}

impl Counters {
    pub fn new(builder: ApplicationBuilder) -> Self {
        Counters {
            app: builder.build().unwrap(),
            calls: AtomicU64::new(0),
            refused: Mutex::new(HashSet::new()),
        }
    }

    pub fn get_count(&self, what: &str) -> u64 {
        match self
            .app
            .repository()
            .get::<Counter>(Counter::create_id(what))
        {
            Ok(counter) => counter.count,
            Err(e) if e.is_not_found() => 0,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn refuse(&self, what: &str) {
        self.refused.lock().unwrap().insert(what.to_string());
    }

    pub fn allow_all(&self) {
        self.refused.lock().unwrap().clear();
    }

    pub fn tracked(&self, leader: &str) -> u64 {
        self.app.recorder().max_tracking_id(leader).unwrap()
    }
}

/// A fresh directory for a test's database files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("es-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The backends the tests run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// A builder of the application `name`, over `backend` (SQLite: `dir/name.db`). For
/// PostgreSQL, use a [`Store`].
pub fn builder(name: &str, backend: Backend, dir: &Path) -> ApplicationBuilder {
    let builder = Application::builder(name).without_process_env();
    match backend {
        Backend::Memory => builder.memory(),
        Backend::Sqlite => builder.sqlite(dir.join(format!("{name}.db"))),
        Backend::Postgres => panic!("PostgreSQL needs a schema: use a Store"),
    }
}

/// Where a test's applications store their events: nowhere (in memory), SQLite files in a
/// directory of their own, or a PostgreSQL schema of their own (dropped at the end). Each
/// application has its own tables (or file), so builders of different applications from one
/// store are independent, and builders of the same application see the same events.
#[derive(Debug)]
pub struct Store {
    pub backend: Backend,
    pub dir: PathBuf,
    schema: Option<TempSchema>,
}

impl Store {
    /// A new store for the test `tag`, or `None` for PostgreSQL when no server answers (outside
    /// CI: the skip is announced once).
    pub fn new(backend: Backend, tag: &str) -> Option<Store> {
        let dir = temp_dir(&format!("{tag}-{backend:?}"));
        let schema = match backend {
            Backend::Postgres => Some(TempSchema::new(tag)?),
            _ => None,
        };
        // Shown with a failure: which backend it was.
        eprintln!("{tag}: {backend:?}");
        Some(Store {
            backend,
            dir,
            schema,
        })
    }

    /// A builder of the application `name` in this store.
    pub fn builder(&self, name: &str) -> ApplicationBuilder {
        match &self.schema {
            Some(schema) => Application::builder(name)
                .without_process_env()
                .envs(schema.env()),
            None => builder(name, self.backend, &self.dir),
        }
    }
}

/// A store per backend: memory, SQLite, and PostgreSQL if a server answers.
pub fn stores(tag: &str) -> Vec<Store> {
    [Backend::Memory, Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter_map(|backend| Store::new(backend, tag))
        .collect()
}

/// The stores that outlive application objects: SQLite, and PostgreSQL if a server answers.
pub fn persistent_stores(tag: &str) -> Vec<Store> {
    [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter_map(|backend| Store::new(backend, tag))
        .collect()
}
