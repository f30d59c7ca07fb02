//! The BankAccounts application: deposits, transfers and a refused withdrawal, over several
//! runs.
//!
//! ```text
//! cargo run --example bank_accounts
//! cargo run --example bank_accounts -- --encrypted   # compressed and encrypted (another file)
//! ```
//!
//! The first run opens accounts for Alice and Bob (found again in later runs by reading the
//! notification log); every run deposits 100.00 with Alice, transfers 30.00 to Bob, and shows
//! a withdrawal beyond Bob's balance refused. Events are stored in SQLite, in
//! `eventsourcing-examples-bank_accounts.db` in the temporary directory (`$TMPDIR`), so the
//! balances grow from run to run. The usual environment variables override this:
//! `SQLITE_DBNAME=/path/to/bank.db`, `PERSISTENCE_MODULE=eventsourcing.memory` (in memory), and
//! for encryption and compression `CIPHER_KEY=<base64 of 16, 24 or 32 bytes>` and
//! `COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor` (each also as
//! `BANKACCOUNTS_...`). `--encrypted` does both with a key kept beside the database file, for
//! the demonstration.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::bank_accounts::{demo, BankAccounts};
use eventsourcing_examples::setup::{configure, Options};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::from_env();
    if options.help {
        println!("usage: bank_accounts [--encrypted]");
        return Ok(());
    }
    let (builder, description) = configure(BankAccounts::builder(), "bank_accounts", &options)?;
    println!("BankAccounts: {description}");
    let accounts = BankAccounts::with_builder(builder)?;
    demo(&accounts, &mut std::io::stdout().lock())
}
