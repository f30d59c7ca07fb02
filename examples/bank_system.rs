//! The bank accounts system deployed as several processes around one store (feature `system`):
//! a leader process that runs the bank, and worker processes that follow it — a process
//! application keeping each account's activity, and a projection of the balances into a view
//! of its own — each of which may run as several replicas, exactly one active.
//!
//! ```text
//! cargo run --example bank_system --features system -- leader          # the bank, moving money
//! cargo run --example bank_system --features system -- worker ledger   # the activity ledger
//! cargo run --example bank_system --features system -- worker balances # the balances view
//! cargo run --example bank_system --features system -- status          # positions and lags
//! ```
//!
//! With `POSTGRES_HOST` (and the other `POSTGRES_*` variables) set, everything is in that
//! PostgreSQL database, and workers may run on other machines; otherwise in SQLite files in
//! `$TMPDIR/eventsourcing-examples-bank-system/`, for processes on this machine. Start a worker
//! twice: the second stands by, and takes over within half a second when the first is killed.
//!
//! The parts: [`Store`] says where everything is; [`bank`] is the leader's application (the
//! [`BankAccounts`] of the `bank_accounts` example, unchanged: a leader knows nothing of its
//! followers); [`Ledger`] is a process application that keeps an [`Activity`] per account;
//! [`SqliteBalances`] and [`PostgresBalances`] project the balances into a [`BalancesView`].
//! Each worker is a [`Worker`](eventsourcing::worker::Worker) holding the store's
//! [lease](Store::lease) while it runs its job ([`ledger_system`], [`BalancesView::job`]);
//! [`positions`] says how far behind the bank each follower is.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eventsourcing::application::{Application, ApplicationBuilder, AsyncApplication};
use eventsourcing::domain::BoxError;
use eventsourcing::persistence::{Environment, Lease, Position, Tracking, View};
use eventsourcing::postgres::{self, PostgresView, PostgresViewTransaction};
use eventsourcing::prelude::*;
use eventsourcing::projection::Projection;
use eventsourcing::sqlite::{SqliteDatastore, SqliteLease, SqliteView, SqliteViewTransaction};
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, System};
use eventsourcing::worker::{Job, ProjectionJob};

use crate::bank_accounts::{BankAccountEvent, BankAccounts, Decimal};

/// Where the system's processes keep their events, views and leases.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite files in this directory (processes on one machine).
    Sqlite(PathBuf),
    /// The PostgreSQL database of the `POSTGRES_*` variables, with these settings given in code
    /// over the process environment (`POSTGRES_SCHEMA`, say; none for a program).
    Postgres(Vec<(String, String)>),
}

impl Store {
    /// PostgreSQL if `POSTGRES_HOST` is set, else SQLite files in the temporary directory.
    pub fn from_env() -> Self {
        if std::env::var_os("POSTGRES_HOST").is_some() {
            Store::Postgres(Vec::new())
        } else {
            Store::Sqlite(std::env::temp_dir().join("eventsourcing-examples-bank-system"))
        }
    }

    /// A builder of the application `name`, over this store (the process environment, for
    /// `POSTGRES_*`, `CIPHER_KEY`, …); `file` is its SQLite file's name.
    pub fn builder(&self, name: &str, file: &str) -> Result<ApplicationBuilder, BoxError> {
        let builder = Application::builder(name);
        Ok(match self {
            Store::Sqlite(dir) => {
                std::fs::create_dir_all(dir)?;
                builder.sqlite(dir.join(file))
            }
            Store::Postgres(settings) => builder
                .env("PERSISTENCE_MODULE", "eventsourcing.postgres")
                .envs(settings.iter().cloned()),
        })
    }

    /// A PostgreSQL datastore for what is not an application's (views, leases).
    fn postgres_datastore(
        settings: &[(String, String)],
    ) -> Result<Arc<postgres::PostgresDatastore>, BoxError> {
        let mut env = Environment::from_process("BankSystem");
        for (key, value) in settings {
            env.set(key, value);
        }
        let settings = postgres::settings_from_env(&env)?;
        Ok(Arc::new(postgres::PostgresDatastore::new(settings)?))
    }

    /// The lease of the worker `name`: one active replica at a time.
    pub fn lease(&self, name: &str) -> Result<Arc<dyn Lease>, BoxError> {
        Ok(match self {
            Store::Sqlite(dir) => {
                std::fs::create_dir_all(dir)?;
                Arc::new(SqliteLease::new(dir.join(format!("{name}.lock"))))
            }
            Store::Postgres(settings) => {
                // A lease is a lock of the whole database: its name says which schema's.
                let schema = settings
                    .iter()
                    .find(|(key, _)| key == "POSTGRES_SCHEMA")
                    .map(|(_, schema)| schema.clone())
                    .or_else(|| std::env::var("POSTGRES_SCHEMA").ok())
                    .unwrap_or_default();
                Arc::new(postgres::PostgresLease::new(
                    Self::postgres_datastore(settings)?,
                    format!("bank-system-{schema}-{name}"),
                ))
            }
        })
    }

    /// The balances view, with its table (in `balances.db`, or the PostgreSQL database).
    pub fn balances_view(&self) -> Result<BalancesView, BoxError> {
        Ok(match self {
            Store::Sqlite(dir) => {
                std::fs::create_dir_all(dir)?;
                let path = dir.join("balances.db");
                let datastore = Arc::new(SqliteDatastore::open(path.to_string_lossy())?);
                let view = SqliteView::new(datastore, "balances")?;
                view.execute_batch(
                    "CREATE TABLE IF NOT EXISTS account_balances \
                     (account_id TEXT PRIMARY KEY, full_name TEXT, balance TEXT)",
                )?;
                BalancesView::Sqlite(Arc::new(view))
            }
            Store::Postgres(settings) => {
                let view = PostgresView::new(Self::postgres_datastore(settings)?, "balances")?;
                view.execute_batch(
                    "CREATE TABLE IF NOT EXISTS account_balances \
                     (account_id uuid PRIMARY KEY, full_name text, balance numeric)",
                )?;
                BalancesView::Postgres(Arc::new(view))
            }
        })
    }

    /// What is described where, for people.
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite(dir) => format!("SQLite files in {}", dir.display()),
            Store::Postgres(_) => "PostgreSQL (POSTGRES_* variables)".to_string(),
        }
    }
}

/// The leader: the bank accounts application.
pub fn bank(store: &Store) -> Result<BankAccounts, BoxError> {
    Ok(BankAccounts::with_builder(
        store.builder("BankAccounts", "bank.db")?,
    )?)
}

/// The bank's async face (for the balances projection, which follows it as a task).
pub async fn bank_async(store: &Store) -> Result<AsyncApplication, BoxError> {
    Ok(store
        .builder("BankAccounts", "bank.db")?
        .build_async()
        .await?)
}

/// An account's activity, as the ledger keeps it: how many transactions, credited and debited.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    transactions: u64,
    credited: Decimal,
    debited: Decimal,
}

#[aggregate(module = "bank_system")]
impl Activity {
    /// The activity of `account_id` has the same id.
    #[created("Started")]
    pub fn start(id: Uuid) -> Self {
        Activity {
            transactions: 0,
            credited: Decimal::ZERO,
            debited: Decimal::ZERO,
        }
    }

    /// A transaction of `amount` (negative for a debit).
    #[event("Recorded")]
    pub fn record(&mut self, amount: Decimal) {
        self.transactions += 1;
        if amount >= Decimal::ZERO {
            self.credited += amount;
        } else {
            self.debited -= amount;
        }
    }

    /// How many transactions.
    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    /// Credits less debits: the account's balance, if every transaction was recorded once.
    pub fn net(&self) -> Decimal {
        self.credited - self.debited
    }
}

/// The ledger: a process application following the bank, one `Activity` per account.
pub struct Ledger {
    app: Application,
}

impl AsRef<Application> for Ledger {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Ledger {
    /// The ledger over `store`.
    pub fn new(store: &Store) -> Result<Self, BoxError> {
        Ok(Ledger {
            app: store.builder("Ledger", "ledger.db")?.build()?,
        })
    }

    /// The activity of the account `id`, if it has had any.
    pub fn activity(&self, id: Uuid) -> Result<Option<Activity>, BoxError> {
        match self.app.repository().get(id) {
            Ok(activity) => Ok(Some(activity)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

impl Process for Ledger {
    type Upstream = DomainEvent<BankAccountEvent>;

    fn policy(
        &self,
        event: DomainEvent<BankAccountEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        if let BankAccountEvent::TransactionAppended { amount, .. } = event.payload {
            let id = event.originator_id;
            let mut activity = processing.get_or_else(id, || Activity::start(id))?;
            activity.record(amount);
            processing.save(&mut activity)?;
        }
        Ok(())
    }
}

/// The balances projection into an SQLite view (`account_balances`).
pub struct SqliteBalances;

impl Projection for SqliteBalances {
    type Upstream = DomainEvent<BankAccountEvent>;
    type View = SqliteView;

    fn process(
        &self,
        event: DomainEvent<BankAccountEvent>,
        _tracking: &Tracking,
        view: &mut SqliteViewTransaction<'_>,
    ) -> Result<(), BoxError> {
        let id = event.originator_id.to_string();
        match event.payload {
            BankAccountEvent::Opened { full_name, .. } => {
                view.execute(
                    "INSERT OR IGNORE INTO account_balances VALUES (?, ?, '0.00')",
                    (&id, &full_name),
                )?;
            }
            BankAccountEvent::TransactionAppended { amount, .. } => {
                let balance: String = view.query_row(
                    "SELECT balance FROM account_balances WHERE account_id = ?",
                    [&id],
                    |row| row.get(0),
                )?;
                let balance = balance.parse::<Decimal>()? + amount;
                view.execute(
                    "UPDATE account_balances SET balance = ? WHERE account_id = ?",
                    (balance.to_string(), &id),
                )?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The balances projection into a PostgreSQL view (`account_balances`).
pub struct PostgresBalances;

impl Projection for PostgresBalances {
    type Upstream = DomainEvent<BankAccountEvent>;
    type View = PostgresView;

    fn process(
        &self,
        event: DomainEvent<BankAccountEvent>,
        _tracking: &Tracking,
        view: &mut PostgresViewTransaction,
    ) -> Result<(), BoxError> {
        match event.payload {
            BankAccountEvent::Opened { full_name, .. } => view.execute(
                "INSERT INTO account_balances VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                vec![
                    postgres::param(event.originator_id),
                    postgres::param(full_name),
                ],
            ),
            BankAccountEvent::TransactionAppended { amount, .. } => view.execute(
                "UPDATE account_balances SET balance = balance + $2::text::numeric \
                 WHERE account_id = $1",
                vec![
                    postgres::param(event.originator_id),
                    postgres::param(amount.to_string()),
                ],
            ),
            _ => {}
        }
        Ok(())
    }
}

/// The balances view: `account_balances` (account id, full name, balance), in SQLite or
/// PostgreSQL.
#[derive(Debug, Clone)]
pub enum BalancesView {
    /// In SQLite, projected by [`SqliteBalances`].
    Sqlite(Arc<SqliteView>),
    /// In PostgreSQL, projected by [`PostgresBalances`].
    Postgres(Arc<PostgresView>),
}

impl BalancesView {
    /// The job of projecting `bank`'s events into this view.
    pub fn job(&self, bank: Arc<AsyncApplication>) -> Box<dyn Job> {
        match self {
            BalancesView::Sqlite(view) => Box::new(ProjectionJob::new(
                bank,
                Arc::new(SqliteBalances),
                Arc::clone(view),
            )),
            BalancesView::Postgres(view) => Box::new(ProjectionJob::new(
                bank,
                Arc::new(PostgresBalances),
                Arc::clone(view),
            )),
        }
    }

    /// The balances: account id, name and balance, largest first (at most `limit`).
    pub fn balances(&self, limit: usize) -> Result<Vec<(Uuid, String, Decimal)>, BoxError> {
        match self {
            BalancesView::Sqlite(view) => {
                let rows: Vec<(String, String, String)> = view.read(|c| {
                    let mut statement = c.prepare(
                        "SELECT account_id, full_name, balance FROM account_balances \
                         ORDER BY CAST(balance AS REAL) DESC LIMIT ?",
                    )?;
                    let rows = statement.query_map([limit as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?;
                    rows.collect()
                })?;
                rows.into_iter()
                    .map(|(id, name, balance)| Ok((id.parse()?, name, balance.parse()?)))
                    .collect()
            }
            BalancesView::Postgres(view) => view
                .query(
                    "SELECT account_id, full_name, balance::text FROM account_balances \
                     ORDER BY account_balances.balance DESC LIMIT $1",
                    vec![postgres::param(limit as i64)],
                )?
                .iter()
                .map(|row| Ok((row.get(0), row.get(1), row.get::<_, String>(2).parse()?)))
                .collect(),
        }
    }

    /// The name of the projection (the follower, in positions).
    pub fn projection(&self) -> &'static str {
        match self {
            BalancesView::Sqlite(_) => "SqliteBalances",
            BalancesView::Postgres(_) => "PostgresBalances",
        }
    }

    /// The last notification of `leader` projected into the view.
    pub fn max_tracking_id(&self, leader: &str) -> Result<u64, BoxError> {
        Ok(match self {
            BalancesView::Sqlite(view) => view.max_tracking_id(leader)?,
            BalancesView::Postgres(view) => view.max_tracking_id(leader)?,
        })
    }
}

/// Where each follower is: the ledger's and the balances view's positions behind the bank.
pub fn positions(store: &Store) -> Result<Vec<Position>, BoxError> {
    let bank = bank(store)?;
    let head = bank.app().recorder().max_notification_id()?;
    let ledger = Ledger::new(store)?;
    let view = store.balances_view()?;
    Ok(vec![
        Position {
            leader: "BankAccounts".into(),
            follower: "Ledger".into(),
            processed: ledger.app.recorder().max_tracking_id("BankAccounts")?,
            head,
        },
        Position {
            leader: "BankAccounts".into(),
            follower: view.projection().into(),
            processed: view.max_tracking_id("BankAccounts")?,
            head,
        },
    ])
}

/// The ledger's system: the bank, followed by the ledger.
pub fn ledger_system(store: &Store) -> Result<impl Fn() -> System + Send + Sync, BoxError> {
    let bank = Arc::new(bank(store)?);
    let ledger = Arc::new(Ledger::new(store)?);
    Ok(move || System::new().pipe(&bank, &ledger))
}

impl AsRef<Application> for BankAccounts {
    fn as_ref(&self) -> &Application {
        self.app()
    }
}

/// A pseudo-random number generator, so that the leader's traffic needs no dependency.
#[derive(Debug)]
pub struct Traffic(u64);

impl Traffic {
    /// Seeded with the time.
    pub fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Traffic(seed | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Self::new()
    }
}

/// One command of the leader's traffic on `accounts`: a deposit, a withdrawal or a transfer.
/// Returns what it did, for people (refusals included).
pub fn move_money(
    bank: &BankAccounts,
    accounts: &[Uuid],
    traffic: &mut Traffic,
) -> Result<String, BoxError> {
    let pick = |traffic: &mut Traffic| accounts[traffic.below(accounts.len() as u64) as usize];
    let amount = Decimal::new(traffic.below(10_000) as i64 + 1, 2);
    let (what, result) = match traffic.below(3) {
        0 => {
            let id = pick(traffic);
            (
                format!("deposit {amount} into {id}"),
                bank.deposit_funds(id, amount),
            )
        }
        1 => {
            let id = pick(traffic);
            (
                format!("withdraw {amount} from {id}"),
                bank.withdraw_funds(id, amount),
            )
        }
        _ => {
            let (from, to) = (pick(traffic), pick(traffic));
            if from == to {
                return Ok(format!("skip a transfer from {from} to itself"));
            }
            (
                format!("transfer {amount} from {from} to {to}"),
                bank.transfer_funds(from, to, amount),
            )
        }
    };
    Ok(match result {
        Ok(()) => what,
        Err(crate::bank_accounts::BankAccountError::Application(error)) => return Err(error.into()),
        Err(refused) => format!("{what}: refused ({refused})"),
    })
}

/// Reads the accounts the bank has, opening `n` if it has none.
pub fn accounts(bank: &BankAccounts, n: usize) -> Result<Vec<Uuid>, BoxError> {
    let mut ids: Vec<Uuid> = bank.accounts()?.into_iter().map(|(id, _)| id).collect();
    if ids.is_empty() {
        for i in 0..n {
            let id = bank.open_account(
                &format!("Customer {i}"),
                &format!("customer{i}@example.com"),
            )?;
            bank.deposit_funds(id, Decimal::new(10_000, 2))?;
            ids.push(id);
        }
    }
    Ok(ids)
}

/// How long the leader waits between commands.
pub const LEADER_PAUSE: Duration = Duration::from_millis(200);
