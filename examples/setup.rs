//! How the example programs configure their applications: SQLite in a file unless the
//! environment says otherwise, and optionally encrypted and compressed.
//!
//! The normal environment variables win over these defaults (see
//! [`eventsourcing::application::config`]): `PERSISTENCE_MODULE` (or `INFRASTRUCTURE_FACTORY`),
//! `SQLITE_DBNAME`, `SQLITE_LOCK_TIMEOUT`, `CIPHER_KEY`, `CIPHER_TOPIC`, `COMPRESSOR_TOPIC`,
//! `IS_SNAPSHOTTING_ENABLED`, each also with the application's prefix (`WORLDS_SQLITE_DBNAME`).
//! Without them:
//!
//! - events are stored in SQLite, in the file `eventsourcing-examples-{example}.db` in the
//!   temporary directory (`$TMPDIR`, else `/tmp`), so that each run sees what the previous
//!   runs stored;
//! - with `--encrypted`, stored state is compressed with zlib and encrypted with AES-256-GCM,
//!   in another file (`eventsourcing-examples-{example}-encrypted-compressed.db`), with a key
//!   kept beside it (`….db.key`) so that the next run can read what this one wrote. Keeping
//!   the key beside the data is for the demonstration only: a real application gets its key
//!   from a secret store, through `CIPHER_KEY`.
//!
//! Configuring encryption or compression through the environment instead (`CIPHER_KEY`,
//! `COMPRESSOR_TOPIC`) also picks another default file, since the stored bytes of one setting
//! can't be read with another.

use std::path::{Path, PathBuf};

use eventsourcing::application::config::{
    CIPHER_KEY, COMPRESSOR_TOPIC, INFRASTRUCTURE_FACTORY, PERSISTENCE_MODULE, SQLITE_DBNAME,
};
use eventsourcing::application::ApplicationBuilder;
use eventsourcing::persistence::AesCipher;

/// The command line of an example program: `--encrypted` and positional arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--encrypted`: compress and encrypt stored state.
    pub encrypted: bool,
    /// `--help` or `-h`.
    pub help: bool,
    /// The other arguments, in order.
    pub args: Vec<String>,
}

impl Options {
    /// Parses the arguments after the program's name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Self {
        let mut options = Options::default();
        for arg in args {
            match arg.as_str() {
                "--encrypted" => options.encrypted = true,
                "--help" | "-h" => options.help = true,
                _ => options.args.push(arg),
            }
        }
        options
    }

    /// Parses the process's arguments.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }
}

/// Sets the example programs' defaults on `builder` (see the module docs): SQLite in a file
/// named after `example` unless the environment chooses the backend or the file, and with
/// `options.encrypted`, zlib compression and AES-256-GCM encryption with a key kept beside the
/// database file (created on the first run) unless `CIPHER_KEY` is set.
///
/// Returns the builder and a description of the configuration, to print.
pub fn configure(
    builder: ApplicationBuilder,
    example: &str,
    options: &Options,
) -> Result<(ApplicationBuilder, String), Box<dyn std::error::Error>> {
    let mut builder = builder;
    let env = builder.environment();
    let module = env
        .get(PERSISTENCE_MODULE)
        .or_else(|| env.get(INFRASTRUCTURE_FACTORY))
        .map(str::to_string);
    let encrypted = options.encrypted || env.get(CIPHER_KEY).is_some();
    let compressed = options.encrypted || env.get(COMPRESSOR_TOPIC).is_some();
    let has_key = env.get(CIPHER_KEY).is_some();
    let has_compressor = env.get(COMPRESSOR_TOPIC).is_some();
    let has_db_name = env.get(SQLITE_DBNAME).is_some();

    let is_sqlite = match &module {
        None => {
            builder = builder.default_env(PERSISTENCE_MODULE, "eventsourcing.sqlite");
            true
        }
        Some(module) => module.contains("sqlite"),
    };
    if !has_db_name {
        let suffix = match (encrypted, compressed) {
            (true, true) => "-encrypted-compressed",
            (true, false) => "-encrypted",
            (false, true) => "-compressed",
            (false, false) => "",
        };
        let path =
            std::env::temp_dir().join(format!("eventsourcing-examples-{example}{suffix}.db"));
        builder = builder.default_env(SQLITE_DBNAME, path.to_string_lossy());
    }
    let db_name = builder
        .environment()
        .get(SQLITE_DBNAME)
        .unwrap_or_default()
        .to_string();

    let mut key_note = String::new();
    if options.encrypted && !has_key {
        let key = if is_sqlite && is_file_path(&db_name) {
            let key_path = PathBuf::from(format!("{db_name}.key"));
            key_note = format!(" (key kept in {})", key_path.display());
            load_or_create_key(&key_path)?
        } else {
            key_note = " (a new key: nothing is kept after the program ends)".to_string();
            AesCipher::create_key(32)?
        };
        builder = builder.env(CIPHER_KEY, key);
    }
    if options.encrypted && !has_compressor {
        builder = builder.zlib_compression();
    }

    let mut description = if is_sqlite {
        format!("SQLite database {db_name}")
    } else {
        format!("persistence module {}", module.unwrap_or_default())
    };
    if compressed {
        description.push_str(", compressed");
    }
    if encrypted {
        description.push_str(", encrypted");
        description.push_str(&key_note);
    }
    Ok((builder, description))
}

/// Whether an SQLite database name is a file (not `:memory:`, not a URI).
fn is_file_path(db_name: &str) -> bool {
    !db_name.is_empty() && !db_name.contains(":memory:") && !db_name.starts_with("file:")
}

/// The key in `path`, or a new AES-256 key written there (readable by its owner only).
fn load_or_create_key(path: &Path) -> Result<String, Box<dyn std::error::Error>> {
    match std::fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_string()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(format!("can't read the key file {}: {error}", path.display()).into())
        }
    }
    let key = AesCipher::create_key(32)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|error| format!("can't create the key file {}: {error}", path.display()))?;
    std::io::Write::write_all(&mut file, key.as_bytes())?;
    Ok(key)
}

/// Runs an example program's body: on an error, prints it (with its causes) and exits with a
/// failure status.
#[allow(clippy::print_stderr)] // an example program reports its error on stderr
pub fn run_example(
    body: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let options = Options::parse(["--encrypted".to_string(), "trucks".to_string()]);
        assert!(options.encrypted);
        assert!(!options.help);
        assert_eq!(options.args, ["trucks"]);
    }

    #[test]
    fn file_paths() {
        assert!(is_file_path("/tmp/a.db"));
        assert!(!is_file_path(":memory:"));
        assert!(!is_file_path("file:a?mode=memory"));
    }
}
