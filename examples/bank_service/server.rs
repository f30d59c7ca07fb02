//! Running the service: [`ServiceOptions`] (the program's command line and environment),
//! [`BankService`] (the application and a bound listener, served until a shutdown signal), and
//! [`start`], which is everything `cargo run --example bank_service` does before it serves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use eventsourcing::application::ApplicationBuilder;
use tokio::net::TcpListener;

use super::app::AsyncBankAccounts;
use super::routes::router;
use crate::setup::{configure, Options};

/// The environment variable of the address to listen on, when `--addr` doesn't give one.
pub const ADDR_VAR: &str = "BANK_SERVICE_ADDR";

/// The address to listen on, when neither `--addr` nor [`ADDR_VAR`] gives one.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The program's command line: `[--addr HOST:PORT] [--encrypted] [--help]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Where to listen (`--addr`, else [`ADDR_VAR`], else [`DEFAULT_ADDR`]); port 0 picks a
    /// free port.
    pub addr: String,
    /// `--encrypted` and `--help`, as the other example programs have them (see
    /// [`setup`](crate::setup)).
    pub setup: Options,
}

impl ServiceOptions {
    /// The program's usage line.
    pub const USAGE: &'static str = "usage: bank_service [--addr HOST:PORT] [--encrypted]";

    /// Parses the arguments after the program's name, with `env_addr` the value of
    /// [`ADDR_VAR`], if set. An argument it doesn't know is an error, with what it is.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env_addr: Option<String>,
    ) -> Result<Self, String> {
        let mut addr = None;
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--addr" {
                addr = Some(
                    args.next()
                        .ok_or("--addr needs a value, such as 127.0.0.1:8080")?,
                );
            } else if let Some(value) = arg.strip_prefix("--addr=") {
                addr = Some(value.to_string());
            } else {
                rest.push(arg);
            }
        }
        let setup = Options::parse(rest);
        if let Some(unknown) = setup.args.first() {
            return Err(format!("unexpected argument {unknown:?}; {}", Self::USAGE));
        }
        let addr = addr
            .or(env_addr.filter(|addr| !addr.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_ADDR.to_string());
        Ok(ServiceOptions { addr, setup })
    }

    /// Parses the process's arguments and [`ADDR_VAR`].
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::args().skip(1), std::env::var(ADDR_VAR).ok())
    }
}

/// The bank accounts service, bound to its address and ready to serve.
#[derive(Debug)]
pub struct BankService {
    accounts: Arc<AsyncBankAccounts>,
    listener: TcpListener,
    local_addr: SocketAddr,
    storage: Option<String>,
}

impl BankService {
    /// Binds `addr` (such as `"127.0.0.1:8080"`, or port 0 for a free port) for `accounts`.
    pub async fn bind(accounts: AsyncBankAccounts, addr: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        Ok(BankService {
            accounts: Arc::new(accounts),
            listener,
            local_addr,
            storage: None,
        })
    }

    /// The address it listens on (with the port chosen, if port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The application it serves.
    pub fn accounts(&self) -> &Arc<AsyncBankAccounts> {
        &self.accounts
    }

    /// Its routes.
    pub fn router(&self) -> Router {
        router(Arc::clone(&self.accounts))
    }

    /// What the program prints when it starts: where it listens, where events are stored, and
    /// `curl` commands to try.
    pub fn welcome(&self) -> String {
        let url = format!("http://{}", self.local_addr);
        let json = "-H 'Content-Type: application/json'";
        let mut text = format!("BankAccounts service listening on {url}\n");
        if let Some(storage) = &self.storage {
            text.push_str(&format!("Events stored in: {storage}\n"));
        }
        text.push_str(&format!(
            "\nTry (ID is the \"id\" the first command answers):\n\
             \x20 curl -i -X POST {url}/accounts {json} -d '{{\"full_name\": \"Alice\", \"email_address\": \"alice@example.com\"}}'\n\
             \x20 curl -X POST {url}/accounts/ID/deposits {json} -d '{{\"amount\": \"100.00\"}}'\n\
             \x20 curl -X POST {url}/accounts/ID/withdrawals {json} -d '{{\"amount\": \"30.00\"}}'\n\
             \x20 curl -X PUT {url}/accounts/ID/overdraft-limit {json} -d '{{\"overdraft_limit\": \"50.00\"}}'\n\
             \x20 curl {url}/accounts/ID\n\
             \x20 curl {url}/accounts\n\
             \x20 curl '{url}/notifications?start=1&limit=10'\n\
             \nPress Ctrl-C to stop.\n"
        ));
        text
    }

    /// Serves requests until `shutdown` completes, then lets the requests under way finish.
    pub async fn serve<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let router = self.router();
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// What the `bank_service` program does before it serves: configures `builder` as the other
/// example programs are configured (SQLite in `eventsourcing-examples-bank_service.db` in the
/// temporary directory, unless `PERSISTENCE_MODULE`, `SQLITE_DBNAME`, `POSTGRES_*` and the
/// other variables in `builder`'s environment say otherwise; with `--encrypted`, compressed
/// and encrypted: see [`setup`](crate::setup)), builds the application, and binds
/// `options.addr`.
pub async fn start(
    builder: ApplicationBuilder,
    options: &ServiceOptions,
) -> Result<BankService, Box<dyn std::error::Error>> {
    let (builder, storage) = configure(builder, "bank_service", &options.setup)?;
    let accounts = AsyncBankAccounts::with_builder(builder).await?;
    let mut service = BankService::bind(accounts, &options.addr)
        .await
        .map_err(|error| format!("can't listen on {}: {error}", options.addr))?;
    service.storage = Some(storage);
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> Result<ServiceOptions, String> {
        ServiceOptions::parse(args.iter().map(|a| a.to_string()), env.map(String::from))
    }

    #[test]
    fn the_address_comes_from_the_flag_then_the_variable_then_the_default() {
        assert_eq!(parse(&[], None).unwrap().addr, DEFAULT_ADDR);
        assert_eq!(
            parse(&[], Some("0.0.0.0:9000")).unwrap().addr,
            "0.0.0.0:9000"
        );
        assert_eq!(parse(&[], Some(" ")).unwrap().addr, DEFAULT_ADDR);
        let flag = parse(&["--addr", "127.0.0.1:0"], Some("0.0.0.0:9000")).unwrap();
        assert_eq!(flag.addr, "127.0.0.1:0");
        assert_eq!(parse(&["--addr=[::1]:80"], None).unwrap().addr, "[::1]:80");
    }

    #[test]
    fn other_options_and_mistakes() {
        let options = parse(&["--encrypted", "--addr", "127.0.0.1:1"], None).unwrap();
        assert!(options.setup.encrypted && !options.setup.help);
        assert!(parse(&["-h"], None).unwrap().setup.help);
        assert!(parse(&["--addr"], None)
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["8080"], None)
            .unwrap_err()
            .contains("unexpected argument \"8080\""));
    }
}
