//! The store a command works on: its configuration (flags over the environment), its
//! inspector, its applications, and the mapper that opens their stored state.

use std::sync::Arc;

use eventsourcing::persistence::{
    ApplicationRecorder, ApplicationTables, Environment, JsonTranscoder, Keyring, Notification,
    PersistenceError, StoreInspector, StoredDataKey, StoredEvent, CIPHER_KEY, CIPHER_TOPIC,
    COMPRESSOR_TOPIC, HASH_CHAIN, PER_AGGREGATE_KEYS, SUBSCRIPTION_PAGE,
};
use eventsourcing::postgres::{
    PostgresInspector, POSTGRES_CONNECT_TIMEOUT, POSTGRES_DBNAME, POSTGRES_HOST, POSTGRES_PASSWORD,
    POSTGRES_PORT, POSTGRES_SCHEMA, POSTGRES_USER,
};
use eventsourcing::registry::{INFRASTRUCTURE_FACTORY, PERSISTENCE_MODULE};
use eventsourcing::sqlite::{SqliteInspector, SQLITE_DBNAME};

use uuid::Uuid;

use crate::decode::Decoder;
use crate::error::Failure;
use crate::StoreArgs;

/// The backends a store can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The configuration of the application `args.app` (or of none): the process environment,
/// with the flags given as values in code (which win, as an application's do).
pub(crate) fn environment(args: &StoreArgs) -> Environment {
    let mut env = Environment::from_process(args.app.clone().unwrap_or_default());
    let flags = [
        (PERSISTENCE_MODULE, &args.persistence_module),
        (SQLITE_DBNAME, &args.sqlite_dbname),
        (POSTGRES_DBNAME, &args.postgres_dbname),
        (POSTGRES_HOST, &args.postgres_host),
        (POSTGRES_PORT, &args.postgres_port),
        (POSTGRES_USER, &args.postgres_user),
        (POSTGRES_PASSWORD, &args.postgres_password),
        (POSTGRES_SCHEMA, &args.postgres_schema),
        (POSTGRES_CONNECT_TIMEOUT, &args.postgres_connect_timeout),
        (CIPHER_TOPIC, &args.cipher_topic),
        (CIPHER_KEY, &args.cipher_key),
        (COMPRESSOR_TOPIC, &args.compressor_topic),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            env.set(key, value.clone());
        }
    }
    env
}

/// The backend `env` names: `PERSISTENCE_MODULE` (or `INFRASTRUCTURE_FACTORY`), else SQLite
/// if `SQLITE_DBNAME` is set, else PostgreSQL if `POSTGRES_DBNAME` is.
pub(crate) fn backend(env: &Environment) -> Result<Backend, Failure> {
    let named = env
        .get(PERSISTENCE_MODULE)
        .map(|value| (PERSISTENCE_MODULE, value))
        .or_else(|| {
            env.get(INFRASTRUCTURE_FACTORY)
                .map(|value| (INFRASTRUCTURE_FACTORY, value))
        });
    let Some((variable, value)) = named else {
        if env.get(SQLITE_DBNAME).is_some() {
            return Ok(Backend::Sqlite);
        }
        if env.get(POSTGRES_DBNAME).is_some() {
            return Ok(Backend::Postgres);
        }
        return Err(Failure::new(
            "no store given: set PERSISTENCE_MODULE (eventsourcing.sqlite or \
             eventsourcing.postgres) and SQLITE_DBNAME or the POSTGRES_* variables, or give \
             --persistence-module and --sqlite-dbname or --postgres-dbname",
        ));
    };
    match value.strip_suffix(":Factory").unwrap_or(value) {
        "eventsourcing.sqlite" | "sqlite" => Ok(Backend::Sqlite),
        "eventsourcing.postgres" | "postgres" | "postgresql" => Ok(Backend::Postgres),
        "eventsourcing.memory" | "memory" | "eventsourcing.popo" | "popo" => {
            Err(Failure::new(format!(
                "{} is {value:?}: an in-memory store lives and ends with its process, so there \
                 is nothing to inspect from outside (use eventsourcing.sqlite or \
                 eventsourcing.postgres)",
                env.name_of(variable)
            )))
        }
        other => Err(Failure::new(format!(
            "{} is {other:?}: expected eventsourcing.sqlite or eventsourcing.postgres",
            env.name_of(variable)
        ))),
    }
}

/// An opened store.
pub(crate) struct Store {
    pub(crate) env: Environment,
    pub(crate) backend: Backend,
    pub(crate) inspector: Box<dyn StoreInspector>,
    /// What the store is, for people: "SQLite database /tmp/x.db".
    pub(crate) description: String,
    /// The application asked for with `--app`, if any.
    pub(crate) app: Option<String>,
}

/// One application of a store: its tables and the name to show.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) tables: ApplicationTables,
    /// The name to show: the store's name of it, or in SQLite (where the store has none) the
    /// `--app` name, or "".
    pub(crate) name: String,
}

impl Store {
    /// Opens the store `args` configure. With `create`, an SQLite file that does not exist is
    /// created (`import`); otherwise it is an error.
    pub(crate) fn open(args: &StoreArgs, create: bool) -> Result<Store, Failure> {
        let env = environment(args);
        Self::open_env(env, args.app.clone(), create)
    }

    /// Opens the store `env` configures.
    pub(crate) fn open_env(
        env: Environment,
        app: Option<String>,
        create: bool,
    ) -> Result<Store, Failure> {
        let backend = backend(&env)?;
        let (inspector, description): (Box<dyn StoreInspector>, String) = match backend {
            Backend::Sqlite => {
                let inspector = SqliteInspector::from_env(&env, create)?;
                let description = format!("SQLite database {}", inspector.datastore().db_name());
                (Box::new(inspector), description)
            }
            Backend::Postgres => {
                let inspector = PostgresInspector::from_env(&env)?;
                let settings = inspector.datastore().settings();
                let mut description = format!(
                    "PostgreSQL database {} at {}:{}",
                    settings.dbname, settings.host, settings.port
                );
                if let Some(schema) = &settings.schema {
                    description.push_str(&format!(", schema {schema}"));
                }
                (Box::new(inspector), description)
            }
        };
        Ok(Store {
            env,
            backend,
            inspector,
            description,
            app,
        })
    }

    fn app(&self, tables: ApplicationTables) -> App {
        let name = match (&self.backend, &self.app) {
            (Backend::Sqlite, Some(app)) => app.clone(),
            _ => tables.name.clone(),
        };
        App { tables, name }
    }

    /// The application `--app` names (an error if the store has none of that name), or every
    /// application of the store.
    pub(crate) fn applications(&self) -> Result<Vec<App>, Failure> {
        match &self.app {
            Some(_) => Ok(vec![self.application()?]),
            None => {
                let all = self
                    .inspector
                    .applications()
                    .map_err(|e| Failure::from(e).context(&self.description))?;
                Ok(all.into_iter().map(|tables| self.app(tables)).collect())
            }
        }
    }

    /// The application `--app` names, or the store's only one.
    pub(crate) fn application(&self) -> Result<App, Failure> {
        let in_store = |e| Failure::from(e).context(&self.description);
        match &self.app {
            Some(name) => match self.inspector.application(name).map_err(in_store)? {
                Some(tables) => Ok(self.app(tables)),
                None => Err(self.unknown(name)),
            },
            None => {
                let mut all = self.inspector.applications().map_err(in_store)?;
                match all.len() {
                    1 => Ok(self.app(all.remove(0))),
                    0 => Err(Failure::new(format!(
                        "{} holds no application (it has no events table)",
                        self.description
                    ))),
                    _ => Err(Failure::new(format!(
                        "{} holds several applications ({}): choose one with --app NAME",
                        self.description,
                        names(&all)
                    ))),
                }
            }
        }
    }

    fn unknown(&self, name: &str) -> Failure {
        let found = self.inspector.applications().unwrap_or_default();
        let has = if found.is_empty() {
            "it holds no application".to_string()
        } else {
            format!("it holds {}", names(&found))
        };
        let tables = match self.backend {
            Backend::Sqlite => "stored_events".to_string(),
            Backend::Postgres if name.is_empty() => "stored_events".to_string(),
            Backend::Postgres => format!("{}_events", name.to_lowercase()),
        };
        Failure::new(format!(
            "no application {name:?} in {}: there is no table {tables} ({has}); nothing was \
             created",
            self.description
        ))
    }

    /// The recorder of the application's events, for reading.
    pub(crate) fn events(&self, app: &App) -> Result<Arc<dyn ApplicationRecorder>, Failure> {
        self.inspector
            .events(&app.tables)
            .map_err(|e| Failure::from(e).context(&self.description))
    }

    /// The configuration of the application: the variables with its prefix (as the
    /// application reads them).
    pub(crate) fn app_env(&self, app: &App) -> Environment {
        match &self.app {
            Some(_) => self.env.clone(),
            None => self.env.for_application(&app.tables.name),
        }
    }

    /// The name of the application in messages: "the application \"worlds\"", or the store's
    /// description in SQLite.
    pub(crate) fn what(&self, app: &App) -> String {
        if app.name.is_empty() {
            self.description.clone()
        } else {
            format!("the application {:?} in {}", app.name, self.description)
        }
    }

    /// How the application's stored states are opened: its mapper (its cipher and compressor,
    /// from its variables) or, when the application has a key table (it was written with
    /// per-aggregate keys), its mapper without the cipher and its keyring, whose data keys
    /// are decrypted with `CIPHER_KEY`. The key table decides, not `PER_AGGREGATE_KEYS`; that
    /// setting on, and no key table, is an error (the store is not the one meant).
    pub(crate) fn decoder(&self, app: &App) -> Result<Decoder, Failure> {
        let env = self.app_env(app);
        let mapper = env.mapper(JsonTranscoder)?;
        let Some(table) = &app.tables.data_keys else {
            if env.get_bool(PER_AGGREGATE_KEYS, false)? {
                return Err(Failure::new(format!(
                    "{} is on, but {} has no data-key table (its events were not stored \
                     with per-aggregate keys)",
                    env.name_of(PER_AGGREGATE_KEYS),
                    self.what(app)
                )));
            }
            return Ok(Decoder::plain(mapper));
        };
        let keyring = Arc::new(Keyring::new(
            self.data_key_recorder(app)?,
            self.application_key(app)?,
        ));
        Ok(Decoder::keyed(
            mapper.with_shared_cipher(None),
            keyring,
            table,
        ))
    }

    /// The application key (`CIPHER_KEY`) of an application with per-aggregate keys.
    fn application_key(
        &self,
        app: &App,
    ) -> Result<Arc<dyn eventsourcing::persistence::Cipher>, Failure> {
        let env = self.app_env(app);
        let table = app.tables.data_keys.as_deref().unwrap_or("?");
        env.cipher()?.ok_or_else(|| {
            Failure::new(format!(
                "{} has per-aggregate keys (the table {table}), and no {} is set: its data keys \
                 are stored encrypted under the application's key (set it, or give \
                 --cipher-key)",
                self.what(app),
                env.name_of(CIPHER_KEY)
            ))
        })
    }

    fn data_key_recorder(
        &self,
        app: &App,
    ) -> Result<Arc<dyn eventsourcing::persistence::DataKeyRecorder>, Failure> {
        self.inspector
            .data_keys(&app.tables)
            .map_err(|e| Failure::from(e).context(&self.description))?
            .ok_or_else(|| Failure::new(format!("{} has no data-key table", self.what(app))))
    }

    /// The application's events as the application reads them: through a `KeyedRecorder`
    /// when it has per-aggregate keys (states decrypted under their aggregates' keys,
    /// forgotten aggregates' notifications with an empty state), else as stored.
    pub(crate) fn app_events(&self, app: &App) -> Result<Arc<dyn ApplicationRecorder>, Failure> {
        if app.tables.data_keys.is_none() {
            return self.events(app);
        }
        let key = self.application_key(app)?;
        let keyed = self
            .inspector
            .keyed_events(&app.tables, key)
            .map_err(|e| Failure::from(e).context(&self.description))?
            .ok_or_else(|| Failure::new(format!("{} has no data-key table", self.what(app))))?;
        Ok(keyed)
    }

    /// Whether the application's hash chain is required (`HASH_CHAIN` on).
    pub(crate) fn hash_chain_required(&self, app: &App) -> Result<bool, Failure> {
        Ok(self.app_env(app).get_bool(HASH_CHAIN, false)?)
    }
}

/// The names of applications, for messages.
fn names(applications: &[ApplicationTables]) -> String {
    applications
        .iter()
        .map(|a| {
            if a.name.is_empty() {
                "an unnamed one".to_string()
            } else {
                a.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reading a whole application, page by page: what `export` and `verify` walk.
impl Store {
    /// Each page of the application's events committed before the call, in notification id
    /// order, with the pages' stored states as `(originator id, state)`.
    pub(crate) fn each_event_page(
        &self,
        app: &App,
        recorder: &dyn ApplicationRecorder,
        mut each: impl FnMut(&[Notification], &[(Uuid, &[u8])]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let in_app = |e| in_application(app, e);
        let max = recorder.max_notification_id().map_err(in_app)?;
        let mut start = 1;
        while start <= max {
            let page = recorder
                .select_notifications(start, SUBSCRIPTION_PAGE)
                .map_err(in_app)?;
            let Some(end) = page.last().map(|n| n.id) else {
                break;
            };
            let page: Vec<Notification> = page.into_iter().filter(|n| n.id <= max).collect();
            each(&page, &states(page.iter().map(|n| &n.stored)))?;
            start = end + 1;
        }
        Ok(())
    }

    /// Each page of the application's snapshots, with their stored states.
    pub(crate) fn each_snapshot_page(
        &self,
        app: &App,
        mut each: impl FnMut(&[StoredEvent], &[(Uuid, &[u8])]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut after = None;
        loop {
            let page = self
                .inspector
                .select_snapshots(&app.tables, after, SUBSCRIPTION_PAGE)
                .map_err(|e| in_application(app, e))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some((last.originator_id, last.originator_version));
            each(&page, &states(page.iter()))?;
        }
    }

    /// Each page of the application's data keys (none without per-aggregate keys).
    pub(crate) fn each_data_key_page(
        &self,
        app: &App,
        mut each: impl FnMut(&[StoredDataKey]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut after = None;
        loop {
            let page = self
                .inspector
                .select_data_keys(&app.tables, after, SUBSCRIPTION_PAGE)
                .map_err(|e| in_application(app, e))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.originator_id);
            each(&page)?;
        }
    }

    /// How many events and snapshots the application has (for a progress bar).
    pub(crate) fn count_records(&self, app: &App) -> Result<u64, Failure> {
        let in_app = |e| in_application(app, e);
        Ok(self.inspector.count_events(&app.tables).map_err(in_app)?
            + self
                .inspector
                .count_snapshots(&app.tables)
                .map_err(in_app)?)
    }
}

/// A persistence error, in the application `app`.
fn in_application(app: &App, error: PersistenceError) -> Failure {
    Failure::from(error).context(format!("application {:?}", app.name))
}

/// The `(originator id, state)` of stored events, for decoding a page at once.
fn states<'a>(events: impl Iterator<Item = &'a StoredEvent>) -> Vec<(Uuid, &'a [u8])> {
    events
        .map(|event| (event.originator_id, event.state.as_slice()))
        .collect()
}
