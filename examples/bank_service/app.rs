//! [`AsyncBankAccounts`]: the bank accounts application over an
//! [`AsyncApplication`], its commands retried when another writer saved the same account
//! first.

use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use eventsourcing::application::{
    Application, ApplicationBuilder, ApplicationError, AsyncApplication,
};
use eventsourcing::prelude::*;

use crate::bank_accounts::{BankAccount, BankAccountError, BankAccounts, Decimal, OpenedAccount};

/// How many times a command runs, at most, when other writers keep saving the same account
/// first, unless [`AsyncBankAccounts::with_max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// The BankAccounts application, awaited: the commands and queries of the blocking
/// [`BankAccounts`], on the same [`BankAccount`] aggregate and with the same
/// [`BankAccountError`]s, over an [`AsyncApplication`], so that an HTTP handler can await them
/// without holding a thread while the database works.
///
/// Each command gets the account, runs the aggregate's command method, and saves. If another
/// writer saved a new version of the account in between (a version conflict: the
/// optimistic concurrency control of the event store), the command starts again from getting
/// the account, after a short random pause, up to [`max_attempts`](Self::max_attempts) times in
/// all; after that the conflict is returned. A command the aggregate refuses (insufficient
/// funds, a closed account) is not retried: running it again on the same state would refuse
/// it again.
///
/// ```
/// use eventsourcing::domain::Aggregate; // id(), version()
/// use eventsourcing_examples::bank_accounts::{BankAccountError, Decimal};
/// use eventsourcing_examples::bank_service::AsyncBankAccounts;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BankAccountError> {
/// let builder = AsyncBankAccounts::builder().without_process_env();
/// let accounts = AsyncBankAccounts::with_builder(builder).await?;
/// let alice = accounts.open_account("Alice", "alice@example.com").await?;
/// let bob = accounts.open_account("Bob", "bob@example.com").await?;
/// accounts.deposit_funds(alice.id(), Decimal::new(20000, 2)).await?; // 200.00
/// accounts.transfer_funds(alice.id(), bob.id(), Decimal::new(5000, 2)).await?;
/// assert_eq!(accounts.get_account(alice.id()).await?.balance(), Decimal::new(150, 0));
///
/// let refused = accounts.withdraw_funds(bob.id(), Decimal::new(51, 0)).await;
/// assert!(matches!(refused, Err(BankAccountError::InsufficientFunds { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncBankAccounts {
    app: AsyncApplication,
    max_attempts: u32,
}

impl AsyncBankAccounts {
    /// A builder of the application, starting from the process environment: the same name
    /// (`BankAccounts`, so the same `BANKACCOUNTS_...` variables) and so the same stored events
    /// as the blocking [`BankAccounts`].
    pub fn builder() -> ApplicationBuilder {
        Application::builder(BankAccounts::NAME)
    }

    /// The application that `builder` builds (awaited inside a tokio runtime), with
    /// [`DEFAULT_MAX_ATTEMPTS`].
    pub async fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(AsyncBankAccounts {
            app: builder.build_async().await?,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        })
    }

    /// Runs each command at most `max_attempts` times when it meets version conflicts (at least
    /// once: 0 counts as 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How many times a command runs, at most, when it meets version conflicts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The underlying application.
    pub fn app(&self) -> &AsyncApplication {
        &self.app
    }

    /// Opens an account and returns it, saved.
    pub async fn open_account(
        &self,
        full_name: &str,
        email_address: &str,
    ) -> Result<BankAccount, BankAccountError> {
        let mut account = BankAccount::open(full_name.to_string(), email_address.to_string());
        self.app.save(&mut account).await?;
        Ok(account)
    }

    /// The account `account_id`, or [`BankAccountError::AccountNotFound`].
    pub async fn get_account(&self, account_id: Uuid) -> Result<BankAccount, BankAccountError> {
        self.app
            .repository()
            .get(account_id)
            .await
            .map_err(|error| not_found(error, account_id))
    }

    /// Credits `amount` to the account `credit_account_id`, and returns the account as saved.
    pub async fn deposit_funds(
        &self,
        credit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<BankAccount, BankAccountError> {
        self.change(credit_account_id, |account| {
            account.append_transaction(amount, None)
        })
        .await
    }

    /// Debits `amount` from the account `debit_account_id`, and returns the account as saved.
    pub async fn withdraw_funds(
        &self,
        debit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<BankAccount, BankAccountError> {
        self.change(debit_account_id, |account| {
            account.append_transaction(-amount, None)
        })
        .await
    }

    /// Moves `amount` from one account to another: both transactions, with one transaction
    /// id, are saved in one atomic insert, or neither is. Returns the transaction id and the
    /// two accounts as saved. The two accounts must differ
    /// ([`BankAccountError::SameAccount`]).
    pub async fn transfer_funds(
        &self,
        debit_account_id: Uuid,
        credit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<(Uuid, BankAccount, BankAccount), BankAccountError> {
        if debit_account_id == credit_account_id {
            return Err(BankAccountError::SameAccount(debit_account_id));
        }
        let transaction_id = Uuid::new_v4();
        self.retrying(|| async move {
            let mut debit_account = self.get_account(debit_account_id).await?;
            let mut credit_account = self.get_account(credit_account_id).await?;
            debit_account.append_transaction(-amount, Some(transaction_id))?;
            credit_account.append_transaction(amount, Some(transaction_id))?;
            self.app
                .save((&mut debit_account, &mut credit_account))
                .await?;
            Ok((transaction_id, debit_account, credit_account))
        })
        .await
    }

    /// Sets the overdraft limit of the account `account_id`, and returns the account as saved.
    pub async fn set_overdraft_limit(
        &self,
        account_id: Uuid,
        overdraft_limit: Decimal,
    ) -> Result<BankAccount, BankAccountError> {
        self.change(account_id, |account| {
            account.set_overdraft_limit(overdraft_limit)
        })
        .await
    }

    /// Closes the account `account_id`, and returns it. Closing a closed account changes
    /// nothing and records nothing (so that a client may safely send the request again).
    pub async fn close_account(&self, account_id: Uuid) -> Result<BankAccount, BankAccountError> {
        self.change(account_id, |account| {
            if !account.is_closed() {
                account.close();
            }
            Ok(())
        })
        .await
    }

    /// The accounts opened so far, in the order they were opened: read from the notification
    /// log (a projection computed on demand, reading the whole log: fine for an example, not
    /// for a bank).
    pub async fn accounts(&self) -> Result<Vec<OpenedAccount>, BankAccountError> {
        let log = self.app.log();
        let mut accounts = Vec::new();
        let mut start = 1;
        loop {
            let notifications = log.select(start, log.section_size()).await?;
            let Some(last) = notifications.last() else {
                break;
            };
            start = last.id + 1;
            for notification in &notifications {
                accounts.extend(OpenedAccount::in_notification(
                    self.app.mapper(),
                    notification,
                )?);
            }
        }
        Ok(accounts)
    }

    /// Gets the account `account_id`, runs `command` on it and saves what it recorded (if
    /// anything), again from the get on a version conflict (see [`retrying`](Self::retrying));
    /// returns the account as saved.
    async fn change(
        &self,
        account_id: Uuid,
        command: impl Fn(&mut BankAccount) -> Result<(), BankAccountError>,
    ) -> Result<BankAccount, BankAccountError> {
        self.retrying(|| async {
            let mut account = self.get_account(account_id).await?;
            command(&mut account)?;
            self.app.save(&mut account).await?;
            Ok(account)
        })
        .await
    }

    /// Runs `command` until it succeeds, fails otherwise than by a version conflict, or has
    /// run [`max_attempts`](Self::max_attempts) times.
    async fn retrying<T, F, Fut>(&self, command: F) -> Result<T, BankAccountError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BankAccountError>>,
    {
        retry_on_conflict(self.max_attempts, command).await
    }
}

/// Runs `command` until it succeeds, fails otherwise than by a version conflict
/// ([`is_conflict`]), or has run `max_attempts` times (at least once); between attempts, waits
/// a random time that grows with each attempt (up to 1 ms after the first, 2 ms after the
/// second, and so on to 32 ms), so that writers that collided spread out. Returns the last
/// attempt's result.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use eventsourcing::persistence::PersistenceError;
/// use eventsourcing::application::ApplicationError;
/// use eventsourcing_examples::bank_accounts::BankAccountError;
/// use eventsourcing_examples::bank_service::retry_on_conflict;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let conflict = || BankAccountError::Application(ApplicationError::Persistence(
///     PersistenceError::Conflict { originator_id: uuid::Uuid::nil(), originator_version: 2 },
/// ));
/// let runs = AtomicU32::new(0);
/// let result = retry_on_conflict(5, || async {
///     // Conflicts twice, then succeeds.
///     if runs.fetch_add(1, Ordering::Relaxed) < 2 { Err(conflict()) } else { Ok("saved") }
/// })
/// .await;
/// assert_eq!(result.unwrap(), "saved");
/// assert_eq!(runs.load(Ordering::Relaxed), 3);
/// # }
/// ```
pub async fn retry_on_conflict<T, F, Fut>(
    max_attempts: u32,
    mut command: F,
) -> Result<T, BankAccountError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BankAccountError>>,
{
    let mut attempt = 1;
    loop {
        match command().await {
            Err(error) if is_conflict(&error) && attempt < max_attempts => {
                pause(attempt).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether `error` is a version conflict: another writer saved a new version of an account
/// the command had got, between the get and the save. Getting the account again and running
/// the command again may succeed.
pub fn is_conflict(error: &BankAccountError) -> bool {
    matches!(error, BankAccountError::Application(error) if error.is_integrity())
}

/// Waits a random time below `2^(attempt - 1)` milliseconds (at most 32 ms).
async fn pause(attempt: u32) {
    let ceiling_micros = 1000u64 << attempt.saturating_sub(1).min(5);
    // A randomly keyed hasher is random enough to spread retries, without a dependency.
    let random = std::collections::hash_map::RandomState::new().hash_one(attempt);
    tokio::time::sleep(Duration::from_micros(random % ceiling_micros)).await;
}

/// [`BankAccountError::AccountNotFound`] if `error` says the account has no events.
fn not_found(error: ApplicationError, account_id: Uuid) -> BankAccountError {
    if error.is_not_found() {
        BankAccountError::AccountNotFound(account_id)
    } else {
        error.into()
    }
}
