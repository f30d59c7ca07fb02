//! The bank accounts example (digest §6.1): the reference's `TestBankAccounts.test`, all eight
//! steps, against memory and an SQLite file; and the decimal amounts as stored.

use eventsourcing::prelude::*;
use eventsourcing_examples::bank_accounts::{
    BankAccount, BankAccountError, BankAccountEvent, BankAccounts, Decimal,
};
use eventsourcing_tests::{backend_tests, Backend};

fn d(amount: &str) -> Decimal {
    amount.parse().unwrap()
}

fn accounts(backend: &Backend) -> BankAccounts {
    BankAccounts::with_builder(backend.configure(BankAccounts::builder())).unwrap()
}

/// How many notifications the log holds (counted: PostgreSQL's ids can have gaps).
fn notification_count(app: &BankAccounts) -> u64 {
    app.app()
        .log()
        .recorder()
        .select_notifications(1, 10_000)
        .unwrap()
        .len() as u64
}

#[track_caller]
fn assert_closed(result: Result<(), BankAccountError>, account_id: Uuid) {
    match result {
        Err(BankAccountError::AccountClosed(id)) => assert_eq!(id, account_id),
        other => panic!("expected AccountClosed({account_id}), got {other:?}"),
    }
}

#[track_caller]
fn assert_insufficient(result: Result<(), BankAccountError>, account_id: Uuid) {
    match result {
        Err(BankAccountError::InsufficientFunds { account_id: id, .. }) => {
            assert_eq!(id, account_id)
        }
        other => panic!("expected InsufficientFunds in {account_id}, got {other:?}"),
    }
}

backend_tests! {
    /// `TestBankAccounts.test`, step by step.
    fn reference_test(backend) {
        let app = accounts(backend);

        // 1. Check account not found error.
        let missing = Uuid::new_v4();
        match app.get_balance(missing) {
            Err(BankAccountError::AccountNotFound(id)) => assert_eq!(id, missing),
            other => panic!("expected AccountNotFound, got {other:?}"),
        }

        // 2. Create account #1.
        let account_id1 = app.open_account("Alice", "alice@example.com").unwrap();
        assert_eq!(app.get_balance(account_id1).unwrap(), d("0.00"));

        // 3. Deposit, withdraw, and a withdrawal beyond the balance.
        app.deposit_funds(account_id1, d("200.00")).unwrap();
        assert_eq!(app.get_balance(account_id1).unwrap(), d("200.00"));
        app.withdraw_funds(account_id1, d("50.00")).unwrap();
        assert_eq!(app.get_balance(account_id1).unwrap(), d("150.00"));
        assert_insufficient(app.withdraw_funds(account_id1, d("151.00")), account_id1);
        assert_eq!(app.get_balance(account_id1).unwrap(), d("150.00"));

        // 4. Create account #2; transfer; a transfer beyond the balance.
        let account_id2 = app.open_account("Bob", "bob@example.com").unwrap();
        app.transfer_funds(account_id1, account_id2, d("100.00")).unwrap();
        assert_eq!(app.get_balance(account_id1).unwrap(), d("50.00"));
        assert_eq!(app.get_balance(account_id2).unwrap(), d("100.00"));
        assert_insufficient(
            app.transfer_funds(account_id1, account_id2, d("1000.00")),
            account_id1,
        );
        assert_eq!(app.get_balance(account_id1).unwrap(), d("50.00"));
        assert_eq!(app.get_balance(account_id2).unwrap(), d("100.00"));

        // 5. Close account #1; nothing moves in or out of it, in either direction.
        app.close_account(account_id1).unwrap();
        let stored_before = notification_count(&app);
        assert_closed(app.transfer_funds(account_id1, account_id2, d("50.00")), account_id1);
        // The debit of account #2 succeeds in memory, the credit of closed #1 fails: nothing
        // is saved.
        assert_closed(app.transfer_funds(account_id2, account_id1, d("50.00")), account_id1);
        assert_closed(app.withdraw_funds(account_id1, d("1.00")), account_id1);
        assert_closed(app.deposit_funds(account_id1, d("1000.00")), account_id1);
        assert_eq!(app.get_balance(account_id1).unwrap(), d("50.00"));
        assert_eq!(app.get_balance(account_id2).unwrap(), d("100.00"));
        assert_eq!(notification_count(&app), stored_before);

        // 6. Overdraft limit: zero at first; set it; a negative one is refused.
        assert_eq!(app.get_overdraft_limit(account_id2).unwrap(), d("0.00"));
        app.set_overdraft_limit(account_id2, d("500.00")).unwrap();
        match app.set_overdraft_limit(account_id2, d("-500.00")) {
            Err(BankAccountError::NegativeOverdraftLimit(limit)) => {
                assert_eq!(limit, d("-500.00"))
            }
            other => panic!("expected NegativeOverdraftLimit, got {other:?}"),
        }
        assert_eq!(app.get_overdraft_limit(account_id2).unwrap(), d("500.00"));

        // 7. Withdraw into the overdraft, but not beyond it (-501 < -500).
        app.withdraw_funds(account_id2, d("500.00")).unwrap();
        assert_eq!(app.get_balance(account_id2).unwrap(), d("-400.00"));
        assert_insufficient(app.withdraw_funds(account_id2, d("101.00")), account_id2);
        assert_eq!(app.get_balance(account_id2).unwrap(), d("-400.00"));

        // 8. A closed account's overdraft limit can't be set.
        assert_closed(app.set_overdraft_limit(account_id1, d("500.00")), account_id1);
    }

    /// Decimals are stored as the reference stores them (`decimal_str`), exactly, keep their
    /// scale, and compare ignoring trailing zeros (as Python's `Decimal("50.00") ==
    /// Decimal("50")`).
    fn decimals_round_trip(backend) {
        let app = accounts(backend);
        let id = app.open_account("Alice", "alice@example.com").unwrap();
        app.deposit_funds(id, d("0.10")).unwrap();
        app.deposit_funds(id, d("0.20")).unwrap();
        let balance = app.get_balance(id).unwrap();
        assert_eq!(balance, d("0.3"));
        assert_eq!(balance.to_string(), "0.30");
        assert_eq!(d("50.00"), d("50"));

        let section = app.app().log().section("1,10").unwrap();
        let state: serde_json::Value = serde_json::from_slice(&section.items[1].state).unwrap();
        assert_eq!(
            state["amount"],
            serde_json::json!({"_type_": "decimal_str", "_data_": "0.10"})
        );
        assert_eq!(state["transaction_id"], serde_json::Value::Null);
        let event: DomainEvent<BankAccountEvent> =
            app.app().mapper().to_domain_event(&section.items[1]).unwrap();
        assert_eq!(
            event.payload,
            BankAccountEvent::TransactionAppended {
                amount: d("0.10"),
                transaction_id: None
            }
        );
    }

    /// A transfer saves both accounts in one insert, with one transaction id.
    fn transfers_are_atomic(backend) {
        let app = accounts(backend);
        let alice = app.open_account("Alice", "alice@example.com").unwrap();
        let bob = app.open_account("Bob", "bob@example.com").unwrap();
        app.deposit_funds(alice, d("10")).unwrap();
        // From an account to itself: refused before anything is read or saved.
        assert!(matches!(
            app.transfer_funds(alice, alice, d("1")),
            Err(BankAccountError::SameAccount(id)) if id == alice
        ));
        app.transfer_funds(alice, bob, d("4")).unwrap();
        let items = app.app().log().section("4,5").unwrap().items;
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].originator_id, items[1].originator_id), (alice, bob));
        let mapper = app.app().mapper();
        let debit: DomainEvent<BankAccountEvent> = mapper.to_domain_event(&items[0]).unwrap();
        let credit: DomainEvent<BankAccountEvent> = mapper.to_domain_event(&items[1]).unwrap();
        match (debit.payload, credit.payload) {
            (
                BankAccountEvent::TransactionAppended { amount: a, transaction_id: Some(t1) },
                BankAccountEvent::TransactionAppended { amount: b, transaction_id: Some(t2) },
            ) => {
                assert_eq!((a, b), (d("-4"), d("4")));
                assert_eq!(t1, t2);
            }
            other => panic!("expected two transactions, got {other:?}"),
        }
        let account: BankAccount = app.get_account(bob).unwrap();
        assert_eq!((account.full_name(), account.email_address()), ("Bob", "bob@example.com"));
        assert!(!account.is_closed());
        assert_eq!(app.accounts().unwrap(), [
            (alice, "alice@example.com".to_string()),
            (bob, "bob@example.com".to_string()),
        ]);
    }

    /// The `bank_accounts` program's logic: the second run finds the accounts the first
    /// opened, through the notification log, and the balances grow.
    fn demo_runs_continue(backend) {
        let mut out = Vec::new();
        eventsourcing_examples::bank_accounts::demo(&accounts(backend), &mut out).unwrap();
        let first = String::from_utf8(out).unwrap();
        assert!(first.contains("Opened accounts"), "{first}");
        assert!(first.contains("Alice: balance 70.00"), "{first}");
        assert!(first.contains("Bob: balance 30.00"), "{first}");

        let mut out = Vec::new();
        eventsourcing_examples::bank_accounts::demo(&accounts(backend), &mut out).unwrap();
        let second = String::from_utf8(out).unwrap();
        assert!(!second.contains("Opened accounts"), "{second}");
        assert!(second.contains("Alice: balance 140.00"), "{second}");
        assert!(second.contains("Bob: balance 60.00"), "{second}");
        assert!(second.contains("was refused"), "{second}");
    }
}
