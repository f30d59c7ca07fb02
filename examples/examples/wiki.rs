//! The Wiki application: pages with unique names, renamed and edited over several runs.
//!
//! ```text
//! cargo run --example wiki
//! cargo run --example wiki -- --encrypted   # compressed and encrypted (another file)
//! ```
//!
//! The first run creates the page "Erth" and renames it "Earth"; every run adds a line to the
//! page and shows that a second page named "Earth" is refused by the event store. Events are
//! stored in SQLite, in `eventsourcing-examples-wiki.db` in the temporary directory
//! (`$TMPDIR`), so each run continues the page the previous runs wrote. The usual environment
//! variables override this: `SQLITE_DBNAME=/path/to/wiki.db`, `PERSISTENCE_MODULE=
//! eventsourcing.memory` (in memory), and for encryption and compression `CIPHER_KEY=<base64 of
//! 16, 24 or 32 bytes>` and `COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor` (each
//! also as `WIKI_...`). `--encrypted` does both with a key kept beside the database file, for
//! the demonstration.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::setup::{configure, Options};
use eventsourcing_examples::wiki::{demo, Wiki};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::from_env();
    if options.help {
        println!("usage: wiki [--encrypted]");
        return Ok(());
    }
    let (builder, description) = configure(Wiki::builder(), "wiki", &options)?;
    println!("Wiki: {description}");
    let wiki = Wiki::with_builder(builder)?;
    demo(&wiki, &mut std::io::stdout().lock())
}
