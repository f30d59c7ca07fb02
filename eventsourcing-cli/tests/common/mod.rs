//! What the tests of the `eventsourcing` command share: running it, and stores made by the
//! examples' applications.

#![allow(dead_code, unused_imports, unreachable_pub)] // each test file uses some of it

use std::path::Path;
use std::process::{Command, Output};

use eventsourcing::application::ApplicationBuilder;
use eventsourcing::prelude::*;
use eventsourcing_examples::bank_accounts::{BankAccounts, Decimal};
use eventsourcing_examples::world::Worlds;
pub use eventsourcing_tests::pg::{schema_env, TempSchema};
pub use eventsourcing_tests::{TempDb, TempDir};

/// What a run of the command gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run succeeded; its stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "failed: {self:#?}");
        &self.stdout
    }

    /// The run failed with status 2 and a one-line error on stderr (no panic); the line.
    pub fn error(&self) -> &str {
        assert_eq!(self.code, 2, "expected an error: {self:#?}");
        let line = self.stderr.trim_end();
        assert!(!line.contains('\n'), "not one line: {self:#?}");
        assert!(line.starts_with("error: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        line
    }

    /// The stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// The stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.ok()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// The command, with only the variables `env` (not the test process's environment).
pub fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventsourcing"));
    command.env_clear().args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the command with the variables `env`.
pub fn run(env: &[(String, String)], args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command(env, args).output().expect("run eventsourcing");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

/// The variables of an SQLite store in `path`.
pub fn sqlite_env(path: &Path) -> Vec<(String, String)> {
    vec![
        ("PERSISTENCE_MODULE".into(), "eventsourcing.sqlite".into()),
        ("SQLITE_DBNAME".into(), path.to_string_lossy().into_owned()),
    ]
}

/// `env` and more.
pub fn with(env: &[(String, String)], more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// A builder of the application `name` over the store `env` describes, without the process
/// environment.
pub fn builder(name: &str, env: &[(String, String)]) -> ApplicationBuilder {
    Application::builder(name)
        .without_process_env()
        .envs(env.iter().cloned())
}

/// Worlds with snapshots: two worlds, four and three events (seven notifications), the first snapshotted at version
/// 3. Returns the ids.
pub fn write_worlds(env: &[(String, String)]) -> (Worlds, Uuid, Uuid) {
    let worlds =
        Worlds::with_builder(builder(Worlds::NAME, env).snapshotting(true)).expect("build Worlds");
    let first = worlds.create_world().expect("create");
    worlds.make_it_so(first, "dinosaurs").expect("save");
    worlds.make_it_so(first, "trucks").expect("save");
    worlds.take_snapshot(first).expect("snapshot");
    let second = worlds.create_world().expect("create");
    worlds.make_it_so(first, "internet").expect("save");
    worlds.make_it_so(second, "fire").expect("save");
    worlds.make_it_so(second, "water").expect("save");
    (worlds, first, second)
}

/// Bank accounts: two accounts, deposits and a transfer. Returns the ids.
pub fn write_bank(env: &[(String, String)]) -> (BankAccounts, Uuid, Uuid) {
    let bank = BankAccounts::with_builder(builder(BankAccounts::NAME, env).snapshotting(true))
        .expect("build BankAccounts");
    let alice = bank
        .open_account("Alice", "alice@example.com")
        .expect("open");
    let bob = bank.open_account("Bob", "bob@example.com").expect("open");
    bank.deposit_funds(alice, Decimal::new(20000, 2))
        .expect("deposit");
    bank.transfer_funds(alice, bob, Decimal::new(5000, 2))
        .expect("transfer");
    bank.app()
        .take_snapshot::<eventsourcing_examples::bank_accounts::BankAccount>(alice, None)
        .expect("snapshot");
    bank.deposit_funds(bob, Decimal::new(1, 0))
        .expect("deposit");
    (bank, alice, bob)
}
