//! The bank accounts HTTP service (`eventsourcing_examples::bank_service`), driven over real
//! HTTP on a random port, on memory and SQLite (and PostgreSQL, ignored until its async
//! backend lands): every route, every error status, and what was stored.

#[macro_use]
mod bank_service_common;

use std::sync::Arc;

use bank_service_common::{
    amount, assert_error, id_of, notifications, open, runtime, HttpClient, HttpResponse, Running,
};
use eventsourcing::persistence::{
    AesCipher, AggregateRecorder, ApplicationRecorder, ErrorKind, EventQuery, Notification,
    PersistenceError, ProcessRecorder, StoredEvent, Tracking,
};
use eventsourcing_examples::bank_service::{start, AsyncBankAccounts, BankService, ServiceOptions};
use eventsourcing_tests::{Backend, TempDb};
use serde_json::json;
use uuid::Uuid;

service_tests! {
    /// Open, get, deposit, withdraw, overdraft limit (PUT and POST), close; the list.
    async fn an_account_from_opening_to_closing(http, accounts) {
        let response = http
            .post("/accounts", json!({"full_name": " Alice ", "email_address": "alice@example.com"}))
            .await;
        assert_eq!(response.status, 201, "{}", response.text());
        let opened = response.json();
        let id = id_of(&opened);
        assert_eq!(response.header("location"), Some(format!("/accounts/{id}").as_str()));
        assert_eq!(opened["full_name"], "Alice"); // trimmed
        assert_eq!(opened["email_address"], "alice@example.com");
        assert_eq!((&opened["balance"], &opened["overdraft_limit"]), (&json!("0.00"), &json!("0.00")));
        assert_eq!((&opened["is_closed"], &opened["version"]), (&json!(false), &json!(1)));
        assert!(opened["created_on"].as_str().is_some_and(|t| t.ends_with('Z')), "{opened}");

        let got = http.get(&format!("/accounts/{id}")).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json(), opened);

        let deposited = http.post(&format!("/accounts/{id}/deposits"), amount("200.00")).await;
        assert_eq!(deposited.status, 200, "{}", deposited.text());
        assert_eq!((&deposited.json()["balance"], &deposited.json()["version"]), (&json!("200.00"), &json!(2)));
        let withdrawn = http.post(&format!("/accounts/{id}/withdrawals"), amount("50.25")).await;
        assert_eq!(withdrawn.status, 200, "{}", withdrawn.text());
        assert_eq!(withdrawn.json()["balance"], "149.75");

        let limited = http
            .put(&format!("/accounts/{id}/overdraft-limit"), json!({"overdraft_limit": "100"}))
            .await;
        assert_eq!(limited.status, 200, "{}", limited.text());
        assert_eq!(limited.json()["overdraft_limit"], "100");
        let limited = http
            .post(&format!("/accounts/{id}/overdraft-limit"), json!({"overdraft_limit": "150.00"}))
            .await;
        assert_eq!(limited.json()["overdraft_limit"], "150.00");
        // Into the overdraft, down to its limit exactly.
        let overdrawn = http.post(&format!("/accounts/{id}/withdrawals"), amount("299.75")).await;
        assert_eq!(overdrawn.status, 200, "{}", overdrawn.text());
        assert_eq!(overdrawn.json()["balance"], "-150.00");

        let closed = http.send("POST", &format!("/accounts/{id}/close"), None).await;
        assert_eq!(closed.status, 200, "{}", closed.text());
        assert_eq!((&closed.json()["is_closed"], &closed.json()["version"]), (&json!(true), &json!(7)));
        // Closing again changes nothing and records nothing.
        let again = http.send("POST", &format!("/accounts/{id}/close"), None).await;
        assert_eq!((again.status, &again.json()["version"]), (200, &json!(7)));

        let bob = open(&http, "Bob").await;
        let list = http.get("/accounts").await;
        assert_eq!(list.status, 200);
        assert_eq!(list.json(), json!({"accounts": [
            {"id": id, "full_name": "Alice", "email_address": "alice@example.com"},
            {"id": bob, "full_name": "Bob", "email_address": "bob@example.com"},
        ]}));

        // What the service answered is what is stored.
        let stored: eventsourcing_examples::bank_accounts::BankAccount =
            accounts.app().repository().get(id.parse().unwrap()).await.unwrap();
        assert_eq!(stored.balance().to_string(), "-150.00");
        assert!(stored.is_closed());
    }

    /// A transfer: both accounts saved in one insert, with one transaction id; refused
    /// transfers save nothing.
    async fn transfers(http, accounts) {
        let alice = open(&http, "Alice").await;
        let bob = open(&http, "Bob").await;
        http.post(&format!("/accounts/{alice}/deposits"), amount("100")).await;

        let transfer = |from: &str, to: &str, value: &str| {
            json!({"debit_account_id": from, "credit_account_id": to, "amount": value})
        };
        let response = http.post("/transfers", transfer(&alice, &bob, "40.50")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        let body = response.json();
        assert_eq!(body["debit_account"]["balance"], "59.50");
        assert_eq!(body["credit_account"]["balance"], "40.50");
        let transaction_id = body["transaction_id"].as_str().unwrap().to_string();

        // The last two notifications: the debit then the credit, with the transaction id.
        let log = notifications(&http).await;
        assert_eq!(log.len(), 5);
        let (debit, credit) = (&log[3], &log[4]);
        assert_eq!((&debit["originator_id"], &credit["originator_id"]), (&json!(alice), &json!(bob)));
        // Stored as the reference's JSON transcoder stores decimals and UUIDs.
        let decimal = |value: &str| json!({"_type_": "decimal_str", "_data_": value});
        assert_eq!(debit["state"]["amount"], decimal("-40.50"));
        assert_eq!(credit["state"]["amount"], decimal("40.50"));
        let hex = json!({"_type_": "uuid_hex", "_data_": transaction_id.replace('-', "")});
        assert_eq!(debit["state"]["transaction_id"], hex);
        assert_eq!(credit["state"]["transaction_id"], hex);

        // Refused: beyond the balance (409), an unknown account (404), the same account
        // (422), a closed account (409). None saves anything.
        let response = http.post("/transfers", transfer(&alice, &bob, "59.51")).await;
        let body = assert_error(&response, 409, "insufficient_funds");
        assert_eq!(body["account_id"], json!(alice));
        let unknown = uuid::Uuid::new_v4().to_string();
        let response = http.post("/transfers", transfer(&alice, &unknown, "1")).await;
        assert_eq!(assert_error(&response, 404, "account_not_found")["account_id"], json!(unknown));
        let response = http.post("/transfers", transfer(&unknown, &bob, "1")).await;
        assert_error(&response, 404, "account_not_found");
        let response = http.post("/transfers", transfer(&alice, &alice, "1")).await;
        assert_error(&response, 422, "same_account");
        http.send("POST", &format!("/accounts/{bob}/close"), None).await;
        let response = http.post("/transfers", transfer(&alice, &bob, "1")).await;
        assert_eq!(assert_error(&response, 409, "account_closed")["account_id"], json!(bob));
        let response = http.post("/transfers", transfer(&alice, &bob, "0")).await;
        assert_error(&response, 422, "invalid_amount");

        assert_eq!(notifications(&http).await.len(), 6); // only the close was added
        let alice_now = http.get(&format!("/accounts/{alice}")).await.json();
        assert_eq!((&alice_now["balance"], &alice_now["version"]), (&json!("59.50"), &json!(3)));
        let _ = accounts;
    }

    /// The notification log: selections from a position, sections, stored state as JSON.
    async fn the_notification_log(http, accounts) {
        let empty = http.get("/notifications").await;
        assert_eq!(empty.status, 200);
        assert_eq!(empty.json(), json!({"items": [], "next_start": 1}));

        let alice = open(&http, "Alice").await;
        for value in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"] {
            http.post(&format!("/accounts/{alice}/deposits"), amount(value)).await;
        }
        // 12 events: one section of 10, then 2.
        let page = http.get("/notifications?start=1&limit=3").await.json();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(page["next_start"], 4);
        let first = &items[0];
        assert_eq!((&first["id"], &first["originator_version"]), (&json!(1), &json!(1)));
        assert_eq!(first["originator_id"], json!(alice));
        assert!(first["topic"].as_str().unwrap().ends_with("BankAccount.Opened"), "{first}");
        assert_eq!(first["state"]["full_name"], "Alice");
        assert!(items[1]["topic"].as_str().unwrap().ends_with("BankAccount.TransactionAppended"));

        let default = http.get("/notifications?start=11").await.json();
        assert_eq!(default["items"].as_array().unwrap().len(), 2);
        assert_eq!(default["next_start"], 13);
        assert_eq!(http.get("/notifications?start=13").await.json()["next_start"], 13);

        let section = http.get("/notifications/1,10").await;
        assert_eq!(section.status, 200, "{}", section.text());
        let section = section.json();
        assert_eq!((&section["id"], &section["next_id"]), (&json!("1,10"), &json!("11,20")));
        assert_eq!(section["items"].as_array().unwrap().len(), 10);
        let last = http.get("/notifications/11,20").await.json();
        assert_eq!((&last["id"], &last["next_id"]), (&json!("11,12"), &json!(null)));
        assert_eq!(notifications(&http).await.len(), 12);

        // Bad requests of the log: 400.
        let body = assert_error(&http.get("/notifications?limit=11").await, 400, "invalid_limit");
        assert_eq!(body["max_limit"], 10);
        assert_error(&http.get("/notifications?start=first").await, 400, "invalid_query");
        assert_error(&http.get("/notifications?begin=1").await, 400, "invalid_query");
        assert_error(&http.get("/notifications/ten").await, 400, "invalid_section_id");
        let _ = accounts;
    }

    /// Every kind of refusal answers its status and error code, as JSON, and stores nothing.
    async fn errors_and_their_statuses(http, accounts) {
        let id = open(&http, "Alice").await;
        http.post(&format!("/accounts/{id}/deposits"), amount("10.00")).await;
        let stored_before = notifications(&http).await.len();

        // 404: an unknown account, for every route of an account; an unknown route.
        let unknown = uuid::Uuid::new_v4();
        let body = assert_error(&http.get(&format!("/accounts/{unknown}")).await, 404, "account_not_found");
        assert_eq!(body["account_id"], json!(unknown.to_string()));
        for (path, body) in [
            ("deposits", Some(amount("1"))),
            ("withdrawals", Some(amount("1"))),
            ("overdraft-limit", Some(json!({"overdraft_limit": "1"}))),
            ("close", None),
        ] {
            let response = http.send("POST", &format!("/accounts/{unknown}/{path}"), body).await;
            assert_error(&response, 404, "account_not_found");
        }
        let body = assert_error(&http.get("/accounts/1/history").await, 404, "not_found");
        assert_eq!(body["path"], "/accounts/1/history");

        // 405: a known path, another method; the Allow header says which.
        let response = http.send("DELETE", &format!("/accounts/{id}"), None).await;
        assert_error(&response, 405, "method_not_allowed");
        assert!(response.header("allow").is_some_and(|allow| allow.contains("GET")), "{response:?}");

        // 400: a path id that isn't a UUID; a body that isn't JSON.
        let body = assert_error(&http.get("/accounts/not-a-uuid").await, 400, "invalid_account_id");
        assert_eq!(body["account_id"], "not-a-uuid");
        let headers = [("Content-Type", "application/json")];
        let response = http.request("POST", "/accounts", &headers, b"{\"full_name\": ").await.unwrap();
        assert_error(&response, 400, "invalid_json");

        // 415: JSON without its content type.
        let response = http
            .request("POST", &format!("/accounts/{id}/deposits"), &[], br#"{"amount": "1"}"#)
            .await
            .unwrap();
        assert_error(&response, 415, "unsupported_media_type");

        // 422: JSON of the wrong shape, or values no state of the account would accept.
        for body in [
            json!({"full_name": "Bob"}),
            json!({"full_name": "Bob", "email_address": "bob@example.com", "age": 3}),
            json!("Bob"),
        ] {
            assert_error(&http.post("/accounts", body).await, 422, "invalid_body");
        }
        let blank = http.post("/accounts", json!({"full_name": "  ", "email_address": "b@example.com"})).await;
        assert_eq!(assert_error(&blank, 422, "invalid_body")["field"], "full_name");
        for value in [json!(5), json!("five"), json!("1.2.3"), json!(null)] {
            let response = http.post(&format!("/accounts/{id}/deposits"), json!({"amount": value})).await;
            assert_error(&response, 422, "invalid_body");
        }
        for value in ["-5", "0", "0.00"] {
            let response = http.post(&format!("/accounts/{id}/withdrawals"), amount(value)).await;
            assert_eq!(assert_error(&response, 422, "invalid_amount")["amount"], json!(value));
        }
        let response = http
            .put(&format!("/accounts/{id}/overdraft-limit"), json!({"overdraft_limit": "-1"}))
            .await;
        assert_error(&response, 422, "invalid_overdraft_limit");
        let huge = "79228162514264337593543950335"; // Decimal::MAX
        let response = http.post(&format!("/accounts/{id}/deposits"), amount(huge)).await;
        assert_error(&response, 422, "amount_out_of_range");

        // 409: insufficient funds, with the numbers.
        let response = http.post(&format!("/accounts/{id}/withdrawals"), amount("10.01")).await;
        let body = assert_error(&response, 409, "insufficient_funds");
        assert_eq!(body["account_id"], json!(id));
        assert_eq!((&body["balance"], &body["overdraft_limit"]), (&json!("10.00"), &json!("0.00")));
        assert_eq!(body["amount"], "-10.01");

        assert_eq!(notifications(&http).await.len(), stored_before, "a refusal stored something");

        // 409: a closed account refuses transactions and limits.
        http.send("POST", &format!("/accounts/{id}/close"), None).await;
        for (path, body) in [
            ("deposits", amount("1")),
            ("withdrawals", amount("1")),
            ("overdraft-limit", json!({"overdraft_limit": "1"})),
        ] {
            let response = http.post(&format!("/accounts/{id}/{path}"), body).await;
            assert_eq!(assert_error(&response, 409, "account_closed")["account_id"], json!(id));
        }
        assert_eq!(notifications(&http).await.len(), stored_before + 1);
        let _ = accounts;
    }
}

/// With stored state encrypted (and compressed), the log shows no state: the stored bytes are
/// not JSON.
#[test]
fn an_encrypted_log_shows_no_state() {
    let backend = Backend::memory();
    runtime().block_on(async {
        let key = AesCipher::create_key(32).unwrap();
        let builder = backend
            .configure(AsyncBankAccounts::builder())
            .cipher_key(key)
            .zlib_compression();
        let accounts = AsyncBankAccounts::with_builder(builder).await.unwrap();
        let service = BankService::bind(accounts, "127.0.0.1:0").await.unwrap();
        let running = Running::serve(service);
        let id = open(&running.http, "Alice").await;
        let log = notifications(&running.http).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["originator_id"], json!(id));
        assert!(log[0].get("state").is_none(), "{}", log[0]);
        // The account itself reads back through the cipher.
        let got = running.http.get(&format!("/accounts/{id}")).await.json();
        assert_eq!(got["full_name"], "Alice");
        running.stop().await;
    });
}

/// `count` deposits of `value` to the account `id`, sent at once from as many tasks, each over
/// its own connection; their responses.
async fn deposits_at_once(
    http: HttpClient,
    id: &str,
    count: usize,
    value: &str,
) -> Vec<HttpResponse> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (path, body) = (format!("/accounts/{id}/deposits"), amount(value));
            tokio::spawn(async move { http.post(&path, body).await })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.expect("the task ran"));
    }
    responses
}

/// How many deposits the concurrency tests send at once.
const DEPOSITS: usize = 30;

service_tests! {
    /// Deposits to one account from many tasks at once, each over its own connection: with
    /// enough attempts, every one succeeds and is counted exactly once (the conflicts were
    /// retried).
    async fn concurrent_deposits_are_all_counted(http, accounts) attempts(200) {
        let id = open(&http, "Alice").await;
        for response in deposits_at_once(http, &id, DEPOSITS, "1.00").await {
            assert_eq!(response.status, 200, "{}", response.text());
        }
        let account = http.get(&format!("/accounts/{id}")).await.json();
        assert_eq!(account["balance"], "30.00");
        assert_eq!(account["version"], 1 + DEPOSITS as u64);
        assert_eq!(notifications(&http).await.len(), 1 + DEPOSITS);
    }

    /// The same with a single attempt per command: a deposit that lost the race answers 409
    /// `conflict` and stores nothing; the others are counted exactly once.
    async fn conflicts_beyond_the_attempts_are_409(http, accounts) attempts(1) {
        let id = open(&http, "Alice").await;
        let mut saved = 0u64;
        for response in deposits_at_once(http, &id, DEPOSITS, "1").await {
            if response.status == 200 {
                saved += 1;
            } else {
                assert_error(&response, 409, "conflict");
            }
        }
        let account = http.get(&format!("/accounts/{id}")).await.json();
        assert_eq!(account["balance"], json!(saved.to_string()));
        assert_eq!(account["version"], 1 + saved);
        assert_eq!(notifications(&http).await.len() as u64, 1 + saved);
        eprintln!("{saved} of {DEPOSITS} deposits saved at their first attempt");
    }
}

/// A recorder whose every call fails with an error of `kind`, its message holding a secret.
struct Failing(ErrorKind);

const SECRET: &str = "host=db.internal password=hunter2";

impl Failing {
    fn error(&self) -> PersistenceError {
        PersistenceError::database(self.0, format!("can't connect: {SECRET}"))
    }
}

impl AggregateRecorder for Failing {
    fn insert_events(&self, _: &[StoredEvent]) -> Result<(), PersistenceError> {
        Err(self.error())
    }

    fn select_events(&self, _: Uuid, _: &EventQuery) -> Result<Vec<StoredEvent>, PersistenceError> {
        Err(self.error())
    }
}

impl ApplicationRecorder for Failing {
    fn select_notifications(
        &self,
        _: u64,
        _: usize,
    ) -> Result<Vec<Notification>, PersistenceError> {
        Err(self.error())
    }

    fn max_notification_id(&self) -> Result<u64, PersistenceError> {
        Err(self.error())
    }
}

impl ProcessRecorder for Failing {
    fn insert_events_with_tracking(
        &self,
        _: &[StoredEvent],
        _: &[Tracking],
    ) -> Result<(), PersistenceError> {
        Err(self.error())
    }

    fn max_tracking_id(&self, _: &str) -> Result<u64, PersistenceError> {
        Err(self.error())
    }
}

/// The event store failing: 503 when it may pass (it can't be reached), 500 otherwise; the
/// cause is never sent to the client.
#[test]
fn storage_failures_are_503_or_500_and_keep_their_secrets() {
    for (kind, status, code) in [
        (ErrorKind::Operational, 503, "storage_unavailable"),
        (ErrorKind::Interface, 503, "storage_unavailable"),
        (ErrorKind::Data, 500, "internal_error"),
        (ErrorKind::Internal, 500, "internal_error"),
    ] {
        runtime().block_on(async {
            let builder = AsyncBankAccounts::builder()
                .without_process_env()
                .recorders(Arc::new(Failing(kind)), None);
            let accounts = AsyncBankAccounts::with_builder(builder).await.unwrap();
            let running = Running::serve(BankService::bind(accounts, "127.0.0.1:0").await.unwrap());
            let http = running.http;
            let id = Uuid::new_v4();
            for response in [
                http.post(
                    "/accounts",
                    json!({"full_name": "A", "email_address": "a@example.com"}),
                )
                .await,
                http.get(&format!("/accounts/{id}")).await,
                http.post(&format!("/accounts/{id}/deposits"), amount("1"))
                    .await,
                http.get("/accounts").await,
                http.get("/notifications").await,
                http.get("/notifications/1,10").await,
            ] {
                assert_error(&response, status, code);
                assert!(
                    !response.text().contains("hunter2"),
                    "{kind:?}: {}",
                    response.text()
                );
                assert!(
                    !response.text().contains("db.internal"),
                    "{kind:?}: {}",
                    response.text()
                );
            }
            running.stop().await;
        });
    }
}

/// What `cargo run --example bank_service` does, as a function: configured like the other
/// example programs (SQLite by default), bound to the address asked for, serving until the
/// shutdown signal; a second run over the same database still has the accounts.
#[test]
fn the_program_starts_serves_stops_and_keeps_its_accounts() {
    let db = TempDb::new("bank_service_program");
    let builder = || {
        AsyncBankAccounts::builder()
            .without_process_env()
            .env("SQLITE_DBNAME", db.path().to_string_lossy())
    };
    let options = ServiceOptions::parse(["--addr".to_string(), "127.0.0.1:0".to_string()], None)
        .expect("options");
    runtime().block_on(async {
        let service = start(builder(), &options).await.expect("starts");
        let addr = service.local_addr();
        assert_ne!(addr.port(), 0);
        let welcome = service.welcome();
        assert!(
            welcome.contains(&format!("listening on http://{addr}")),
            "{welcome}"
        );
        assert!(
            welcome.contains(&format!("SQLite database {}", db.path().display())),
            "{welcome}"
        );
        assert!(
            welcome.contains(&format!("curl -i -X POST http://{addr}/accounts")),
            "{welcome}"
        );
        let running = Running::serve(service);
        let id = open(&running.http, "Alice").await;
        let deposited = running
            .http
            .post(&format!("/accounts/{id}/deposits"), amount("12.34"))
            .await;
        assert_eq!(deposited.status, 200);
        running.stop().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still listening after the shutdown signal"
        );

        // Started again, over the same file: the account is there.
        let running = Running::serve(start(builder(), &options).await.expect("starts again"));
        let account = running.http.get(&format!("/accounts/{id}")).await;
        assert_eq!(account.status, 200, "{}", account.text());
        assert_eq!(account.json()["balance"], "12.34");
        running.stop().await;

        // The environment chooses another backend; an address that can't be bound is an error.
        let memory = builder().env("PERSISTENCE_MODULE", "eventsourcing.memory");
        let service = start(memory, &options).await.expect("starts in memory");
        assert!(service
            .welcome()
            .contains("persistence module eventsourcing.memory"));
        let taken = ServiceOptions::parse(["--addr".to_string(), addr_of(&service)], None).unwrap();
        let error = start(builder(), &taken)
            .await
            .expect_err("the address is taken");
        assert!(error.to_string().contains("can't listen on"), "{error}");
    });
}

fn addr_of(service: &BankService) -> String {
    service.local_addr().to_string()
}
