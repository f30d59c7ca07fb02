//! How the PostgreSQL backend connects and behaves: [`PostgresSettings`], the reference's
//! `POSTGRES_*` settings.

use std::time::Duration;

/// How a [`PostgresDatastore`](super::PostgresDatastore) connects and behaves: the
/// reference's `POSTGRES_*` settings.
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
    /// `POSTGRES_CONN_MAX_AGE`: a connection opened this long ago is not used again, but
    /// closed and replaced when next taken from the pool (`None`: keep connections; zero: a new
    /// connection for each operation, as in the reference).
    pub conn_max_age: Option<Duration>,
    /// `POSTGRES_PRE_PING`: check a connection with a round trip before each use (the pool's
    /// verified recycling), replacing it if the check fails.
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
    /// `POSTGRES_CONNECT_TIMEOUT`: how long to wait for a connection (default 5 s): to open
    /// one (TCP connect, startup and authentication), to check it before use, and for one of
    /// the pool's to be free. An unreachable server is an operational error after this long.
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

    /// The driver's configuration.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
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
