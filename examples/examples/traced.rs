//! The library's tracing spans, printed: a dog school whose saves, gets and snapshots, and a
//! follower's processing, are shown with their fields and how long each took.
//!
//! ```text
//! cargo run --example traced --features traced
//! RUST_LOG is not read: the spans are at DEBUG level, and this example prints that level.
//! ```
//!
//! The library never prints; it opens `tracing` spans (at `DEBUG`), which a subscriber of the
//! program's choosing records. Here it is `tracing-subscriber`'s formatter, printing each span
//! as it closes (`FmtSpan::CLOSE`: with `time.busy`, the time spent in it).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use eventsourcing::prelude::*;
use eventsourcing::system::{PolicyResult, Process, ProcessingEvent, SingleThreadedRunner, System};
use eventsourcing_examples::dogs::declared::{Dog, DogEvent};
use tracing_subscriber::fmt::format::FmtSpan;

/// A follower that counts the tricks it sees.
struct TrickCounter {
    app: Application,
}

impl AsRef<Application> for TrickCounter {
    fn as_ref(&self) -> &Application {
        &self.app
    }
}

impl Process for TrickCounter {
    type Upstream = eventsourcing::domain::DomainEvent<DogEvent>;

    fn policy(&self, _: Self::Upstream, _: &mut ProcessingEvent<'_>) -> PolicyResult {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .init();

    let school = Arc::new(TrickCounter {
        app: Application::builder("DogSchool")
            .snapshotting(true)
            .build()?,
    });
    let counter = Arc::new(TrickCounter {
        app: Application::new("TrickCounter")?,
    });
    let runner = SingleThreadedRunner::start(System::new().pipe(&school, &counter))?;

    let mut dog = Dog::register("Fido".into());
    dog.add_trick("roll over".into());
    dog.add_trick("play dead".into());
    school.app.save(&mut dog)?;
    let fido: Dog = school.app.repository().get(dog.id())?;
    school.app.take_snapshot::<Dog>(fido.id(), None)?;
    let _: Dog = school.app.repository().get(dog.id())?;
    runner.stop()?;
    println!("done: the spans above are the library's");
    Ok(())
}
