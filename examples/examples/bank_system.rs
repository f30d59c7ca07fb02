//! The bank accounts system deployed as processes around one store: the bank (the leader),
//! and workers following it, each of which may run as several replicas, exactly one active.
//!
//! ```text
//! cargo run --example bank_system --features system -- leader          # the bank, moving money
//! cargo run --example bank_system --features system -- worker ledger   # the activity ledger
//! cargo run --example bank_system --features system -- worker balances # the balances view
//! cargo run --example bank_system --features system -- status          # positions, balances
//! ```
//!
//! Run each in a terminal of its own (a worker twice, to see a standby take over when the
//! active one is killed). With `POSTGRES_HOST` set, everything is in that PostgreSQL database
//! (the other `POSTGRES_*` variables as usual) and the processes may run on different
//! machines; otherwise in SQLite files in `$TMPDIR/eventsourcing-examples-bank-system/`.
//! What each part is lives in the docs of `eventsourcing_examples::bank_system`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use eventsourcing::domain::BoxError;
use eventsourcing::worker::{Job, ProcessJob, Worker};
use eventsourcing_examples::bank_system::{self as system, Store};

const USAGE: &str = "\
usage: bank_system leader [ACCOUNTS]   run the bank: open ACCOUNTS accounts (10) if it has none,
                                       then move money between them until Ctrl-C
       bank_system worker ledger       run the activity ledger (a process application)
       bank_system worker balances     run the balances projection (a view of its own)
       bank_system status              how far behind the bank each follower is, top balances";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let store = Store::from_env();
    let result = match args.as_slice() {
        ["leader"] => leader(&store, 10),
        ["leader", n] => match n.parse() {
            Ok(n) => leader(&store, n),
            Err(_) => usage(&format!("not a number of accounts: {n}")),
        },
        ["worker", name @ ("ledger" | "balances")] => worker(&store, name),
        ["status"] => status(&store),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => usage("expected a command"),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bank_system: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> Result<(), BoxError> {
    Err(format!("{problem}\n{USAGE}").into())
}

/// The leader: commands on the bank, one every `LEADER_PAUSE`, until the process is stopped
/// (stopping it mid-command is safe: a command's events are stored atomically or not at all).
fn leader(store: &Store, accounts: usize) -> Result<(), BoxError> {
    let bank = system::bank(store)?;
    let accounts = system::accounts(&bank, accounts)?;
    println!(
        "leader: the bank has {} accounts in {}; moving money until Ctrl-C",
        accounts.len(),
        store.describe()
    );
    let mut traffic = system::Traffic::new();
    loop {
        println!("{}", system::move_money(&bank, &accounts, &mut traffic)?);
        std::thread::sleep(system::LEADER_PAUSE);
    }
}

/// A worker replica: works while it holds the lease, stands by while another replica does,
/// and stops on Ctrl-C or SIGTERM (releasing the lease for a standby).
fn worker(store: &Store, name: &str) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let job: Box<dyn Job> = match name {
            "ledger" => Box::new(ProcessJob::new(system::ledger_system(store)?)),
            _ => store
                .balances_view()?
                .job(Arc::new(system::bank_async(store).await?)),
        };
        let worker = Worker::new(name, store.lease(name)?);
        println!("worker {name}: {}; Ctrl-C stops it", store.describe());
        let run = worker.run(job.as_ref(), shutdown());
        let mut run = std::pin::pin!(run);
        let mut was_active = None;
        loop {
            tokio::select! {
                result = &mut run => {
                    result?;
                    println!("worker {name}: stopped");
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let status = worker.status();
            if was_active != Some(status.active) {
                was_active = Some(status.active);
                match status.active {
                    true => println!("worker {name}: active (takeover {})", status.takeovers),
                    false => println!("worker {name}: standing by (another replica is active)"),
                }
            }
            if status.active {
                for position in worker.positions().await? {
                    println!(
                        "worker {name}: {} at {} of {}'s {}",
                        position.follower, position.processed, position.leader, position.head
                    );
                }
            }
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Where the followers are, and the largest balances in the view.
fn status(store: &Store) -> Result<(), BoxError> {
    println!("{}", store.describe());
    for position in system::positions(store)? {
        println!(
            "{:>8}: at {} of {}'s {} ({} behind)",
            position.follower,
            position.processed,
            position.leader,
            position.head,
            position.lag()
        );
    }
    for (_, name, balance) in store.balances_view()?.balances(5)? {
        println!("{name:>12}: {balance:>10}");
    }
    Ok(())
}
