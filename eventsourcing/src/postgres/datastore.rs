//! The PostgreSQL datastore: a pool of connections, each with its prepared statements.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};

use super::error::postgres_error;
use crate::persistence::{ErrorKind, PersistenceError};

/// How a [`PostgresDatastore`] connects and behaves: the reference's `POSTGRES_*` settings.
#[derive(Clone, PartialEq)]
pub struct PostgresSettings {
    /// `POSTGRES_DBNAME`.
    pub dbname: String,
    /// `POSTGRES_HOST`.
    pub host: String,
    /// `POSTGRES_PORT` (default 5432).
    pub port: u16,
    /// `POSTGRES_USER`.
    pub user: String,
    /// `POSTGRES_PASSWORD`.
    pub password: String,
    /// `POSTGRES_CONN_MAX_AGE`: close connections this long after they were opened (`None`:
    /// keep them).
    pub conn_max_age: Option<Duration>,
    /// `POSTGRES_PRE_PING`: check a connection with a round trip before each use.
    pub pre_ping: bool,
    /// `POSTGRES_LOCK_TIMEOUT`: how long an insert waits for the table lock (0: forever).
    pub lock_timeout: Duration,
    /// `POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT`: the server ends sessions idle inside a
    /// transaction this long (0: never), releasing their locks.
    pub idle_in_transaction_session_timeout: Duration,
    /// `POSTGRES_SCHEMA`: the schema of the tables (default: the connection's search path).
    pub schema: Option<String>,
    /// `POSTGRES_POOL_SIZE`: the most connections kept open (default 5).
    pub pool_size: u32,
    /// `POSTGRES_CONNECT_TIMEOUT`: how long to wait for a connection (default 5 s): an
    /// unreachable server is an operational error after this long.
    pub connect_timeout: Duration,
    /// `POSTGRES_APPLICATION_NAME`: the name the connections give the server (default
    /// `eventsourcing`), shown in `pg_stat_activity`.
    pub application_name: String,
}

/// Everything but the password.
impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("dbname", &self.dbname)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<hidden>"
                },
            )
            .field("conn_max_age", &self.conn_max_age)
            .field("pre_ping", &self.pre_ping)
            .field("lock_timeout", &self.lock_timeout)
            .field(
                "idle_in_transaction_session_timeout",
                &self.idle_in_transaction_session_timeout,
            )
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

impl PostgresSettings {
    /// Settings for `dbname` on `host`, as `user` with `password`, and the defaults.
    pub fn new(
        dbname: impl Into<String>,
        host: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        PostgresSettings {
            dbname: dbname.into(),
            host: host.into(),
            port: 5432,
            user: user.into(),
            password: password.into(),
            conn_max_age: None,
            pre_ping: false,
            lock_timeout: Duration::ZERO,
            idle_in_transaction_session_timeout: Duration::ZERO,
            schema: None,
            pool_size: 5,
            connect_timeout: Duration::from_secs(5),
            application_name: "eventsourcing".to_string(),
        }
    }

    fn config(&self) -> postgres::Config {
        let mut config = postgres::Config::new();
        config
            .dbname(&self.dbname)
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .connect_timeout(self.connect_timeout)
            .application_name(&self.application_name);
        if !self.password.is_empty() {
            config.password(&self.password);
        }
        config
    }
}

/// One pooled connection with its prepared statements.
pub(crate) struct Connection {
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
    opened: Instant,
}

impl Connection {
    /// The prepared statement for `sql`, prepared on first use on this connection.
    pub(crate) fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

struct Manager {
    config: postgres::Config,
    session_setup: String,
    max_age: Option<Duration>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        if !self.session_setup.is_empty() {
            client.batch_execute(&self.session_setup)?;
        }
        Ok(Connection {
            client,
            statements: HashMap::new(),
            opened: Instant::now(),
        })
    }

    fn is_valid(&self, connection: &mut Connection) -> Result<(), postgres::Error> {
        connection.client.simple_query("SELECT 1").map(|_| ())
    }

    /// Checked when a connection is given back: a closed connection, or one older than
    /// `POSTGRES_CONN_MAX_AGE`, is dropped rather than kept (so a max age of 0 means a new
    /// connection for each operation, as in the reference).
    fn has_broken(&self, connection: &mut Connection) -> bool {
        connection.client.is_closed()
            || self
                .max_age
                .is_some_and(|max_age| connection.opened.elapsed() >= max_age)
    }
}

/// Forwards the pool's connection errors to `tracing` rather than printing them.
#[derive(Debug)]
struct TracingErrorHandler;

impl r2d2::HandleError<postgres::Error> for TracingErrorHandler {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(%error, "PostgreSQL connection failed");
    }
}

/// A pool of connections to one PostgreSQL database, shared by an application's recorders.
pub struct PostgresDatastore {
    pool: r2d2::Pool<Manager>,
    settings: PostgresSettings,
}

impl std::fmt::Debug for PostgresDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatastore")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("dbname", &self.settings.dbname)
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

/// How many times an operation is tried when its connection fails (the reference's retry).
pub(crate) const MAX_ATTEMPTS: usize = 10;
/// The wait between attempts (plus or minus 5%).
pub(crate) const RETRY_WAIT: Duration = Duration::from_millis(200);

impl PostgresDatastore {
    /// A pool of connections with `settings`. Connections are opened lazily, so this does not
    /// fail when the server is down; the first operation does, after the connect timeout.
    pub fn new(settings: PostgresSettings) -> Result<Self, PersistenceError> {
        let mut session_setup = String::new();
        if !settings.idle_in_transaction_session_timeout.is_zero() {
            session_setup.push_str(&format!(
                "SET idle_in_transaction_session_timeout = '{}ms';",
                settings.idle_in_transaction_session_timeout.as_millis()
            ));
        }
        let manager = Manager {
            config: settings.config(),
            session_setup,
            max_age: settings.conn_max_age,
        };
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size.max(1))
            .min_idle(Some(0))
            // Idle connections past their age are closed by the pool's reaper; the pool
            // refuses (panics on) a zero lifetime, which `has_broken` handles instead.
            .max_lifetime(settings.conn_max_age.filter(|age| !age.is_zero()))
            .idle_timeout(None)
            .connection_timeout(settings.connect_timeout)
            .test_on_check_out(settings.pre_ping)
            .error_handler(Box::new(TracingErrorHandler))
            .build_unchecked(manager);
        Ok(PostgresDatastore { pool, settings })
    }

    /// The settings.
    pub fn settings(&self) -> &PostgresSettings {
        &self.settings
    }

    /// A table name qualified with the schema, if one is set.
    pub(crate) fn qualified(&self, table: &str) -> String {
        match &self.settings.schema {
            Some(schema) => format!("{schema}.{table}"),
            None => table.to_string(),
        }
    }

    /// Runs `work` on a pooled connection. When the connection fails (an interface error,
    /// such as a connection the server closed), the connection is dropped and `work` is tried
    /// again on a new one, up to [`MAX_ATTEMPTS`] times.
    pub(crate) fn with_connection<T>(
        &self,
        mut work: impl FnMut(&mut Connection) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        let mut attempt = 1;
        loop {
            let result = match self.pool.get() {
                Ok(mut connection) => work(&mut connection),
                Err(e) => Err(self.unreachable(e)),
            };
            match result {
                Err(e) if e.kind() == ErrorKind::Interface && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "PostgreSQL connection failed; retrying");
                    attempt += 1;
                    std::thread::sleep(jittered(RETRY_WAIT));
                }
                other => return other,
            }
        }
    }

    /// Runs `work` on a pooled connection once, without retrying.
    pub(crate) fn with_connection_once<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, PersistenceError>,
    ) -> Result<T, PersistenceError> {
        let mut connection = self.pool.get().map_err(|e| self.unreachable(e))?;
        work(&mut connection)
    }

    fn unreachable(&self, error: r2d2::Error) -> PersistenceError {
        PersistenceError::database_caused_by(
            ErrorKind::Operational,
            format!(
                "can't connect to PostgreSQL at {}:{} (database {:?}) within {:?}",
                self.settings.host,
                self.settings.port,
                self.settings.dbname,
                self.settings.connect_timeout
            ),
            error,
        )
    }

    /// Creates tables (and the schema) if they do not exist. Concurrent `CREATE TABLE IF NOT
    /// EXISTS` can fail in PostgreSQL, so creators take turns on an advisory lock.
    pub(crate) fn create_tables(&self, ddl: &str) -> Result<(), PersistenceError> {
        let schema = match &self.settings.schema {
            Some(schema) => format!("CREATE SCHEMA IF NOT EXISTS {schema};"),
            None => String::new(),
        };
        let sql =
            format!("BEGIN; SELECT pg_advisory_xact_lock(4657926538279); {schema} {ddl} COMMIT;");
        self.with_connection(|connection| {
            connection.client.batch_execute(&sql).map_err(|e| {
                if !connection.client.is_closed() {
                    let _ = connection.client.batch_execute("ROLLBACK");
                }
                postgres_error(e, "can't create tables")
            })
        })
    }
}

/// `wait`, plus or minus 5%.
pub(crate) fn jittered(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.95 + 0.1 * f64::from(nanos % 1000) / 1000.0;
    wait.mul_f64(factor)
}
