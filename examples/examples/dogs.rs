//! The dog school: an aggregate declared with the macros and its twin written by hand, stored
//! side by side in one application, each reading the other's events.
//!
//! ```text
//! cargo run --example dogs
//! ```
//!
//! Stored in SQLite in `eventsourcing-examples-dogs.db` in the temporary directory; each run
//! adds two dogs. The usual environment variables override this (`SQLITE_DBNAME`,
//! `PERSISTENCE_MODULE`, `CIPHER_KEY`, `COMPRESSOR_TOPIC`, each also as `DOGSCHOOL_...`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::dogs::{demo, DogSchool};
use eventsourcing_examples::setup::{configure, Options};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::from_env();
    if options.help {
        println!("usage: dogs [--encrypted]");
        return Ok(());
    }
    let (builder, description) = configure(DogSchool::builder(), "dogs", &options)?;
    println!("DogSchool: {description}");
    let school = DogSchool::with_builder(builder)?;
    demo(&school, &mut std::io::stdout())
}
