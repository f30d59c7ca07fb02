//! The JSON bodies of the service's requests and responses.
//!
//! Amounts are decimal strings (`"10.50"`), read exactly and written with the scale they were
//! given; a JSON number is refused, since many clients hold JSON numbers as binary floating
//! point, in which `0.1` is not exact. Ids are UUID strings; timestamps are RFC 3339 in UTC.

use std::fmt;

use chrono::{DateTime, Utc};
use eventsourcing::application::Section;
use eventsourcing::domain::Aggregate;
use eventsourcing::persistence::Notification;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::bank_accounts::{BankAccount, Decimal, OpenedAccount};

/// A decimal number written as a JSON string (`"10.50"`): read exactly (more digits than a
/// [`Decimal`] holds are refused, not rounded); a JSON number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecimalString(pub Decimal);

impl Serialize for DecimalString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DecimalString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DecimalVisitor)
    }
}

struct DecimalVisitor;

impl serde::de::Visitor<'_> for DecimalVisitor {
    type Value = DecimalString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number in a string, such as \"10.50\"")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<DecimalString, E> {
        Decimal::from_str_exact(value.trim())
            .map(DecimalString)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(value), &self))
    }
}

/// `POST /accounts`: open an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountRequest {
    /// The holder's full name (not empty).
    pub full_name: String,
    /// The holder's email address (not empty).
    pub email_address: String,
}

/// `POST /accounts/{id}/deposits` and `POST /accounts/{id}/withdrawals`: an amount to credit
/// or debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// The amount, above zero.
    pub amount: DecimalString,
}

/// `POST /transfers`: move an amount from one account to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The account debited.
    pub debit_account_id: Uuid,
    /// The account credited (another account).
    pub credit_account_id: Uuid,
    /// The amount, above zero.
    pub amount: DecimalString,
}

/// `PUT /accounts/{id}/overdraft-limit`: how far below zero the balance may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverdraftLimitRequest {
    /// The limit, zero or more.
    pub overdraft_limit: DecimalString,
}

/// An account, as the service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account's id.
    pub id: Uuid,
    /// The holder's full name.
    pub full_name: String,
    /// The holder's email address.
    pub email_address: String,
    /// The balance.
    pub balance: DecimalString,
    /// How far below zero the balance may go.
    pub overdraft_limit: DecimalString,
    /// Whether the account is closed.
    pub is_closed: bool,
    /// The aggregate's version: the number of its events.
    pub version: u64,
    /// When it was opened.
    pub created_on: DateTime<Utc>,
    /// When it last changed.
    pub modified_on: DateTime<Utc>,
}

impl From<&BankAccount> for AccountView {
    fn from(account: &BankAccount) -> Self {
        AccountView {
            id: account.id(),
            full_name: account.full_name().to_string(),
            email_address: account.email_address().to_string(),
            balance: DecimalString(account.balance()),
            overdraft_limit: DecimalString(account.overdraft_limit()),
            is_closed: account.is_closed(),
            version: account.version(),
            created_on: account.created_on(),
            modified_on: account.modified_on(),
        }
    }
}

/// `GET /accounts`: the accounts opened so far, in the order they were opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    /// The accounts.
    pub accounts: Vec<AccountSummary>,
}

/// An account in [`AccountList`]: as it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// The account's id.
    pub id: Uuid,
    /// The holder's full name.
    pub full_name: String,
    /// The holder's email address.
    pub email_address: String,
}

impl From<OpenedAccount> for AccountSummary {
    fn from(account: OpenedAccount) -> Self {
        AccountSummary {
            id: account.id,
            full_name: account.full_name,
            email_address: account.email_address,
        }
    }
}

/// What `POST /transfers` did: the transaction's id, recorded with both sides, and the two
/// accounts after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    /// The transaction id that both accounts' events carry.
    pub transaction_id: Uuid,
    /// The account debited.
    pub debit_account: AccountView,
    /// The account credited.
    pub credit_account: AccountView,
}

/// A notification of the log: an event and its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationView {
    /// The position in the log (from 1).
    pub id: u64,
    /// The aggregate whose event it is.
    pub originator_id: Uuid,
    /// The event's version in the aggregate's sequence.
    pub originator_version: u64,
    /// The event's topic, such as `"eventsourcing_examples::bank_accounts:BankAccount.Opened"`.
    pub topic: String,
    /// The event's stored state, as JSON: present only when stored state is neither encrypted
    /// nor compressed (then it is what the database holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

impl NotificationView {
    /// `notification` as JSON, with its state if `with_state` (and the state is JSON).
    pub fn new(notification: &Notification, with_state: bool) -> Self {
        NotificationView {
            id: notification.id,
            originator_id: notification.originator_id,
            originator_version: notification.originator_version,
            topic: notification.topic.to_string(),
            state: with_state
                .then(|| serde_json::from_slice(&notification.state).ok())
                .flatten(),
        }
    }
}

/// `GET /notifications?start=&limit=`: a selection from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationList {
    /// The notifications, in order.
    pub items: Vec<NotificationView>,
    /// Where to start the next request: after the last item (or where this one started, if
    /// there were none).
    pub next_start: u64,
}

/// `GET /notifications/{section_id}`: a section of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionView {
    /// "first,last": the ids of the section's first and last notifications, or `null` if the
    /// section is empty.
    pub id: Option<String>,
    /// The id of the next section, when this one is full (there may be more).
    pub next_id: Option<String>,
    /// The notifications, in order.
    pub items: Vec<NotificationView>,
}

impl SectionView {
    /// `section` as JSON, with stored state if `with_state`.
    pub fn new(section: &Section, with_state: bool) -> Self {
        SectionView {
            id: section.id.clone(),
            next_id: section.next_id.clone(),
            items: section
                .items
                .iter()
                .map(|notification| NotificationView::new(notification, with_state))
                .collect(),
        }
    }
}
