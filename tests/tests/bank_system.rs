//! The bank accounts system of `eventsourcing_examples::bank_system`, as its program deploys
//! it: the bank taking commands, and two replicas of each worker (the ledger, a process
//! application; the balances, a projection into a view of its own), each replica with
//! application objects of its own, as separate processes would have. The active replica of
//! each is stopped halfway; the standby takes over, and the followers end up agreeing with the
//! bank, account by account, on SQLite files and on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsourcing::domain::{Aggregate, BoxError};
use eventsourcing::worker::{ProcessJob, Worker};
use eventsourcing_examples::bank_accounts::BankAccounts;
use eventsourcing_examples::bank_system::{self as system, Ledger, Store};
use eventsourcing_tests::pg::{Skipped, TempSchema};
use eventsourcing_tests::TempDir;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A replica of a worker, running on `runtime` until told to stop.
struct Replica {
    worker: Arc<Worker>,
    stop: Option<oneshot::Sender<()>>,
    running: tokio::task::JoinHandle<Result<(), eventsourcing::worker::WorkerError>>,
}

impl Replica {
    fn start(runtime: &tokio::runtime::Runtime, store: &Store, name: &str) -> Replica {
        let worker = Arc::new(
            Worker::new(name, store.lease(name).unwrap())
                .takeover_interval(Duration::from_millis(50)),
        );
        let job: Box<dyn eventsourcing::worker::Job> = match name {
            "ledger" => Box::new(ProcessJob::new(system::ledger_system(store).unwrap())),
            _ => {
                let bank = runtime.block_on(system::bank_async(store)).unwrap();
                store.balances_view().unwrap().job(Arc::new(bank))
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let running = runtime.spawn({
            let worker = Arc::clone(&worker);
            async move {
                worker
                    .run(job.as_ref(), async {
                        let _ = stopped.await;
                    })
                    .await
            }
        });
        Replica {
            worker,
            stop: Some(stop),
            running,
        }
    }

    fn is_active(&self) -> bool {
        self.worker.status().active
    }

    fn stop(mut self, runtime: &tokio::runtime::Runtime) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        runtime
            .block_on(self.running)
            .expect("the replica's task")
            .expect("the replica stops cleanly");
    }
}

/// Waits until every follower has processed everything the bank has.
fn wait_for_followers(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let positions = system::positions(store).unwrap();
        if positions.iter().all(|p| p.lag() == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the followers did not catch up: {positions:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until exactly one of the two replicas is active, and returns it first.
fn active_first(a: Replica, b: Replica) -> (Replica, Replica) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match (a.is_active(), b.is_active()) {
            (true, false) => return (a, b),
            (false, true) => return (b, a),
            (true, true) => panic!("two replicas active at once"),
            (false, false) => {}
        }
        assert!(Instant::now() < deadline, "no replica became active");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn traffic(bank: &BankAccounts, accounts: &[Uuid], commands: usize) -> Result<(), BoxError> {
    let mut traffic = system::Traffic::new();
    for _ in 0..commands {
        system::move_money(bank, accounts, &mut traffic)?;
    }
    Ok(())
}

fn deployed_system(store: &Store) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bank = system::bank(store)?;
    let accounts = system::accounts(&bank, 6)?;
    assert_eq!(accounts.len(), 6);
    assert_eq!(
        system::accounts(&bank, 6)?,
        accounts,
        "a second leader finds the accounts"
    );
    traffic(&bank, &accounts, 40)?;

    let (ledger, ledger_standby) = active_first(
        Replica::start(&runtime, store, "ledger"),
        Replica::start(&runtime, store, "ledger"),
    );
    let (balances, balances_standby) = active_first(
        Replica::start(&runtime, store, "balances"),
        Replica::start(&runtime, store, "balances"),
    );
    wait_for_followers(store);

    // The active replicas stop (a deployment rolls, say) while the bank keeps taking commands.
    std::thread::scope(|scope| {
        let commands = scope.spawn(|| traffic(&bank, &accounts, 60).map_err(|e| e.to_string()));
        std::thread::sleep(Duration::from_millis(30));
        ledger.stop(&runtime);
        balances.stop(&runtime);
        commands.join().expect("the traffic thread")
    })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ledger_standby.is_active() && balances_standby.is_active()) {
        assert!(Instant::now() < deadline, "the standbys did not take over");
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_for_followers(store);

    let ledger_app = Ledger::new(store)?;
    let view = store.balances_view()?;
    let projected = view.balances(100)?;
    assert_eq!(projected.len(), accounts.len(), "{projected:?}");
    for &id in &accounts {
        let account = bank.get_account(id)?;
        let (_, name, balance) = projected
            .iter()
            .find(|(account_id, _, _)| *account_id == id)
            .expect("every account is in the view");
        assert_eq!(name, account.full_name());
        assert_eq!(*balance, account.balance(), "the view's balance of {name}");
        let activity = ledger_app
            .activity(id)?
            .expect("every account has had activity");
        // Opened, then one event per transaction: each was processed exactly once.
        assert_eq!(
            activity.transactions(),
            account.version() - 1,
            "{name}'s transactions"
        );
        assert_eq!(
            activity.net(),
            account.balance(),
            "{name}'s credits less debits"
        );
    }
    let sorted = projected.windows(2).all(|pair| pair[0].2 >= pair[1].2);
    assert!(sorted, "largest balances first: {projected:?}");

    ledger_standby.stop(&runtime);
    balances_standby.stop(&runtime);
    Ok(())
}

#[test]
fn sqlite_files() -> Result<(), BoxError> {
    let dir = TempDir::new("bank-system");
    deployed_system(&Store::Sqlite(dir.path().to_path_buf()))
}

#[test]
fn postgres() -> Result<(), BoxError> {
    let Some(schema) = TempSchema::new("banksystem") else {
        return Skipped::skipped();
    };
    deployed_system(&Store::Postgres(schema.env()))
}
