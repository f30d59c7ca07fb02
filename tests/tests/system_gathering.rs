//! `System::gathering` in the multi-threaded runner: a follower that has just processed
//! something lets its leader's new events gather before it processes again; a first event
//! after a quiet spell is processed at once, everything is processed exactly once, and
//! stopping does not wait for a gathering to end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::prelude::*;
use eventsourcing::system::{MultiThreadedRunner, PolicyResult, Process, ProcessingEvent, System};

/// A note.
#[aggregate]
#[derive(Debug)]
pub struct Note {
    text: String,
}

#[aggregate]
impl Note {
    /// A new note.
    #[created]
    pub fn create(text: String) -> Self {
        Note { text }
    }
}

/// How many notes were written.
#[aggregate]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tally {
    count: u64,
}

#[aggregate]
impl Tally {
    /// The one tally's id.
    pub fn create_id() -> Uuid {
        eventsourcing::domain::url_id("/tally")
    }

    /// A new tally.
    #[created]
    pub fn create() -> Self {
        Tally { count: 0 }
    }

    /// One more note.
    #[event]
    pub fn counted(&mut self) {
        self.count += 1;
    }
}

/// The application of notes.
pub struct Notes {
    app: Application,
}

impl AsRef<Application> for Notes {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

/// Counts the notes.
pub struct Tallies {
    app: Application,
}

impl AsRef<Application> for Tallies {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for Tallies {
    type Upstream = DomainEvent<NoteEvent>;

    fn policy(
        &self,
        _event: DomainEvent<NoteEvent>,
        processing: &mut ProcessingEvent<'_>,
    ) -> PolicyResult {
        let mut tally = processing.get_or_else(Tally::create_id(), Tally::create)?;
        tally.counted();
        processing.save(&mut tally)?;
        Ok(())
    }
}

fn count(tallies: &Tallies) -> u64 {
    match tallies.app.repository().get::<Tally>(Tally::create_id()) {
        Ok(tally) => tally.count,
        Err(e) if e.is_not_found() => 0,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_long_gathering_delays_bursts_but_not_the_first_event_nor_stopping() {
    let notes = Arc::new(Notes {
        app: Application::builder("Notes")
            .without_process_env()
            .build()
            .unwrap(),
    });
    let tallies = Arc::new(Tallies {
        app: Application::builder("Tallies")
            .without_process_env()
            .build()
            .unwrap(),
    });
    // Long enough that waiting for it would fail the test's generous bounds.
    let gathering = Duration::from_secs(60);
    let runner =
        MultiThreadedRunner::start(System::new().gathering(gathering).pipe(&notes, &tallies))
            .unwrap();

    // The first event after a quiet spell: processed at once.
    notes.app.save(&mut Note::create("one".into())).unwrap();
    runner
        .wait_until_caught_up(Duration::from_secs(20))
        .unwrap();
    assert_eq!(count(&tallies), 1);

    // A burst right after: it gathers (the thread waits), so it isn't processed yet.
    for i in 0..5 {
        notes
            .app
            .save(&mut Note::create(format!("burst {i}")))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        count(&tallies),
        1,
        "the burst waits for the gathering to end"
    );

    // Stopping does not wait for the gathering; nothing is processed twice.
    let stopping = Instant::now();
    runner.stop().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "stop waited for the gathering"
    );
    assert_eq!(count(&tallies), 1);

    // Without gathering, the burst is processed, once.
    let runner = MultiThreadedRunner::start(
        System::new()
            .gathering(Duration::ZERO)
            .pipe(&notes, &tallies),
    )
    .unwrap();
    runner
        .wait_until_caught_up(Duration::from_secs(20))
        .unwrap();
    assert_eq!(count(&tallies), 6);
    runner.stop().unwrap();
}
