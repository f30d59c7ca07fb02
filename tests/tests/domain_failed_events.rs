//! An event method whose body fails leaves the aggregate exactly as it was: fields, version,
//! timestamps and pending events; the method returns the body's own error, whatever its type;
//! nested calls undo their own changes; and replay agrees with what was recorded.

use eventsourcing::domain::{Aggregate, ApplyError, DomainError, DomainEvent};
use eventsourcing::prelude::*;

/// A body error that is a plain string.
type Refusal = String;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the counter is locked at {0}")]
pub struct Locked(u32);

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    count: u32,
    notes: Vec<String>,
    locked: bool,
}

#[aggregate]
impl Counter {
    #[created]
    pub fn start(notes: Vec<String>) -> Self {
        Counter {
            count: 0,
            notes,
            locked: false,
        }
    }

    /// Changes two fields, then fails when locked: the case.
    #[event("Incremented")]
    pub fn increment(&mut self, note: String) -> Result<(), Locked> {
        self.count += 1;
        self.notes.push(note);
        if self.locked {
            return Err(Locked(self.count - 1));
        }
        Ok(())
    }

    /// Fails with a `String`, after changing a field.
    #[event("Noted")]
    pub fn note(&mut self, note: String) -> Result<(), Refusal> {
        self.notes.push(note.clone());
        if note.is_empty() {
            return Err("an empty note".to_string());
        }
        Ok(())
    }

    /// Fails with a boxed error, after changing a field.
    #[event("Reset")]
    pub fn reset(&mut self, to: u32) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.count = to;
        if to > 100 {
            return Err(format!("{to} is too large").into());
        }
        Ok(())
    }

    #[event("Locked")]
    pub fn lock(&mut self) {
        self.locked = true;
    }

    /// An infallible event whose body calls fallible ones: each failed inner call is undone,
    /// the outer event is recorded, and replaying it does the same.
    #[event("NotesTried")]
    pub fn try_notes(&mut self, notes: Vec<String>) {
        for note in notes {
            let _ = self.note(note);
        }
    }

    /// A fallible event whose body calls infallible and fallible ones, then fails: all of it
    /// is undone.
    #[event("Batch")]
    pub fn batch(&mut self, notes: Vec<String>, fail: bool) -> Result<(), Refusal> {
        self.lock();
        for note in notes {
            self.note(note)?;
        }
        if fail {
            return Err("the batch failed".to_string());
        }
        Ok(())
    }
}

fn counter() -> Counter {
    let mut counter = Counter::start(vec!["first".into()]);
    counter.increment("one".into()).unwrap();
    counter
}

#[test]
fn a_body_that_changes_fields_then_fails_leaves_everything_as_it_was() {
    let mut counter = counter();
    counter.lock();
    let before = counter.clone();
    let modified_on = counter.modified_on();

    assert_eq!(counter.increment("two".into()), Err(Locked(1)));

    assert_eq!(counter, before);
    assert_eq!(counter.count, 1);
    assert_eq!(counter.notes, ["first", "one"]);
    assert_eq!(counter.version(), 3);
    assert_eq!(counter.modified_on(), modified_on);
    assert_eq!(counter.pending_events().len(), 3);
    // The object in memory still matches its events.
    let replayed = Counter::from_events(counter.collect_events()).unwrap();
    assert_eq!(replayed.count, counter.count);
    assert_eq!(replayed.notes, counter.notes);
}

#[test]
fn the_method_returns_the_bodys_own_error_whatever_its_type() {
    let mut counter = counter();
    let before = counter.clone();
    let refusal: Refusal = counter.note(String::new()).unwrap_err();
    assert_eq!(refusal, "an empty note");
    assert_eq!(counter, before);

    let boxed = counter.reset(1000).unwrap_err();
    assert_eq!(boxed.to_string(), "1000 is too large");
    assert_eq!(counter, before);

    counter.reset(7).unwrap();
    assert_eq!(counter.count, 7);
    assert_eq!(counter.version(), 3);
}

#[test]
fn failed_inner_calls_are_undone_and_the_outer_event_replays_the_same() {
    let mut counter = counter();
    counter.try_notes(vec!["a".into(), String::new(), "b".into()]);
    assert_eq!(counter.notes, ["first", "one", "a", "b"]);
    assert_eq!(counter.version(), 3);
    let events = counter.collect_events();
    assert_eq!(events.len(), 3, "only the outer event is recorded");
    let replayed = Counter::from_events(events).unwrap();
    assert_eq!(replayed, counter);
}

#[test]
fn a_failed_outer_event_undoes_what_its_inner_calls_did() {
    let mut counter = counter();
    let before = counter.clone();
    assert_eq!(
        counter.batch(vec!["a".into(), "b".into()], true),
        Err("the batch failed".to_string())
    );
    assert_eq!(counter, before);
    assert!(!counter.locked);

    // An inner failure propagated with `?` is the outer body's failure.
    assert_eq!(
        counter.batch(vec!["a".into(), String::new()], false),
        Err("an empty note".to_string())
    );
    assert_eq!(counter, before);

    counter.batch(vec!["a".into()], false).unwrap();
    assert!(counter.locked);
    assert_eq!(counter.notes, ["first", "one", "a"]);
    let replayed = Counter::from_events(counter.collect_events()).unwrap();
    assert_eq!(replayed, counter);
}

#[test]
fn trigger_event_gives_the_bodys_error_boxed() {
    // Called through the public trait, the body's error is the source of an ApplyError.
    let mut counter = counter();
    counter.lock();
    let before = counter.clone();
    let error = counter
        .trigger_event(CounterEvent::Incremented { note: "x".into() })
        .unwrap_err();
    match &error {
        ApplyError::Body { event, source, .. } => {
            assert_eq!(*event, "Incremented");
            assert_eq!(source.downcast_ref::<Locked>(), Some(&Locked(1)));
        }
        other => panic!("expected the body's error, got {other:?}"),
    }
    assert_eq!(counter, before);
    // And the created event can't be triggered on an existing aggregate.
    assert!(matches!(
        counter.trigger_event(CounterEvent::Created { notes: vec![] }),
        Err(ApplyError::CreatedEventOnExisting {
            event: "Created",
            ..
        })
    ));
    assert_eq!(counter, before);
    counter
        .trigger_event(CounterEvent::Noted { note: "y".into() })
        .unwrap();
    assert_eq!(counter.notes.last().map(String::as_str), Some("y"));
    assert_eq!(counter.version(), before.version() + 1);
}

#[test]
fn a_stored_event_whose_body_fails_makes_the_replay_fail() {
    let mut counter = counter();
    counter.lock();
    let mut events = counter.collect_events();
    // An increment recorded while locked: no command could record it, but a store could hold
    // it (written by another version of the program, or by hand).
    events.push(DomainEvent {
        metadata: Default::default(),
        originator_id: events[0].originator_id,
        originator_version: 4,
        timestamp: Utc::now(),
        payload: CounterEvent::Incremented { note: "x".into() },
    });
    match Counter::from_events(events) {
        Err(DomainError::Apply(ApplyError::Body { event, source, .. })) => {
            assert_eq!(event, "Incremented");
            assert_eq!(source.to_string(), "the counter is locked at 1");
        }
        other => panic!("expected the body's error, got {other:?}"),
    }
}

#[test]
fn debug_shows_the_fields_and_one_line_of_metadata() {
    let counter = counter();
    let debug = format!("{counter:?}");
    let expected = format!(
        "Counter {{ count: 1, notes: [\"first\", \"one\"], locked: false, aggregate: id={} \
         version=2 pending=2 }}",
        counter.id()
    );
    assert_eq!(debug, expected);
    assert!(!debug.contains("__aggregate"));
    assert!(!debug.contains("DomainEvent"));
}
