//! Orders: a command that checks before it records.
//!
//! ```text
//! cargo run --example order
//! ```
//!
//! Stored in SQLite in `eventsourcing-examples-order.db` in the temporary directory; each run
//! adds an order. The usual environment variables override this (`SQLITE_DBNAME`,
//! `PERSISTENCE_MODULE`, `CIPHER_KEY`, `COMPRESSOR_TOPIC`, each also as `ORDERS_...`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::order::{demo, Orders};
use eventsourcing_examples::setup::{configure, Options};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::from_env();
    if options.help {
        println!("usage: order [--encrypted]");
        return Ok(());
    }
    let (builder, description) = configure(Orders::builder(), "order", &options)?;
    println!("Orders: {description}");
    let orders = Orders::with_builder(builder)?;
    demo(&orders, &mut std::io::stdout())
}
