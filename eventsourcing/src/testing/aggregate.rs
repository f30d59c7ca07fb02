//! The given/when/then harness for aggregates: [`AggregateTest`].
//!
//! The harness only uses what any aggregate offers ([`Aggregate::from_events`],
//! [`Aggregate::collect_events`], the generated event enum), so it tests aggregates written
//! with the macros and by hand alike.

use std::convert::Infallible;
use std::fmt::{Debug, Write as _};
use std::marker::PhantomData;

use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use crate::domain::{Aggregate, DomainEvent};

/// Tests an aggregate's commands in the given/when/then style: **given** past events (or none,
/// for a command that creates the aggregate), **when** a command, **then** these events, this
/// error, or no events.
///
/// - [`given`](AggregateTest::given) takes the past events as payloads, variants of the
///   aggregate's event enum, the created event first; the harness gives them an id, versions
///   from [`Aggregate::INITIAL_VERSION`] up and increasing timestamps in the past, and
///   rebuilds the aggregate from them with [`Aggregate::from_events`].
///   [`given_no_events`](AggregateTest::given_no_events) starts from nothing.
/// - [`when`](Given::when) runs a command on the aggregate: a closure returning `()` or
///   `Result<(), E>` (see [`CommandOutcome`]). After `given_no_events`,
///   [`when`](GivenNoEvents::when) runs a constructor: a closure returning the new aggregate
///   or `Result<A, E>` (see [`CreationOutcome`]).
/// - [`then_expect_events`](Then::then_expect_events) compares the events the command recorded
///   with the expected payloads, in order;
///   [`then_expect_no_events`](Then::then_expect_no_events) expects none;
///   [`then_expect_error`](Then::then_expect_error) and
///   [`then_expect_error_matches`](Then::then_expect_error_matches) expect the command to fail.
///
/// Like the rest of this module, it is test code: a `then_expect_*` method panics, with a
/// message showing what was expected and what happened, when the aggregate does something
/// else.
///
/// ```
/// use eventsourcing::prelude::*;
/// use eventsourcing::testing::AggregateTest;
///
/// #[derive(Debug, PartialEq)]
/// pub struct KnownTrick(String);
///
/// #[aggregate]
/// #[derive(Debug)]
/// pub struct Dog {
///     name: String,
///     tricks: Vec<String>,
/// }
///
/// #[aggregate]
/// impl Dog {
///     #[created("Registered")]
///     pub fn register(name: String) -> Self {
///         Dog { name, tricks: Vec::new() }
///     }
///
///     /// Teaches the dog a trick it does not know yet.
///     pub fn add_trick(&mut self, trick: String) -> Result<(), KnownTrick> {
///         if self.tricks.contains(&trick) {
///             return Err(KnownTrick(trick));
///         }
///         self.trick_added(trick);
///         Ok(())
///     }
///
///     #[event("TrickAdded")]
///     fn trick_added(&mut self, trick: String) {
///         self.tricks.push(trick);
///     }
/// }
///
/// // A command that creates the aggregate.
/// AggregateTest::<Dog>::given_no_events()
///     .when(|| Dog::register("Fido".into()))
///     .then_expect_events([DogEvent::Registered { name: "Fido".into() }]);
///
/// // A command on an aggregate with a history: the events it records...
/// let dog = AggregateTest::<Dog>::given([DogEvent::Registered { name: "Fido".into() }])
///     .when(|dog| dog.add_trick("roll over".into()))
///     .then_expect_events([DogEvent::TrickAdded { trick: "roll over".into() }]);
/// assert_eq!(dog.version(), 2);
///
/// // ...or the error it returns (and then it records nothing).
/// AggregateTest::<Dog>::given([
///     DogEvent::Registered { name: "Fido".into() },
///     DogEvent::TrickAdded { trick: "roll over".into() },
/// ])
/// .when(|dog| dog.add_trick("roll over".into()))
/// .then_expect_error(KnownTrick("roll over".into()));
/// ```
///
/// A failed expectation panics:
///
/// ```should_panic
/// # use eventsourcing::prelude::*;
/// # use eventsourcing::testing::AggregateTest;
/// # #[aggregate] #[derive(Debug)] pub struct Dog { tricks: Vec<String> }
/// # #[aggregate] impl Dog {
/// #     #[created("Registered")] pub fn register() -> Self { Dog { tricks: Vec::new() } }
/// #     #[event("TrickAdded")] pub fn add_trick(&mut self, trick: String) { self.tricks.push(trick) }
/// # }
/// AggregateTest::<Dog>::given([DogEvent::Registered])
///     .when(|dog| dog.add_trick("sit".into()))
///     .then_expect_events([DogEvent::TrickAdded { trick: "roll over".into() }]);
/// // panics: "Dog: the command recorded other events than expected ..."
/// ```
pub struct AggregateTest<A> {
    // Never constructed: the type only names the aggregate for its associated functions.
    marker: PhantomData<fn() -> A>,
}

impl<A: Aggregate> AggregateTest<A> {
    /// Starts from an aggregate with these past events, the created event first: payloads, to
    /// which the harness gives a random id (see [`Given::with_id`]), versions from
    /// [`Aggregate::INITIAL_VERSION`] up, and increasing timestamps in the past.
    ///
    /// An empty list or one that does not start with the created event makes
    /// [`when`](Given::when) panic: use [`given_no_events`](AggregateTest::given_no_events)
    /// for a command that creates the aggregate.
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
        Given {
            id: Uuid::new_v4(),
            events: events.into_iter().collect(),
        }
    }

    /// Starts from nothing, for a command that creates the aggregate: [`GivenNoEvents::when`]
    /// takes its constructor.
    pub fn given_no_events() -> GivenNoEvents<A> {
        GivenNoEvents {
            marker: PhantomData,
        }
    }
}

/// The past events of an aggregate: [`AggregateTest::given`].
#[must_use = "nothing is tested until `when` runs a command and a `then_expect_*` method checks it"]
pub struct Given<A: Aggregate> {
    id: Uuid,
    events: Vec<A::Event>,
}

impl<A: Aggregate> Given<A> {
    /// Gives the aggregate the id `id` instead of a random one: for an aggregate whose id is
    /// derived from the created event's fields, or a command whose result mentions the id.
    ///
    /// ```
    /// # use eventsourcing::prelude::*;
    /// # use eventsourcing::testing::AggregateTest;
    /// #[aggregate]
    /// pub struct Counter { count: u64 }
    ///
    /// #[aggregate]
    /// impl Counter {
    ///     #[created] pub fn create() -> Self { Counter { count: 0 } }
    ///     #[event] pub fn incremented(&mut self) { self.count += 1 }
    /// }
    ///
    /// let id = Uuid::new_v4();
    /// let counter = AggregateTest::<Counter>::given([CounterEvent::Created])
    ///     .with_id(id)
    ///     .when(|counter| counter.incremented())
    ///     .then_expect_events([CounterEvent::Incremented]);
    /// assert_eq!(counter.id(), id);
    /// ```
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// The id the aggregate will have: random unless set with [`with_id`](Given::with_id).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Rebuilds the aggregate from the given events and runs `command` on it: a closure that
    /// calls the aggregate's command or event methods and returns `()` or `Result<(), E>`.
    ///
    /// Panics if the given events don't rebuild an aggregate (no events, the first one not
    /// the created event, or an event body that fails).
    #[track_caller]
    pub fn when<R: CommandOutcome>(self, command: impl FnOnce(&mut A) -> R) -> Then<A, R::Error> {
        let given = self.domain_events();
        let mut aggregate = match A::from_events(given.clone()) {
            Ok(aggregate) => aggregate,
            Err(error) => panic!(
                "{}: the given events don't rebuild the aggregate: {error}\ngiven {}\
                 (for a command that creates the aggregate, use given_no_events())",
                A::NAME,
                listing(self.events.iter()),
            ),
        };
        let result = command(&mut aggregate).into_result();
        let events = aggregate.collect_events();
        let outcome = match result {
            Ok(()) => Outcome::Ok(aggregate),
            Err(error) => Outcome::Err {
                aggregate: Some(aggregate),
                error,
            },
        };
        Then {
            given,
            events,
            outcome,
        }
    }

    /// The given payloads as the events of one aggregate, in sequence.
    fn domain_events(&self) -> Vec<DomainEvent<A::Event>> {
        let count = self.events.len();
        let now = Utc::now();
        (0..)
            .zip(&self.events)
            .map(|(i, payload)| DomainEvent {
                originator_id: self.id,
                originator_version: A::INITIAL_VERSION.saturating_add(i),
                // One microsecond apart, the last one a microsecond ago: in the past, as
                // stored events are, and in order, as the aggregate's own would be.
                timestamp: now - TimeDelta::microseconds((count as i64).saturating_sub(i as i64)),
                payload: payload.clone(),
                metadata: Default::default(),
            })
            .collect()
    }
}

/// No past events, for a command that creates the aggregate:
/// [`AggregateTest::given_no_events`].
#[must_use = "nothing is tested until `when` runs a constructor and a `then_expect_*` method checks it"]
pub struct GivenNoEvents<A> {
    marker: PhantomData<fn() -> A>,
}

impl<A: Aggregate> GivenNoEvents<A> {
    /// Runs `create`: a closure that calls the aggregate's `#[created]` constructor (or a
    /// command that constructs it) and returns the new aggregate or `Result<A, E>`.
    ///
    /// ```
    /// # use eventsourcing::prelude::*;
    /// # use eventsourcing::testing::AggregateTest;
    /// #[derive(Debug, PartialEq)]
    /// pub struct EmptyName;
    ///
    /// #[aggregate]
    /// pub struct Page { name: String }
    ///
    /// #[aggregate]
    /// impl Page {
    ///     pub fn open(name: &str) -> Result<Self, EmptyName> {
    ///         if name.is_empty() {
    ///             return Err(EmptyName);
    ///         }
    ///         Ok(Page::create(name.to_string()))
    ///     }
    ///
    ///     #[created]
    ///     fn create(name: String) -> Self { Page { name } }
    /// }
    ///
    /// AggregateTest::<Page>::given_no_events()
    ///     .when(|| Page::open("Earth"))
    ///     .then_expect_events([PageEvent::Created { name: "Earth".into() }]);
    /// AggregateTest::<Page>::given_no_events()
    ///     .when(|| Page::open(""))
    ///     .then_expect_error(EmptyName);
    /// ```
    pub fn when<R>(self, create: impl FnOnce() -> R) -> Then<A, R::Error>
    where
        R: CreationOutcome<Aggregate = A>,
    {
        match create().into_result() {
            Ok(mut aggregate) => Then {
                given: Vec::new(),
                events: aggregate.collect_events(),
                outcome: Outcome::Ok(aggregate),
            },
            Err(error) => Then {
                given: Vec::new(),
                events: Vec::new(),
                outcome: Outcome::Err {
                    aggregate: None,
                    error,
                },
            },
        }
    }
}

/// What a command under test returns: `()`, or `Result<(), E>` for a command that can refuse.
#[diagnostic::on_unimplemented(
    message = "a command under test returns `()` or `Result<(), E>`, not `{Self}`",
    label = "this closure returns `{Self}`",
    note = "end the closure with the command call (`|dog| dog.add_trick(..)`), or map what it \
            returns to `()` or `Result<(), E>`"
)]
pub trait CommandOutcome {
    /// The error of a command that can refuse ([`Infallible`] for `()`).
    type Error;

    /// The outcome as a `Result`.
    fn into_result(self) -> Result<(), Self::Error>;
}

impl CommandOutcome for () {
    type Error = Infallible;

    fn into_result(self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl<E> CommandOutcome for Result<(), E> {
    type Error = E;

    fn into_result(self) -> Result<(), E> {
        self
    }
}

/// What a constructor under test returns: the new aggregate, or `Result<A, E>` for one that
/// can refuse.
#[diagnostic::on_unimplemented(
    message = "a constructor under test returns the new aggregate or `Result<A, E>`, not `{Self}`",
    label = "this closure returns `{Self}`",
    note = "end the closure with the constructor call (`|| Dog::register(..)`)"
)]
pub trait CreationOutcome {
    /// The aggregate created.
    type Aggregate: Aggregate;
    /// The error of a constructor that can refuse ([`Infallible`] for one that can't).
    type Error;

    /// The outcome as a `Result`.
    fn into_result(self) -> Result<Self::Aggregate, Self::Error>;
}

impl<A: Aggregate> CreationOutcome for A {
    type Aggregate = A;
    type Error = Infallible;

    fn into_result(self) -> Result<A, Infallible> {
        Ok(self)
    }
}

impl<A: Aggregate, E> CreationOutcome for Result<A, E> {
    type Aggregate = A;
    type Error = E;

    fn into_result(self) -> Result<A, E> {
        self
    }
}

/// How the command ended.
enum Outcome<A, E> {
    Ok(A),
    Err {
        /// The aggregate the command failed on (`None` when a constructor failed).
        aggregate: Option<A>,
        error: E,
    },
}

/// What a command did, to check with a `then_expect_*` method: [`Given::when`],
/// [`GivenNoEvents::when`].
#[must_use = "nothing is checked until a `then_expect_*` method is called"]
pub struct Then<A: Aggregate, E> {
    given: Vec<DomainEvent<A::Event>>,
    events: Vec<DomainEvent<A::Event>>,
    outcome: Outcome<A, E>,
}

impl<A: Aggregate, E: Debug> Then<A, E> {
    /// Checks that the command succeeded and recorded events with these payloads, in this
    /// order, and that the aggregate's past and new events replay (as they will when it is
    /// next loaded). Returns the aggregate, for checks of its state.
    ///
    /// # Panics
    ///
    /// If the command failed, recorded other events, or its events don't replay.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        let aggregate = match self.outcome {
            Outcome::Ok(aggregate) => aggregate,
            Outcome::Err { error, .. } => panic!(
                "{}: expected the command to succeed and record {}\
                 but it failed with {error:?}",
                A::NAME,
                listing(expected.iter()),
            ),
        };
        let recorded: Vec<&A::Event> = self.events.iter().map(|e| &e.payload).collect();
        if recorded.len() != expected.len() || recorded.iter().zip(&expected).any(|(r, e)| *r != e)
        {
            let first = recorded
                .iter()
                .zip(&expected)
                .position(|(r, e)| *r != e)
                .unwrap_or(recorded.len().min(expected.len()));
            panic!(
                "{}: the command recorded other events than expected (the first difference is \
                 at [{first}])\nexpected {}recorded {}",
                A::NAME,
                listing(expected.iter()),
                listing(recorded.iter().copied()),
            );
        }
        if !self.events.is_empty() {
            let replayed = A::from_events(self.given.into_iter().chain(self.events));
            if let Err(error) = replayed {
                panic!(
                    "{}: the command recorded the expected events, but they don't replay: \
                     {error}\n(the aggregate could not be loaded again from its events)",
                    A::NAME,
                );
            }
        }
        aggregate
    }

    /// Checks that the command succeeded and recorded nothing. Returns the aggregate.
    ///
    /// ```
    /// # use eventsourcing::prelude::*;
    /// # use eventsourcing::testing::AggregateTest;
    /// #[aggregate]
    /// pub struct Dog { tricks: Vec<String> }
    ///
    /// #[aggregate]
    /// impl Dog {
    ///     #[created] pub fn register() -> Self { Dog { tricks: Vec::new() } }
    ///     #[event] pub fn trick_added(&mut self, trick: String) { self.tricks.push(trick) }
    ///
    ///     /// Teaches a trick, once.
    ///     pub fn teach(&mut self, trick: &str) {
    ///         if !self.tricks.iter().any(|t| t == trick) {
    ///             self.trick_added(trick.to_string());
    ///         }
    ///     }
    /// }
    ///
    /// AggregateTest::<Dog>::given([DogEvent::Created, DogEvent::TrickAdded { trick: "sit".into() }])
    ///     .when(|dog| dog.teach("sit"))
    ///     .then_expect_no_events();
    /// ```
    ///
    /// # Panics
    ///
    /// If the command failed or recorded events.
    #[track_caller]
    pub fn then_expect_no_events(self) -> A {
        self.then_expect_events([])
    }

    /// Checks that the command failed with `expected`, and recorded nothing.
    ///
    /// A refused command should leave nothing pending: the application does not save after
    /// an error, but a later save of the same aggregate would store what was left.
    ///
    /// # Panics
    ///
    /// If the command succeeded, failed with another error, or recorded events.
    #[track_caller]
    pub fn then_expect_error(self, expected: E)
    where
        E: PartialEq,
    {
        let error = self.error(|| format!("fail with {expected:?}"));
        if *error != expected {
            panic!(
                "{}: expected the command to fail with {expected:?}, but it failed with {error:?}",
                A::NAME,
            );
        }
    }

    /// Checks that the command failed with an error for which `predicate` is true (such as
    /// `|e| matches!(e, MyError::NotFound { .. })`), and recorded nothing.
    ///
    /// ```
    /// # use eventsourcing::prelude::*;
    /// # use eventsourcing::testing::AggregateTest;
    /// #[derive(Debug)]
    /// pub enum AccountError { Insufficient { balance: i64, amount: i64 } }
    ///
    /// #[aggregate]
    /// pub struct Account { balance: i64 }
    ///
    /// #[aggregate]
    /// impl Account {
    ///     #[created] pub fn open() -> Self { Account { balance: 0 } }
    ///
    ///     pub fn withdraw(&mut self, amount: i64) -> Result<(), AccountError> {
    ///         if amount > self.balance {
    ///             return Err(AccountError::Insufficient { balance: self.balance, amount });
    ///         }
    ///         self.withdrawn(amount);
    ///         Ok(())
    ///     }
    ///
    ///     #[event]
    ///     fn withdrawn(&mut self, amount: i64) { self.balance -= amount }
    /// }
    ///
    /// AggregateTest::<Account>::given([AccountEvent::Created])
    ///     .when(|account| account.withdraw(10))
    ///     .then_expect_error_matches(|e| matches!(e, AccountError::Insufficient { amount: 10, .. }));
    /// ```
    ///
    /// # Panics
    ///
    /// If the command succeeded, failed with an error `predicate` rejects, or recorded events.
    #[track_caller]
    pub fn then_expect_error_matches(self, predicate: impl FnOnce(&E) -> bool) {
        let error = self.error(|| "fail".to_string());
        if !predicate(error) {
            panic!(
                "{}: expected the command to fail with an error matching the predicate, but it \
                 failed with {error:?}",
                A::NAME,
            );
        }
    }

    /// The error the command failed with; panics if it succeeded or recorded events.
    /// `expectation` says what was expected ("fail with ...").
    #[track_caller]
    fn error(&self, expectation: impl FnOnce() -> String) -> &E {
        let recorded = || listing(self.events.iter().map(|e| &e.payload));
        match &self.outcome {
            Outcome::Ok(_) => panic!(
                "{}: expected the command to {}, but it succeeded and recorded {}",
                A::NAME,
                expectation(),
                recorded(),
            ),
            Outcome::Err { error, .. } if !self.events.is_empty() => panic!(
                "{}: the command failed with {error:?}, but recorded events all the same \
                 (a refused command should record nothing)\nrecorded {}",
                A::NAME,
                recorded(),
            ),
            Outcome::Err { error, .. } => error,
        }
    }
}

impl<A: Aggregate, E> Then<A, E> {
    /// What the command returned.
    pub fn result(&self) -> Result<(), &E> {
        match &self.outcome {
            Outcome::Ok(_) => Ok(()),
            Outcome::Err { error, .. } => Err(error),
        }
    }

    /// The events the command recorded, with the ids, versions and timestamps it gave them.
    pub fn events(&self) -> &[DomainEvent<A::Event>] {
        &self.events
    }

    /// The aggregate after the command (its recorded events collected), or `None` if a
    /// constructor failed.
    pub fn aggregate(&self) -> Option<&A> {
        match &self.outcome {
            Outcome::Ok(aggregate) => Some(aggregate),
            Outcome::Err { aggregate, .. } => aggregate.as_ref(),
        }
    }
}

/// "2 events:\n    [0] ...\n    [1] ...\n", or "no events\n".
fn listing<'e, E: Debug + 'e>(events: impl ExactSizeIterator<Item = &'e E>) -> String {
    let mut text = match events.len() {
        0 => return "no events\n".to_string(),
        1 => "1 event:\n".to_string(),
        n => format!("{n} events:\n"),
    };
    for (i, event) in events.enumerate() {
        // Writing to a String can't fail.
        let _ = writeln!(text, "    [{i}] {event:?}");
    }
    text
}
