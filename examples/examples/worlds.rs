//! The Worlds application: makes something happen in a named world and prints its history.
//!
//! ```text
//! cargo run --example worlds                      # makes the next thing happen in "Earth"
//! cargo run --example worlds -- trucks            # makes "trucks" happen
//! cargo run --example worlds -- --world Mars      # another world
//! cargo run --example worlds -- --encrypted       # compressed and encrypted (another file)
//! ```
//!
//! Events are stored in SQLite, in `eventsourcing-examples-worlds.db` in the temporary
//! directory (`$TMPDIR`), so each run adds to the same world (whose id is the version 5 UUID
//! of its name) and the second run prints the first run's events too. The usual environment
//! variables override this: `SQLITE_DBNAME=/path/to/worlds.db`, `PERSISTENCE_MODULE=
//! eventsourcing.memory` (in memory: nothing is kept), `IS_SNAPSHOTTING_ENABLED=y`, and for
//! encryption and compression `CIPHER_KEY=<base64 of 16, 24 or 32 bytes>` and
//! `COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor` (each also as `WORLDS_...`).
//! `--encrypted` does both with a key kept beside the database file, for the demonstration.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::setup::{configure, Options};
use eventsourcing_examples::world::{demo, Worlds};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = Options::from_env();
    if options.help {
        println!("usage: worlds [--world NAME] [--encrypted] [WHAT]");
        return Ok(());
    }
    let mut world = "Earth".to_string();
    if let Some(i) = options.args.iter().position(|a| a == "--world") {
        options.args.remove(i);
        if i < options.args.len() {
            world = options.args.remove(i);
        } else {
            return Err("--world needs a name".into());
        }
    }
    let (builder, description) = configure(Worlds::builder(), "worlds", &options)?;
    println!("Worlds: {description}");
    let worlds = Worlds::with_builder(builder)?;
    let what = options.args.first().map(String::as_str);
    demo(&worlds, &world, what, &mut std::io::stdout().lock())
}
