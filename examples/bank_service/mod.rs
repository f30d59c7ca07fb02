//! The bank accounts application behind an HTTP API (feature `service`): the
//! [`bank_accounts`](crate::bank_accounts) example's [`BankAccount`] aggregate and
//! [`BankAccountError`]s, over an [`AsyncApplication`](eventsourcing::application::AsyncApplication)
//! ([`AsyncBankAccounts`]), served with axum.
//!
//! ```text
//! cargo run --example bank_service --features service
//! cargo run --example bank_service --features service -- --addr 0.0.0.0:3000
//! PERSISTENCE_MODULE=eventsourcing.memory cargo run --example bank_service --features service
//! ```
//!
//! The program stores events in SQLite, in `eventsourcing-examples-bank_service.db` in the
//! temporary directory, so a restarted service still has its accounts; the usual variables
//! choose another backend or file (`PERSISTENCE_MODULE`, `SQLITE_DBNAME`, `POSTGRES_*`, each
//! also as `BANKACCOUNTS_...`; see [`setup`](crate::setup)). It listens on `--addr`, else
//! `BANK_SERVICE_ADDR`, else `127.0.0.1:8080`, and stops on Ctrl-C after the requests under way.
//!
//! # The API
//!
//! Requests and responses are JSON (send `Content-Type: application/json`); amounts are decimal
//! strings (`"10.50"`, see [`api`]); ids are UUIDs.
//!
//! | method and path | body | success |
//! |---|---|---|
//! | `POST /accounts` | `{"full_name", "email_address"}` | 201, the account, `Location: /accounts/{id}` |
//! | `GET /accounts` | | 200, `{"accounts": [{"id", "full_name", "email_address"}]}` in the order opened |
//! | `GET /accounts/{id}` | | 200, the account: `{"id", "full_name", "email_address", "balance", "overdraft_limit", "is_closed", "version", "created_on", "modified_on"}` |
//! | `POST /accounts/{id}/deposits` | `{"amount"}` | 200, the account |
//! | `POST /accounts/{id}/withdrawals` | `{"amount"}` | 200, the account |
//! | `PUT /accounts/{id}/overdraft-limit` (or `POST`) | `{"overdraft_limit"}` | 200, the account |
//! | `POST /accounts/{id}/close` | | 200, the account (closing a closed account changes nothing) |
//! | `POST /transfers` | `{"debit_account_id", "credit_account_id", "amount"}` | 200, `{"transaction_id", "debit_account", "credit_account"}`: both saved in one atomic insert |
//! | `GET /notifications?start=1&limit=10` | | 200, `{"items": [...], "next_start"}` (`limit` at most the section size, 10) |
//! | `GET /notifications/{first},{last}` | | 200, the section: `{"id", "next_id", "items": [...]}` |
//!
//! A notification is `{"id", "originator_id", "originator_version", "topic", "state"}`, with
//! `state` the event's stored JSON, left out when stored state is encrypted or compressed.
//!
//! # Errors
//!
//! A failed request answers `{"error": CODE, "message": "...", ...details}` ([`ApiError`]):
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 400 | `invalid_json`, `invalid_account_id`, `invalid_query`, `invalid_limit`, `invalid_section_id`, `invalid_path` | the request can't be read: not JSON, an id that isn't a UUID, a bad query string or section id |
//! | 404 | `account_not_found` (with `account_id`), `not_found` | no such account (in the path, or in a transfer's body); no such route |
//! | 405 | `method_not_allowed` | a known path with another method (with `Allow`) |
//! | 409 | `insufficient_funds` (with `account_id`, `balance`, `overdraft_limit`, and `amount`, negative for a debit) | the debit would take the balance below the overdraft limit |
//! | 409 | `account_closed` (with `account_id`) | the account is closed |
//! | 409 | `conflict` | other requests kept changing the account at the same moment ([`DEFAULT_MAX_ATTEMPTS`] tries): send it again |
//! | 415 | `unsupported_media_type` | a body without `Content-Type: application/json` |
//! | 422 | `invalid_body`, `invalid_amount`, `invalid_overdraft_limit`, `amount_out_of_range`, `same_account` | JSON of the wrong shape (a missing or unknown field, a number for an amount), a blank name, an amount not above zero, a negative overdraft limit, a transfer to the same account |
//! | 503 | `storage_unavailable` | the event store can't be reached or timed out |
//! | 500 | `internal_error` | any other failure of the server's own |
//!
//! Why 409 for insufficient funds and closed accounts, and 422 for invalid values: a request
//! that is refused because of the account's current state conflicts with that state (RFC 9110,
//! 409 Conflict: the client may resolve it, by a deposit or a higher overdraft limit, and send
//! the same request again), whereas 422 means the request itself is wrong and would be refused
//! whatever the state (a negative amount). 400 is left for requests that can't be read at all.
//! Server-side failures never show their cause to the client (it may hold connection details);
//! they are logged with `tracing` at the error level.
//!
//! Version conflicts: each command gets the account, runs the command, and saves; if another
//! request saved the account in between, the event store refuses the save (optimistic
//! concurrency), and the command runs again on the account as it now is, up to
//! [`DEFAULT_MAX_ATTEMPTS`] times, after short random pauses. So many clients depositing to one
//! account at once all get their deposits counted exactly once; only a client that lost every
//! attempt gets 409 `conflict`, and then nothing of its request was saved.
//!
//! # Try it
//!
//! ```text
//! $ curl -i -X POST localhost:8080/accounts -H 'Content-Type: application/json' \
//!     -d '{"full_name": "Alice", "email_address": "alice@example.com"}'
//! HTTP/1.1 201 Created
//! location: /accounts/5a1c…
//! {"id":"5a1c…","full_name":"Alice","email_address":"alice@example.com","balance":"0.00",…,"version":1,…}
//! $ curl -X POST localhost:8080/accounts/5a1c…/deposits -H 'Content-Type: application/json' \
//!     -d '{"amount": "100.00"}'
//! {"id":"5a1c…",…,"balance":"100.00",…,"version":2,…}
//! $ curl -X POST localhost:8080/accounts/5a1c…/withdrawals -H 'Content-Type: application/json' \
//!     -d '{"amount": "150.00"}'
//! {"error":"insufficient_funds","message":"insufficient funds in account 5a1c…: …","balance":"100.00",…}
//! $ curl -X POST localhost:8080/transfers -H 'Content-Type: application/json' \
//!     -d '{"debit_account_id": "5a1c…", "credit_account_id": "9e07…", "amount": "25.00"}'
//! $ curl 'localhost:8080/notifications?start=1&limit=10'
//! {"items":[{"id":1,"originator_id":"5a1c…","originator_version":1,"topic":"…BankAccount.Opened","state":{…}},…],"next_start":4}
//! ```
//!
//! # In a program of your own
//!
//! [`router`] gives the routes over an [`AsyncBankAccounts`] in an `Arc`, to serve or nest as
//! any axum router; [`BankService`] binds and serves them until a shutdown signal; [`start`] is
//! what the example program does.
//!
//! ```
//! use eventsourcing_examples::bank_service::{AsyncBankAccounts, BankService};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let accounts =
//!     AsyncBankAccounts::with_builder(AsyncBankAccounts::builder().without_process_env().memory())
//!         .await?;
//! let service = BankService::bind(accounts, "127.0.0.1:0").await?;
//! let addr = service.local_addr(); // the port chosen
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(service.serve(async move {
//!     let _ = stopped.await;
//! }));
//! // ... send requests to `addr` ...
//! # let _ = addr;
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! [`BankAccount`]: crate::bank_accounts::BankAccount
//! [`BankAccountError`]: crate::bank_accounts::BankAccountError

pub mod api;
mod app;
mod error;
mod routes;
mod server;

pub use app::{is_conflict, retry_on_conflict, AsyncBankAccounts, DEFAULT_MAX_ATTEMPTS};
pub use error::ApiError;
pub use routes::router;
pub use server::{start, BankService, ServiceOptions, ADDR_VAR, DEFAULT_ADDR};
