//! Reads as of a time (`get_as_of`): the aggregate rebuilt from its events up to a timestamp,
//! a snapshot used only when it is not newer, on every backend and both faces.

use chrono::{DateTime, TimeDelta, Utc};
use eventsourcing::application::ApplicationError;
use eventsourcing::prelude::*;
use eventsourcing_tests::backend_tests;

#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    balance: i64,
}

#[aggregate]
impl Account {
    #[created("Opened")]
    pub fn open() -> Self {
        Account { balance: 0 }
    }

    #[event("Deposited")]
    pub fn deposit(&mut self, amount: i64) {
        self.balance += amount;
    }
}

/// Saves an account with deposits of 1, 2, ... `n`, one save each; the times after each save.
fn history(app: &Application, n: i64) -> (Uuid, Vec<DateTime<Utc>>) {
    let mut account = Account::open();
    app.save(&mut account).unwrap();
    let mut times = vec![account.modified_on()];
    for amount in 1..=n {
        std::thread::sleep(std::time::Duration::from_millis(2));
        account.deposit(amount);
        app.save(&mut account).unwrap();
        times.push(account.modified_on());
    }
    (account.id(), times)
}

backend_tests! {
    /// As of each event's time, and between events, the aggregate is what it was then; before
    /// its creation it is not found, with a typed error naming the time.
    fn as_of_each_moment(backend) {
        let app = backend.builder("Accounts").build().unwrap();
        let (id, times) = history(&app, 5);
        for (i, time) in times.iter().enumerate() {
            let expected: i64 = (1..=i as i64).sum();
            for at in [*time, *time + TimeDelta::microseconds(500)] {
                let account: Account = app.repository().get_as_of(id, at).unwrap();
                assert_eq!(account.version(), i as u64 + 1, "as of {at}");
                assert_eq!(account.balance, expected, "as of {at}");
                assert_eq!(account.modified_on(), *time);
            }
        }
        let before = times[0] - TimeDelta::microseconds(1);
        match app.repository().get_as_of::<Account>(id, before) {
            Err(error @ ApplicationError::AggregateNotFoundAsOf { .. }) => {
                assert!(error.is_not_found());
                assert!(error.to_string().contains(&id.to_string()), "{error}");
            }
            other => panic!("expected AggregateNotFoundAsOf, got {other:?}"),
        }
        let unknown = app.repository().get_as_of::<Account>(Uuid::new_v4(), Utc::now());
        assert!(unknown.unwrap_err().is_not_found());
    }

    /// A snapshot newer than the time asked for is not used (the events are replayed); an
    /// older one is.
    fn as_of_with_snapshots(backend) {
        let app = backend.configure(Application::builder("Accounts")).snapshotting(true).build().unwrap();
        let (id, times) = history(&app, 6);
        app.take_snapshot::<Account>(id, Some(4)).unwrap(); // balance 1+2+3 at version 4
        for (i, time) in times.iter().enumerate() {
            let account: Account = app.repository().get_as_of(id, *time).unwrap();
            assert_eq!(account.version(), i as u64 + 1);
            assert_eq!(account.balance, (1..=i as i64).sum::<i64>());
        }
    }
}

/// The async face gives the same, from the same SQLite file.
#[test]
fn as_of_async() {
    let dir = eventsourcing_tests::TempDir::new("asof");
    let db = dir.path().join("accounts.db");
    let app = Application::builder("Accounts")
        .without_process_env()
        .sqlite(&db)
        .build()
        .unwrap();
    let (id, times) = history(&app, 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = Application::builder("Accounts")
            .without_process_env()
            .sqlite(&db)
            .build_async()
            .await
            .unwrap();
        for (i, time) in times.iter().enumerate() {
            let account: Account = app.repository().get_as_of(id, *time).await.unwrap();
            assert_eq!(account.version(), i as u64 + 1);
            assert_eq!(account.balance, (1..=i as i64).sum::<i64>());
        }
        let before = times[0] - TimeDelta::microseconds(1);
        let error = app
            .repository()
            .get_as_of::<Account>(id, before)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ApplicationError::AggregateNotFoundAsOf { .. }),
            "{error}"
        );
    });
}
