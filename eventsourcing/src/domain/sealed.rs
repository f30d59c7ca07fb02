//! [`Sealed`]: what makes the `Aggregate` methods that change an aggregate without recording an
//! event callable by this crate only.

use std::any::Any;
use std::fmt;

use super::aggregate::Aggregate;

/// A value only this crate can make, passed to the [`Aggregate`] methods that change an
/// aggregate without recording an event ([`meta_mut`](Aggregate::meta_mut),
/// [`construct`](Aggregate::construct), [`apply`](Aggregate::apply)): those methods can be
/// implemented, by hand or by `#[aggregate]`, but not called from outside the crate, so no
/// caller can change an aggregate's state or metadata behind its events' back. Events are
/// recorded with [`Aggregate::trigger_event`] (or an `#[event]` method), which applies them
/// through `apply` and records them in one step.
///
/// It also carries what an implementation of `apply` may want to know about the call, and
/// [`restore_on_error`](Sealed::restore_on_error), which lets an `apply` whose event can fail
/// leave the aggregate exactly as it was. Implementations that need neither ignore it.
pub struct Sealed {
    /// Whether the event is being replayed from storage rather than triggered now.
    pub(crate) replaying: bool,
    /// Whether a failed body's error is kept as it is, for the `#[event]` method that
    /// triggered the event to return, rather than boxed into an `ApplyError`.
    pub(crate) keep_failure: bool,
    /// The failed body's error, when it is kept.
    pub(crate) failure: Option<Box<dyn Any>>,
}

impl Sealed {
    /// For an event triggered now.
    pub(crate) fn new() -> Self {
        Sealed {
            replaying: false,
            keep_failure: false,
            failure: None,
        }
    }

    /// For an event replayed from storage.
    pub(crate) fn replaying() -> Self {
        Sealed {
            replaying: true,
            ..Sealed::new()
        }
    }

    /// For an event triggered by an `#[event]` method, which returns its body's own error.
    pub(crate) fn keeping_failure() -> Self {
        Sealed {
            keep_failure: true,
            ..Sealed::new()
        }
    }

    /// Whether the event being applied was stored before (a replay), rather than triggered
    /// now.
    pub fn is_replaying(&self) -> bool {
        self.replaying
    }

    /// Runs `body`, which applies an event that can fail, on `aggregate`; if it fails, puts the
    /// aggregate back exactly as it was, so that the failed event leaves no trace.
    ///
    /// This is how `#[aggregate]` implements `apply` for `#[event]` methods that return a
    /// `Result`. The cost is one clone of the aggregate's fields per call (its pending events are
    /// set aside, not cloned). When the event is replayed, nothing is cloned: a stored event that
    /// fails to apply fails the whole replay, and the aggregate is discarded.
    ///
    /// ```
    /// use eventsourcing::domain::{Aggregate, AggregateMeta, ApplyError, Sealed};
    /// # use eventsourcing::domain::{AggregateEvent, EventType};
    /// # use eventsourcing::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    /// # pub enum AccountEvent { Opened, Withdrawn { amount: u64 } }
    /// # impl AggregateEvent for AccountEvent {
    /// #     const TYPES: &'static [EventType] = &[
    /// #         EventType::new("Opened", "bank:Account.Opened").created(),
    /// #         EventType::new("Withdrawn", "bank:Account.Withdrawn"),
    /// #     ];
    /// #     fn event_type(&self) -> &'static EventType {
    /// #         match self { AccountEvent::Opened => &Self::TYPES[0], AccountEvent::Withdrawn { .. } => &Self::TYPES[1] }
    /// #     }
    /// # }
    ///
    /// #[derive(Clone)]
    /// pub struct Account {
    ///     meta: AggregateMeta<Self>,
    ///     balance: u64,
    ///     withdrawals: u32,
    /// }
    ///
    /// impl Account {
    ///     fn withdrawn(&mut self, amount: u64) -> Result<(), String> {
    ///         self.withdrawals += 1; // changed before the check fails...
    ///         self.balance = self.balance.checked_sub(amount).ok_or("insufficient funds")?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// impl Aggregate for Account {
    ///     type Event = AccountEvent;
    ///     const NAME: &'static str = "Account";
    ///     const TOPIC: &'static str = "bank:Account";
    ///
    ///     fn meta(&self) -> &AggregateMeta<Self> {
    ///         &self.meta
    ///     }
    ///
    ///     fn meta_mut(&mut self, _: &Sealed) -> &mut AggregateMeta<Self> {
    ///         &mut self.meta
    ///     }
    ///
    ///     fn construct(_id: Uuid, event: AccountEvent, _: &mut Sealed) -> Result<Self, ApplyError> {
    ///         match event {
    ///             AccountEvent::Opened => Ok(Account { meta: AggregateMeta::new(), balance: 10, withdrawals: 0 }),
    ///             other => Err(ApplyError::not_created::<Self>(&other)),
    ///         }
    ///     }
    ///
    ///     fn apply(&mut self, event: AccountEvent, sealed: &mut Sealed) -> Result<(), ApplyError> {
    ///         match event {
    ///             AccountEvent::Withdrawn { amount } => sealed
    ///                 .restore_on_error(self, |account| account.withdrawn(amount))
    ///                 .map_err(|e| ApplyError::body::<Self>("Withdrawn", e)),
    ///             other => Err(ApplyError::created_on_existing::<Self>(&other)),
    ///         }
    ///     }
    /// }
    ///
    /// let mut account = Account::create_aggregate(Uuid::new_v4(), AccountEvent::Opened)?;
    /// assert!(account.trigger_event(AccountEvent::Withdrawn { amount: 25 }).is_err());
    /// // ...but the failed event left no trace.
    /// assert_eq!((account.balance, account.withdrawals, account.version()), (10, 0, 1));
    /// # Ok::<(), ApplyError>(())
    /// ```
    pub fn restore_on_error<A, T, E>(
        &mut self,
        aggregate: &mut A,
        body: impl FnOnce(&mut A) -> Result<T, E>,
    ) -> Result<T, E>
    where
        A: Aggregate + Clone,
    {
        self.restoring(aggregate, body, Result::is_err)
    }

    /// Runs `body` on `aggregate` and, if `failed` says its outcome is a failure, restores the
    /// aggregate as it was before (unless the event is replayed: see `restore_on_error`).
    pub(crate) fn restoring<A, R>(
        &mut self,
        aggregate: &mut A,
        body: impl FnOnce(&mut A) -> R,
        failed: impl FnOnce(&R) -> bool,
    ) -> R
    where
        A: Aggregate + Clone,
    {
        if self.replaying {
            return body(aggregate);
        }
        // The pending events are set aside so that the copy does not clone them: they are the
        // same before and after.
        let pending = std::mem::take(&mut aggregate.meta_mut(self).pending_events);
        let before = aggregate.clone();
        aggregate.meta_mut(self).pending_events = pending;
        let outcome = body(aggregate);
        if failed(&outcome) {
            let pending = std::mem::take(&mut aggregate.meta_mut(self).pending_events);
            *aggregate = before;
            aggregate.meta_mut(self).pending_events = pending;
        }
        outcome
    }

    /// Keeps a failed body's error, for the `#[event]` method to return.
    pub(crate) fn keep(&mut self, failure: Box<dyn Any>) {
        self.failure = Some(failure);
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("replaying", &self.replaying)
            .finish_non_exhaustive()
    }
}
