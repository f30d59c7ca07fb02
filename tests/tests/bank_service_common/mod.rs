//! The bank service's tests' harness: the service started on a random port of 127.0.0.1 in a
//! tokio runtime, over a backend, driven by the test's HTTP client, and stopped at the end;
//! and `service_tests!`, which runs a test body on memory, SQLite and PostgreSQL.

#![allow(dead_code)] // each test file uses its part

use std::sync::Arc;

use eventsourcing_examples::bank_service::{AsyncBankAccounts, BankService};
pub use eventsourcing_tests::http_client::{HttpClient, HttpResponse};
use eventsourcing_tests::Backend;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A multi-thread runtime for a test body.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A service being served, and a client of it.
pub struct Running {
    /// A client of the service.
    pub http: HttpClient,
    /// The application it serves (to look at what was stored).
    pub accounts: Arc<AsyncBankAccounts>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Serves `service` until [`stop`](Running::stop).
    pub fn serve(service: BankService) -> Self {
        let http = HttpClient::new(service.local_addr());
        let accounts = Arc::clone(service.accounts());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(service.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            http,
            accounts,
            stop,
            server,
        }
    }

    /// Stops the service and checks that it stopped cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server
            .await
            .expect("the server task ran")
            .expect("the server stopped without an error");
    }
}

/// The service over `backend`, on a random port, with commands run at most `max_attempts`
/// times on conflicts (the default if `None`).
pub async fn serve(backend: &Backend, max_attempts: Option<u32>) -> Running {
    let accounts = AsyncBankAccounts::with_builder(backend.configure(AsyncBankAccounts::builder()))
        .await
        .expect("the application builds");
    let accounts = match max_attempts {
        Some(n) => accounts.with_max_attempts(n),
        None => accounts,
    };
    let service = BankService::bind(accounts, "127.0.0.1:0")
        .await
        .expect("binds a random port");
    Running::serve(service)
}

/// Runs `body` against the service over `backend`, in a runtime of its own.
pub fn run<F, Fut>(backend: &Backend, max_attempts: Option<u32>, body: F)
where
    F: FnOnce(HttpClient, Arc<AsyncBankAccounts>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime().block_on(async {
        let running = serve(backend, max_attempts).await;
        body(running.http, Arc::clone(&running.accounts)).await;
        running.stop().await;
    });
}

/// Defines tests that run once per backend against a running service (declare the module with
/// `#[macro_use]`): each `async fn name(http, accounts) { ... }` becomes a module `name` with
/// the tests `memory`, `sqlite_file` and `postgres`; `async fn name(http, accounts)
/// attempts(N) { ... }` runs commands at most `N` times on conflicts. The PostgreSQL tests skip,
/// with a message, when no server answers outside CI.
macro_rules! service_tests {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($http:ident, $accounts:ident) $(attempts($attempts:expr))? $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            async fn body(
                $http: crate::bank_service_common::HttpClient,
                $accounts: std::sync::Arc<eventsourcing_examples::bank_service::AsyncBankAccounts>,
            ) $body

            fn max_attempts() -> Option<u32> {
                None $(.or(Some($attempts)))?
            }

            #[test]
            fn memory() {
                let backend = eventsourcing_tests::Backend::memory();
                crate::bank_service_common::run(&backend, max_attempts(), body);
            }

            #[test]
            fn sqlite_file() {
                let backend = eventsourcing_tests::Backend::sqlite_file(stringify!($name));
                crate::bank_service_common::run(&backend, max_attempts(), body);
            }

            #[test]
            fn postgres() {
                if let Some(backend) = eventsourcing_tests::Backend::postgres(stringify!($name)) {
                    crate::bank_service_common::run(&backend, max_attempts(), body);
                }
            }
        }
    )*};
}

/// Opens an account for `name` and returns its id.
pub async fn open(http: &HttpClient, name: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    let response = http
        .post(
            "/accounts",
            json!({"full_name": name, "email_address": email}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    id_of(&response.json())
}

/// The `"id"` of an account's JSON.
#[track_caller]
pub fn id_of(account: &Value) -> String {
    account["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {account}"))
        .to_string()
}

/// The body `{"amount": value}`.
pub fn amount(value: &str) -> Value {
    json!({ "amount": value })
}

/// Every notification in the log, read over HTTP, page by page.
pub async fn notifications(http: &HttpClient) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = 1;
    loop {
        let response = http.get(&format!("/notifications?start={start}")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        let page = response.json();
        let items = page["items"].as_array().expect("items").clone();
        if items.is_empty() {
            return all;
        }
        start = page["next_start"].as_u64().expect("next_start");
        all.extend(items);
    }
}

/// Checks a response's status and its `"error"` code, and returns its JSON body.
#[track_caller]
pub fn assert_error(response: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    let body = response.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}
