//! Bank accounts: deposits, withdrawals, transfers, overdraft limits and closing (the
//! reference library's bank accounts example, digest §6.1).
//!
//! Amounts are [`rust_decimal::Decimal`]s, as the reference's are Python `Decimal`s. A decimal
//! type earns its place here over integer cents: amounts are exact (no binary floating point),
//! they keep the scale they were written with (`"150.00"`), equality ignores trailing zeros as
//! the reference's assertions expect (`50.00 == 50`), and they are stored as the reference's
//! `DecimalAsStr` transcoding stores them (`{"_type_":"decimal_str","_data_":"200.00"}`, the
//! library's `decimal` feature), which round-trips exactly. Integer cents would fix every amount to one currency's minor unit and
//! push conversions into every call.
//!
//! The reference raises `AccountNotFoundError`, `AccountClosedError`, `InsufficientFundsError`
//! and, for a negative overdraft limit, `AssertionError`; here they are the variants of
//! [`BankAccountError`]. A command that fails records nothing: the checks run before the event
//! is triggered, and a transfer saves both accounts in one atomic insert or neither.
//!
//! ```
//! use eventsourcing_examples::bank_accounts::{BankAccountError, BankAccounts, Decimal};
//!
//! # fn main() -> Result<(), BankAccountError> {
//! let accounts = BankAccounts::with_builder(BankAccounts::builder().without_process_env())?;
//! let alice = accounts.open_account("Alice", "alice@example.com")?;
//! let bob = accounts.open_account("Bob", "bob@example.com")?;
//! accounts.deposit_funds(alice, Decimal::new(20000, 2))?; // 200.00
//! accounts.transfer_funds(alice, bob, Decimal::new(5000, 2))?; // 50.00
//! assert_eq!(accounts.get_balance(alice)?, Decimal::new(150, 0));
//! assert_eq!(accounts.get_balance(bob)?, Decimal::new(50, 0));
//!
//! let error = accounts.withdraw_funds(bob, Decimal::new(51, 0)).unwrap_err();
//! assert!(matches!(error, BankAccountError::InsufficientFunds { .. }));
//! # Ok(())
//! # }
//! ```

use std::io::Write;

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::persistence::{Mapper, Notification, Transcoder};
use eventsourcing::prelude::*;

/// The decimal type of amounts, re-exported so that users of this module need no dependency
/// of their own.
pub use rust_decimal::Decimal;

/// An error of a bank account command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BankAccountError {
    /// There is no account with this id (the reference's `AccountNotFoundError`).
    #[error("account {0} not found")]
    AccountNotFound(Uuid),

    /// The account is closed: no transactions, no changes of its overdraft limit (the
    /// reference's `AccountClosedError`).
    #[error("account {0} is closed")]
    AccountClosed(Uuid),

    /// The transaction would take the balance below the overdraft limit (the reference's
    /// `InsufficientFundsError`).
    #[error("insufficient funds in account {account_id}: balance {balance}, overdraft limit {overdraft_limit}, transaction {amount}")]
    InsufficientFunds {
        /// The account.
        account_id: Uuid,
        /// Its balance.
        balance: Decimal,
        /// Its overdraft limit.
        overdraft_limit: Decimal,
        /// The amount of the transaction that was refused (negative for a debit).
        amount: Decimal,
    },

    /// An overdraft limit must not be negative (the reference asserts it).
    #[error("an overdraft limit can't be negative: {0}")]
    NegativeOverdraftLimit(Decimal),

    /// The amount is beyond what a balance can hold.
    #[error("amount {0} is out of range")]
    AmountOutOfRange(Decimal),

    /// A transfer's two accounts are one: money can't move from an account to itself.
    #[error("can't transfer from account {0} to itself")]
    SameAccount(Uuid),

    /// Storing or reading failed.
    #[error(transparent)]
    Application(#[from] ApplicationError),
}

/// A bank account.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankAccount {
    full_name: String,
    email_address: String,
    balance: Decimal,
    overdraft_limit: Decimal,
    is_closed: bool,
}

#[aggregate]
impl BankAccount {
    /// Opens an account (`BankAccount.Opened`) with a zero balance and no overdraft.
    #[created("Opened")]
    pub fn open(full_name: String, email_address: String) -> Self {
        BankAccount {
            full_name,
            email_address,
            balance: Decimal::new(0, 2),
            overdraft_limit: Decimal::new(0, 2),
            is_closed: false,
        }
    }

    /// Credits (positive `amount`) or debits (negative `amount`) the account, if it is open
    /// and has the funds.
    pub fn append_transaction(
        &mut self,
        amount: Decimal,
        transaction_id: Option<Uuid>,
    ) -> Result<(), BankAccountError> {
        self.check_account_is_not_closed()?;
        self.check_has_sufficient_funds(amount)?;
        self.transaction_appended(amount, transaction_id);
        Ok(())
    }

    /// `BankAccount.TransactionAppended`: the checks have passed.
    #[event("TransactionAppended")]
    fn transaction_appended(&mut self, amount: Decimal, transaction_id: Option<Uuid>) {
        // Recorded for the transfer's two sides to be matched up; the balance doesn't need it.
        let _ = transaction_id;
        self.balance += amount;
    }

    /// Sets the overdraft limit: how far below zero the balance may go.
    pub fn set_overdraft_limit(
        &mut self,
        overdraft_limit: Decimal,
    ) -> Result<(), BankAccountError> {
        if overdraft_limit < Decimal::ZERO {
            return Err(BankAccountError::NegativeOverdraftLimit(overdraft_limit));
        }
        self.check_account_is_not_closed()?;
        self.overdraft_limit_set(overdraft_limit);
        Ok(())
    }

    /// `BankAccount.OverdraftLimitSet`.
    #[event("OverdraftLimitSet")]
    fn overdraft_limit_set(&mut self, overdraft_limit: Decimal) {
        self.overdraft_limit = overdraft_limit;
    }

    /// Closes the account (`BankAccount.Closed`).
    #[event("Closed")]
    pub fn close(&mut self) {
        self.is_closed = true;
    }

    fn check_account_is_not_closed(&self) -> Result<(), BankAccountError> {
        if self.is_closed {
            return Err(BankAccountError::AccountClosed(self.id()));
        }
        Ok(())
    }

    fn check_has_sufficient_funds(&self, amount: Decimal) -> Result<(), BankAccountError> {
        let new_balance = self
            .balance
            .checked_add(amount)
            .ok_or(BankAccountError::AmountOutOfRange(amount))?;
        if new_balance < -self.overdraft_limit {
            return Err(BankAccountError::InsufficientFunds {
                account_id: self.id(),
                balance: self.balance,
                overdraft_limit: self.overdraft_limit,
                amount,
            });
        }
        Ok(())
    }

    /// The account holder's full name.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }

    /// The account holder's email address.
    pub fn email_address(&self) -> &str {
        &self.email_address
    }

    /// The balance.
    pub fn balance(&self) -> Decimal {
        self.balance
    }

    /// How far below zero the balance may go.
    pub fn overdraft_limit(&self) -> Decimal {
        self.overdraft_limit
    }

    /// Whether the account is closed.
    pub fn is_closed(&self) -> bool {
        self.is_closed
    }
}

/// The BankAccounts application.
#[derive(Debug)]
pub struct BankAccounts {
    app: Application,
}

impl BankAccounts {
    /// The application's name: the prefix of its environment variables (`BANKACCOUNTS_...`).
    pub const NAME: &'static str = "BankAccounts";

    /// The application configured from the process environment (in memory unless configured
    /// otherwise).
    pub fn new() -> Result<Self, ApplicationError> {
        Self::with_builder(Self::builder())
    }

    /// A builder of the application, starting from the process environment.
    pub fn builder() -> ApplicationBuilder {
        Application::builder(Self::NAME)
    }

    /// The application that `builder` builds.
    pub fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(BankAccounts {
            app: builder.build()?,
        })
    }

    /// The underlying application.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// Opens an account and returns its id.
    pub fn open_account(
        &self,
        full_name: &str,
        email_address: &str,
    ) -> Result<Uuid, BankAccountError> {
        let mut account = BankAccount::open(full_name.to_string(), email_address.to_string());
        self.app.save(&mut account)?;
        Ok(account.id())
    }

    /// The account `account_id`, or [`BankAccountError::AccountNotFound`].
    pub fn get_account(&self, account_id: Uuid) -> Result<BankAccount, BankAccountError> {
        self.app.repository().get(account_id).map_err(|error| {
            if error.is_not_found() {
                BankAccountError::AccountNotFound(account_id)
            } else {
                error.into()
            }
        })
    }

    /// The balance of the account `account_id`.
    pub fn get_balance(&self, account_id: Uuid) -> Result<Decimal, BankAccountError> {
        Ok(self.get_account(account_id)?.balance())
    }

    /// Credits `amount` to the account `credit_account_id`.
    pub fn deposit_funds(
        &self,
        credit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<(), BankAccountError> {
        let mut account = self.get_account(credit_account_id)?;
        account.append_transaction(amount, None)?;
        self.app.save(&mut account)?;
        Ok(())
    }

    /// Debits `amount` from the account `debit_account_id`.
    pub fn withdraw_funds(
        &self,
        debit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<(), BankAccountError> {
        let mut account = self.get_account(debit_account_id)?;
        account.append_transaction(-amount, None)?;
        self.app.save(&mut account)?;
        Ok(())
    }

    /// Moves `amount` from one account to another: both transactions are saved in one atomic
    /// insert, or neither is (if either account refuses, nothing is saved). The two accounts
    /// must differ ([`BankAccountError::SameAccount`]).
    pub fn transfer_funds(
        &self,
        debit_account_id: Uuid,
        credit_account_id: Uuid,
        amount: Decimal,
    ) -> Result<(), BankAccountError> {
        if debit_account_id == credit_account_id {
            return Err(BankAccountError::SameAccount(debit_account_id));
        }
        let mut debit_account = self.get_account(debit_account_id)?;
        let mut credit_account = self.get_account(credit_account_id)?;
        let transaction_id = Some(Uuid::new_v4());
        debit_account.append_transaction(-amount, transaction_id)?;
        credit_account.append_transaction(amount, transaction_id)?;
        self.app.save((&mut debit_account, &mut credit_account))?;
        Ok(())
    }

    /// Sets the overdraft limit of the account `account_id`.
    pub fn set_overdraft_limit(
        &self,
        account_id: Uuid,
        overdraft_limit: Decimal,
    ) -> Result<(), BankAccountError> {
        let mut account = self.get_account(account_id)?;
        account.set_overdraft_limit(overdraft_limit)?;
        self.app.save(&mut account)?;
        Ok(())
    }

    /// The overdraft limit of the account `account_id`.
    pub fn get_overdraft_limit(&self, account_id: Uuid) -> Result<Decimal, BankAccountError> {
        Ok(self.get_account(account_id)?.overdraft_limit())
    }

    /// Closes the account `account_id`.
    pub fn close_account(&self, account_id: Uuid) -> Result<(), BankAccountError> {
        let mut account = self.get_account(account_id)?;
        account.close();
        self.app.save(&mut account)?;
        Ok(())
    }

    /// The ids of the accounts opened so far, with the holders' email addresses, in the order
    /// they were opened: read from the notification log (a projection computed on demand,
    /// reading the whole log — fine for an example, not for a bank).
    pub fn accounts(&self) -> Result<Vec<(Uuid, String)>, BankAccountError> {
        let log = self.app.log();
        let mut accounts = Vec::new();
        let mut start = 1;
        loop {
            let notifications = log.select(start, log.section_size())?;
            let Some(last) = notifications.last() else {
                break;
            };
            start = last.id + 1;
            for notification in &notifications {
                if let Some(opened) =
                    OpenedAccount::in_notification(self.app.mapper(), notification)?
                {
                    accounts.push((opened.id, opened.email_address));
                }
            }
        }
        Ok(accounts)
    }
}

/// An account as its `Opened` event describes it: what a projection of the notification log
/// sees of the accounts opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedAccount {
    /// The account's id.
    pub id: Uuid,
    /// The holder's full name, as given when the account was opened.
    pub full_name: String,
    /// The holder's email address, as given when the account was opened.
    pub email_address: String,
}

impl OpenedAccount {
    /// The account `notification` opened, if it is a bank account's `Opened` event (`None` for
    /// any other event).
    pub fn in_notification<T: Transcoder>(
        mapper: &Mapper<T>,
        notification: &Notification,
    ) -> Result<Option<Self>, ApplicationError> {
        if !BankAccountEvent::has_topic(&notification.topic) {
            return Ok(None);
        }
        let event = mapper.to_domain_event::<BankAccountEvent>(notification)?;
        Ok(match event.payload {
            BankAccountEvent::Opened {
                full_name,
                email_address,
            } => Some(OpenedAccount {
                id: event.originator_id,
                full_name,
                email_address,
            }),
            _ => None,
        })
    }
}

/// What the `bank_accounts` example program does: on the first run, opens accounts for Alice
/// and Bob; on every run, deposits 100.00 with Alice, transfers 30.00 from Alice to Bob, tries
/// to withdraw more than Bob has (refused), and writes what happened and the balances to `out`.
pub fn demo(
    accounts: &BankAccounts,
    out: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let known = accounts.accounts()?;
    let find = |email: &str| known.iter().find(|(_, e)| e == email).map(|(id, _)| *id);
    let (alice, bob) = match (find("alice@example.com"), find("bob@example.com")) {
        (Some(alice), Some(bob)) => (alice, bob),
        _ => {
            let alice = accounts.open_account("Alice", "alice@example.com")?;
            let bob = accounts.open_account("Bob", "bob@example.com")?;
            writeln!(out, "Opened accounts for Alice ({alice}) and Bob ({bob})")?;
            (alice, bob)
        }
    };

    let hundred = Decimal::new(10000, 2);
    let thirty = Decimal::new(3000, 2);
    accounts.deposit_funds(alice, hundred)?;
    writeln!(out, "Deposited {hundred} with Alice")?;
    accounts.transfer_funds(alice, bob, thirty)?;
    writeln!(out, "Transferred {thirty} from Alice to Bob")?;
    let too_much = accounts.get_balance(bob)? + Decimal::ONE;
    match accounts.withdraw_funds(bob, too_much) {
        Err(error @ BankAccountError::InsufficientFunds { .. }) => {
            writeln!(out, "Withdrawing {too_much} from Bob was refused: {error}")?
        }
        Err(error) => return Err(error.into()),
        Ok(()) => writeln!(out, "Unexpectedly withdrew {too_much} from Bob")?,
    }

    for (name, id) in [("Alice", alice), ("Bob", bob)] {
        let account = accounts.get_account(id)?;
        writeln!(
            out,
            "{name}: balance {}, {} events",
            account.balance(),
            account.version()
        )?;
    }
    Ok(())
}
