//! `eventsourcing`: the command-line inspector of the stores of `eventsourcing` applications.
//!
//! It reads a store (SQLite or PostgreSQL) configured as the applications that write it are,
//! by the same environment variables (`PERSISTENCE_MODULE`, `SQLITE_DBNAME`, `POSTGRES_*`,
//! `CIPHER_KEY`, `COMPRESSOR_TOPIC`, `HASH_CHAIN`, each also with the application's prefix) or
//! by the equivalent flags, and never creates or changes anything while it reads. A store
//! written with per-aggregate keys is recognised by its key table: its states are decrypted
//! under each aggregate's data key (which `CIPHER_KEY` decrypts), and forgotten aggregates are
//! shown as forgotten.
//!
//! - `info`: the applications in the store, their events and snapshots, the last
//!   notification id, and each follower's position and lag behind its leaders;
//! - `history ID [--at VERSION]`: an aggregate's events, decoded;
//! - `tail [--follow] [--from ID] [--limit N]`: the notification log;
//! - `verify`: checks everything, and exits with status 1 if anything is wrong;
//! - `export` / `import`: the whole store as JSON lines, and back.
//!
//! Tables for people, `--json` for scripts. Exit status: 0 when all is well, 1 when `verify`
//! found faults, 2 for an error (which is one line on stderr).
//!
//! The root README's "Inspecting a store" has examples and the export format.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program prints

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod backup;
mod decode;
mod error;
mod export;
mod history;
mod import;
mod info;
mod output;
mod store;
mod tail;
mod verify;

use error::Failure;

/// Inspect, verify, export and import the store of eventsourcing applications.
///
/// The store is configured as the applications configure it: PERSISTENCE_MODULE
/// (eventsourcing.sqlite or eventsourcing.postgres), SQLITE_DBNAME, POSTGRES_DBNAME,
/// POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_SCHEMA,
/// CIPHER_TOPIC, CIPHER_KEY, COMPRESSOR_TOPIC and HASH_CHAIN, each also with the
/// application's name in upper case as a prefix (WORLDS_SQLITE_DBNAME for --app Worlds). Flags
/// override them. A store with per-aggregate keys is recognised by its key table (then
/// CIPHER_KEY is needed to read it). Nothing is created or changed, except by `import`.
#[derive(Debug, Parser)]
#[command(name = "eventsourcing", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the store is, how its state is sealed, and how to answer.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The application: the prefix of its variables, and in PostgreSQL the name of its tables
    /// ({app}_events). Without it, every application of the store (`info`, `verify`,
    /// `export`), or its only one.
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) app: Option<String>,
    /// eventsourcing.sqlite or eventsourcing.postgres [env: PERSISTENCE_MODULE]
    #[arg(long, global = true, value_name = "MODULE")]
    pub(crate) persistence_module: Option<String>,
    /// The SQLite database file [env: SQLITE_DBNAME]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) sqlite_dbname: Option<String>,
    /// The PostgreSQL database [env: POSTGRES_DBNAME]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) postgres_dbname: Option<String>,
    /// The PostgreSQL server's host [env: POSTGRES_HOST]
    #[arg(long, global = true, value_name = "HOST")]
    pub(crate) postgres_host: Option<String>,
    /// The PostgreSQL server's port [env: POSTGRES_PORT]
    #[arg(long, global = true, value_name = "PORT")]
    pub(crate) postgres_port: Option<String>,
    /// The PostgreSQL user [env: POSTGRES_USER]
    #[arg(long, global = true, value_name = "USER")]
    pub(crate) postgres_user: Option<String>,
    /// The PostgreSQL password [env: POSTGRES_PASSWORD]
    #[arg(long, global = true, value_name = "PASSWORD")]
    pub(crate) postgres_password: Option<String>,
    /// The PostgreSQL schema of the tables [env: POSTGRES_SCHEMA]
    #[arg(long, global = true, value_name = "SCHEMA")]
    pub(crate) postgres_schema: Option<String>,
    /// Seconds to wait for a PostgreSQL connection [env: POSTGRES_CONNECT_TIMEOUT]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub(crate) postgres_connect_timeout: Option<String>,
    /// The cipher: eventsourcing.cipher:AESCipher [env: CIPHER_TOPIC]
    #[arg(long, global = true, value_name = "TOPIC")]
    pub(crate) cipher_topic: Option<String>,
    /// The AES key, base64 [env: CIPHER_KEY]
    #[arg(long, global = true, value_name = "KEY")]
    pub(crate) cipher_key: Option<String>,
    /// The compressor: eventsourcing.compressor:ZlibCompressor [env: COMPRESSOR_TOPIC]
    #[arg(long, global = true, value_name = "TOPIC")]
    pub(crate) compressor_topic: Option<String>,
    /// Answer in JSON (one object, or JSON lines for lists) rather than tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The applications in the store: events, snapshots, last notification id, and each
    /// follower's position and lag behind its leaders.
    Info,
    /// An aggregate's events, decoded: version, timestamp, topic, state.
    History(history::HistoryArgs),
    /// The notification log: the last events, or those from an id; --follow prints new ones
    /// as they are committed.
    Tail(tail::TailArgs),
    /// Reads everything and checks it: every event and snapshot decodes (decrypts,
    /// decompresses, is JSON), versions are contiguous per aggregate, notification ids
    /// increase, hash chains hold, every event has a data key and every data key events
    /// (per-aggregate keys; forgotten aggregates are counted, not faults). Exit status 1, and
    /// a line per fault, if anything is wrong.
    Verify(verify::VerifyArgs),
    /// Writes the whole store (events with their notification ids, snapshots, tracking
    /// positions, data keys) as JSON lines.
    Export(export::ExportArgs),
    /// Reads an export into the store, all or nothing, with the ids and versions it had.
    Import(import::ImportArgs),
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let args = &cli.store;
    match cli.command {
        Command::Info => info::run(args),
        Command::History(command) => history::run(args, &command),
        Command::Tail(command) => tail::run(args, &command),
        Command::Verify(command) => verify::run(args, &command),
        Command::Export(command) => export::run(args, &command),
        Command::Import(command) => import::run(args, &command),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(2)
        }
    }
}
