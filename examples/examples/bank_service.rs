//! The BankAccounts application behind an HTTP API: accounts, deposits, withdrawals,
//! transfers, overdraft limits and the notification log, as JSON over HTTP (axum).
//!
//! ```text
//! cargo run --example bank_service --features service
//! cargo run --example bank_service --features service -- --addr 0.0.0.0:3000
//! cargo run --example bank_service --features service -- --encrypted
//! ```
//!
//! The `service` feature of the examples crate brings axum and tokio; the other examples are
//! built without them (cargo says which feature to pass if it is missing). The program listens
//! on `--addr`, else `BANK_SERVICE_ADDR`, else `127.0.0.1:8080`, prints `curl` commands to try,
//! and serves until Ctrl-C. Events are stored in SQLite, in
//! `eventsourcing-examples-bank_service.db` in the temporary directory (`$TMPDIR`), so a
//! restarted service still has its accounts. The usual environment variables override this:
//! `SQLITE_DBNAME=/path/to/bank.db`, `PERSISTENCE_MODULE=eventsourcing.memory` (in memory),
//! `PERSISTENCE_MODULE=eventsourcing.postgres` with `POSTGRES_DBNAME`, `POSTGRES_HOST`,
//! `POSTGRES_PORT`, `POSTGRES_USER`, `POSTGRES_PASSWORD` (each also as `BANKACCOUNTS_...`).
//! The API and its error statuses are in the docs of `eventsourcing_examples::bank_service`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use eventsourcing_examples::bank_service::{start, AsyncBankAccounts, ServiceOptions};

fn main() -> std::process::ExitCode {
    eventsourcing_examples::setup::run_example(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run())
    })
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = ServiceOptions::from_env()?;
    if options.setup.help {
        println!("{}", ServiceOptions::USAGE);
        return Ok(());
    }
    let service = start(AsyncBankAccounts::builder(), &options).await?;
    println!("{}", service.welcome());
    service.serve(ctrl_c()).await?;
    println!("Stopped.");
    Ok(())
}

/// Completes on Ctrl-C. If the program can't listen for it, it says so and serves until it is
/// killed.
async fn ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("can't listen for Ctrl-C ({error}): stop the service by killing it");
        std::future::pending::<()>().await;
    }
}
